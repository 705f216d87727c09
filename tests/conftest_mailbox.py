"""Fixtures for the mailbox sources: real Dovecot servers, fresh users, a test CA."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import trustme

from tests.servers.dovecot import DOVECOT, DovecotServer, Mailbox

# A server without MOVE and IDLE: exercises the COPY + \Deleted + UID EXPUNGE and polling paths.
LEGACY_CAPABILITIES = (
    "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS MULTIAPPEND NAMESPACE\n"
)


def _require_dovecot() -> None:
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip(f"dovecot binary not found at {DOVECOT} (Debian package dovecot-imapd)")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A plain-text Dovecot offering MOVE and IDLE."""
    _require_dovecot()
    server = DovecotServer.create()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def dovecot_legacy() -> Iterator[DovecotServer]:
    """A Dovecot that advertises neither MOVE nor IDLE."""
    _require_dovecot()
    server = DovecotServer.create(extra_config=LEGACY_CAPABILITIES)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def dovecot_tls(tls_ca: trustme.CA) -> Iterator[DovecotServer]:
    """STARTTLS on ``port``, implicit TLS on ``tls_port``; certificate for 127.0.0.1."""
    _require_dovecot()
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    server = DovecotServer.create(tls=(chain, cert.private_key_pem.bytes()))
    yield server
    server.destroy()


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    """A fresh user on the shared server: no test sees another test's mail."""
    return dovecot.add_user()
