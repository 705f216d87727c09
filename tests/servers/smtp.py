"""A real aiosmtpd SMTP server for tests, behaving like Exchange where it matters.

AUTH LOGIN and PLAIN (only after STARTTLS, or on an implicit-TLS port), a ``550 5.7.1 Unable to
relay`` when MAIL FROM is not the logged-in mailbox, and injectable transient failures
(``fail_next``) for the retry paths. Every accepted mail is kept in ``messages``, parsed.

With ``domain`` it refuses as Exchange does, at RCPT TO: a recipient outside ``domain`` gets
``550 5.7.1 Unable to relay`` unless MAIL FROM is the login (Send As not granted) or the client's
address is in ``relay_clients`` (an IP-restricted relay connector). ``offer_auth=False`` is a
port-25-like receive connector that advertises no AUTH at all.
"""

from __future__ import annotations

import email
import logging
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.servers import HOST, free_port

# aiosmtpd logs a deprecation warning on every AUTH; tests do not need it.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Received:
    """One accepted mail: the envelope as the server saw it and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    login: str | None
    message: EmailMessage


@dataclass
class SmtpServer:
    """An aiosmtpd ``Controller`` on 127.0.0.1; ``start()`` it, ``stop()`` it when done.

    ``tls``: a server certificate; STARTTLS is offered (or, with ``implicit_tls``, the port
    speaks TLS from the first byte). Without ``users`` no AUTH is needed and any sender passes.
    """

    users: dict[str, str] = field(default_factory=dict)
    tls: trustme.LeafCert | None = None
    implicit_tls: bool = False
    domain: str = ""
    offer_auth: bool = True
    relay_clients: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    host: str = HOST
    messages: list[Received] = field(default_factory=list)
    _failures: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> SmtpServer:
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.configure_cert(context)
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "authenticator": self._authenticate,
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS port is encrypted anyway.
            "auth_require_tls": not self.implicit_tls,
        }
        kwargs["ssl_context" if self.implicit_tls else "tls_context"] = context
        self._controller = Controller(self, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        """Forget received mail and pending failures (for a server shared between tests)."""
        with self._lock:
            self.messages.clear()
            self._failures.clear()

    def fail_next(
        self,
        count: int,
        reply: str = "451 4.3.0 Temporary local problem",
        commands: tuple[str, ...] = ("MAIL", "RCPT", "DATA"),
    ) -> None:
        """Answer the next ``count`` of ``commands`` with ``reply`` (e.g. 421 or 451)."""
        with self._lock:
            self._failures.extend([(reply, commands)] * count)

    def _failure(self, command: str) -> str | None:
        with self._lock:
            if self._failures and command in self._failures[0][1]:
                return self._failures.pop(0)[0]
            return None

    # --- aiosmtpd hooks (run in the controller's thread) ---

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if mechanism not in ("LOGIN", "PLAIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = self.users.get(login) == auth_data.password.decode()
        # handled=False on failure: aiosmtpd then answers 535 itself (True means "already did").
        return AuthResult(success=ok, handled=ok, auth_data=login if ok else None)

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.offer_auth:
            return responses
        return [r for r in responses if not r[4:].upper().startswith("AUTH")]

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        failure = self._failure("MAIL")
        if failure:
            return failure
        login = session.auth_data
        if self.users and login is None:  # checked here, not by aiosmtpd's auth_required,
            return "530 5.7.0 Authentication required"  # which warns on implicit TLS
        if self.users and not self.domain and address.lower() != str(login).lower():
            return "550 5.7.1 Unable to relay"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        failure = self._failure("RCPT")
        if failure:
            return failure
        if self.domain and not self._relays(session, envelope, address):
            return "550 5.7.1 Unable to relay"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    def _relays(self, session: Session, envelope: Envelope, address: str) -> bool:
        """Exchange's rule: its own domain always; elsewhere only for the login's own
        mailbox or for a client the relay connector trusts by address."""
        if address.rpartition("@")[2].lower() == self.domain.lower():
            return True
        login = session.auth_data
        if login is not None and str(envelope.mail_from).lower() == str(login).lower():
            return True
        return bool(session.peer) and session.peer[0] in self.relay_clients

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        failure = self._failure("DATA")
        if failure:
            return failure
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            login=session.auth_data,
            message=parsed,
        )
        with self._lock:
            self.messages.append(received)
        return "250 2.0.0 Message accepted for delivery"
