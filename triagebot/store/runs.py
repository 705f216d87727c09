"""Digest runs: each digest period claimed once, finished once, retried when sending failed.

A run claims ``[start, end)`` with a ``digest_runs`` row keyed ``(digest, period_end)``, in
one write transaction: a replica that finds the period claimed (or loses the insert) does
nothing, so two replicas never both send. ``start`` is the end of the digest's previous run,
so "since the last digest" survives restarts. A transient send failure leaves the row
``retry`` with its next attempt's time; a claim whose owner never finished (a crash
mid-send) may be taken over after ``CLAIM_LEASE``. Each claim raises the row's
``claim_token`` (a fencing token): ``hold`` and ``finish`` act only for the current claimer,
so a replica that wakes up after its claim was taken over neither sends nor overwrites what
the new claimer wrote. ``triagebot.digest`` decides when and what to send; this module keeps
the rows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.errors import StoreError
from triagebot.store.schema import digest_runs

__all__ = [
    "CLAIM_LEASE",
    "attempts",
    "claim",
    "due_retries",
    "finish",
    "hold",
    "last_end",
    "lost_claim",
    "reclaim",
]

#: A claim older than this whose owner never finished (crash mid-send) may be taken over.
#: Far above any SMTP timeout, so a slow but live send is never duplicated.
CLAIM_LEASE = timedelta(minutes=15)


def last_end(conn: Connection, name: str) -> datetime | None:
    """Where the next period of ``name`` starts (None before its first run)."""
    latest: datetime | None = conn.execute(
        sa.select(sa.func.max(digest_runs.c.period_end)).where(digest_runs.c.digest == name)
    ).scalar()
    return latest


def claim(
    conn: Connection, name: str, end: datetime, now: datetime, since: datetime
) -> tuple[datetime, int] | None:
    """Claim the period of ``name`` ending at ``end``; returns its start (the previous run's
    end, or ``since`` for a first run) and the claim's token, or None when a run covers it
    already. A replica inserting the same period first fails the commit: see ``lost_claim``."""
    latest = last_end(conn, name)
    if latest is not None and latest >= end:
        return None
    start = latest or since
    conn.execute(
        sa.insert(digest_runs).values(
            digest=name,
            period_end=end,
            period_start=start,
            state="claimed",
            claimed_at=now,
            attempts=0,
            claim_token=1,
        )
    )
    return start, 1


def lost_claim(exc: StoreError) -> bool:
    """Whether a failed claim lost to a replica that inserted the same period first
    (PostgreSQL), rather than failing for any other reason."""
    return isinstance(exc.__cause__, sa.exc.IntegrityError)


def due_retries(
    conn: Connection, now: datetime, names: Collection[str]
) -> list[tuple[str, datetime, datetime]]:
    """``(digest, start, end)`` of the runs of ``names`` to send again now, oldest first."""
    rows = conn.execute(
        sa.select(digest_runs.c.digest, digest_runs.c.period_start, digest_runs.c.period_end)
        .where(_retryable(now), digest_runs.c.digest.in_(list(names)))
        .order_by(digest_runs.c.period_end)
    ).all()
    return [(r.digest, r.period_start, r.period_end) for r in rows]


def reclaim(conn: Connection, name: str, end: datetime, now: datetime) -> int | None:
    """Take a retryable period over: the new claim's token, or None when a replica was
    quicker."""
    token: int | None = conn.execute(
        sa.update(digest_runs)
        .where(_row(name, end), _retryable(now))
        .values(state="claimed", claimed_at=now, claim_token=digest_runs.c.claim_token + 1)
        .returning(digest_runs.c.claim_token)
    ).scalar()
    return token


def hold(conn: Connection, name: str, end: datetime, token: int, now: datetime) -> bool:
    """Renew the claim ``token`` of the period (just before sending it); False when it is not
    the current claim any more: another replica took the period over."""
    done = conn.execute(
        sa.update(digest_runs).where(_claimed(name, end, token)).values(claimed_at=now)
    )
    return bool(done.rowcount)


def attempts(conn: Connection, name: str, end: datetime) -> int:
    """How often the run of ``name`` ending at ``end`` was tried."""
    found: int = conn.execute(sa.select(digest_runs.c.attempts).where(_row(name, end))).scalar_one()
    return found


def finish(
    conn: Connection,
    name: str,
    end: datetime,
    token: int,
    state: str,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
    message_id: str | None = None,
) -> bool:
    """End the attempt of claim ``token``: ``sent``, ``empty``, or ``retry`` at ``retry_at``;
    False (nothing written) when another replica took the period over meanwhile."""
    done = conn.execute(
        sa.update(digest_runs)
        .where(_claimed(name, end, token))
        .values(
            state=state,
            attempts=digest_runs.c.attempts + 1,
            next_attempt_at=retry_at,
            error=error[:2000] if error else None,
            message_id=message_id,
        )
    )
    return bool(done.rowcount)


def _claimed(name: str, end: datetime, token: int) -> sa.ColumnElement[bool]:
    """The period's row while ``token`` is its current claim."""
    return sa.and_(
        _row(name, end), digest_runs.c.state == "claimed", digest_runs.c.claim_token == token
    )


def _row(name: str, end: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(digest_runs.c.digest == name, digest_runs.c.period_end == end)


def _retryable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(digest_runs.c.state == "retry", digest_runs.c.next_attempt_at <= now),
        sa.and_(digest_runs.c.state == "claimed", digest_runs.c.claimed_at < now - CLAIM_LEASE),
    )
