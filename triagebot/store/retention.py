"""Retention: the store keeps per-mail rows for ``[store] retention_days``, then less.

An occurrence older than the cut-off is folded into ``occurrence_days`` (one row per defect,
UTC day, application, version, environment and machine, with a count), so a defect's totals
(kept on the defect itself) and what is told of its past (``seen_on``) stay as they were; a
processed-message record older than the cut-off is deleted (its mail was acknowledged long
ago), and so is a bounce recorded before it (``status`` shows the last 30 days). Work goes
in chunks of ``limit`` rows, one transaction each, so a first run over years of rows never
holds a long lock or much memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.store.schema import bounces, messages, occurrence_days, occurrences

__all__ = [
    "ORIGIN",
    "DayKey",
    "Retained",
    "add_to_day",
    "cutoff",
    "fold_occurrences",
    "prune_bounces",
    "prune_messages",
]

#: What an occurrence says of where its report came from, kept per day when folded.
ORIGIN = ("application", "version", "environment", "machine")

DayKey = tuple[int, date, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Retained:
    """What one retention run did: occurrences folded, message records and bounces deleted."""

    cutoff: datetime
    folded: int
    pruned: int
    bounces: int


def cutoff(now: datetime, days: int) -> datetime:
    """The UTC midnight ``days`` before ``now``: a day is always folded whole, once."""
    return (now.astimezone(UTC) - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def fold_occurrences(conn: Connection, before: datetime, limit: int) -> int:
    """Fold up to ``limit`` occurrences older than ``before`` into per-day counts; returns
    how many were folded (fewer than ``limit``: none older are left)."""
    rows = conn.execute(
        sa.select(occurrences.c.id, occurrences.c.defect_id, occurrences.c.at)
        .add_columns(*(occurrences.c[name] for name in ORIGIN))
        .where(occurrences.c.at < before)
        .order_by(occurrences.c.id)
        .limit(limit)
    ).all()
    counts: Counter[DayKey] = Counter(
        (r.defect_id, r.at.date(), r.application, r.version, r.environment, r.machine) for r in rows
    )
    for key, count in counts.items():
        add_to_day(conn, key, count)
    ids = [r.id for r in rows]
    if ids:
        conn.execute(sa.delete(occurrences).where(occurrences.c.id.in_(ids)))
    return len(ids)


def add_to_day(conn: Connection, key: DayKey, count: int) -> None:
    """Add ``count`` to the day's row for ``key`` (made when missing); NULL origins match."""
    defect_id, day, *origin = key
    values: dict[str, Any] = dict(zip(ORIGIN, origin, strict=True))
    match = [
        occurrence_days.c.defect_id == defect_id,
        occurrence_days.c.day == day,
        *(
            occurrence_days.c[name].is_(None) if value is None else occurrence_days.c[name] == value
            for name, value in values.items()
        ),
    ]
    added = conn.execute(
        sa.update(occurrence_days).where(*match).values(count=occurrence_days.c.count + count)
    )
    if not added.rowcount:
        conn.execute(
            sa.insert(occurrence_days).values(defect_id=defect_id, day=day, count=count, **values)
        )


def prune_messages(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` message records processed before ``before``; returns how many."""
    return _prune(conn, messages.c.message_id, messages.c.processed_at, before, limit)


def prune_bounces(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` bounces recorded before ``before``; returns how many."""
    return _prune(conn, bounces.c.id, bounces.c.at, before, limit)


def _prune(
    conn: Connection, key: sa.Column[Any], when: sa.Column[Any], before: datetime, limit: int
) -> int:
    """Delete the ``limit`` oldest rows of ``key``'s table whose ``when`` is before ``before``."""
    ids = list(
        conn.execute(sa.select(key).where(when < before).order_by(when).limit(limit)).scalars()
    )
    if ids:
        conn.execute(sa.delete(key.table).where(key.in_(ids)))
    return len(ids)
