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
from collections import OrderedDict

import structlog

__all__ = ["KEY_WIDTH", "ORIGIN_HEADERS", "ReusedIds", "message_key", "raw_id", "unread_key"]

log = structlog.get_logger(__name__)

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


def raw_id(raw: bytes) -> str:
    """What a mail is known by when it has no Message-ID or could not be read: a digest of
    its bytes, so a copy delivered again is still recognised."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def unread_key(raw: bytes) -> str:
    """The store key of a mail that could not be read or analysed (``raw_id`` as its id)."""
    return message_key(raw, raw_id(raw))


def message_key(raw: bytes, message_id: str) -> str:
    """``<Message-ID>#<digest>``, cut so the digest always fits the store's column."""
    split = _BLANK_LINE.search(raw)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw, b"")
    digest = hashlib.sha256(_origin(head) + b"\0" + body.replace(b"\r\n", b"\n"))
    return f"{message_id[: KEY_WIDTH - _DIGEST_CHARS - 1]}#{digest.hexdigest()[:_DIGEST_CHARS]}"


class ReusedIds:
    """Notices a Message-ID that comes back with other content: an application that sends a
    fixed or recycled id. Each such mail is a report of its own (its key differs); the
    sender is told about once (one warning per sender), for the operator to fix its mailer.

    Remembers the last ``remember`` Message-IDs, so the cost per mail is a dict lookup and
    memory stays flat however long the service runs."""

    def __init__(self, remember: int = 10_000) -> None:
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._remember = remember
        self._warned: set[str] = set()

    def seen(self, message_id: str, key: str, sender: str) -> bool:
        """Note ``message_id`` under ``key``; True when it came before with other content."""
        before = self._keys.get(message_id)
        self._keys[message_id] = key
        self._keys.move_to_end(message_id)
        if len(self._keys) > self._remember:
            self._keys.popitem(last=False)
        reused = before is not None and before != key
        if reused and sender not in self._warned and len(self._warned) < self._remember:
            self._warned.add(sender)
            log.warning("message.id_reused", message_id=message_id, sender=sender)
        return reused
