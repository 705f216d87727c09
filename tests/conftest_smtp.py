"""Fixtures for outgoing mail: a real aiosmtpd server (STARTTLS, AUTH, Exchange-like relay rule).

``smtp_server`` is fresh for every test; ``smtp_config`` is a good ``[smtp]`` for it (From is the
logged-in mailbox, the test CA trusted), to ``dataclasses.replace`` into a bad one.
``exchange_server``, ``port25_server`` and ``relay_connector_server`` are the three receive
connectors of an Exchange server for ``EXCHANGE_DOMAIN``, refusing to relay at RCPT TO.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from tests.servers import HOST
from tests.servers.smtp import SmtpServer
from triagebot.config import Secret, SmtpConfig

SMTP_USER = "triagebot@example.test"
SMTP_PASSWORD = "smtp-secret-9f2c"
EXCHANGE_DOMAIN = "example.test"


@pytest.fixture(scope="session")
def smtp_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_ca_file(smtp_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA as a PEM file, for ``[smtp].ca_file``."""
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    smtp_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def smtp_cert(smtp_ca: trustme.CA) -> trustme.LeafCert:
    return smtp_ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def smtp_server(smtp_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """STARTTLS, AUTH LOGIN/PLAIN for ``SMTP_USER``, 550 5.7.1 for any other MAIL FROM."""
    server = SmtpServer(users={SMTP_USER: SMTP_PASSWORD}, tls=smtp_cert).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls_server(smtp_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """Like ``smtp_server`` but implicit TLS (the port speaks TLS from the first byte)."""
    server = SmtpServer(users={SMTP_USER: SMTP_PASSWORD}, tls=smtp_cert, implicit_tls=True)
    server.start()
    yield server
    server.stop()


@contextmanager
def running(server: SmtpServer) -> Iterator[SmtpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def exchange_server(smtp_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """The submission port (587): STARTTLS, AUTH required; MAIL FROM is accepted whoever
    logged in, but a recipient outside ``EXCHANGE_DOMAIN`` gets ``550 5.7.1 Unable to relay``
    at RCPT TO unless MAIL FROM is the login (Send As not granted)."""
    users = {SMTP_USER: SMTP_PASSWORD}
    with running(SmtpServer(users=users, tls=smtp_cert, domain=EXCHANGE_DOMAIN)) as server:
        yield server


@pytest.fixture
def port25_server(smtp_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """The anonymous port 25: STARTTLS but no AUTH mechanism; mail only to its own domain."""
    server = SmtpServer(tls=smtp_cert, offer_auth=False, domain=EXCHANGE_DOMAIN)
    with running(server):
        yield server


@pytest.fixture
def relay_connector_server(smtp_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """An IP-restricted relay connector: no AUTH, relays anywhere for 127.0.0.1."""
    server = SmtpServer(
        tls=smtp_cert, offer_auth=False, domain=EXCHANGE_DOMAIN, relay_clients=(HOST,)
    )
    with running(server):
        yield server


@pytest.fixture
def smtp_config(smtp_server: SmtpServer, smtp_ca_file: Path) -> SmtpConfig:
    """A good configuration for ``smtp_server``."""
    return SmtpConfig(
        host=smtp_server.host,
        port=smtp_server.port,
        security="starttls",
        username=SMTP_USER,
        password=Secret(SMTP_PASSWORD, "test"),
        from_address=SMTP_USER,
        from_name="Triage Bot",
        timeout=5.0,
        ca_file=smtp_ca_file,
    )


def smtp_section(server: SmtpServer, ca_file: Path, **overrides: object) -> dict[str, object]:
    """The ``[smtp]`` table of a deployment that logs in to ``server`` as ``SMTP_USER``."""
    section: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": SMTP_USER,
        "password_env": "TB_SMTP_PASSWORD",
        "from_address": SMTP_USER,
        "ca_file": str(ca_file),
        "timeout": 5,
    }
    section.update(overrides)
    return section
