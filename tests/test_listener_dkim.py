"""The SMTP listener as the receiving server: it removes stamps forged with its authserv-id,
verifies DKIM with dkimpy and stamps the result, always spooling the mail. Real listener, real
smtplib client, real signatures made with a key generated here; the DNS answers from a table
holding that key (the injected lookup), so no test needs the network."""

from __future__ import annotations

import base64
import logging
import os
import smtplib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path
from typing import Any

import authres
import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakejira import FakeJira
from tests.helpers import Bot
from tests.servers import HOST, free_port
from tests.servers.smtp import SmtpServer
from tests.test_confirm_e2e import JANE, LIST, REPORT, candidate_mail, deployment, mail
from triagebot.config import (
    DEFAULT_AUTHSERV_ID,
    ListenerConfig,
    SmtpConfig,
    config_from_dict,
    read_section,
)
from triagebot.confirm import stamps
from triagebot.errors import ConfigError
from triagebot.mail.authentication import MAX_SIGNATURES
from triagebot.mail.maildir import make_maildir
from triagebot.mail.smtp_listener import ListenerSettings, start_listener
from triagebot.services import listener_settings

LISTENER_ID = "triagebot.example.test"
SIGNED = (b"from", b"to", b"subject", b"date", b"message-id")


class Key:
    """An RSA key pair: signs for ``domain`` with ``selector``; ``record`` is its DNS TXT."""

    def __init__(self, domain: str, selector: str = "sel1") -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.domain, self.selector = domain, selector
        self.pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
        self.name = f"{selector}._domainkey.{domain}.".encode()

    def sign(self, raw: bytes, **options: Any) -> bytes:
        header = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.pem,
            include_headers=list(SIGNED),
            **options,
        )
        assert isinstance(header, bytes)
        return header + raw


@pytest.fixture(scope="module")
def acme() -> Key:
    return Key("example.test")


@pytest.fixture(scope="module")
def evil() -> Key:
    return Key("evil.example")


class Dns:
    """The injected lookup: answers from ``records``; a name in ``down`` times out."""

    def __init__(self, records: Mapping[bytes, bytes], down: tuple[bytes, ...] = ()) -> None:
        self.records, self.down = dict(records), down
        self.asked: list[bytes] = []

    def __call__(self, name: bytes, timeout: float = 5.0) -> bytes | None:
        self.asked.append(name)
        if name in self.down:
            raise dkim.DnsTimeoutError(f"no answer for {name!r} within {timeout} s")
        return self.records.get(name)


DOWN = b"down._domainkey.example.test."


@pytest.fixture
def dns(acme: Key, evil: Key) -> Dns:
    return Dns({acme.name: acme.record, evil.name: evil.record}, down=(DOWN,))


@pytest.fixture(autouse=True)
def _quiet_libraries() -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    logging.getLogger("dkimpy").setLevel(logging.CRITICAL)  # it logs every failed key at ERROR


@pytest.fixture
def send(tmp_path: Path, dns: Dns) -> Iterator[Callable[..., list[bytes]]]:
    """Send mails through a listener stamping as LISTENER_ID; returns what it spooled."""
    controllers: list[Any] = []

    def start(spool: Path) -> int:
        settings = ListenerSettings(host=HOST, port=free_port(), authserv_id=LISTENER_ID, dns=dns)
        controllers.append(start_listener(settings, spool))
        return settings.port

    ports: dict[Path, int] = {}

    def send_all(*messages: bytes, spool: Path = tmp_path / "spool") -> list[bytes]:
        port = ports.get(spool) or ports.setdefault(spool, start(spool))
        before = set(os.listdir(spool / "new"))
        with smtplib.SMTP(HOST, port, timeout=30) as client:
            for raw in messages:
                assert client.sendmail("app@example.test", ["helpdesk@example.test"], raw) == {}
        added = sorted(set(os.listdir(spool / "new")) - before)
        return [(spool / "new" / name).read_bytes() for name in added]

    yield send_all
    for controller in controllers:
        controller.stop()


def message(body: str = "confirm", sender: str = JANE, top: tuple[str, ...] = ()) -> bytes:
    """A subject-only reply, ending its last line as SMTP delivers it."""
    raw = mail(
        {"To": "helpdesk@example.test", "Subject": "Re: [triage C-1] crash"},
        body,
        message_id=f"m-{time.monotonic_ns()}",
        sender=sender,
        top=top,
    )
    return raw + b"\r\n"


def stamps_of(raw: bytes) -> list[str]:
    parsed = message_from_bytes(raw, policy=compat32)
    return [str(v) for v in parsed.get_all("Authentication-Results") or []]


def own_stamp(raw: bytes) -> authres.AuthenticationResultsHeader:
    """The listener's stamp: the topmost field, parsed with authres."""
    first = stamps_of(raw)[0]
    header = authres.AuthenticationResultsHeader.parse_value(first)
    assert str(header.authserv_id) == LISTENER_ID
    return header


def dkim_results(raw: bytes) -> list[tuple[str, str, str]]:
    """``(result, header.d, reason)`` of each dkim result in the listener's stamp."""
    found = []
    for result in own_stamp(raw).results:
        d = [str(p.value) for p in result.properties if f"{p.type}.{p.name}" == "header.d"]
        found.append((str(result.result), d[0] if d else "", str(result.reason or "")))
    return found


def evidence(raw: bytes) -> stamps.Evidence:
    """What the reply gate reads: the stamps, with only the listener trusted."""
    return stamps.read(stamps_of(raw), frozenset({LISTENER_ID}), "example.test")


class TestStamp:
    def test_signature_of_the_from_domain_is_stamped_pass_and_proves_the_author(
        self, send: Callable[..., list[bytes]], acme: Key, dns: Dns
    ) -> None:
        raw = acme.sign(message())
        (spooled,) = send(raw)
        assert spooled.startswith(b"Authentication-Results: " + LISTENER_ID.encode() + b";")
        assert spooled.endswith(raw)  # the mail itself is spooled unchanged below the stamp
        assert dkim_results(spooled) == [("pass", "example.test", "")]
        assert evidence(spooled).proof == "dkim=pass header.d=example.test"
        assert dns.asked == [acme.name]

    def test_forged_stamps_with_the_listeners_id_are_removed(
        self, send: Callable[..., list[bytes]]
    ) -> None:
        """Any spelling the reader would count (case, a leading comment, folding, a quoted
        id) is removed; another server's stamp stays where it was."""
        forged = (
            f"Authentication-Results: {LISTENER_ID}; dkim=pass header.d=example.test",
            f"authentication-results: {LISTENER_ID.upper()}; dmarc=pass header.from=example.test",
            f"Authentication-Results: (checked) {LISTENER_ID};\r\n\tdkim=pass header.d=x.test",
            f'Authentication-Results: "{LISTENER_ID}"; dkim=pass header.d=example.test',
        )
        other = "Authentication-Results: mx.other.test; dkim=pass header.d=example.test"
        raw = message(top=(*forged[:2], other, *forged[2:]))
        (spooled,) = send(raw)
        assert stamps_of(spooled) == [f"{LISTENER_ID}; dkim=none", other.partition(": ")[2]]
        assert evidence(spooled).proof == ""
        assert b"dmarc=pass" not in spooled

    def test_forged_stamp_alone_changes_nothing(self, send: Callable[..., list[bytes]]) -> None:
        """The mail with a forged pass and the same mail without it are spooled alike."""
        plain = message()
        forged = f"Authentication-Results: {LISTENER_ID}; dkim=pass header.d=example.test"
        with_forgery, without = send(forged.encode() + b"\r\n" + plain, plain)
        assert with_forgery == without

    def test_signature_by_another_domain_passes_but_proves_nothing(
        self, send: Callable[..., list[bytes]], evil: Key
    ) -> None:
        (spooled,) = send(evil.sign(message()))
        assert dkim_results(spooled) == [("pass", "evil.example", "")]
        assert evidence(spooled).proof == ""

    def test_broken_signature_fails(self, send: Callable[..., list[bytes]], acme: Key) -> None:
        signed = acme.sign(message("reject not a bug"))
        (spooled,) = send(signed.replace(b"reject not a bug", b"confirm priority high"))
        assert dkim_results(spooled) == [("fail", "example.test", "body hash mismatch")]
        assert evidence(spooled).proof == ""
        assert evidence(spooled).failure == "dkim=fail header.d=example.test"

    def test_dns_failure_is_a_temperror_and_the_mail_is_spooled(
        self, send: Callable[..., list[bytes]], acme: Key
    ) -> None:
        down = Key("example.test", selector="down")
        (spooled,) = send(down.sign(message()))
        assert dkim_results(spooled) == [
            ("temperror", "example.test", "key lookup failed (DnsTimeoutError)")
        ]
        assert evidence(spooled).proof == ""

    def test_missing_key_and_malformed_signature_are_permerrors(
        self, send: Callable[..., list[bytes]]
    ) -> None:
        unknown = Key("example.test", selector="unpublished")
        garbage = "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; b=%%%"
        no_key, malformed = send(unknown.sign(message()), message(top=(garbage,)))
        assert dkim_results(no_key) == [("permerror", "example.test", "no key for signature")]
        ((result, _, reason),) = dkim_results(malformed)
        assert (result, reason) == ("permerror", "missing bh=")
        assert not evidence(no_key).proof and not evidence(malformed).proof

    def test_partial_body_signature_is_a_policy_result(
        self, send: Callable[..., list[bytes]], acme: Key
    ) -> None:
        """``l=`` lets anyone append to the body, where a command could go: no proof."""
        (spooled,) = send(acme.sign(message(), length=True))
        assert dkim_results(spooled) == [
            ("policy", "example.test", "l= signs only part of the body")
        ]
        assert evidence(spooled).proof == ""

    def test_a_thousand_signatures_cost_a_few_lookups(
        self, send: Callable[..., list[bytes]], acme: Key, dns: Dns
    ) -> None:
        """Only the first MAX_SIGNATURES are verified (one key lookup each); the genuine
        signature on top still counts, and the mail is spooled whole."""
        bogus = tuple(
            f"DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s{n}; h=from; bh=AA==; b=AA=="
            for n in range(1000)
        )
        raw = acme.sign(message())
        signed_below = raw[: raw.index(b"From:")] + "\r\n".join(bogus).encode() + b"\r\n"
        (spooled,) = send(signed_below + raw[raw.index(b"From:") :])
        missing = ("permerror", "example.test", "no key for signature")
        assert dkim_results(spooled) == [("pass", "example.test", ""), *[missing] * 4]
        assert len(dns.asked) == MAX_SIGNATURES
        assert evidence(spooled).proof == "dkim=pass header.d=example.test"
        assert spooled.count(b"DKIM-Signature:") == 1001


class TestConfig:
    def test_authserv_id_reaches_the_listener(self) -> None:
        config = config_from_dict({"listener": {"authserv_id": "Triagebot.Acme.Example"}})
        assert config.listener is not None
        assert listener_settings(config.listener).authserv_id == "triagebot.acme.example"

    def test_default_is_a_dotted_host_name_or_triagebot_listener(self) -> None:
        config = config_from_dict({"listener": {}})
        assert config.listener is not None
        stamp_id = config.listener.stamp_id
        assert stamp_id == DEFAULT_AUTHSERV_ID or "." in stamp_id

    def test_authserv_id_that_is_no_host_name_names_the_key(self) -> None:
        table = {"authserv_id": "evil; dkim=pass"}
        with pytest.raises(ConfigError, match=r"\[listener\]\.authserv_id: must be a host"):
            read_section(ListenerConfig, table, "[listener]", Path.cwd())


@dataclass
class Service:
    """A deployment on its own Maildir, trusting only the listener's stamps."""

    bot: Bot
    smtp: SmtpServer
    jira: FakeJira


@pytest.fixture
def service(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig, fake_jira: FakeJira
) -> Service:
    bot = deployment(
        tmp_path,
        None,
        smtp_config,
        fake_jira,
        recipients=[LIST],
        allowed_senders=["example.test"],
        trusted_authserv_ids=[LISTENER_ID],
    )
    make_maildir(bot.maildir)
    return Service(bot, smtp_server, fake_jira)


def test_replies_through_the_listener_act_only_when_signed_by_the_from_domain(
    service: Service, send: Callable[..., list[bytes]], acme: Key, evil: Key
) -> None:
    """Subject-only replies need proof. A forged listener stamp, a signature of another
    domain, a broken signature and a key the DNS cannot give all go to Review; the reply
    signed with example.test's key confirms the candidate; no mail is lost."""
    bot, fake_jira = service.bot, service.jira

    class ThroughListener:
        def append(self, messages: Any) -> None:
            send(*messages, spool=bot.maildir)
            settled = time.time() - 3600  # written through tmp/: complete, whatever its age
            for name in os.listdir(bot.maildir / "new"):
                os.utime(bot.maildir / "new" / name, (settled, settled))

    inbox = ThroughListener()
    candidate = candidate_mail(bot, inbox, service.smtp, REPORT, to=LIST)
    headers = {"To": "helpdesk@example.test", "Subject": "Re: " + str(candidate["Subject"])}

    def reply(body: str, name: str, top: tuple[str, ...] = ()) -> bytes:
        return mail(headers, body, message_id=name, sender=JANE, top=top)

    forged = f"Authentication-Results: {LISTENER_ID}; dkim=pass header.d=example.test"
    broken = acme.sign(reply("reject", "broken")).replace(b"reject", b"confirm")
    refused = [
        reply("confirm", "forged", top=(forged,)),
        evil.sign(reply("confirm", "evil")),
        broken,
        Key("example.test", selector="down").sign(reply("confirm", "dns-down")),
    ]
    inbox.append(refused)
    result = bot.once()

    assert len(result.named("reply.refused")) == len(refused)
    assert len(list((bot.maildir / ".Review" / "new").iterdir())) == len(refused)
    assert [d["state"] for d in bot.defects()] == ["candidate"]
    assert fake_jira.issues == {}

    inbox.append([acme.sign(reply("confirm priority high", "genuine"))])
    applied = bot.once()

    assert [e["verb"] for e in applied.named("reply.applied")] == ["confirm"]
    assert [d["state"] for d in bot.defects()] == ["filed"]
    (issue,) = fake_jira.issues.values()
    assert f"confirmed by {JANE} by e-mail" in str(issue["fields"])
    assert len(list((bot.maildir / "cur").iterdir())) == 2  # the report and the genuine reply
