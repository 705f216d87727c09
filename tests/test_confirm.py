"""The confirmation loop's parts: tokens, commands, authorisation, templates, store and mails.

Real parts only: the real pipeline and rules make the candidates, a real SQLite store keeps
them, and the candidate mails go through a real aiosmtpd server.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import RULES, SAMPLES, Bot
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, HelpdeskConfig, Secret, SmtpConfig, config_from_dict
from triagebot.confirm import Notifier, ReplyHandler, Templates, Verb, parse_command, tokens
from triagebot.confirm.commands import COMMANDS, EXAMPLE, HELP, read_command
from triagebot.confirm.trust import Gate, locate
from triagebot.identity import answer_subject
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind, Report
from triagebot.mail.source import Folder
from triagebot.outbox import run_effects, run_notifications
from triagebot.pipeline import Pipeline
from triagebot.smtp import Mailer
from triagebot.store import DefectState, EffectKind, EffectResult, Store
from triagebot.trackers import tracker_kind
from triagebot.trackers.base import TrackerIssue
from triagebot.trackers.local import LocalTracker, local_issues

SECRET = "unit-test-secret-0123456789"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(days=30)
ALICE = "alice@example.test"
HELPDESK = HelpdeskConfig(
    recipients=(ALICE, "bob@example.test"),
    allowed_senders=(ALICE, "staff.example.test"),
    reply_address="helpdesk@example.test",
    token_secret=Secret(SECRET, "test"),
    trusted_authserv_ids=("mx.example.test",),
)


def token_for(candidate: int = 1, now: datetime = NOW, secret: str = SECRET) -> str:
    return str(tokens.issue(secret, candidate, now, TTL))


def first_format_token(recipient: str, candidate: int = 1, now: datetime = NOW) -> str:
    """A token as the previous release made them: the MAC bound to one recipient address."""
    expires = int((now + TTL).timestamp())
    message = f"{candidate}\n{recipient.lower()}\n{expires}".encode()
    mac = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()[: tokens.MAC_BYTES]
    expiry = base64.b32encode(expires.to_bytes(5, "big")).decode().rstrip("=").lower()
    return f"c{candidate}-{expiry}-{base64.b32encode(mac).decode().rstrip('=').lower()}"


def reply(
    body: str = "confirm",
    *,
    sender: str = ALICE,
    in_reply_to: str = "",
    to: str = "helpdesk@example.test",
    subject: str = "Re: [triage C-1] NullReferenceException in CaseViewModel.Load",
    extra: str = "",
    from_field: str = "",
) -> Report:
    """A reply mail through the real parser (helpdesk reply address as own address);
    ``from_field``: the whole ``From:`` value (default ``Alice <sender>``)."""
    raw = (
        f"From: {from_field or f'Alice <{sender}>'}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <reply-{abs(hash((body, sender, in_reply_to, to, extra, from_field)))}"
        "@example.test>\r\n"
        + (f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else "")
        + extra
        + f"\r\n{body}\r\n"
    ).encode()
    return parse_message(raw, ParseSettings(own_addresses=("helpdesk@example.test",)))


def thread_id(token: str) -> str:
    return f"<triagebot.c-{token}@example.test>"


class TestTokens:
    def test_a_token_answers_its_candidate_for_the_whole_audience(self) -> None:
        """No address is bound in: whoever of the helpdesk answers presents the same proof."""
        token = tokens.parse(token_for())
        assert token is not None
        assert tokens.verify(SECRET, token, NOW) is None
        assert tokens.verify(SECRET, token, NOW, recipients=("someone@example.test",)) is None

    def test_expired_token_is_refused(self) -> None:
        token = tokens.parse(token_for(now=NOW - TTL - timedelta(hours=1)))
        assert token is not None
        assert "expired" in (tokens.verify(SECRET, token, NOW) or "")

    def test_forged_token_with_another_secret_is_refused(self) -> None:
        forged = tokens.issue("attacker-secret-0123456789", 1, NOW, TTL)
        assert "not genuine" in (tokens.verify(SECRET, forged, NOW, (ALICE,)) or "")

    @pytest.mark.parametrize("part", ["candidate", "expiry", "mac"])
    def test_tampered_token_is_refused(self, part: str) -> None:
        """Changing the candidate id, moving the expiry or flipping the MAC breaks it."""
        token = tokens.parse(token_for())
        assert token is not None
        if part == "candidate":
            token = dataclasses.replace(token, candidate_id=2)
        elif part == "expiry":
            token = dataclasses.replace(token, expires=token.expires + timedelta(days=365))
        else:
            token = dataclasses.replace(
                token, mac=("b" if token.mac[0] == "a" else "a") + token.mac[1:]
            )
        assert tokens.verify(SECRET, token, NOW) is not None

    def test_first_format_tokens_verify_for_a_configured_recipient_only(self) -> None:
        """A token sent before the change still answers while it is valid, when it went to
        one of today's recipients; a token of a former recipient is refused with a reason."""
        token = tokens.parse(first_format_token(ALICE))
        assert token is not None
        assert tokens.verify(SECRET, token, NOW, recipients=("bob@x.test", ALICE)) is None
        why = tokens.verify(SECRET, token, NOW, recipients=("bob@x.test",))
        assert why is not None and "former recipient" in why
        assert "expired" in (tokens.verify(SECRET, token, NOW + TTL, recipients=(ALICE,)) or "")

    def test_a_first_format_mac_is_never_a_current_one(self) -> None:
        """The current MAC's message starts with a version tag, so no recipient address can
        make a first-format MAC that passes as an audience token."""
        token = tokens.parse(first_format_token(tokens.AUDIENCE))
        assert token is not None
        assert tokens.verify(SECRET, token, NOW) is not None

    def test_token_shape(self) -> None:
        """Lowercase base32, candidate id and expiry readable, at least 80 bits of MAC."""
        text = token_for(candidate=42)
        assert text == text.lower() and text.startswith("c42-")
        mac = text.rsplit("-", 1)[1]
        assert len(mac) * 5 >= 80
        assert tokens.parse(text.upper()) == tokens.parse(text)
        assert tokens.parse("c42-xyz") is None

    @given(st.integers(1, 10**9), st.integers(0, 10**6))
    def test_round_trip(self, candidate: int, seconds: int) -> None:
        now = NOW + timedelta(seconds=seconds)
        token = tokens.issue(SECRET, candidate, now, TTL)
        assert tokens.parse(str(token)) == token
        assert tokens.verify(SECRET, token, now) is None
        other = dataclasses.replace(token, candidate_id=candidate + 1)
        assert tokens.verify(SECRET, other, now) is not None


class TestCommands:
    def test_confirm_with_fields_on_the_same_and_following_lines(self) -> None:
        command = parse_command(
            "Confirm priority high\nComponent: Client\nassign bob\nlabel billing\n\nthanks"
        )
        assert command is not None
        assert command.verb is Verb.CONFIRM
        assert command.args() == {
            "priority": "High",
            "components": ["Client"],
            "labels": ["billing"],
            "assignee": "bob",
        }

    def test_confirm_fields_stop_at_prose(self) -> None:
        command = parse_command("confirm\nthe priority is obviously high, see ticket")
        assert command is not None and command.verb is Verb.CONFIRM
        assert command.priority is None

    @pytest.mark.parametrize(
        ("text", "verb", "args"),
        [
            ("REJECT known network blip", Verb.REJECT, {"reason": "known network blip"}),
            ("reject", Verb.REJECT, {}),
            ("Duplicate ops-123.", Verb.DUPLICATE, {"key": "ops-123"}),
            ("duplicate C-41", Verb.DUPLICATE, {"candidate": "C-41"}),
            ("duplicate of something", Verb.UNKNOWN, {"text": "duplicate of something"}),
            ("Ignore!", Verb.IGNORE, {}),
            ("help", Verb.HELP, {}),
            ("yes please", Verb.UNKNOWN, {"text": "yes please"}),
            ("\n\n  confirm.  \n", Verb.CONFIRM, {}),
        ],
    )
    def test_verbs(self, text: str, verb: Verb, args: dict[str, str]) -> None:
        command = parse_command(text)
        assert command is not None
        assert (command.verb, command.args()) == (verb, args)

    @pytest.mark.parametrize(
        ("kind", "text", "key"),
        [
            ("jira", "duplicate ops-123.", "OPS-123"),
            ("jira", "duplicate 123", None),
            ("local", "duplicate LOCAL-7", "LOCAL-7"),
            ("local", "duplicate OPS-7", None),
        ],
    )
    def test_duplicate_takes_the_configured_trackers_keys(
        self, kind: str, text: str, key: str | None
    ) -> None:
        """Each tracker kind says what its keys look like; anything else is not understood."""
        command = parse_command(text, tracker_kind(kind).key)
        assert command is not None
        expected = (Verb.DUPLICATE, key) if key else (Verb.UNKNOWN, None)
        assert (command.verb, command.key) == expected

    def test_help_lists_every_registered_command(self) -> None:
        """The command list in mails is made from the registry the parser uses."""
        assert [usage.split()[0] for usage, _ in HELP] == list(COMMANDS)
        rendered = Templates().render(
            "help.txt.j2",
            line="",
            reference="C-1",
            understood="Your reply holds no command.",
            state="C-1 is a candidate.",
        )
        assert all(usage in rendered for usage, _ in HELP)
        assert "Your reply holds no command.\nC-1 is a candidate." in rendered
        assert f"For example:\n  {EXAMPLE}" in rendered

    def test_prose_is_a_comment_and_nothing_is_none(self) -> None:
        command = parse_command("I think this is the same as last week.\nCan someone look?")
        assert command is not None and command.verb is Verb.COMMENT
        assert "last week" in command.args()["text"]
        assert parse_command(" \n\n") is None

    def test_duplicate_of_another_candidate(self) -> None:
        """``C-41`` names a candidate whatever the tracker's keys look like."""
        for kind in ("jira", "local", "github"):
            command = parse_command("Duplicate c-41.", tracker_kind(kind).key)
            assert command is not None
            assert (command.verb, command.duplicate_of, command.key) == (Verb.DUPLICATE, 41, None)

    @pytest.mark.parametrize(
        "text",
        [
            "> confirm\n> priority high\n\nreject not ours",
            ">\n> On Mon someone wrote:\n>> confirm\n  \nReject not ours\n",
            "  > quoted without attribution\n>\nreject not ours",
        ],
    )
    def test_leading_quote_lines_are_skipped(self, text: str) -> None:
        """A quote above the reply with no attribution: the first unquoted line counts."""
        command = parse_command(text)
        assert command is not None
        assert (command.verb, command.reason) == (Verb.REJECT, "not ours")
        assert parse_command("> confirm\n>\n") is None

    @pytest.mark.parametrize(
        ("body", "subject", "verb"),
        [
            ("", "RE: [triage C-42] confirm", Verb.CONFIRM),
            ("Thanks, will look at it\nwith the team", "AW: [triage C-42] reject", Verb.REJECT),
            ("maybe?", "Re: [Triage c-42] duplicate OPS-7", Verb.DUPLICATE),
            ("reject noise", "RE: [triage C-42] confirm", Verb.REJECT),  # the text wins
            ("", "Re: [triage C-42] NullReferenceException in Load", None),
            ("a question", "Re: [triage C-42] acme · Help Desk 4.6 (Prod): x", Verb.UNKNOWN),
            ("", "confirm", None),  # no reference: no subject command
        ],
    )
    def test_a_command_on_the_subject_line(
        self, body: str, subject: str, verb: Verb | None
    ) -> None:
        """Words after ``[triage C-42]`` are a command only when they are one; the candidate
        mail's own subject there (a title) never is."""
        command = read_command(body, subject)
        assert (command.verb if command else None) == verb

    def test_the_example_in_answers_is_a_command(self) -> None:
        command = parse_command(EXAMPLE)
        assert command is not None and command.verb is Verb.CONFIRM and command.priority

    def test_only_the_first_line_counts(self) -> None:
        """A command further down (e.g. in an untrimmed quote) is not read."""
        command = parse_command("Looks like a real problem to me, please check it\nconfirm")
        assert command is not None and command.verb is Verb.COMMENT


def stamps(*values: str) -> str:
    return "".join(f"Authentication-Results: {value}\r\n" for value in values)


#: The issue's deployment: candidate mails go to a shared list, staff answer from their own.
SHARED_LIST = dataclasses.replace(
    HELPDESK,
    recipients=("helpdesk@acme.example",),
    allowed_senders=("acme.example",),
    trusted_authserv_ids=("mx.acme.example",),
)
JANE = "jane.doe@acme.example"


class TestTrust:
    gate = Gate(HELPDESK)

    @pytest.mark.parametrize(
        ("kwargs", "found_in"),
        [
            ({"in_reply_to": thread_id(token_for())}, "in-reply-to"),
            ({"to": f"helpdesk+c-{token_for()}@example.test"}, "plus-address"),
            ({"extra": stamps("mx.example.test; dkim=pass header.d=example.test")}, "subject"),
        ],
    )
    def test_token_places(self, kwargs: dict[str, str], found_in: str) -> None:
        report = reply(**kwargs)
        assert report.kind is Kind.REPLY
        located = locate(report)
        assert (located.found_in, located.candidate_id) == (found_in, 1)
        assert self.gate.check(report, NOW).reason is None

    def test_token_in_references(self) -> None:
        extra = f"References: <other@x> {thread_id(token_for())}\r\n"
        report = reply(in_reply_to="", extra=extra)
        assert locate(report).found_in == "references"

    @pytest.mark.parametrize(
        ("token", "sender", "why"),
        [
            (token_for(now=NOW - TTL - TTL), ALICE, "expired"),
            (token_for(secret="x" * 20), ALICE, "not genuine"),  # forged
            (token_for(), "eve@elsewhere.test", "allowed_senders"),
        ],
    )
    def test_refusals(self, token: str, sender: str, why: str) -> None:
        verdict = self.gate.check(reply(sender=sender, in_reply_to=thread_id(token)), NOW)
        assert verdict.reason is not None and why in verdict.reason

    @pytest.mark.parametrize(
        "stamp",
        [
            "",  # internal mail: no stamp at all
            "mx.acme.example; dkim=none; dmarc=none header.from=acme.example",
            "mx.acme.example; spf=pass smtp.mailfrom=acme.example",
            "mx.acme.example; dmarc=fail header.from=other.example",  # not the From domain
            "evil.example; dkim=fail header.d=acme.example; dmarc=fail",  # untrusted: no verdict
            "mx.acme.example; dkim=fail header.d=acme.example; dkim=pass header.d=acme.example",
        ],
    )
    def test_staff_reply_from_a_personal_address_acts(self, stamp: str) -> None:
        """The token proves the reply answers the list's candidate mail; Jane is allowed and no
        trusted stamp shows a failure for acme.example, so her reply acts."""
        extra = stamps(stamp) if stamp else ""
        report = reply(sender=JANE, in_reply_to=thread_id(token_for()), extra=extra)
        verdict = Gate(SHARED_LIST).check(report, NOW)
        assert verdict.reason is None
        assert verdict.sender.address == JANE

    def test_the_stronger_proof_is_never_treated_worse(self) -> None:
        """Without a token the same mail needs a trusted, aligned pass."""
        gate = Gate(SHARED_LIST)
        assert gate.check(reply(sender=JANE), NOW).reason is not None
        passed = stamps("mx.acme.example; dkim=pass header.d=acme.example")
        assert gate.check(reply(sender=JANE, extra=passed), NOW).reason is None
        assert (
            gate.check(reply(sender=JANE, in_reply_to=thread_id(token_for())), NOW).reason is None
        )

    @pytest.mark.parametrize(
        "stamp",
        [
            "mx.acme.example; dmarc=fail header.from=acme.example",
            "mx.acme.example; dmarc=fail",  # DMARC is evaluated on the From domain
            "mx.acme.example; dkim=fail header.d=acme.example; dmarc=none",
            "mx.acme.example; dkim=fail header.d=mail.acme.example",  # aligned
            "MX.ACME.EXAMPLE; DMARC=FAIL HEADER.FROM=ACME.EXAMPLE",
        ],
    )
    def test_token_reply_with_a_trusted_failure_is_refused(self, stamp: str) -> None:
        report = reply(sender=JANE, in_reply_to=thread_id(token_for()), extra=stamps(stamp))
        reason = Gate(SHARED_LIST).check(report, NOW).reason
        assert reason is not None and "fails for acme.example" in reason

    def test_require_dkim_asks_token_replies_for_a_pass_too(self) -> None:
        gate = Gate(dataclasses.replace(SHARED_LIST, require_dkim=True))
        thread = thread_id(token_for())
        reason = gate.check(reply(sender=JANE, in_reply_to=thread), NOW).reason
        assert reason is not None and "require_dkim" in reason
        passed = stamps("mx.acme.example; dmarc=pass header.from=acme.example")
        assert gate.check(reply(sender=JANE, in_reply_to=thread, extra=passed), NOW).reason is None

    @pytest.mark.parametrize(
        "stamp",
        [
            # A valid signature, of another domain.
            "mx.acme.example; dkim=pass header.d=evil.example; dmarc=fail header.from=acme.example",
            # The envelope sender is the attacker's to choose.
            "mx.acme.example; spf=fail smtp.mailfrom=dkim=pass@evil.example",
            # Text in reasons and comments.
            'mx.acme.example; dkim=fail reason="bad sig, not dkim=pass" header.d=acme.example',
            "mx.acme.example; dmarc=fail (was dmarc=pass) header.from=acme.example",
            "mx.acme.example; dkim=none (dkim=pass header.d=acme.example)",
            # Pass for another From domain, for a sibling, or a property of another kind.
            "mx.acme.example; dmarc=pass header.from=evil.example",
            "mx.acme.example; dmarc=pass header.from=acme.example.evil.example",
            "mx.acme.example; dkim=pass policy.d=acme.example",
            "mx.acme.example; dkim=pass header.i=@acme.example",
            "mx.acme.example; dkim=pass header.d=acme.example header.d=evil.example",
            # No header.from: a dmarc pass proves nothing about this From.
            "mx.acme.example; dmarc=pass",
            # Not a trusted authserv-id, or none at all (Exchange Online's own stamps).
            "evil.example; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example",
            "dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example",
            "mx.acme.example.evil.example; dmarc=pass header.from=acme.example",
        ],
    )
    def test_forged_stamps_never_vouch_for_a_subject_only_reply(self, stamp: str) -> None:
        verdict = Gate(SHARED_LIST).check(reply(sender=JANE, extra=stamps(stamp)), NOW)
        assert verdict.located.found_in == "subject"
        assert verdict.reason is not None and verdict.evidence.proof == ""

    @pytest.mark.parametrize(
        ("stamp", "proof"),
        [
            ("mx.acme.example; dmarc=pass header.from=acme.example", "dmarc=pass"),
            ("mx.acme.example; dkim=pass header.d=acme.example", "dkim=pass"),
            ("mx.acme.example; dkim=pass header.d=mail.acme.example", "dkim=pass"),
            ("mx.acme.example 1; dkim=pass (good) header.d=acme.example header.s=s1", "dkim=pass"),
            (
                "mx.acme.example; spf=fail smtp.mailfrom=x@evil.example;\r\n\t"
                'dkim=pass reason="ok" header.d=ACME.example',
                "dkim=pass",
            ),
        ],
    )
    def test_a_trusted_aligned_pass_vouches_for_a_subject_only_reply(
        self, stamp: str, proof: str
    ) -> None:
        verdict = Gate(SHARED_LIST).check(reply(sender=JANE, extra=stamps(stamp)), NOW)
        assert verdict.reason is None
        assert verdict.evidence.proof.startswith(proof)

    def test_a_forged_stamp_below_the_real_one_changes_nothing(self) -> None:
        """The topmost trusted stamp is the receiving server's own; one below it came with
        the mail, whatever authserv-id it claims."""
        real = "mx.acme.example; dkim=none; dmarc=none header.from=acme.example"
        forged = (
            "mx.acme.example; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example"
        )
        gate = Gate(SHARED_LIST)
        verdict = gate.check(reply(sender=JANE, extra=stamps(real, forged)), NOW)
        assert verdict.reason is not None and verdict.evidence.proof == ""
        assert [n.counted for n in verdict.evidence.notes] == [True, False]
        failing = "mx.acme.example; dmarc=fail header.from=acme.example"
        token_reply = reply(
            sender=JANE, in_reply_to=thread_id(token_for()), extra=stamps(failing, forged)
        )
        assert "fails for acme.example" in (gate.check(token_reply, NOW).reason or "")

    def test_stamps_of_later_hops_above_the_trusted_one_are_skipped(self) -> None:
        """An untrusted stamp above (an internal relay's) is passed over, not counted."""
        top = "relay.internal; dkim=pass header.d=acme.example"
        real = "mx.acme.example; dmarc=pass header.from=acme.example"
        verdict = Gate(SHARED_LIST).check(reply(sender=JANE, extra=stamps(top, real)), NOW)
        assert verdict.reason is None
        assert [n.counted for n in verdict.evidence.notes] == [False, True]

    @pytest.mark.parametrize(
        ("from_field", "extra"),
        [
            ('"jane.doe@acme.example" <evil@evil.example>', ""),
            ('"<jane.doe@acme.example>" <evil@evil.example>', ""),
            ("Jane <jane.doe@acme.example> <evil@evil.example>", ""),
            ("jane.doe@acme.example, evil@evil.example", ""),
            ("evil@evil.example, jane.doe@acme.example", ""),
            ("Staff: jane.doe@acme.example;", ""),
            ("=?utf-8?q?jane.doe=40acme.example?=", ""),
            ("=?utf-8?q?jane.doe?=@acme.example", ""),
            ("=?utf-8?b?amFuZS5kb2VAYWNtZS5leGFtcGxl?= <evil@evil.example>", ""),
            ("evil@evil.example", "Sender: jane.doe@acme.example\r\n"),
            ("evil@evil.example", "Reply-To: jane.doe@acme.example\r\n"),
            ("jane.doe@acme.example", "From: evil@evil.example\r\n"),  # two From fields
            ("alice@acme.example)<evil@evil.example>", ""),
            ("jane.doe@eu.acme.example", ""),  # a subdomain is not the listed domain
        ],
    )
    def test_from_tricks_grant_nothing(self, from_field: str, extra: str) -> None:
        """Even with a genuine token and a trusted pass for acme.example, only one plain From
        mailbox on the allow-list may act; Sender and Reply-To are never read."""
        passed = stamps("mx.acme.example; dkim=pass header.d=acme.example")
        report = reply(
            from_field=from_field, in_reply_to=thread_id(token_for()), extra=passed + extra
        )
        verdict = Gate(SHARED_LIST).check(report, NOW)
        assert verdict.reason is not None
        assert verdict.sender.address in ("", "evil@evil.example", "jane.doe@eu.acme.example")

    @pytest.mark.parametrize(
        "from_field",
        [
            "=?utf-8?q?Jane_D=C3=B6e?= <jane.doe@acme.example>",
            '"Doe, Jane" <JANE.DOE@ACME.EXAMPLE>',
            "Jane Doe\r\n <jane.doe@acme.example>",
            "jane.doe@acme.example (Jane Doe)",
        ],
    )
    def test_ordinary_from_fields_name_their_author(self, from_field: str) -> None:
        report = reply(from_field=from_field, in_reply_to=thread_id(token_for()))
        verdict = Gate(SHARED_LIST).check(report, NOW)
        assert (verdict.reason, verdict.sender.address) == (None, JANE)


# --- the store, the handler and the mails -----------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    yield store
    store.close()


def config_for(smtp: SmtpConfig | None, **helpdesk: object) -> Config:
    base = config_from_dict({"rules": {"path": str(RULES)}, "service": {"name": "acme-prod"}})
    return dataclasses.replace(base, smtp=smtp, helpdesk=dataclasses.replace(HELPDESK, **helpdesk))


def add_candidate(
    store: Store, config: Config, sample: str = "client-case-load-nullref-01.eml"
) -> int:
    outcome = Pipeline.from_config(config).process((SAMPLES / sample).read_bytes())
    assert outcome.action == "candidate"
    store.record([outcome], now=NOW)
    (summary,) = [d for d in store.defects() if d.title == outcome.signature.title]  # type: ignore[union-attr]
    return summary.id


class TestHandler:
    def test_confirm_files_once_with_fields_and_one_ack(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        report = reply("confirm priority high", in_reply_to=thread_id(token_for(candidate=defect)))
        assert handler.handle(report, NOW) is Folder.PROCESSED
        assert handler.handle(report, NOW) is Folder.PROCESSED  # re-delivered: nothing more
        filed = store.defect(defect)
        assert filed.state is DefectState.FILED
        assert filed.confirmed_by == f"confirmed by {ALICE} by e-mail"
        assert filed.fields.priority == "High"
        kinds = [kind for kind, _state, _n in store.effects(defect)]
        assert kinds.count("create") == 1 and kinds.count("notify") == 2  # candidate + one ack
        (record,) = store.replies(defect)
        assert (record.sender, record.verb, record.message_id) == (
            ALICE,
            "confirm",
            report.message_id,
        )

    def test_staff_answer_the_lists_mail_from_their_own_address(self, store: Store) -> None:
        """The decision and the reply record name the one From mailbox the checks were made
        on, never an address in the display name."""
        config = config_for(
            None,
            recipients=SHARED_LIST.recipients,
            allowed_senders=SHARED_LIST.allowed_senders,
            trusted_authserv_ids=SHARED_LIST.trusted_authserv_ids,
        )
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        report = reply(
            "confirm",
            from_field=f'"<helpdesk@acme.example>" <{JANE}>',
            in_reply_to=thread_id(token_for(candidate=defect)),
        )
        assert handler.handle(report, NOW) is Folder.PROCESSED
        assert store.defect(defect).confirmed_by == f"confirmed by {JANE} by e-mail"
        (record,) = store.replies(defect)
        assert record.sender == JANE

    def test_refused_reply_goes_to_review_and_changes_nothing(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        forged = reply(in_reply_to=thread_id(token_for(defect, secret="attacker-secret-0123")))
        assert handler.handle(forged, NOW) is Folder.REVIEW
        assert store.defect(defect).state is DefectState.CANDIDATE
        assert store.replies(defect) == []

    def test_acks_are_rate_limited_per_thread(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        for minute, text in enumerate(["help", "yes", "what?"]):
            handler.handle(reply(text, in_reply_to=thread), NOW + timedelta(minutes=minute))
        handler.handle(reply("help me", in_reply_to=thread), NOW + timedelta(hours=1))
        notify = [k for k, _s, _n in store.effects(defect) if k == EffectKind.NOTIFY]
        assert len(notify) == 1 + 2  # the candidate mail, then one help per interval
        assert len(store.replies(defect)) == 4

    def test_reject_mutes_and_duplicate_points_at_the_issue(self, store: Store) -> None:
        config = config_for(None)
        first = add_candidate(store, config)
        second = add_candidate(store, config, "appserver-case-sql-timeout-01.eml")
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        handler.handle(
            reply("reject noise", in_reply_to=thread_id(token_for(candidate=first))), NOW
        )
        handler.handle(
            reply("duplicate OPS-7", in_reply_to=thread_id(token_for(candidate=second))), NOW
        )
        assert store.defect(first).state is DefectState.REJECTED
        duplicate = store.defect(second)
        assert (duplicate.state, duplicate.tracker_key) == (DefectState.DUPLICATE, "OPS-7")
        assert ("link", "pending", 0) in store.effects(second)
        # Later occurrences: recorded, no new candidate mail for the rejected one.
        add_again = Pipeline.from_config(config).process(
            (SAMPLES / "client-case-load-nullref-02.eml").read_bytes()
        )
        store.record([add_again], now=NOW + timedelta(hours=1))
        assert store.defect(first).state is DefectState.REJECTED
        assert store.defect(first).occurrences == 2
        assert [k for k, _s, _n in store.effects(first)].count("notify") == 2  # candidate + ack


def answers(store: Store, now: datetime = NOW + timedelta(days=1)) -> list[dict[str, object]]:
    """The payloads of the answers to replies queued so far (candidate mails left out)."""
    effects = store.due_effects(now, 100, (EffectKind.NOTIFY,))
    return [e.payload for e in effects if e.payload["reason"] != "candidate"]


class TestAnswers:
    """Every authorised reply gets one answer; a refused one of an allowed sender one line."""

    @pytest.mark.parametrize(
        ("body", "understood"),
        [
            ("Is this the crash from last week?\nWe saw it on two machines.", "no command"),
            ("yes please", '"yes please" is not a command'),
            ("> confirm\n>\n", "no new text"),
        ],
    )
    def test_a_reply_without_a_command_is_kept_and_answered_once(
        self, store: Store, body: str, understood: str
    ) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        report = reply(body, in_reply_to=thread_id(token_for(candidate=defect)))
        assert handler.handle(report, NOW) is Folder.PROCESSED
        assert handler.handle(report, NOW) is Folder.PROCESSED  # re-delivered
        (record,) = store.replies(defect)
        assert record.verb == "comment"
        assert store.defect(defect).state is DefectState.CANDIDATE
        (answer,) = answers(store)
        assert answer["reason"] == "help" and answer["to"] == ALICE
        assert understood in str(answer["understood"])
        assert answer["state"] == f"C-{defect} is a candidate: it waits for your decision."

    def test_refused_replies_of_an_allowed_sender_get_one_line_per_hour(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        forged = thread_id(token_for(defect, secret="attacker-secret-0123"))
        for n, minutes in enumerate((0, 10, 59, 61)):
            report = reply(f"confirm {n}", in_reply_to=forged)
            assert handler.handle(report, NOW + timedelta(minutes=minutes)) is Folder.REVIEW
        handler.handle(reply("confirm 3", in_reply_to=forged), NOW + timedelta(minutes=90))
        due = store.refusal_notices_due()
        assert len(due) == 2  # at 0 and at 61 minutes; the re-delivered one not again
        assert all(answer["to"] == ALICE for _id, answer in due)
        assert "not genuine" in str(due[0][1]["reason"])
        assert store.replies(defect) == []

    @pytest.mark.parametrize(
        ("sender", "extra"),
        [
            ("eve@elsewhere.test", ""),  # not allowed: never told
            (ALICE, "List-Id: <helpdesk.lists.example.test>\r\n"),
            (ALICE, "Return-Path: <>\r\n"),
        ],
    )
    def test_refusals_are_not_answered_to_strangers_or_automatic_mail(
        self, store: Store, sender: str, extra: str
    ) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        forged = thread_id(token_for(defect, secret="attacker-secret-0123"))
        report = reply(sender=sender, in_reply_to=forged, extra=extra)
        assert handler.handle(report, NOW) is Folder.REVIEW
        assert store.refusal_notices_due() == []

    def test_list_traffic_acts_but_is_not_answered(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        extra = "List-Id: Helpdesk <helpdesk.lists.example.test>\r\n"
        report = reply("reject", in_reply_to=thread_id(token_for(defect)), extra=extra)
        assert handler.handle(report, NOW) is Folder.PROCESSED
        assert store.defect(defect).state is DefectState.REJECTED
        assert answers(store) == []

    def test_duplicate_of_a_filed_candidate_updates_its_issue(self, store: Store) -> None:
        config = config_for(None)
        first = add_candidate(store, config)
        second = add_candidate(store, config, "appserver-case-sql-timeout-01.eml")
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        early = reply(f"duplicate C-{first}", in_reply_to=thread_id(token_for(second)))
        handler.handle(early, NOW)
        assert store.defect(second).state is DefectState.CANDIDATE  # C-first has no issue yet
        (answer,) = answers(store)
        assert f"C-{first} has no tracker issue yet" in str(answer["note"])

        handler.handle(reply("confirm", in_reply_to=thread_id(token_for(first))), NOW)
        (create,) = store.due_effects(NOW, 10, (EffectKind.CREATE,))
        store.complete_effect(create, EffectResult(tracker_key="OPS-5"))
        later = reply(f"Duplicate c-{first}.", in_reply_to=thread_id(token_for(second)))
        handler.handle(later, NOW + timedelta(hours=1))
        duplicate = store.defect(second)
        assert (duplicate.state, duplicate.tracker_key) == (DefectState.DUPLICATE, "OPS-5")
        assert (
            duplicate.confirmed_by
            == f"marked as duplicate of C-{first} (OPS-5) by {ALICE} by e-mail"
        )


class TestUndo:
    """``undo`` reverses the sender's own last command within the window, through the real
    outbox and the local tracker; every undo is recorded and answered."""

    @pytest.fixture
    def tracker(self, store: Store) -> LocalTracker:
        return LocalTracker(store)

    def test_undo_before_the_issue_is_filed_cancels_the_create(
        self, store: Store, tracker: LocalTracker
    ) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        handler.handle(reply("confirm priority high", in_reply_to=thread), NOW)
        undo = reply("undo", in_reply_to=thread)
        assert handler.handle(undo, NOW + timedelta(minutes=5)) is Folder.PROCESSED
        assert handler.handle(undo, NOW + timedelta(minutes=6)) is Folder.PROCESSED  # again
        back = store.defect(defect)
        assert (back.state, back.fields.priority, back.confirmed_by) == (
            DefectState.CANDIDATE,
            None,
            None,
        )
        run_effects(store, tracker, NOW + timedelta(minutes=7))
        assert tracker.find_all(back.signatures[0]) == []  # the waiting create did nothing
        assert store.defect(defect).tracker_key is None
        assert [(r.verb, r.args) for r in store.replies(defect)] == [
            ("confirm", {"priority": "High"}),
            ("undo", {"undoes": undo_target(store, defect)}),
        ]
        confirm_ack, undo_ack = answers(store)
        assert (confirm_ack["verb"], undo_ack["verb"]) == ("confirm", "undo")
        assert f'C-{defect} is back to where it was before your "confirm"' in str(undo_ack["note"])

    def test_undo_after_filing_closes_the_issue_and_a_new_confirm_reopens_it(
        self, store: Store, tracker: LocalTracker
    ) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        handler.handle(reply("confirm", in_reply_to=thread), NOW)
        run_effects(store, tracker, NOW)
        key = store.defect(defect).tracker_key
        assert key is not None and tracker.get(key).status == "Open"

        handler.handle(reply("undo", in_reply_to=thread), NOW + timedelta(minutes=59))
        assert store.defect(defect).state is DefectState.CANDIDATE
        run_effects(store, tracker, NOW + timedelta(minutes=59))
        assert tracker.get(key) == TrackerIssue(key, "Withdrawn", True)
        assert local_comments(store, key) == 1
        undone = store.defect(defect)
        assert (undone.state, undone.tracker_key, undone.resolved) == (
            DefectState.CANDIDATE,
            key,
            True,
        )
        (note,) = [a["note"] for a in answers(store) if a["verb"] == "undo"]
        assert f"Its tracker issue {key} is closed with a comment." in str(note)

        later = NOW + timedelta(hours=3)
        handler.handle(reply("Confirm", in_reply_to=thread, sender="bob@staff.example.test"), later)
        run_effects(store, tracker, later)
        assert [i.key for i in tracker.find_all(undone.signatures[0])] == [key]  # not anew
        assert tracker.get(key) == TrackerIssue(key, "Reopened", False)
        refiled = store.defect(defect)
        assert (refiled.state, refiled.tracker_key, refiled.resolved) == (
            DefectState.FILED,
            key,
            False,
        )
        assert refiled.confirmed_by == "confirmed by bob@staff.example.test by e-mail"

    def test_outside_the_window_nothing_changes_and_the_answer_says_why(
        self, store: Store, tracker: LocalTracker
    ) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        handler.handle(reply("confirm", in_reply_to=thread), NOW)
        run_effects(store, tracker, NOW)
        handler.handle(reply("undo", in_reply_to=thread), NOW + timedelta(minutes=60))
        run_effects(store, tracker, NOW + timedelta(minutes=60))
        filed = store.defect(defect)
        assert filed.state is DefectState.FILED
        assert filed.tracker_key is not None and not tracker.get(filed.tracker_key).resolved
        assert [r.verb for r in store.replies(defect)] == ["confirm", "undo"]
        (note,) = [a["note"] for a in answers(store) if a["verb"] == "undo"]
        assert "older than 60 minutes" in str(note) and str(note).startswith("Nothing changed")

    @pytest.mark.parametrize("command", ["reject noise", "ignore", "duplicate OPS-7"])
    def test_undo_of_a_reject_or_a_duplicate_makes_it_a_candidate_again(
        self, store: Store, command: str
    ) -> None:
        """The defect gets back its state and forgets the other issue; a second undo has
        nothing left to undo, and nothing goes to the tracker for the pending link."""
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        handler.handle(reply(command, in_reply_to=thread), NOW)
        assert store.defect(defect).state is not DefectState.CANDIDATE
        handler.handle(reply("undo", in_reply_to=thread), NOW + timedelta(minutes=1))
        handler.handle(reply("Undo", in_reply_to=thread), NOW + timedelta(minutes=2))
        back = store.defect(defect)
        assert (back.state, back.tracker_key, back.confirmed_by) == (
            DefectState.CANDIDATE,
            None,
            None,
        )
        assert "close" not in [k for k, _s, _n in store.effects(defect)]
        notes = [str(a["note"]) for a in answers(store) if a["verb"] == "undo"]
        assert notes[0].startswith(f"C-{defect} is back to where it was before")
        assert notes[1] == "Nothing changed: your last command was undone already."

    def test_only_the_author_may_undo_and_a_later_change_wins(self, store: Store) -> None:
        """Bob cannot undo Alice's reject; once Bob confirmed, Alice's undo of her reject
        would throw his decision away, so it changes nothing."""
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        bob = "bob@staff.example.test"
        handler.handle(reply("reject", in_reply_to=thread), NOW)
        handler.handle(reply("undo", in_reply_to=thread, sender=bob), NOW + timedelta(minutes=1))
        assert store.defect(defect).state is DefectState.REJECTED
        handler.handle(reply("confirm", in_reply_to=thread, sender=bob), NOW + timedelta(minutes=2))
        handler.handle(reply("undo", in_reply_to=thread), NOW + timedelta(minutes=3))
        assert store.defect(defect).state is DefectState.FILED
        notes = [str(a["note"]) for a in answers(store) if a["verb"] == "undo"]
        assert notes[0] == f"Nothing changed: you gave no command on C-{defect} to undo."
        assert notes[1].startswith(f'Nothing changed: C-{defect} changed since your "reject"')


def undo_target(store: Store, defect: int) -> str:
    """The Message-ID of the first reply on ``defect`` (the command an undo reversed)."""
    return store.replies(defect)[0].message_id


def local_comments(store: Store, key: str) -> int:
    """The comments the local tracker counted on ``key``."""
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(local_issues.c.comments).where(
                    local_issues.c.id == int(key.removeprefix("LOCAL-"))
                )
            ).scalar_one()
        )


class TestTemplates:
    def test_html_part_escapes_the_title(self, store: Store) -> None:
        config = config_for(None)
        defect = dataclasses.replace(
            store.defect(add_candidate(store, config)), title="<script>alert(1)</script>"
        )
        context = {
            "defect": defect,
            "reference": "C-1",
            "reminder": False,
            "expires": NOW,
            "seen_on": {"machine": ["WS-<b>"], "version": []},
        }
        templates = Templates()
        html = templates.render("candidate.html.j2", **context)
        text = templates.render("candidate.txt.j2", **context)
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "WS-&lt;b&gt;" in html
        assert "<script>alert(1)</script>" in text  # plain text stays as written
        for command in ("confirm", "reject", "duplicate", "ignore", "help"):
            assert command in text and command in html
        assert "CaseViewModel" in text and "Acme Desk Client" in text
        # what the helpdesk decides on comes before the commands, the trace last
        order = [text.index(w) for w in ("Message", "First frame", "Machines", "reject", "Full")]
        assert order == sorted(order)


class TestNotifier:
    def test_candidate_mail_per_recipient_then_one_reminder(
        self, store: Store, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        config = config_for(
            smtp_config, recipients=(ALICE, "BOB@example.test", smtp_config.from_address)
        )
        defect = add_candidate(store, config)
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert notifier is not None
        assert run_notifications(store, notifier, NOW) == 1
        mails = [r.message for r in smtp_server.messages]
        assert sorted(m["To"] for m in mails) == [ALICE, "bob@example.test"]  # never to itself
        for mail in mails:
            assert mail["Subject"] == (
                f"[triage C-{defect}] acme-prod · Acme Desk Client 4.2.9.5976: "
                "NullReferenceException in CaseViewModel.LoadAsync"
            )
            assert mail["Auto-Submitted"] == "auto-generated"
            assert mail["X-Triagebot"] == "candidate"
            token = mail["Message-ID"].removeprefix("<triagebot.c-").partition("@")[0]
            assert mail["Reply-To"] == f"helpdesk+c-{token}@example.test"
            parsed = tokens.parse(token)
            assert parsed is not None and tokens.verify(SECRET, parsed, NOW) is None
        assert run_notifications(store, notifier, NOW + timedelta(hours=71)) == 0
        assert len(smtp_server.messages) == 2  # not due yet, nothing new
        run_notifications(store, notifier, NOW + timedelta(hours=73))
        run_notifications(store, notifier, NOW + timedelta(hours=200))
        reminders = [
            r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "reminder"
        ]
        assert sorted(m["To"] for m in reminders) == [ALICE, "bob@example.test"]
        originals = {m["To"]: m["Message-ID"] for m in mails}
        for reminder in reminders:  # each threads with the mail it follows, same subject
            assert reminder["In-Reply-To"] == originals[reminder["To"]]
            assert reminder["Subject"] == mails[0]["Subject"]

    @pytest.mark.parametrize(
        ("reply", "answer"),
        [
            (
                "RE: [triage C-42] acme-prod · Acme Desk 4.6 (Production): KeyError",
                "Re: [triage C-42] acme-prod · Acme Desk 4.6 (Production): KeyError",
            ),
            ("AW: Re: [triage c-42] confirm", "Re: [triage C-42] acme-prod: confirm"),
            ("SV: [triage C-42] acme-prod: reject", "Re: [triage C-42] acme-prod: reject"),
            ("[triage C-42] acme-production: x", "Re: [triage C-42] acme-prod: acme-production: x"),
            ("Is this Bob's crash?", "Re: [triage] acme-prod: Is this Bob's crash?"),
            ("", "Re: [triage] acme-prod"),
        ],
    )
    def test_an_answer_keeps_the_thread_and_names_the_installation(
        self, reply: str, answer: str
    ) -> None:
        """Answers to replies say "Re:" once, keep a subject that already names this
        installation (clients thread on it), and put the name back where a reply lost it."""
        assert answer_subject("acme-prod", reply) == answer

    def test_one_subject_format_names_installation_application_version_environment(
        self, store: Store, smtp_config: SmtpConfig
    ) -> None:
        config = config_for(smtp_config)
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert notifier is not None
        defect = store.defect(add_candidate(store, config))
        production = dataclasses.replace(
            defect,
            metadata={**defect.metadata, "environment": "Production"},
            last_version="4.6",
            title="NullReferenceException in CaseViewModel.Load\r\nBcc: x@evil.example",
        )
        assert notifier.subject(production) == (
            f"[triage C-{defect.id}] acme-prod · Acme Desk Client 4.6 (Production): "
            "NullReferenceException in CaseViewModel.Load Bcc: x@evil.example"
        )
        bare = dataclasses.replace(defect, metadata={}, last_version=None, title="KeyError: 'x'")
        assert notifier.subject(bare) == f"[triage C-{defect.id}] acme-prod: KeyError: 'x'"
        assert config_from_dict({}).installation  # the host name, or "triagebot"

    def test_candidate_mails_are_capped_per_hour_and_the_rest_summarised(
        self, store: Store, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """Two mails an hour: the third and fourth candidates go in one summary whose mailto
        links carry a token that acts when the reply they open is sent."""
        config = config_for(smtp_config, recipients=(ALICE,), max_candidate_mails_per_hour=2)
        samples = [
            "client-case-load-nullref-01.eml",
            "appserver-case-sql-timeout-01.eml",
            "checkout-voucher-typeerror-01.eml",
            "invoice-totals-keyerror-01.eml",
        ]
        ids = [add_candidate(store, config, sample) for sample in samples]
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert notifier is not None
        assert run_notifications(store, notifier, NOW) == 4
        run_notifications(store, notifier, NOW + timedelta(minutes=5))  # no second summary
        kinds = [r.message["X-Triagebot"] for r in smtp_server.messages]
        assert kinds == ["candidate", "candidate", "summary"]
        summary = smtp_server.messages[2].message
        part = summary.get_body(("plain",))
        assert part is not None
        text = str(part.get_content())
        assert f"[triage C-{ids[0]}]" not in text
        links = dict(re.findall(r"(confirm|reject):\s+(mailto:\S+)", text))
        assert len(re.findall(r"confirm: mailto:", text)) == 2
        html = summary.get_body(("html",))
        assert html is not None and 'href="mailto:helpdesk+c-c' in str(html.get_content())

        target = urlsplit(links["reject"])
        fields = dict(parse_qsl(target.query))
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        used = reply(fields["body"], to=unquote(target.path), subject=fields["subject"])
        assert handler.handle(used, NOW + timedelta(minutes=10)) is Folder.PROCESSED
        assert store.defect(ids[3]).state is DefectState.REJECTED
        assert store.defect(ids[2]).state is DefectState.CANDIDATE

    def test_candidate_mails_wait_while_mail_is_off_and_go_once_it_works(
        self, store: Store, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """Created while ``[smtp]`` was missing: kept, then sent when mail is configured."""
        config = config_for(smtp_config, recipients=(ALICE,))
        defect = add_candidate(store, config)
        assert run_notifications(store, None, NOW) == 0
        assert run_notifications(store, None, NOW + timedelta(days=3)) == 0
        assert ("notify", "pending", 0) in store.effects(defect)
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert run_notifications(store, notifier, NOW + timedelta(days=3)) == 1
        assert [r.message["X-Triagebot"] for r in smtp_server.messages] == ["candidate"]

    def test_without_helpdesk_the_loop_is_off_and_its_effects_skipped(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        assert run_notifications(store, None, NOW, helpdesk=False) == 1
        assert ("notify", "done", 0) in store.effects(defect)

    def test_a_refused_recipient_does_not_hold_up_the_others_and_is_tried_again(
        self, store: Store, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """A 5xx for one recipient: the others get their mail, the effect stays pending with
        the server's answer (``triagebot status`` shows it), and the next attempt serves only
        the refused one."""
        config = config_for(smtp_config, recipients=(ALICE, "bob@example.test"))
        defect = add_candidate(store, config)
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert notifier is not None
        smtp_server.fail_next(1, "550 5.1.1 Mailbox unavailable", commands=("RCPT",))
        assert run_notifications(store, notifier, NOW) == 0
        assert [r.message["To"] for r in smtp_server.messages] == ["bob@example.test"]
        assert ("notify", "pending", 1) in store.effects(defect)
        assert run_notifications(store, notifier, NOW + timedelta(seconds=10)) == 0  # backing off
        (retrying,) = store.status(NOW)["outbox"]["retrying"]
        assert retrying["kind"] == "notify" and "550" in retrying["error"]
        assert run_notifications(store, notifier, NOW + timedelta(minutes=1)) == 1
        assert sorted(r.message["To"] for r in smtp_server.messages) == [ALICE, "bob@example.test"]
        assert ("notify", "done", 1) in store.effects(defect)


class TestExplain:
    def test_explain_json_shows_why_a_reply_acts(self, tmp_path: Path) -> None:
        """One JSON line per file: kind, token verdict, sender check, new text and command."""
        bot = Bot(tmp_path, env={"TB_SECRET": SECRET})
        bot.configure(
            {
                "helpdesk": {
                    "recipients": [ALICE],
                    "allowed_senders": [ALICE],
                    "reply_address": "helpdesk@example.test",
                    "token_secret_env": "TB_SECRET",
                }
            }
        )
        good = (
            f"From: {ALICE}\r\nTo: helpdesk@example.test\r\nSubject: Re: [triage C-1] x\r\n"
            f"Message-ID: <r1@example.test>\r\nIn-Reply-To: {thread_id(token_for())}\r\n\r\n"
            "Confirm priority low\r\n\r\nOn Mon, 1 Dec 2026, Triage Bot wrote:\r\n> confirm\r\n"
        )
        (tmp_path / "good.eml").write_text(good, encoding="utf-8")
        (tmp_path / "forged.eml").write_text(
            good.replace(token_for(), token_for(secret="attacker-secret-0123")), encoding="utf-8"
        )
        result = bot.run(
            "explain",
            "--json",
            "good.eml",
            "forged.eml",
            str(SAMPLES / "client-case-load-nullref-01.eml"),
        )
        assert result.returncode == 0, result.stderr
        good_json, forged_json, report_json = map(json.loads, result.stdout.splitlines())
        assert good_json["kind"] == "reply"
        assert good_json["token"]["found_in"] == "in-reply-to"
        assert good_json["sender_allowed"] is True
        assert good_json["new_text"].strip() == "Confirm priority low"
        assert good_json["command"] == {"verb": "confirm", "args": {"priority": "Low"}}
        assert good_json["token"]["valid"] != forged_json["token"]["valid"]
        assert "not genuine" in forged_json["token"]["why"]
        assert report_json["kind"] == "error_report"
        assert report_json["token"]["found_in"] is None

    def test_explain_shows_each_stamp_and_which_one_counted(self, tmp_path: Path) -> None:
        """A relay's stamp above is passed over, the server's own counts, a forged one below
        is ignored; JSON and text say so, and why."""
        bot = Bot(tmp_path, env={"TB_SECRET": SECRET})
        bot.configure(
            {
                "helpdesk": {
                    "recipients": ["helpdesk@acme.example"],
                    "allowed_senders": ["acme.example"],
                    "reply_address": "helpdesk@example.test",
                    "token_secret_env": "TB_SECRET",
                    "trusted_authserv_ids": ["mx.acme.example"],
                }
            }
        )
        raw = (
            stamps(
                "relay.acme.example; dkim=pass header.d=acme.example",
                "mx.acme.example; dkim=none; dmarc=none header.from=acme.example",
                "mx.acme.example; dmarc=pass header.from=acme.example",
            )
            + f"From: Jane <{JANE}>\r\nTo: helpdesk@example.test\r\n"
            "Subject: Re: [triage C-1] x\r\nMessage-ID: <r2@example.test>\r\n\r\nconfirm\r\n"
        )
        (tmp_path / "reply.eml").write_text(raw, encoding="utf-8")
        result = bot.run("explain", "--json", "reply.eml")
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["sender"] == {"address": JANE, "why": ""}
        notes = record["authentication_results"]
        assert [(n["position"], n["counted"]) for n in notes] == [(1, False), (2, True), (3, False)]
        assert "trusted_authserv_ids" in notes[0]["why"] and "ignored" in notes[2]["why"]
        assert record["authentication"]["proof"] == ""
        assert "subject reference only" in record["refused"]
        text = bot.run("explain", "reply.eml")
        assert text.returncode == 0, text.stderr
        assert "stamp [2] mx.acme.example: counted" in text.stdout
        assert "stamp [3] mx.acme.example: ignored" in text.stdout
        assert "verdict   refused: no token" in text.stdout
