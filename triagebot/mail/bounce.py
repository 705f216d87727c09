"""What a bounce says: which mail came back, for which recipients, and the server's answer.

A bounce arriving in the watched mailbox is a late delivery failure of a mail triagebot sent
(a candidate, a reminder, an answer, a digest): the SMTP server took it, a later hop refused it.
Read from the standard shape (RFC 3464: ``multipart/report`` with a ``message/delivery-status``
part and the returned ``message/rfc822`` or ``text/rfc822-headers``) and from the common
non-standard ones: Exchange's text NDR ("Diagnostic information for administrators"), qmail's
and Postfix's ``<address>: answer`` lines, Exim's ``X-Failed-Recipients``. Pure: bytes in, a
``Bounce`` out. Bounces are rare, so the stdlib ``email`` parser reads their structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from triagebot.mail.classify import addresses, message_ids
from triagebot.picklable import by_fields

__all__ = ["Bounce", "Failure", "read_bounce"]

#: Characters kept of a server's answer (a diagnostic can quote pages of policy text).
DIAGNOSTIC_CHARS = 500
# "5.1.1" in "550 5.1.1 <bob@example.com>: Recipient address rejected" (RFC 3463).
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
# A returned copy's "Message-ID: <...>" line (qmail and text NDRs quote the headers inline).
_MESSAGE_ID_LINE = re.compile(r"^message-id:[ \t]*+(<[^<>\s]++>)", re.IGNORECASE | re.MULTILINE)
# qmail and Postfix: "<bob@example.com>:" at a line start, the answer after it and on the
# lines that follow, up to a blank line.
_ANGLE_FAILURE = re.compile(
    r"^<([^<>\s@]++@[^<>\s]++)>:[ \t]*+([^\n]*+(?:\n[^\n]++)*+)", re.MULTILINE
)
# Exchange's text NDR: the address alone on a line, then "#550 5.1.1 RESOLVER...; not found ##"
# or "Remote Server returned '550 5.1.1 ...'".
_EXCHANGE_FAILURE = re.compile(
    r"^([^<>\s@]++@[^<>\s]++)[ \t]*+\n[ \t]*+((?:#|Remote Server returned )[^\n]++)",
    re.MULTILINE,
)
# Where a text bounce starts quoting the returned mail: nothing after it is the server's.
_RETURNED = re.compile(
    r"^(?:-+ ?Below this line is a copy of the message|-+ ?This is a copy of the message"
    r"|-+ ?Original message|Original message headers:|The original message was)",
    re.IGNORECASE | re.MULTILINE,
)
_SPACE = re.compile(r"\s++")
_FAILED = frozenset({"failed", ""})  # "delayed", "delivered", "relayed", "expanded": not lost


@by_fields
@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient the mail did not reach: the enhanced status code (``5.1.1``, or ``""``
    when the bounce gives none) and the server's answer as it wrote it."""

    recipient: str
    status: str = ""
    diagnostic: str = ""


@by_fields
@dataclass(frozen=True, slots=True)
class Bounce:
    """``original_ids``: the Message-IDs (without angle brackets) the bounce names for the
    returned mail, most trusted first; ``reporter``: the server that wrote the bounce."""

    original_ids: tuple[str, ...]
    failures: tuple[Failure, ...]
    reporter: str = ""


def _one_line(value: str) -> str:
    return _SPACE.sub(" ", value).strip()[:DIAGNOSTIC_CHARS]


def _typed(value: str) -> str:
    """``rfc822; bob@example.com`` → ``bob@example.com``; ``smtp; 550 ...`` → ``550 ...``."""
    kind, semicolon, rest = value.partition(";")
    return _one_line(rest if semicolon and " " not in kind.strip() else value)


def _status(value: str, diagnostic: str) -> str:
    found = _STATUS.search(value) or _STATUS.search(diagnostic)
    return found.group(1) if found else ""


def _parts(message: Message) -> Iterator[Message]:
    """Every part, not descending into the returned mail (its parts are not the bounce's)."""
    yield message
    if message.get_content_type() == "message/rfc822":
        return
    payload = message.get_payload()
    if message.is_multipart() and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part)


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return data.decode(part.get_content_charset() or "utf-8", "replace").replace("\r\n", "\n")


def _dsn(part: Message) -> tuple[list[Failure], str]:
    """The failed recipients of a ``message/delivery-status`` part and its Reporting-MTA."""
    blocks = [b for b in part.get_payload() if isinstance(b, Message)]
    reporter = _typed(str(blocks[0].get("reporting-mta", ""))) if blocks else ""
    failures = []
    for block in blocks:
        recipient = block.get("final-recipient") or block.get("original-recipient")
        if not recipient or str(block.get("action", "")).strip().lower() not in _FAILED:
            continue
        diagnostic = _typed(str(block.get("diagnostic-code", "")))
        status = _status(str(block.get("status", "")), diagnostic)
        failures.append(Failure(_typed(str(recipient)).lower(), status, diagnostic))
    return failures, reporter


def _returned_ids(part: Message) -> list[str]:
    """The Message-ID of a returned ``message/rfc822`` or ``text/rfc822-headers`` part."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        value = str(inner.get("message-id", "")) if isinstance(inner, Message) else ""
    else:
        value = str(HeaderParser(policy=compat32).parsestr(_text(part)).get("message-id", ""))
    return list(message_ids(value))


def _text_failures(text: str) -> list[Failure]:
    """Failed recipients of a bounce written as text (qmail, Postfix, Exchange's NDR)."""
    failures = []
    for pattern in (_ANGLE_FAILURE, _EXCHANGE_FAILURE):
        for match in pattern.finditer(text):
            diagnostic = _one_line(match.group(2).strip("#' ").removeprefix("Remote Server "))
            failures.append(Failure(match.group(1).lower(), _status("", diagnostic), diagnostic))
    return failures


def read_bounce(raw: bytes, headers: Mapping[str, str]) -> Bounce:
    """The returned mail's ids and the failed recipients; what cannot be read stays empty."""
    message = message_from_bytes(raw, policy=compat32)
    ids: list[str] = []
    failures: list[Failure] = []
    reporter = ""
    standard = False  # a delivery-status part speaks for every recipient (a delay: none failed)
    notes: list[str] = []
    for part in _parts(message):
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and isinstance(part.get_payload(), list):
            found, reporter = _dsn(part)
            failures += found
            standard = True
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            ids += _returned_ids(part)
        elif ctype == "text/plain":
            notes.append(_text(part))
    text = "\n\n".join(notes)
    returned = _RETURNED.search(text)
    if not standard:
        failures = _text_failures(text[: returned.start()] if returned else text)
    if not standard and not failures:
        failed = addresses(headers.get("x-failed-recipients", ""))
        failures = [Failure(address) for address in failed]
    ids += [m.group(1).strip("<>") for m in _MESSAGE_ID_LINE.finditer(text)]
    ids += message_ids(headers.get("in-reply-to", "")) + message_ids(headers.get("references", ""))
    unique = {f.recipient: f for f in failures}  # a recipient told twice (DSN and text) once
    reporter = reporter or headers.get("from", "")
    return Bounce(tuple(dict.fromkeys(ids)), tuple(unique.values()), _one_line(reporter)[:200])
