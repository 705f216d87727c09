"""A message's identity in the store: its Message-ID plus a digest of what its sender wrote.

Deduplicating by Message-ID alone would drop the reports of an application that sends a
fixed or recycled Message-ID (or ids that differ only past the column's width). The digest
covers the body and the origin headers (From, To, Date, Subject), never the transport headers
added on the way (Received, Authentication-Results, ARC-*, X-MS-Exchange-*): a second delivery
of the same mail has the same key, a different mail under a reused Message-ID another one.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["KEY_WIDTH", "ORIGIN_HEADERS", "message_key"]

KEY_WIDTH = 998  # the store's column: RFC 5322's line limit
ORIGIN_HEADERS = (b"from", b"to", b"date", b"subject")
_DIGEST_CHARS = 16
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]")  # a folded header line continues after a line break
_SPACE = re.compile(rb"[ \t\r\n]++")


def _origin(head: bytes) -> bytes:
    """The origin headers' first values, unfolded, whitespace collapsed, in a fixed order."""
    found: dict[bytes, bytes] = {}
    for line in _FOLD.sub(b" ", head).splitlines():
        name, colon, value = line.partition(b":")
        name = name.strip().lower()
        if colon and name in ORIGIN_HEADERS and name not in found:
            found[name] = _SPACE.sub(b" ", value).strip()
    return b"\0".join(found.get(name, b"") for name in ORIGIN_HEADERS)


def message_key(raw: bytes, message_id: str) -> str:
    """``<Message-ID>#<digest>``, cut so the digest always fits the store's column."""
    split = _BLANK_LINE.search(raw)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw, b"")
    digest = hashlib.sha256(_origin(head) + b"\0" + body.replace(b"\r\n", b"\n"))
    return f"{message_id[: KEY_WIDTH - _DIGEST_CHARS - 1]}#{digest.hexdigest()[:_DIGEST_CHARS]}"
