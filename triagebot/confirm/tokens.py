"""Reply tokens: who may answer a candidate mail, verified without a database lookup.

A token is ``c<candidate id>-<expiry>-<mac>``, all lowercase so it survives mail clients and
servers that fold the case of Message-IDs and plus-addresses. ``expiry`` is the Unix time in
base32; ``mac`` is HMAC-SHA256 over candidate id, recipient address and expiry, truncated to
80 bits. Only whoever holds ``[helpdesk].token_secret`` can make one, and a token answers for
one candidate, one recipient and a limited time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["MAC_BYTES", "TOKEN_PATTERN", "Token", "issue", "parse", "verify"]

MAC_BYTES = 10  # 80 bits
_EXPIRY_BYTES = 5  # Unix seconds until the year 36812
#: A token inside a longer string (Message-ID, plus-address); group 0 is the token.
TOKEN_PATTERN = r"c[0-9]{1,12}-[a-z2-7]{8}-[a-z2-7]{16}"  # noqa: S105 - a shape, not a secret
_TOKEN = re.compile(r"c([0-9]{1,12})-([a-z2-7]{8})-([a-z2-7]{16})")


@dataclass(frozen=True, slots=True)
class Token:
    """A parsed token; ``verify`` says whether it is genuine."""

    candidate_id: int
    expires: datetime
    mac: str

    def __str__(self) -> str:
        return f"c{self.candidate_id}-{_b32(_expiry_bytes(self.expires))}-{self.mac}"


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _expiry_bytes(expires: datetime) -> bytes:
    return int(expires.timestamp()).to_bytes(_EXPIRY_BYTES, "big")


def _mac(secret: str, candidate_id: int, recipient: str, expires: datetime) -> str:
    message = f"{candidate_id}\n{recipient.strip().lower()}\n{int(expires.timestamp())}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return _b32(digest[:MAC_BYTES])


def issue(secret: str, candidate_id: int, recipient: str, now: datetime, ttl: timedelta) -> Token:
    """A token for ``recipient`` to answer candidate ``candidate_id`` until ``now + ttl``."""
    expires = datetime.fromtimestamp(int((now + ttl).timestamp()), UTC)
    return Token(candidate_id, expires, _mac(secret, candidate_id, recipient, expires))


def parse(text: str) -> Token | None:
    """The token in ``text`` exactly (lower-cased), or None when it is not shaped like one."""
    match = _TOKEN.fullmatch(text.lower())
    if match is None:
        return None
    seconds = int.from_bytes(base64.b32decode(match[2].upper()), "big")
    return Token(int(match[1]), datetime.fromtimestamp(seconds, UTC), match[3])


def verify(secret: str, token: Token, sender: str, now: datetime) -> str | None:
    """Why ``token`` does not authorise ``sender`` at ``now``; None when it does."""
    expected = _mac(secret, token.candidate_id, sender, token.expires)
    if not hmac.compare_digest(expected, token.mac):
        return "token not issued to this sender (forged, altered or for another recipient)"
    if now >= token.expires:
        return f"token expired {token.expires:%Y-%m-%d %H:%M} UTC"
    return None
