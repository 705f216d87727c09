"""Who wrote a reply, for authorisation: the one ``From:`` mailbox, read strictly.

A mail client shows the display name, so ``"helpdesk@acme.example" <evil@evil.example>`` is
the classic trick; clients and parsers also disagree on folded, encoded or doubled ``From:``
fields. Only an unambiguous ``From:`` names an author here: exactly one field, one mailbox,
no group, no parse defect (RFC 2047 words are allowed in display names only). ``Sender:`` and
``Reply-To:`` are never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.headerregistry import AddressHeader, BaseHeader
from email.policy import default

__all__ = ["MAX_FROM_CHARS", "AllowList", "Author", "author"]

#: A longer ``From:`` is not read (RFC 5322 lines end at 998 characters; a folded field with
#: a long display name stays far below this).
MAX_FROM_CHARS = 2048
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class Author:
    """The reply's author (``address`` lower-cased), or ``""`` and why there is none."""

    address: str = ""
    why: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def author(fields: Sequence[tuple[str, str]]) -> Author:
    """The author named by the raw ``from`` fields among ``fields`` (name, raw value)."""
    values = [value for name, value in fields if name == "from"]
    if len(values) != 1:
        return Author(why=f"{len(values)} From fields (exactly one is needed)")
    value = values[0]
    if len(value) > MAX_FROM_CHARS:
        return Author(why=f"From field longer than {MAX_FROM_CHARS} characters")
    try:  # 8-bit bytes arrive as surrogates: only valid UTF-8 (RFC 6532) is read
        value = value.encode("ascii", "surrogateescape").decode("utf-8")
        header = default.header_factory("from", _FOLD.sub("", value))
    except Exception as exc:  # the stdlib parser raises more than ValueError on garbage
        return Author(why=f"From field unreadable ({type(exc).__name__})")
    assert isinstance(header, AddressHeader) and isinstance(header, BaseHeader)
    if header.defects:
        return Author(why=f"From field malformed ({type(header.defects[0]).__name__})")
    if any(group.display_name is not None for group in header.groups):
        return Author(why="From field holds a group")
    if len(header.addresses) != 1:
        return Author(why=f"From field holds {len(header.addresses)} addresses (one is needed)")
    address = header.addresses[0]
    if not address.username or not address.domain:
        return Author(why="From field holds no complete address")
    return Author(f"{address.username}@{address.domain}".lower())


class AllowList:
    """``[helpdesk].allowed_senders``, matched on the author's address exactly.

    An entry with a local part (``jane.doe@acme.example``) matches that address only (no
    plus-address folding). A domain entry (``acme.example`` or ``@acme.example``) matches
    every address of exactly that domain; subdomains do not match (``eu.acme.example`` must
    be listed itself), so a sub-zone run by somebody else never inherits the permission.
    Case is ignored.
    """

    __slots__ = ("_addresses", "_domains")

    def __init__(self, entries: Iterable[str]) -> None:
        cleaned = [entry.strip().lower() for entry in entries]
        self._addresses = frozenset(e for e in cleaned if "@" in e.lstrip("@"))
        self._domains = frozenset(e.lstrip("@") for e in cleaned if e and e not in self._addresses)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str) or "@" not in address:
            return False
        address = address.lower()
        return address in self._addresses or address.rpartition("@")[2] in self._domains
