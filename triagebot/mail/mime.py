"""Bytes and MIME parts to text, tolerant of every charset lie seen in real mail.

A small MIME reader instead of the stdlib ``email`` package: even ``compat32`` spends 60-120 µs
splitting a multipart mail, more than the whole per-message budget. It reads headers the way
``compat32`` does, splits multiparts on their boundary lines and decodes only the parts that
hold text. Nothing here raises on bad input; undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header
from functools import lru_cache

from triagebot.mail.html import html_to_text

__all__ = [
    "MAX_PART_CHARS",
    "Content",
    "PartInfo",
    "decode_bytes",
    "decode_header_value",
    "part_info",
    "split_head",
    "transfer_decode",
    "walk",
]

#: Legacy single-byte labels that are usually ``windows-1252`` in practice (as browsers treat them).
_AS_CP1252 = frozenset({"ascii", "latin_1", "iso8859-1", "cp1252"})
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})
_FOLD = re.compile(r"\r?\n[ \t]*")
# A header section compat32 would read the same way: "Name: value" lines and continuations.
# Matched where a line starts only (a search from every character of a long word would read
# the rest of it for a ":").
_HEAD = re.compile(rb"(?<![!-9;-~])(?:[!-9;-~]+:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)*")
_HEADER = re.compile(r"^([!-9;-~]+):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)
_PARAM = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# The quote marks of a format=flowed line (">>", and the tolerated "> > ") with the one space
# that stuffs its text.
_FLOWED_QUOTE = re.compile(r"(?:>[ ]?)*+")
# "please view this message in HTML" style placeholders in a text/plain alternative.
_STUB = re.compile(
    r"html|browser|view (?:this|the) (?:message|e-?mail)|does not support|nicht unterst",
    re.IGNORECASE,
)
_STUB_MAX = 300
_TEXT_ATTACHMENT = (".txt", ".log", ".err", ".trace", ".stacktrace")
_HTML_ATTACHMENT = (".html", ".htm")
#: Characters of text kept per part (after HTML-to-text): the head of a mail's own text and of
#: a forwarded mail (the exception and its innermost frames come first), the tail of an attached
#: log (logs end with the crash).
MAX_PART_CHARS = 64 * 1024
# Bytes decoded per character kept: UTF-8 takes up to 4; HTML's markup many more.
_TEXT_BYTES, _HTML_BYTES = 4, 16
_PLAIN = "text/plain part"
#: Parts looked at per message; deeper or wider trees are not real reports.
_MAX_PARTS = 64
_MAX_DEPTH = 8
_CTE = "content-transfer-encoding"


@lru_cache(maxsize=128)
def _codec(label: str) -> str | None:
    """Python's codec name for a MIME charset label, or None when unknown or not a text codec."""
    try:
        info = codecs.lookup(label.strip().strip("\"'").lower())
    except (LookupError, ValueError):  # unknown, or not even encodable as a name
        return None
    # base64, rot13, zlib ... are found by lookup but are not charsets.
    return info.name if info._is_text_encoding else None


def _utf16_order(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the bytes look like BOM-less UTF-16 text (NULs on one side)."""
    sample = data[:512]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even < odd // 4:
        return "utf-16-le"
    if even > half * 0.3 and odd < even // 4:
        return "utf-16-be"
    return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode body bytes: BOM, then the declared charset, then UTF-8, then windows-1252.

    Valid multi-byte UTF-8 wins over a declared legacy single-byte charset: the reverse lie
    (UTF-8 bytes labelled ``iso-8859-1``) is common, while Latin text that happens to be valid
    UTF-8 is not.
    """
    if data.isascii() and b"\x00" not in data:
        return data.decode("ascii")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    declared = _codec(charset) if charset else None
    order = _utf16_order(data)
    if order is not None and (declared is None or declared in _UTF16 or declared in _AS_CP1252):
        return data.decode(order, "replace")
    if declared in _UTF16:
        declared = None  # declared UTF-16 but no NUL pattern: the label is wrong
    candidates: tuple[str, ...]
    if declared is None or declared == "utf-8":
        candidates = ("utf-8",)
    elif declared in _AS_CP1252:
        candidates = ("utf-8", "cp1252")
    elif declared.startswith("iso8859"):
        candidates = ("utf-8", declared)
    else:
        candidates = (declared, "utf-8")
    for name in candidates:
        try:
            return data.decode(name)
        except UnicodeError:  # also raised by codecs such as "undefined" and "idna"
            continue
    return data.decode("cp1252", "replace")


def _escaped_bytes(value: str) -> str:
    """Header text holding raw 8-bit bytes (kept as surrogates by compat32) decoded properly."""
    return decode_bytes(value.encode("ascii", "surrogateescape"))


def decode_header_value(value: str) -> str:
    """A raw header value as one clean line: unfolded, RFC 2047 words decoded, 8-bit tolerated."""
    if not value.isascii():
        value = _escaped_bytes(value)
    if "\n" in value:
        value = _FOLD.sub(" ", value)
    if "=?" in value:
        try:
            chunks = decode_header(value)
        except (HeaderParseError, ValueError, AssertionError):  # broken base64 / q words
            chunks = []
        if chunks:
            value = "".join(
                chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)
                for chunk, charset in chunks
            )
    return value.strip()


def unflow(text: str, delsp: bool) -> str:
    """Join ``format=flowed`` soft line breaks (RFC 3676) so wrapped trace lines are whole again.

    A line ending in a space continues on the next line only when both have the same quote
    depth (section 4.5): a soft-broken quote above the reply must not swallow the reply, and a
    continued quote line loses its ``>`` marks. Space-stuffing of unquoted lines is undone.
    """
    out: list[str] = []
    soft_depth = -1  # quote depth of the previous line when it ended in a soft break
    for line in text.split("\n"):
        marks = _FLOWED_QUOTE.match(line)
        prefix = marks.group() if marks else ""
        depth = prefix.count(">")
        content = line[len(prefix) :] if depth else line.removeprefix(" ")
        if depth == soft_depth:
            out[-1] += content
        else:
            out.append(prefix + content if depth else content)
        soft = line.endswith(" ") and content.rstrip(" ") != "--"
        soft_depth = depth if soft else -1
        if soft and delsp:
            out[-1] = out[-1][:-1]
    return "\n".join(out)


def split_head(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(header pairs with lower-cased names, body bytes), read the way ``compat32`` reads them.

    The header section is the longest run of ``Name: value`` lines and continuations (an mbox
    ``From`` line first is skipped); the body starts after it, without the blank line. Header
    values stay raw (folded, 8-bit bytes as surrogates) until someone reads them.
    """
    start = raw.find(b"\n") + 1 if raw.startswith(b"From ") else 0
    match = _HEAD.match(raw, start)
    end = match.end() if match else start
    body = raw[end:]
    if body.startswith(b"\r\n"):
        body = body[2:]
    elif body.startswith(b"\n"):
        body = body[1:]
    text = raw[start:end].decode("ascii", "surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return [(name.lower(), value) for name, value in _HEADER.findall(text)], body


@dataclass(frozen=True, slots=True)
class PartInfo:
    """What a part's headers say about reading it."""

    ctype: str
    params: dict[str, str]
    attachment: bool = False
    filename: str = ""


def _params(value: str) -> dict[str, str]:
    if ";" not in value:
        return {}
    return {k.lower(): v.strip().strip('"') for k, v in _PARAM.findall(value)}


def part_info(headers: Iterable[tuple[str, str]]) -> PartInfo:
    """Content type (lower-cased, ``text/plain`` when missing or malformed), params, filename."""
    content_type = disposition = ""
    for name, value in headers:
        if name == "content-type" and not content_type:
            content_type = value
        elif name == "content-disposition" and not disposition:
            disposition = value
    ctype = content_type.partition(";")[0].strip().lower()
    if ctype.count("/") != 1 or " " in ctype:
        ctype = "text/plain"
    params = _params(content_type)
    disp = _params(disposition)
    filename = (
        disp.get("filename") or disp.get("filename*") or params.get("name") or params.get("name*")
    ) or ""
    attachment = disposition.lstrip().lower().startswith("attachment") or bool(filename)
    return PartInfo(ctype, params, attachment, filename.lower())


def transfer_decode(body: bytes, encoding: str) -> bytes:
    """Undo base64 / quoted-printable; bad base64 yields the bytes as they are."""
    encoding = encoding.strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            return body
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _text(info: PartInfo, data: bytes) -> str:
    """A leaf part as text: charset-decoded, line ends normalised, flowed lines joined."""
    if not data:
        return ""
    text = decode_bytes(data, info.params.get("charset"))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if info.ctype == "text/html":
        return html_to_text(text)
    if info.params.get("format", "").lower() == "flowed" and " \n" in text:
        text = unflow(text, info.params.get("delsp", "").lower() == "yes")
    return text


@dataclass(slots=True)
class Content:
    """The readable text of a message tree, split by where it came from.

    ``body``: inline text parts. ``extra``: text attachments and forwarded messages, appended
    after the body. ``inner``: raw headers of forwarded ``message/rfc822`` messages.
    ``max_chars``: characters kept per part (``keep``); ``truncated`` says what was cut.
    """

    body: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    inner: list[list[tuple[str, str]]] = field(default_factory=list)
    parts: int = 0
    max_chars: int = MAX_PART_CHARS
    truncated: list[str] = field(default_factory=list)

    def read(self, info: PartInfo, data: bytes, what: str, *, tail: bool = False) -> str:
        """A leaf part's text, at most ``max_chars`` (``keep``). Only as many bytes are
        decoded as can make that many characters (HTML: with its markup), so a 30 MB part
        costs what a megabyte does in time and memory: its head, or its tail (``tail``)."""
        budget = self.max_chars * (_HTML_BYTES if info.ctype == "text/html" else _TEXT_BYTES)
        if len(data) <= budget:
            return self.keep(_text(info, data), what, tail=tail)
        size = f"{len(data):,} bytes"
        data = data[-budget:] if tail else data[:budget]
        return self.keep(_text(info, data), what, tail=tail, size=size)

    def keep(self, text: str, what: str, *, tail: bool = False, size: str = "") -> str:
        """``text`` cut to ``max_chars`` at a line break: its head, or its tail (``tail``).
        ``size``: how big the part was when only a slice of it was decoded."""
        limit = self.max_chars
        if len(text) <= limit and not size:
            return text
        if tail:
            start = text.find("\n", max(0, len(text) - limit - 1)) + 1
            kept = text[start:] if 0 < start < len(text) else text[-limit:]
        else:
            end = text.rfind("\n", 0, limit + 1)
            kept = text[:end] if end > 0 else text[:limit]
        side = "last" if tail else "first"
        size = size or f"{len(text):,} characters"
        self.truncated.append(f"{what}: {size}, the {side} {len(kept):,} characters kept")
        return kept


def _attachment_info(info: PartInfo) -> PartInfo | None:
    """How to read a ``.txt``/``.log``/``.html`` attachment (or an unnamed text part); None
    for any other attachment.

    Web frameworks attach their error page (Django's ``error.html``) with the trace inside.
    """
    html = info.ctype == "text/html" or info.filename.endswith(_HTML_ATTACHMENT)
    named = html or info.filename.endswith(_TEXT_ATTACHMENT)
    if not (named or (info.ctype == "text/plain" and not info.filename)):
        return None
    return PartInfo("text/html" if html else "text/plain", info.params)


def _leaf(info: PartInfo, data: bytes, content: Content) -> None:
    """Add one non-multipart part (already transfer-decoded) to ``content``."""
    if info.attachment:
        readable = _attachment_info(info)
        what = f"attachment {info.filename or info.ctype}"
        text = content.read(readable, data, what, tail=True) if readable else ""
        if text:
            content.extra.append(text)
    elif info.ctype.startswith("text/"):
        text = content.read(info, data, f"{info.ctype} part")
        if text:
            content.body.append(text)


def _split_multipart(body: bytes, boundary: str) -> list[bytes] | None:
    """The parts between ``--boundary`` lines; None when no delimiter line is found."""
    delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
    parts: list[bytes] = []
    start = -1
    pos = 0
    while (index := body.find(delimiter, pos)) >= 0:
        pos = index + 1
        line_end = body.find(b"\n", index)
        line_end = len(body) if line_end < 0 else line_end
        rest = body[index + len(delimiter) : line_end].rstrip()
        if (index and body[index - 1] != 0x0A) or rest not in (b"", b"--"):
            continue  # the boundary text inside a line, or a longer boundary
        if start >= 0:
            end = index - 1 if index else 0
            end -= 1 if end > start and body[end - 1] == 0x0D else 0
            parts.append(body[start : max(end, start)])
        if rest == b"--":
            return parts
        start = pos = line_end + 1
    if start < 0:
        return None
    parts.append(body[start:])  # no closing delimiter: the last part runs to the end
    return parts


def _header(pairs: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in pairs if key == name), "")


def _alternative(parts: list[bytes], content: Content, depth: int) -> None:
    """Prefer text/plain unless it is empty or only says "view this in HTML"."""
    plain: str | None = None
    html: tuple[PartInfo, bytes, str] | None = None  # converted only when it is used
    nested: bytes | None = None
    for raw in parts:
        pairs, body = split_head(raw)
        info = part_info(pairs)
        if info.ctype == "text/plain" and plain is None:
            plain = content.read(info, transfer_decode(body, _header(pairs, _CTE)), _PLAIN)
        elif info.ctype == "text/html" and html is None:
            html = (info, body, _header(pairs, _CTE))
        elif info.ctype.startswith("multipart/") and nested is None:
            nested = raw
    stripped = plain.strip() if plain is not None else ""
    stub = not stripped or (len(stripped) < _STUB_MAX and _STUB.search(stripped) is not None)
    if plain is not None and (not stub or (html is None and nested is None)):
        if stripped:
            content.body.append(plain)
    elif html is not None:
        info, body, encoding = html
        content.body.append(content.read(info, transfer_decode(body, encoding), "text/html part"))
    elif nested is not None:
        walk(nested, content, depth + 1)


def _forwarded(body: bytes, content: Content, depth: int) -> None:
    """A ``message/rfc822`` part: its text goes after the body, its headers to ``inner``."""
    sub = Content(parts=content.parts, max_chars=content.max_chars)
    pairs = walk(body, sub, depth + 1)
    content.parts = sub.parts
    content.inner.append(pairs)
    content.inner.extend(sub.inner)
    content.extra.append("\n\n".join(sub.body + sub.extra))
    content.truncated.extend(f"forwarded mail, {note}" for note in sub.truncated)


def walk(raw: bytes, content: Content, depth: int = 0) -> list[tuple[str, str]]:
    """Add the readable text of one message or part to ``content``; returns its raw headers.

    Only the parts that hold text are decoded; images and archives are skipped unread.
    """
    pairs, body = split_head(raw)
    content.parts += 1
    if content.parts > _MAX_PARTS or depth > _MAX_DEPTH:
        return pairs
    info = part_info(pairs)
    if info.ctype.startswith("multipart/"):
        parts = _split_multipart(body, info.params.get("boundary", "")) if info.params else None
        if parts is None:  # boundary missing or corrupted: read it as the text it is
            _leaf(PartInfo("text/plain", info.params), body, content)
        elif info.ctype == "multipart/alternative":
            _alternative(parts, content, depth)
        else:
            for part in parts:
                walk(part, content, depth + 1)
    elif info.ctype.startswith("message/"):
        if info.ctype != "message/delivery-status":
            _forwarded(transfer_decode(body, _header(pairs, _CTE)), content, depth)
    else:
        _leaf(info, transfer_decode(body, _header(pairs, _CTE)), content)
    return pairs
