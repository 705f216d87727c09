"""What every mailbox source offers the daemon (IMAP, Maildir; the SMTP listener spools to Maildir).

Sources are blocking; the daemon runs them in a worker thread. A message returned by
``fetch`` stays in the inbox until ``move`` is called for it, which the daemon does only after
the message's outcome is committed to the store: a crash in between re-delivers, never drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

#: Bytes of mail a batch may hold (a larger mail still comes, alone in its batch): the
#: service keeps a batch's raw mail only until it is analysed, so this bounds its memory.
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024


class Folder(StrEnum):
    """Where an acknowledged message goes."""

    PROCESSED = "processed"
    QUARANTINE = "quarantine"  # could not be parsed; reason logged
    REVIEW = "review"  # a reply that failed authorisation; changes nothing


@dataclass(frozen=True, slots=True)
class Incoming:
    """One fetched message: ``ref`` is the source's own handle (IMAP UID, Maildir key)."""

    ref: str
    raw: bytes


class Source(Protocol):
    """A mailbox the daemon reads from."""

    name: str

    def open(self) -> None:
        """Connect (or reconnect) and make sure the target folders exist."""

    def close(self) -> None:
        """Release the connection; safe to call twice."""

    def fetch(self, limit: int) -> list[Incoming]:
        """Up to ``limit`` waiting messages not yet handed out on this connection, oldest
        first, and no more bytes than the source's batch budget unless the first is larger."""

    def move(self, refs: Sequence[str], folder: Folder) -> None:
        """Acknowledge: take the messages out of the inbox into ``folder``."""

    def wait(self, timeout: float) -> bool:
        """Block until new mail may be waiting (IDLE push or poll interval); False on timeout."""

    def delivering(self) -> bool:
        """True while mail is arriving that ``fetch`` does not hand out yet (a Maildir file
        still being written): ``run --once`` waits for it."""

    def backlog(self) -> int:
        """Messages known to wait behind the last batch, as of the last listing (no I/O): the
        service's progress and ``triagebot_backlog_messages``."""

    def quarantined(self) -> list[Incoming]:
        """The mails in the quarantine folder, oldest first; ``ref`` names one for
        ``release`` (``triagebot quarantine``)."""

    def release(self, refs: Sequence[str]) -> list[str]:
        """Put quarantined mails back into the inbox, to be read again; returns the refs
        that were found."""
