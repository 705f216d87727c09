"""The SMTP listener with a real smtplib client: durable spooling, size limit, allow-list, AUTH."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.servers import HOST, free_port
from triagebot.mail.maildir import MaildirSettings, MaildirSource
from triagebot.mail.smtp_listener import ListenerSettings, start_listener

REPORT = (
    b"From: app@example.com\r\nTo: helpdesk@example.com\r\nSubject: crash\r\n"
    b"Message-ID: <crash-1@example.com>\r\n\r\nSystem.InvalidOperationException\r\n"
)
#: The listener's own stamp on an unsigned mail (``test_listener_dkim`` tests the rest).
STAMP = b"Authentication-Results: triagebot-listener; dkim=none\r\n"


@pytest.fixture(autouse=True)
def _quiet_aiosmtpd() -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # AUTH deprecation noise


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    MaildirSource(MaildirSettings(path)).open()
    return path


@pytest.fixture
def listener(spool: Path) -> Iterator[Callable[..., ListenerSettings]]:
    """Start listeners on free ports; stop them after the test."""
    controllers: list[Any] = []

    def start(**overrides: Any) -> ListenerSettings:
        settings = ListenerSettings(**({"host": HOST, "port": free_port()} | overrides))
        controllers.append(start_listener(settings, spool))
        return settings

    yield start
    for controller in controllers:
        controller.stop()


def spooled(spool: Path) -> list[bytes]:
    return [(spool / "new" / name).read_bytes() for name in sorted(os.listdir(spool / "new"))]


def test_accepted_mail_is_in_the_spool_when_250_arrives(
    listener: Callable[..., ListenerSettings], spool: Path
) -> None:
    """sendmail returns only after the 250: by then the file is complete in new/."""
    settings = listener()
    with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
        assert client.sendmail("app@example.com", ["helpdesk@example.com"], REPORT) == {}
        assert spooled(spool) == [STAMP + REPORT]
    assert os.listdir(spool / "tmp") == []
    fetched = MaildirSource(MaildirSettings(spool, min_age=0)).fetch(10)  # complete: no wait
    assert [m.raw for m in fetched] == [STAMP + REPORT]


def test_trace_on_one_long_line_is_accepted(
    listener: Callable[..., ListenerSettings], spool: Path
) -> None:
    """A report whose trace lost its line breaks exceeds RFC 5321's 1,000 characters."""
    settings = listener()
    frames = " ".join(
        f"at Acme.Cases.Step{i}.Run() in C:\\src\\Step{i}.cs:line {i}" for i in range(80)
    )
    report = REPORT + f"System.InvalidOperationException: boom {frames}\r\n".encode()
    with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
        assert client.sendmail("app@example.com", ["helpdesk@example.com"], report) == {}
    assert spooled(spool) == [STAMP + report]


def test_oversized_mail_gets_552_and_is_not_spooled(
    listener: Callable[..., ListenerSettings], spool: Path
) -> None:
    settings = listener(max_size=1000)
    big = REPORT + b"x" * 5000 + b"\r\n"
    with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPResponseException) as info:
            client.sendmail("app@example.com", ["helpdesk@example.com"], big)
        assert info.value.smtp_code == 552
    assert spooled(spool) == []


def test_client_outside_allow_list_gets_554(
    listener: Callable[..., ListenerSettings], spool: Path
) -> None:
    settings = listener(allow=["10.0.0.0/8"])
    with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail("app@example.com", ["helpdesk@example.com"], REPORT)
        assert info.value.smtp_code == 554
    assert spooled(spool) == []


def test_client_inside_allow_list_is_accepted(
    listener: Callable[..., ListenerSettings], spool: Path
) -> None:
    settings = listener(allow=["10.0.0.0/8", "127.0.0.0/8"])
    with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
        client.sendmail("app@example.com", ["helpdesk@example.com"], REPORT)
    assert spooled(spool) == [STAMP + REPORT]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
class TestAuth:
    def test_mail_without_login_is_refused(
        self, listener: Callable[..., ListenerSettings], spool: Path
    ) -> None:
        settings = listener(users={"app": "s3cret"}, auth_require_tls=False)
        with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as info:
                client.sendmail("app@example.com", ["helpdesk@example.com"], REPORT)
            assert info.value.smtp_code == 530
        assert spooled(spool) == []

    def test_wrong_password_is_refused(self, listener: Callable[..., ListenerSettings]) -> None:
        settings = listener(users={"app": "s3cret"}, auth_require_tls=False)
        with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as info:
                client.login("app", "guess")
            assert info.value.smtp_code == 535

    def test_login_over_starttls_delivers(
        self, listener: Callable[..., ListenerSettings], spool: Path, tmp_path: Path
    ) -> None:
        """With the default auth_require_tls, AUTH is offered only after STARTTLS."""
        ca = trustme.CA()
        cert = ca.issue_cert(HOST)
        cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        settings = listener(users={"app": "s3cret"}, tls_cert=cert_file, tls_key=key_file)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        with smtplib.SMTP(HOST, settings.port, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("auth")
            client.starttls(context=client_context)
            client.login("app", "s3cret")
            client.sendmail("app@example.com", ["helpdesk@example.com"], REPORT)
        assert spooled(spool) == [STAMP + REPORT]

    def test_auth_over_tls_only_needs_a_certificate(self, spool: Path) -> None:
        with pytest.raises(ValueError, match="tls_cert"):
            start_listener(ListenerSettings(port=free_port(), users={"app": "x"}), spool)

    def test_repr_hides_passwords(self) -> None:
        assert "s3cret" not in repr(ListenerSettings(users={"app": "s3cret"}))
