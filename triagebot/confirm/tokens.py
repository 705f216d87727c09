"""Reply tokens: proof that a reply answers one candidate mail, verified without a database.

A token is ``c<candidate id>-<expiry>-<mac>``, all lowercase so it survives mail clients and
servers that fold the case of Message-IDs and plus-addresses. ``expiry`` is the Unix time in
base32; ``mac`` is HMAC-SHA256 with ``[helpdesk].token_secret``, truncated to 80 bits.

A token is a capability bound to the candidate and its audience, not to one address: only
the helpdesk received the candidate mail, and staff answer a shared list's mail from their
own addresses (who may act is ``allowed_senders``' business). The MAC covers a version tag,
the candidate id, the expiry and the audience. Tokens of the first format had the recipient
address in the MAC instead; they verify while unexpired when that recipient is one of the
configured ``recipients``, the same audience.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["AUDIENCE", "MAC_BYTES", "TOKEN_PATTERN", "Token", "issue", "parse", "verify"]

MAC_BYTES = 10  # 80 bits
_EXPIRY_BYTES = 5  # Unix seconds until the year 36812
#: Whom candidate mails go to; part of every token's MAC.
AUDIENCE = "helpdesk"
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


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return _b32(digest[:MAC_BYTES])


def _audience_mac(secret: str, candidate_id: int, expires: datetime) -> str:
    # Starts with "v2": never the message of a first-format MAC, which starts with a digit.
    return _mac(secret, f"v2\n{candidate_id}\n{int(expires.timestamp())}\n{AUDIENCE}")


def _recipient_mac(secret: str, candidate_id: int, recipient: str, expires: datetime) -> str:
    """The first format's MAC, bound to one recipient address."""
    return _mac(secret, f"{candidate_id}\n{recipient.strip().lower()}\n{int(expires.timestamp())}")


def issue(secret: str, candidate_id: int, now: datetime, ttl: timedelta) -> Token:
    """A token for the helpdesk to answer candidate ``candidate_id`` until ``now + ttl``."""
    expires = datetime.fromtimestamp(int((now + ttl).timestamp()), UTC)
    return Token(candidate_id, expires, _audience_mac(secret, candidate_id, expires))


def parse(text: str) -> Token | None:
    """The token in ``text`` exactly (lower-cased), or None when it is not shaped like one."""
    match = _TOKEN.fullmatch(text.lower())
    if match is None:
        return None
    seconds = int.from_bytes(base64.b32decode(match[2].upper()), "big")
    return Token(int(match[1]), datetime.fromtimestamp(seconds, UTC), match[3])


def verify(secret: str, token: Token, now: datetime, recipients: Iterable[str] = ()) -> str | None:
    """Why ``token`` is no proof at ``now``; None when it is genuine and unexpired.

    ``recipients``: the configured audience, for tokens of the first format.
    """
    expected = [_audience_mac(secret, token.candidate_id, token.expires)]
    expected += [_recipient_mac(secret, token.candidate_id, r, token.expires) for r in recipients]
    # Every candidate is compared, so the time taken does not tell which one matched.
    if not sum(hmac.compare_digest(mac, token.mac) for mac in expected):
        return "token not genuine (forged, altered, or issued to a former recipient)"
    if now >= token.expires:
        return f"token expired {token.expires:%Y-%m-%d %H:%M} UTC"
    return None
