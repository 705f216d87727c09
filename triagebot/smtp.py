"""Outgoing mail: the ``[smtp]`` live check, composing triagebot's mails, sending them.

Exchange and Microsoft 365 refuse to relay a mail whose From is not the authenticated mailbox,
so the static check (``SmtpConfig.mail_problems``) insists on ``from_address == username``
unless the operator states why a mismatch is fine (``allow_from_mismatch``); the live check
then asks the server about every configured recipient, because Exchange refuses only at
RCPT TO. Every smtplib / ssl / socket error is mapped at one boundary, ``map_smtp_errors()``,
to ``NotifyUnavailable`` (retry later, nothing is lost) or ``NotifyError`` (permanent), each
with what the person who must ask the customer's IT should ask for.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from functools import partial

import structlog

from triagebot.config import Config, SmtpConfig, is_address, mailbox_of
from triagebot.errors import NotifyError, NotifyUnavailable
from triagebot.identity import Identity

__all__ = [
    "MAIL_FEATURES",
    "Mailer",
    "Problem",
    "Refusal",
    "mail_enabled",
    "mail_problem",
    "map_smtp_errors",
    "static_problems",
]

log = structlog.get_logger(__name__)

#: Every feature that goes quiet when mail is disabled; named in the one ``mail.disabled`` line.
MAIL_FEATURES = ("candidate mails", "reminders", "acknowledgements", "digests")
AUTO_HEADERS = (
    ("Auto-Submitted", "auto-generated"),  # RFC 3834: no auto-replies, no loops
    ("X-Auto-Response-Suppress", "All"),  # Exchange: no out-of-office, no read receipts
    ("Precedence", "bulk"),
)
MARKER_HEADER = "X-Triagebot"

_KIND = re.compile(r"[a-z][a-z0-9-]*")
_MIME_TYPE = re.compile(r"^([a-z0-9][a-z0-9.+-]*)/([a-z0-9][a-z0-9.+-]*)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"[\r\n\x00]")
# "550 5.7.1 Unable to relay" (Exchange on-premises), "SendAsDenied" (Microsoft 365).
_RELAY_DENIED = re.compile(
    r"\b5\.7\.1\b|unable to relay|sendasdenied|"
    r"client does not have permissions to send as this sender",
    re.IGNORECASE,
)
# "550 5.1.1 User unknown", "550 5.1.10 RESOLVER.ADR.RecipientNotFound".
_NO_MAILBOX = re.compile(r"\b5\.1\.1\d?\b|user unknown|recipientnotfound", re.IGNORECASE)
# AUTH mechanisms smtplib can log in with.
_LOGIN_MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5"})
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = frozenset({62, 64})


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the ``[smtp]`` settings cannot work, named by its key."""

    key: str  # e.g. "[smtp].from_address"
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A recipient the server will not take, with what to ask the customer's IT for."""

    address: str
    code: int
    reply: str
    advice: str


def static_problems(
    config: SmtpConfig, key_of: Callable[[str], str] = "[smtp].{}".format
) -> list[Problem]:
    """Everything wrong with the settings that can be seen without connecting; ``key_of``
    names a key where it was written (``Config.key``: an environment's table)."""
    return [Problem(key_of(key), message) for key, message in config.mail_problems()]


def mail_problem(config: Config) -> tuple[str, str] | None:
    """Why mail is off, as ``(cause, reason)``; None when ``[smtp]`` is usable."""
    smtp = config.smtp
    if smtp is None and config.smtp_error:
        return "config error", config.smtp_error
    if smtp is None:
        return "section absent", "no [smtp] section"
    problems = static_problems(smtp, partial(config.key, "smtp"))
    return ("static problems", "; ".join(map(str, problems))) if problems else None


#: Said once when [smtp] has no username: it works only through a relay connector.
NO_LOGIN = (
    "no [smtp].username: triagebot does not log in, so only a relay connector that accepts "
    "this host by its address will take the mail"
)


def mail_enabled(config: Config) -> Mailer | None:
    """A ready ``Mailer``, or None after one ``mail.disabled`` warning saying what and why."""
    problem = mail_problem(config)
    if problem is None and config.smtp is not None:
        if config.smtp.relay_by_address:
            log.warning("mail.no_login", host=config.smtp.host, reason=NO_LOGIN)
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
        self._own = frozenset(mailbox_of(a) for a in self.identity.addresses if is_address(a))
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
        inline: Sequence[tuple[str, str, bytes]] = (),
    ) -> EmailMessage:
        """A mail from triagebot, marked as automatic so no one's auto-responder answers it.

        ``attachments``: ``(filename, mime type, data)``; ``inline``: ``(content id, mime
        type, data)`` that the HTML part shows as ``cid:<content id>`` (``multipart/related``:
        Gmail and Outlook drop images given any other way)."""
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
        if inline:
            body = message.get_body(("html",))
            if body is None:
                raise NotifyError("inline images need an HTML part")
            for content_id, mime_type, data in inline:
                maintype, subtype = _sendable(content_id, mime_type)
                body.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{content_id}>")
        for filename, mime_type, data in attachments:
            maintype, subtype = _sendable(filename, mime_type)
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
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
            if mailbox_of(address) in self._own:
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

    def live_check(self, recipients: Sequence[str] = ()) -> list[Refusal]:
        """EHLO, STARTTLS, AUTH, MAIL FROM and RCPT TO each of ``recipients``, then RSET:
        proves that these recipients would get a mail, sends nothing. Returns the refused."""
        unique = list(dict.fromkeys(recipients))
        refused: list[Refusal] = []
        with map_smtp_errors(self.config), self._session() as client:
            code, reply = client.mail(self.config.from_address)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.config.from_address)
            for address in unique:
                code, raw = client.rcpt(address)
                if code not in (250, 251):
                    text = raw.decode(errors="replace")
                    refused.append(
                        Refusal(address, code, text, recipient_advice(code, text, self.config))
                    )
            client.rset()
        log.info(
            "smtp.live_check",
            host=self.config.host,
            port=self.config.effective_port,
            security=self.config.security,
            recipients=len(unique),
            refused=[r.address for r in refused],
        )
        return refused

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
                _require_login_mechanism(client, config)
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


def _sendable(name: str, mime_type: str) -> tuple[str, str]:
    """``(maintype, subtype)`` of an attachment or inline part named ``name``."""
    match = _MIME_TYPE.fullmatch(mime_type)
    if match is None or _LINE_BREAK.search(name):
        raise NotifyError(f"attachment {name!r} ({mime_type!r}) is not sendable")
    return match[1], match[2]


def _require_login_mechanism(client: smtplib.SMTP, config: SmtpConfig) -> None:
    """A server that offers no way to log in is a relay port, not the submission port."""
    offered = client.esmtp_features.get("auth", "").upper().split()
    if _LOGIN_MECHANISMS.intersection(offered):
        return
    what = f"only AUTH {' '.join(offered)}" if offered else "no AUTH mechanism"
    raise NotifyError(
        f"{_where(config)} offers {what}, but [smtp].username is set: this is a relay port "
        '(like 25), not a submission port; use port 587 with security = "starttls", or ask '
        "the customer's IT for an authenticated connector (for a relay connector that accepts "
        "this host by its address, remove username and password_env instead)"
    )


def recipient_advice(code: int, reply: str, config: SmtpConfig) -> str:
    """What to ask for when the server refuses a recipient (``reply`` without the code)."""
    if 400 <= code < 500:
        return "refused for now; if it lasts, ask the customer's IT why"
    if _RELAY_DENIED.search(reply):
        return relay_advice(config)
    if _NO_MAILBOX.search(reply):
        return "the server knows no such mailbox: check the address with the customer"
    return "ask the customer's IT why the server refuses this recipient"


def relay_advice(config: SmtpConfig) -> str:
    """What to ask the customer's IT for when the server refuses to relay."""
    login, sender = config.username, config.from_address
    if not login:
        return (
            "the server does not relay for a client that does not log in: ask the customer's "
            "IT to add this host's address to a relay connector, or for a mailbox to log in as "
            "(username and password_env, port 587)"
        )
    if login.lower() != sender.lower():
        return (
            f"the server does not relay for {sender} sent by {login}: ask the customer's IT to "
            f'grant Send As to {login} for {sender}, or set from_address = "{login}"'
        )
    return (
        f"the server does not relay for {login}: ask the customer's IT to let this mailbox "
        "send to addresses outside its own domain"
    )


def _where(config: SmtpConfig) -> str:
    return f"{config.host}:{config.effective_port}"


@contextmanager
def map_smtp_errors(config: SmtpConfig) -> Iterator[None]:
    """The one boundary where smtplib, ssl and socket errors become triagebot errors."""
    try:
        yield
    except (smtplib.SMTPException, OSError) as exc:
        raise _explain(exc, config) from exc


def _explain(exc: smtplib.SMTPException | OSError, config: SmtpConfig) -> NotifyError:
    where = _where(config)
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
        exc.__context__, TimeoutError
    ):
        exc = exc.__context__  # smtplib reports a read timeout as a lost connection
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {a: (c, m.decode(errors="replace")) for a, (c, m) in exc.recipients.items()}
        if all(400 <= c < 500 for c, _ in refused.values()):
            which = ", ".join(f"{a} ({c} {m})" for a, (c, m) in refused.items())
            return NotifyUnavailable(f"{where} deferred every recipient for now: {which}")
        which = "; ".join(
            f"{a} ({c} {m}): {recipient_advice(c, m, config)}" for a, (c, m) in refused.items()
        )
        return NotifyError(f"{where} refused every recipient: {which}")
    if (
        isinstance(exc, TimeoutError | smtplib.SMTPServerDisconnected)
        and config.security == "starttls"
        and config.effective_port == 465
    ):
        return NotifyError(
            f"{where} did not speak SMTP in clear ({exc}): port 465 speaks TLS from the first "
            'byte (implicit TLS), so security = "starttls" cannot work; set security = "tls"'
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
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in _NAME_MISMATCH:
        return NotifyError(
            f"TLS: the certificate of {where} is trusted but not issued for {config.host!r} "
            f"({exc.verify_message}): set [smtp].host to a name the certificate carries (ask "
            "the customer's IT which; an IP address or an alias does not match)"
        )
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
        implicit = (
            "; if this port speaks TLS from the first byte (implicit TLS, like 465), "
            'set security = "tls"'
            if config.security == "starttls"
            else ""
        )
        return NotifyUnavailable(
            f"{where} did not answer within {config.timeout:g} s (timeout); will retry{implicit}"
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
        return NotifyError(f"{said}: {relay_advice(config)}")
    if code == 530:
        return NotifyError(f"{said}: the server wants a login; set username and password_env")
    return NotifyError(f"{said}: the server refused the mail")
