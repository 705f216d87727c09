"""Raw message bytes to a classified ``Report``; never raises.

Speed matters (the replay target is thousands of mails per second), so only the headers and
parts the pipeline reads are decoded (see ``mime``). Anything the
parser cannot make sense of becomes ``Kind.INVALID`` with a reason, so one poison mail never
stops the loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from types import MappingProxyType

import structlog

from triagebot.identity import MESSAGE_ID_PREFIX
from triagebot.mail.bounce import read_bounce
from triagebot.mail.classify import (
    AddressSet,
    auto_reason,
    bounce_reason,
    first_address,
    is_answer,
    is_own,
    is_thread_reply,
    message_ids,
    reply_reason,
)
from triagebot.mail.key import raw_id
from triagebot.mail.mime import MAX_PART_CHARS, Content, decode_header_value, walk
from triagebot.mail.report import Kind, Report
from triagebot.stack.detect import find_trace
from triagebot.stack.model import UNKNOWN_TYPE, Trace
from triagebot.stack.signature import DEFAULT_VERSION, SIGNATURE_VERSIONS, read_later
from triagebot.stack.text import MAX_FRAMES

__all__ = [
    "DEFAULT_METADATA_HEADERS",
    "DEFAULT_SETTINGS",
    "ParseSettings",
    "parse_message",
]

log = structlog.get_logger(__name__)

#: Report header → metadata field, unless ``[reports] metadata_headers`` says otherwise.
DEFAULT_METADATA_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "x-application": "application",
        "x-app-version": "version",
        "x-environment": "environment",
        "x-machine": "machine",
    }
)


@dataclass(frozen=True, slots=True)
class ParseSettings:
    """What the parser needs from configuration; lookups are precomputed once here.

    ``report_senders``: addresses, ``@domain`` or ``domain`` whose mail is always a report
    (wins over the auto-mail filters). ``own_addresses``: triagebot's own From/Reply-To
    addresses (plus-addresses of them count). ``own_message_id_prefix``: start of the
    Message-IDs triagebot gives its own mails.

    Work per message is bounded: ``max_part_chars`` characters of text are searched per mail
    part (after HTML-to-text; the head of a part, the tail of an attached log), and a trace
    keeps ``max_frames`` frames (the top of each exception). ``Report.truncated`` says what was
    cut. Both must be at least 1.
    """

    metadata_headers: Mapping[str, str] = field(default_factory=lambda: DEFAULT_METADATA_HEADERS)
    report_senders: tuple[str, ...] = ()
    own_addresses: tuple[str, ...] = ()
    own_message_id_prefix: str = MESSAGE_ID_PREFIX
    max_part_chars: int = MAX_PART_CHARS
    max_frames: int = MAX_FRAMES
    #: The configured signature version: a trace makes a report as that version reads it
    #: (``Signer.reading``). A trace without frames named by its runtime's printout (PHP's
    #: ``Uncaught Error: ... in x.php:66 Stack trace: #0 {main}``) is one only where the version
    #: reads the name (``SignatureVersion.named``), else it would be signed nameless; a trace
    #: found by a reader newer than the version (``Trace.since``) is what the text read as before.
    signature_version: str = DEFAULT_VERSION
    _reporters: AddressSet = field(init=False, repr=False, compare=False)
    _own: AddressSet = field(init=False, repr=False, compare=False)
    _header_keys: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_part_chars < 1 or self.max_frames < 1:
            raise ValueError("max_part_chars and max_frames must be at least 1")
        if self.signature_version not in SIGNATURE_VERSIONS:
            raise ValueError(f"unknown signature version {self.signature_version!r}")
        object.__setattr__(self, "_reporters", AddressSet(self.report_senders))
        object.__setattr__(self, "_own", AddressSet(self.own_addresses))
        keys = tuple((h.lower(), key) for h, key in self.metadata_headers.items())
        object.__setattr__(self, "_header_keys", keys)


DEFAULT_SETTINGS = ParseSettings()

# Present in anything that is a mail at all; a parse without one of these was not a mail.
_MAIL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "received",
        "return-path",
        "mime-version",
        "content-type",
        "sender",
        "reply-to",
        "in-reply-to",
        "references",
        "delivered-to",
    }
)
# "> > at Foo.Bar()" → "at Foo.Bar()": a forwarded or replied report quoted line by line.
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
# The line scans below start with a literal "\n" and run over "\n" + text: the regex engine
# then jumps from line start to line start instead of trying "^" at every character (3-4x).
_QUOTED_LINE = re.compile(r"\n[ \t]*>")
_QUOTED_LINES = re.compile(r"^[ \t]*+>[^\n]*+\n?", re.MULTILINE)
# "Application: Acme Desk", "App Version = 4.2" is not taken: only "Key: value" lines.
# Blanks are read once (possessive), and the shortest key is the only one tried (atomic): every
# key ends at the same ":", so "Key<5,000 spaces>:<5,000 spaces>" needs no other split.
_META_LINE = re.compile(
    r"\n[ \t]*+(?>([^\W\d_][\w\- ]{0,29}?)[ \t]*+:)[ \t]*+(?!//)(\S[^\n]{0,199})$",
    re.MULTILINE,
)
_KEY_SEP = re.compile(r"[ \-]+")
#: Body text searched for ``Key: value`` lines; report fields sit at the top.
_META_SCAN = 64 * 1024
_META_MAX_KEYS = 40
_SYNONYMS: Mapping[str, str] = {
    **dict.fromkeys(
        ("application", "app", "app_name", "application_name", "product", "product_name"),
        "application",
    ),
    **dict.fromkeys(
        (
            "version",
            "app_version",
            "application_version",
            "product_version",
            "client_version",
            "software_version",
            "assembly_version",
        ),
        "version",
    ),
    **dict.fromkeys(("environment", "env", "stage"), "environment"),
    **dict.fromkeys(
        (
            "machine",
            "machine_name",
            "host",
            "hostname",
            "host_name",
            "server",
            "server_name",
            "computer",
            "computer_name",
            "workstation",
        ),
        "machine",
    ),
}
# Header lines of inline-forwarded blocks and exception lines ("ValueError: x") are not fields.
_NOT_FIELDS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sent",
        "date",
        "subject",
        "reply_to",
        "importance",
        "attachments",
        "caused_by",
        "stack_trace",
        "traceback",
    }
)
#: Fields that make a frameless exception line a report when two of them come with it.
_REPORT_FIELDS = ("application", "version", "machine", "environment")
_MIN_REPORT_FIELDS = 2
#: The fields a reply's authorisation reads (``Report.auth_headers``).
_AUTH_HEADERS = frozenset({"from", "authentication-results"})
_NOT_FIELD_SUFFIXES = ("error", "exception", "warning", "exit", "interrupt", "fault", "panic")


def _headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Name (already lower-cased) → first value, decoded; plain ASCII one-liners need no work."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        if name not in headers:
            if value.isascii() and "\n" not in value and "=?" not in value:
                headers[name] = value.strip()
            else:
                headers[name] = decode_header_value(value)
    return headers


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def _field_key(raw_key: str) -> str | None:
    """Canonical metadata key for a body line's key, or None when the line is not a field."""
    key = _KEY_SEP.sub("_", raw_key.strip().lower())
    if key in _NOT_FIELDS or key.endswith(_NOT_FIELD_SUFFIXES):
        return None
    return _SYNONYMS.get(key, key)


def _header_metadata(headers: Mapping[str, str], settings: ParseSettings) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, key in settings._header_keys:
        value = headers.get(name)
        if value and key not in found:
            found[key] = value
    return found


def _metadata(
    headers: Mapping[str, str],
    inner: list[list[tuple[str, str]]],
    text: str,
    settings: ParseSettings,
) -> dict[str, str]:
    """Configured headers, then a forwarded report's headers, then ``Key: value`` body lines."""
    metadata = _header_metadata(headers, settings)
    for pairs in inner:
        for key, value in _header_metadata(_headers(pairs), settings).items():
            metadata.setdefault(key, value)
    for match in _META_LINE.finditer("\n" + text, 0, _META_SCAN + 1):
        name = _field_key(match.group(1))
        if name is not None and name not in metadata:
            metadata[name] = match.group(2).rstrip()
            if len(metadata) >= _META_MAX_KEYS:
                break
    return metadata


@dataclass(frozen=True, slots=True)
class _Envelope:
    """The header facts classification looks at."""

    headers: Mapping[str, str]
    message_id: str
    sender: str
    subject: str
    reply_ids: tuple[str, ...]


def _classify(
    env: _Envelope,
    text: str,
    quoted: str | None,
    metadata: Mapping[str, str],
    settings: ParseSettings,
) -> tuple[Kind, Trace | None, str]:
    """Decide the kind; the body is searched for a trace only when the headers leave it open.

    Order: own mail, report senders (win over auto-mail filters), bounces, auto-replies
    (an automated report carries ``Auto-Submitted: auto-generated`` or ``Precedence: bulk``, as
    RFC 3834 asks, and is still a report when it holds a trace with frames or a logged error;
    an out-of-office answer is never one, even when it repeats the report it answers), replies
    to triagebot (even when they quote a trace), traces. ``quoted`` is the text with its quote
    marks when it has quoted lines (else ``None``): a reply whose trace is only quoted answers
    an earlier report and is not a new one (a customer saying "fixed, thanks" under the
    error). An exception line without frames is a report when it is an application's log
    record at an error level (``Trace.logged_at``), a runtime's own printout of it
    (``Trace.printed_by``: .NET's inner exceptions, a code frame), or when the mail also
    carries a report's fields (an application's report whose trace was cut or never
    captured); alone it is a mention.
    """
    prefix = settings.own_message_id_prefix
    if is_own(env.sender, env.message_id, settings._own, prefix):
        return Kind.OTHER, None, "own mail"
    if env.sender in settings._reporters:
        trace = find_trace(text, settings.max_frames)
        if trace is not None:
            return Kind.ERROR_REPORT, trace, "report sender"
        return Kind.OTHER, None, "report sender without exception"
    bounce = bounce_reason(env.headers, env.sender, env.subject)
    if bounce is not None:
        return Kind.AUTO_REPLY, None, bounce
    reply = reply_reason(env.headers, env.subject, env.reply_ids, settings._own, prefix)
    auto = auto_reason(env.headers, env.subject)
    if auto is not None:
        if reply is None and not is_answer(auto):
            trace = find_trace(text, settings.max_frames)
            if trace is not None and _reports(trace, settings):
                return Kind.ERROR_REPORT, trace, "trace despite " + auto
        return Kind.AUTO_REPLY, None, auto
    if reply is not None:
        return Kind.REPLY, None, reply
    trace = find_trace(text, settings.max_frames)
    if trace is not None and _reports(trace, settings):
        if quoted is not None and is_thread_reply(env.subject, env.reply_ids):
            own = find_trace(_QUOTED_LINES.sub("", quoted), settings.max_frames)
            if own is None or not _reports(own, settings):
                return Kind.OTHER, None, "trace only quoted in a reply"
        return Kind.ERROR_REPORT, trace, _why_frameless(trace)
    if trace is not None:
        if _is_report_block(trace, metadata):
            return Kind.ERROR_REPORT, trace, "exception line with report fields"
        return Kind.OTHER, trace, "exception line without frames"
    return Kind.OTHER, None, ""


def _is_report_block(trace: Trace, metadata: Mapping[str, str]) -> bool:
    """A named exception next to at least two of a report's fields (application, version,
    machine, environment)."""
    return _named(trace) and sum(key in metadata for key in _REPORT_FIELDS) >= _MIN_REPORT_FIELDS


def _reports(trace: Trace, settings: ParseSettings) -> bool:
    """Whether a trace makes its mail a report by itself, as the configured signature version
    reads it (``ParseSettings.signature_version``: a trace a newer reader found is what the
    text read as before, ``Trace.since``): it has frames, or it is a named exception
    an application's logger wrote at an error level (``Trace.logged_at``) or a runtime printed
    (``Trace.printed_by``), or its runtime's printout names it for that version."""
    version = SIGNATURE_VERSIONS[settings.signature_version]
    signed = trace
    if trace.first_reading is not None and read_later(trace, version):
        signed = trace.first_reading
    return (
        signed.frame_count > 0
        or (bool(signed.logged_at or signed.printed_by) and _named(signed))
        or (trace.named is not None and trace.language in version.named)
    )


def _why_frameless(trace: Trace) -> str:
    """The reason a report without frames is one (none when it has frames)."""
    if trace.frame_count:
        return ""
    if trace.logged_at:
        return f"exception logged at {trace.logged_at}"
    if trace.printed_by:
        return f"exception printed as {trace.printed_by}"
    return f"exception named by its {trace.language} printout"


def _named(trace: Trace) -> bool:
    """Whether the trace's exception has a type."""
    return trace.exceptions[0].type not in ("", UNKNOWN_TYPE)


def _invalid(raw: bytes, reason: str) -> Report:
    log.info("parse.invalid", reason=reason, size=len(raw))
    return Report(message_id=raw_id(raw), kind=Kind.INVALID, reason=reason)


def _parse(raw: bytes, settings: ParseSettings) -> Report:
    if not raw.strip():
        return _invalid(raw, "empty input")
    content = Content(max_chars=settings.max_part_chars)
    pairs = walk(raw, content)
    headers = _headers(pairs)
    if not (headers.keys() & _MAIL_HEADERS or any(h in headers for h, _ in settings._header_keys)):
        return _invalid(raw, "no mail headers")
    ids = message_ids(headers.get("message-id", ""))
    message_id = ids[0] if ids else headers.get("message-id", "").strip("<> \t")
    in_reply_to = message_ids(headers.get("in-reply-to", ""))
    references = message_ids(headers.get("references", ""))
    subject = headers.get("subject", "")
    sender = first_address(headers.get("from", ""))
    body = "\n\n".join(content.body)
    text = "\n\n".join([body, *content.extra]) if content.extra else body
    quoted = None
    if ">" in text and _QUOTED_LINE.search("\n" + text):
        quoted, text = text, _QUOTE.sub("", text)
    env = _Envelope(headers, message_id, sender, subject, in_reply_to + references)
    metadata = _metadata(headers, content.inner, text, settings)
    kind, trace, reason = _classify(env, text, quoted, metadata, settings)
    truncated = content.truncated
    auth_headers = tuple(p for p in pairs if p[0] in _AUTH_HEADERS) if kind is Kind.REPLY else ()
    # A bounce is an auto-reply whose reason is the bounce check's (never one of the others').
    bounced = kind is Kind.AUTO_REPLY and reason == bounce_reason(headers, sender, subject)
    if trace is not None and trace.dropped:
        count = trace.frame_count + trace.dropped
        truncated.append(f"trace: {count:,} frames, {trace.frame_count:,} kept")
    return Report(
        message_id=message_id or raw_id(raw),
        kind=kind,
        subject=subject,
        sender=sender,
        date=_date(headers.get("date")),
        text=text,
        body=body,
        metadata=metadata,
        headers=headers,
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references,
        trace=trace,
        reason=reason,
        truncated=tuple(truncated),
        auth_headers=auth_headers,
        bounce=read_bounce(raw, headers) if bounced else None,
    )


def parse_message(raw: bytes, settings: ParseSettings = DEFAULT_SETTINGS) -> Report:
    """Parse and classify one raw message; malformed input gives ``Kind.INVALID``, never raises."""
    try:
        return _parse(raw, settings)
    except Exception as exc:  # last line of defence: one poison mail must not stop the loop
        log.warning("parse.failed", error=type(exc).__name__, detail=str(exc)[:200], size=len(raw))
        reason = f"parser error: {type(exc).__name__}"
        return Report(message_id=raw_id(raw), kind=Kind.INVALID, reason=reason)
