"""What the store knows of quarantined mail: the verdict and its reason, kept so a copy
delivered again is recognised, and forgotten on request so a released mail is read afresh
(``triagebot quarantine retry``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.store.db import chunks
from triagebot.store.schema import messages

__all__ = ["Verdict", "forget", "record_refused", "verdicts"]

_INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the store recorded one mail."""

    kind: str
    reason: str
    processed_at: datetime


def verdicts(conn: Connection, keys: Collection[str]) -> dict[str, Verdict]:
    found: dict[str, Verdict] = {}
    cols = (messages.c.message_id, messages.c.kind, messages.c.reason, messages.c.processed_at)
    for chunk in chunks(sorted(keys)):
        for key, kind, reason, at in conn.execute(
            sa.select(*cols).where(messages.c.message_id.in_(chunk))
        ):
            found[key] = Verdict(kind, reason or "", at)
    return found


def forget(conn: Connection, keys: Collection[str]) -> int:
    """Drop the verdicts of mails set aside as invalid; a mail that was counted stays."""
    dropped = 0
    for chunk in chunks(sorted(keys)):
        dropped += conn.execute(
            sa.delete(messages).where(messages.c.message_id.in_(chunk), messages.c.kind == _INVALID)
        ).rowcount
    return dropped


def record_refused(conn: Connection, key: str, ref: str, reason: str, now: datetime) -> None:
    """Record a mail the store would not take (it goes to quarantine) as invalid, with why."""
    if conn.execute(sa.select(messages.c.message_id).where(messages.c.message_id == key)).first():
        return
    conn.execute(
        sa.insert(messages).values(
            message_id=key, kind=_INVALID, processed_at=now, source_ref=ref, reason=reason
        )
    )
