"""Outgoing mail: the ``[smtp]`` settings check, composing triagebot's mails, sending them.

Exchange and Microsoft 365 refuse to relay a mail whose From is not the authenticated mailbox,
so the static check insists on ``from_address == username`` unless the operator states why a
mismatch is fine (``allow_from_mismatch``). Every smtplib / ssl / socket error is mapped at one
boundary, ``map_smtp_errors()``, to ``NotifyUnavailable`` (retry later, nothing is lost) or
``NotifyError`` (permanent), each with an explanation an operator can act on.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

import structlog

from triagebot.config import Config, SmtpConfig
from triagebot.errors import NotifyError, NotifyUnavailable
from triagebot.identity import Identity

__all__ = [
    "MAIL_FEATURES",
    "Mailer",
    "Problem",
    "mail_enabled",
    "mail_problem",
    "map_smtp_errors",
    "static_problems",
]

log = structlog.get_logger(__name__)

#: Every feature that goes quiet when mail is disabled; named in the one ``mail.disabled`` line.
MAIL_FEATURES = ("candidate mails", "reminders", "acknowledgements", "digests")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AUTO_HEADERS = (
    ("Auto-Submitted", "auto-generated"),  # RFC 3834: no auto-replies, no loops
    ("X-Auto-Response-Suppress", "All"),  # Exchange: no out-of-office, no read receipts
    ("Precedence", "bulk"),
)
MARKER_HEADER = "X-Triagebot"

# local@domain, e.g. "triagebot@example.com"; no display names, no comments, no spaces.
# These are used with fullmatch; "^" keeps a search (from every character) linear too.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_KIND = re.compile(r"[a-z][a-z0-9-]*")
_MIME_TYPE = re.compile(r"^([a-z0-9][a-z0-9.+-]*)/([a-z0-9][a-z0-9.+-]*)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"[\r\n\x00]")
# "550 5.7.1 Unable to relay" (Exchange on-premises), "SendAsDenied" (Microsoft 365).
_RELAY_DENIED = re.compile(
    r"\b5\.7\.1\b|unable to relay|sendasdenied|"
    r"client does not have permissions to send as this sender",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the ``[smtp]`` settings cannot work, named by its key."""

    key: str  # e.g. "[smtp].from_address"
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def is_address(value: str) -> bool:
    """A bare ``local@domain`` address (no display name)."""
    return _ADDRESS.fullmatch(value) is not None


def static_problems(config: SmtpConfig) -> list[Problem]:
    """Everything wrong with the settings that can be seen without connecting."""
    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problems.append(Problem(f"[smtp].{key}", message))

    local = config.host in LOCAL_HOSTS
    if not config.host:
        add("host", "required: the SMTP server to send through")
    if config.security == "none" and config.host and not local:
        add("security", "'none' sends mail and password in clear; only allowed for localhost")
    if not 0 < config.effective_port < 65536:
        add("port", f"{config.port} is not a TCP port")
    if config.timeout <= 0:
        add("timeout", "must be more than 0 seconds")
    needs_auth = not (config.security == "none" and local)
    if (needs_auth or config.password is not None) and not config.username:
        add("username", "required: the mailbox triagebot logs in as")
    if (needs_auth or config.username) and config.password is None:
        add("password_env", "required (or password_file): the password of username")
    if _LINE_BREAK.search(config.from_name):
        add("from_name", "must be a single line")
    if not config.from_address:
        add("from_address", "required: the address triagebot's mails come from")
    elif not is_address(config.from_address):
        add("from_address", f"{config.from_address!r} is not an e-mail address")
    elif config.username and not config.allow_from_mismatch:
        if not is_address(config.username):
            add(
                "username",
                f"{config.username!r} is not an e-mail address, so from_address cannot be "
                "checked to be the same mailbox; set allow_from_mismatch to the reason the "
                "server lets this login send as from_address",
            )
        elif config.username.lower() != config.from_address.lower():
            add(
                "from_address",
                f"{config.from_address!r} is not the authenticated mailbox "
                f"{config.username!r}: Exchange and Microsoft 365 refuse to relay such mail; "
                "use the same address, or grant Send As and set allow_from_mismatch to why",
            )
    if config.ca_file is not None and not (
        config.ca_file.is_file() and os.access(config.ca_file, os.R_OK)
    ):
        add("ca_file", f"{config.ca_file} is not a readable file")
    return problems


def mail_problem(config: Config) -> tuple[str, str] | None:
    """Why mail is off, as ``(cause, reason)``; None when ``[smtp]`` is usable."""
    smtp = config.smtp
    if smtp is None and config.smtp_error:
        return "config error", config.smtp_error
    if smtp is None:
        return "section absent", "no [smtp] section"
    problems = static_problems(smtp)
    return ("static problems", "; ".join(map(str, problems))) if problems else None


def mail_enabled(config: Config) -> Mailer | None:
    """A ready ``Mailer``, or None after one ``mail.disabled`` warning saying what and why."""
    problem = mail_problem(config)
    if problem is None and config.smtp is not None:
        return Mailer(config.smtp, Identity.from_config(config))
    cause, reason = problem or ("section absent", "no [smtp] section")
    log.warning("mail.disabled", features=list(MAIL_FEATURES), cause=cause, reason=reason)
    return None


class Mailer:
    """Composes triagebot's mails and sends them through the configured server.

    Only settings without ``static_problems`` make a Mailer, so composing can trust them.
    """

    def __init__(self, config: SmtpConfig, identity: Identity | None = None) -> None:
        """``identity``: triagebot's own addresses (never mailed) and Message-ID domain."""
        problems = static_problems(config)
        if problems:
            raise NotifyError("; ".join(map(str, problems)))
        self.config = config
        self.identity = identity or Identity.from_sections(config, None)
        self._from = Address(config.from_name, addr_spec=config.from_address)
        self._own = frozenset(_mailbox(a) for a in self.identity.addresses if is_address(a))
        self._tls: ssl.SSLContext | None = None

    def compose(
        self,
        *,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        kind: str,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        reply_to: str | None = None,
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> EmailMessage:
        """A mail from triagebot, marked as automatic so no one's auto-responder answers it."""
        if not to:
            raise NotifyError("a mail needs at least one recipient")
        if _KIND.fullmatch(kind) is None:
            raise NotifyError(f"mail kind {kind!r} must be a lower-case word such as 'digest'")
        for address in (*to, *([reply_to] if reply_to else [])):
            if not is_address(address):
                raise NotifyError(f"{address!r} is not an e-mail address")
        message_id = message_id or self.identity.message_id()
        headers = {
            "From": str(self._from),
            "To": ", ".join(to),
            "Subject": subject,
            "Date": formatdate(localtime=True),
            "Message-ID": message_id,
            "In-Reply-To": in_reply_to or "",
            "References": " ".join(references),
            "Reply-To": reply_to or "",
            **dict(AUTO_HEADERS),
            MARKER_HEADER: kind,
        }
        message = EmailMessage()
        for name, value in headers.items():
            if _LINE_BREAK.search(value):
                raise NotifyError(f"header {name} contains a line break (header injection)")
            if value:
                message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        for filename, mime_type, data in attachments:
            match = _MIME_TYPE.fullmatch(mime_type)
            if match is None or _LINE_BREAK.search(filename):
                raise NotifyError(f"attachment {filename!r} ({mime_type!r}) is not sendable")
            message.add_attachment(data, maintype=match[1], subtype=match[2], filename=filename)
        return message

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raises ``NotifyUnavailable`` (retry) or ``NotifyError``."""
        recipients = [
            addr
            for _, addr in getaddresses(
                [str(v) for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
            )
            if addr
        ]
        if not recipients:
            raise NotifyError("the mail has no recipients")
        for address in recipients:
            if _mailbox(address) in self._own:
                raise NotifyError(
                    f"refusing to mail {address}: it is triagebot's own address "
                    "(it would read its own mail and loop)"
                )
        with map_smtp_errors(self.config), self._session() as client:
            refused = client.send_message(message, self.config.from_address, recipients)
        message_id = message.get("Message-ID", "")
        if refused:
            log.warning(
                "mail.recipients_refused",
                message_id=message_id,
                refused={a: f"{c} {m.decode(errors='replace')}" for a, (c, m) in refused.items()},
            )
        log.info(
            "mail.sent",
            kind=message.get(MARKER_HEADER, ""),
            recipients=len(recipients) - len(refused),
            message_id=message_id,
        )

    def live_check(self) -> None:
        """EHLO, STARTTLS, AUTH and MAIL FROM, then RSET: proves the settings, sends nothing."""
        with map_smtp_errors(self.config), self._session() as client:
            code, reply = client.mail(self.config.from_address)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.config.from_address)
            client.rset()
        log.info(
            "smtp.live_check",
            host=self.config.host,
            port=self.config.effective_port,
            security=self.config.security,
        )

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """A connected, secured and logged-in client; closed however the block ends."""
        config = self.config
        port = config.effective_port
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, port, timeout=config.timeout, context=self._tls_context()
            )
        else:
            client = smtplib.SMTP(config.host, port, timeout=config.timeout)
        try:
            client.ehlo()
            if config.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if config.username and config.password is not None:
                client.login(config.username, config.password.reveal())
            yield client
        finally:
            # The mail is accepted once DATA got 250: a failing QUIT must not make it a retry.
            with suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _tls_context(self) -> ssl.SSLContext:
        """Verifying context: the system CAs plus ``ca_file`` (for private servers)."""
        if self._tls is None:
            context = ssl.create_default_context()
            if self.config.ca_file is not None:
                try:
                    context.load_verify_locations(cafile=self.config.ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise NotifyError(
                        f"[smtp].ca_file {self.config.ca_file} cannot be loaded as a CA "
                        f"certificate (PEM): {exc}"
                    ) from exc
            self._tls = context
        return self._tls


def _mailbox(address: str) -> str:
    """The mailbox an address delivers to: lower case, without a ``+tag``."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.partition('+')[0]}@{domain}"


RELAY_EXPLANATION = (
    "the server refuses to relay for this From address: from_address must be the "
    "authenticated mailbox (Exchange / Microsoft 365), or grant Send As / a relay connector "
    "and set allow_from_mismatch"
)


@contextmanager
def map_smtp_errors(config: SmtpConfig) -> Iterator[None]:
    """The one boundary where smtplib, ssl and socket errors become triagebot errors."""
    try:
        yield
    except (smtplib.SMTPException, OSError) as exc:
        raise _explain(exc, config) from exc


def _explain(exc: smtplib.SMTPException | OSError, config: SmtpConfig) -> NotifyError:
    where = f"{config.host}:{config.effective_port}"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
        exc.__context__, TimeoutError
    ):
        exc = exc.__context__  # smtplib reports a read timeout as a lost connection
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {a: (c, m.decode(errors="replace")) for a, (c, m) in exc.recipients.items()}
        which = ", ".join(f"{a} ({c} {m})" for a, (c, m) in refused.items())
        if all(400 <= c < 500 for c, _ in refused.values()):
            return NotifyUnavailable(f"{where} deferred every recipient for now: {which}")
        relay = any(_RELAY_DENIED.search(f"{c} {m}") for c, m in refused.values())
        return NotifyError(
            f"{where} refused every recipient: {which}"
            + (f"; {RELAY_EXPLANATION}" if relay else "")
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _explain_reply(exc.smtp_code, exc.smtp_error, config, where)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return NotifyError(
            f"{where} does not offer what [smtp] asks for ({exc}): check security "
            "(starttls on 587, tls on 465) and that SMTP AUTH is enabled for the mailbox"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return NotifyUnavailable(f"{where} closed the connection ({exc}); will retry")
    if isinstance(exc, smtplib.SMTPException):
        return NotifyError(f"SMTP with {where} failed: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        trust = (
            f"[smtp].ca_file {config.ca_file} is not the CA that signed it"
            if config.ca_file
            else "the system CAs do not trust it: set [smtp].ca_file to the private CA"
        )
        return NotifyError(
            f"TLS: the certificate of {where} could not be verified "
            f"({exc.verify_message or exc}); {trust}"
        )
    if isinstance(exc, ssl.SSLError):
        return NotifyError(
            f"TLS with {where} failed ({exc}): check security (tls = implicit TLS, usually "
            f"port 465; starttls, usually 587) and [smtp].ca_file ({config.ca_file or 'unset'})"
        )
    if isinstance(exc, TimeoutError):
        return NotifyUnavailable(
            f"{where} did not answer within {config.timeout:g} s (timeout); will retry"
        )
    if isinstance(exc, socket.gaierror):
        return NotifyUnavailable(f"cannot resolve [smtp].host {config.host!r} ({exc}); will retry")
    if isinstance(exc, ConnectionError):
        return NotifyUnavailable(f"cannot reach {where} ({exc.strerror or exc}); will retry")
    return NotifyUnavailable(f"network error talking to {where} ({exc}); will retry")


def _explain_reply(code: int, raw: bytes | str, config: SmtpConfig, where: str) -> NotifyError:
    reply = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    said = f"{where} answered {code} {reply}"
    if code == 535 or (code in (454, 534) and "auth" in reply.lower()):
        explanation = (
            f"authentication failed for {config.username!r}: check [smtp].username and its "
            "password (password_env / password_file); Microsoft 365 also needs SMTP AUTH "
            "enabled for the mailbox"
        )
        error = NotifyUnavailable if code < 500 else NotifyError
        return error(f"{said}: {explanation}")
    if 400 <= code < 500:
        return NotifyUnavailable(f"{said}: a temporary failure; will retry")
    if _RELAY_DENIED.search(reply):
        return NotifyError(f"{said}: {RELAY_EXPLANATION}")
    if code == 530:
        return NotifyError(f"{said}: the server wants a login; set username and password_env")
    return NotifyError(f"{said}: the server refused the mail")
