"""Optional SMTP listener: applications send reports straight to triagebot's Maildir spool.

A mail is answered ``250`` only after it is written, fsynced and renamed into ``new/``, so an
accepted mail survives a crash; the Maildir source picks it up from there. aiosmtpd answers
``552`` above ``max_size`` and handles AUTH; this handler adds the client allow-list, the
receiving server's ``Authentication-Results`` stamp (``mail.authentication``: no other MTA
stamped a mail that came this way) and the spooling.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from triagebot.config import DEFAULT_AUTHSERV_ID
from triagebot.mail.authentication import Stamper, TxtLookup
from triagebot.mail.maildir import deliver, make_maildir

__all__ = ["DEFAULT_MAX_SIZE", "ListenerSettings", "SpoolHandler", "start_listener"]

log = structlog.get_logger(__name__)

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
LONG_LINE_LIMIT = 256 * 1024  # one line of a collapsed trace; the whole mail is capped anyway
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """Where to listen and whom to accept; ``users`` (name → password) turns AUTH on.

    ``allow`` lists client networks (``"10.0.0.0/8"``, ``"127.0.0.1"``); empty allows all.
    ``auth_require_tls`` keeps AUTH hidden until STARTTLS, which needs ``tls_cert``/``tls_key``.
    ``authserv_id`` names the listener in its ``Authentication-Results`` stamps; ``dns``
    answers DKIM key queries (None: dkimpy's own resolver).
    """

    host: str = "127.0.0.1"
    port: int = 8025
    max_size: int = DEFAULT_MAX_SIZE
    allow: Sequence[str] = ()
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth_require_tls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    authserv_id: str = DEFAULT_AUTHSERV_ID
    dns: TxtLookup | None = None


class SpoolHandler:
    """aiosmtpd handler: allow-list check at MAIL FROM; at DATA, the stamp, then durable
    Maildir delivery."""

    def __init__(self, spool: Path, stamper: Stamper, allow: Sequence[str] = ()) -> None:
        self._spool = spool
        self._stamper = stamper
        self._allow: tuple[Network, ...] = tuple(
            ipaddress.ip_network(net, strict=False) for net in allow
        )

    def _allowed(self, peer: Any) -> bool:
        if not self._allow:
            return True
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self._allow)

    async def handle_MAIL(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if not self._allowed(session.peer):
            log.warning("listener.rejected", peer=str(session.peer), sender=address)
            return "554 5.7.1 Client host rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        stamped = await asyncio.to_thread(self._stamper, envelope.original_content or b"")
        name = await asyncio.to_thread(deliver, self._spool, stamped.raw)
        log.info(
            "listener.spooled",
            peer=str(session.peer),
            sender=envelope.mail_from,
            size=len(stamped.raw),
            file=name,
            dkim=[str(result) for result in stamped.results],
            forged_stamps_removed=stamped.removed,
        )
        return "250 2.0.0 OK queued"


def _authenticator(users: Mapping[str, str]) -> Any:
    """Check LOGIN/PLAIN credentials in constant time; never logs the password."""
    expected = {name: password.encode() for name, password in users.items()}

    def check(
        server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace")
            password = expected.get(login)
            if password is not None and hmac.compare_digest(password, auth_data.password):
                return AuthResult(success=True, auth_data=login)
            log.warning("listener.auth_failed", peer=str(session.peer), login=login)
        return AuthResult(success=False, handled=False)

    return check


class _TolerantSMTP(SMTP):
    """Accepts lines longer than RFC 5321's 1,000 characters, as Postfix and Exchange do.

    Error reporters write a trace whose line breaks were lost as one long line; refusing it
    would lose the very report the listener exists for.
    """

    line_length_limit = LONG_LINE_LIMIT


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _TolerantSMTP(self.handler, **self.SMTP_kwargs)


def start_listener(settings: ListenerSettings, spool: Path) -> Controller:
    """Start the listener in its own thread; stop it with ``controller.stop()``.

    ``spool`` is the Maildir the Maildir source reads (its ``tmp``/``new``/``cur`` must exist).
    """
    if settings.users and settings.auth_require_tls and settings.tls_cert is None:
        raise ValueError("AUTH over TLS only (auth_require_tls) needs tls_cert and tls_key")
    make_maildir(spool)  # a mail may arrive before the Maildir source first opens the spool
    tls_context = None
    if settings.tls_cert is not None:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(settings.tls_cert, settings.tls_key)
    auth: dict[str, Any] = {}
    if settings.users:
        auth = {
            "authenticator": _authenticator(settings.users),
            "auth_required": True,
            "auth_require_tls": settings.auth_require_tls,
        }
    controller = _Controller(
        SpoolHandler(spool, Stamper(settings.authserv_id, settings.dns), settings.allow),
        hostname=settings.host,
        port=settings.port,
        data_size_limit=settings.max_size,
        tls_context=tls_context,
        require_starttls=False,
        **auth,
    )
    controller.start()
    log.info(
        "listener.started",
        host=settings.host,
        port=settings.port,
        auth=bool(settings.users),
        tls=tls_context is not None,
        allow=list(settings.allow),
        authserv_id=settings.authserv_id,
    )
    return controller
