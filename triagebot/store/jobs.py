"""Scheduled jobs that one replica runs at a time (retention, the confirmation loop's due
mails), leased through a ``job:<name>`` row of ``leases`` under a fencing token.

A replica takes a job when its row is free (holder "") and the last run finished at least
``every`` ago, or when its holder stopped renewing it for ``JOB_LEASE`` (died or froze): each
take raises the token. Every write of the job checks that token in its own transaction
(``check``, which also renews the lease), and ``finish`` frees the row only for the current
holder, so a replica that wakes up after its lease ran out writes nothing, even when nobody
has taken the job over yet and its run is already marked finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.errors import LeadershipLost
from triagebot.store.schema import leases

__all__ = ["JOB_LEASE", "JobLease", "check", "claim", "finish", "row_name"]

#: How long a job stays with a replica that stopped renewing it (each write renews it).
JOB_LEASE = timedelta(seconds=60)
_PREFIX = "job:"


@dataclass(frozen=True, slots=True)
class JobLease:
    """A job held by this replica under ``token``."""

    name: str
    holder: str
    token: int


def row_name(job: str) -> str:
    return _PREFIX + job


def claim(
    conn: Connection, job: str, holder: str, now: datetime, every: timedelta
) -> JobLease | None:
    """Take ``job`` for ``holder``; None when another replica holds it or its last run
    finished less than ``every`` ago."""
    name = row_name(job)
    row = conn.execute(
        sa.select(leases.c.holder, leases.c.token, leases.c.renewed_at)
        .where(leases.c.name == name)
        .with_for_update()
    ).one_or_none()
    values = {"holder": holder, "acquired_at": now, "renewed_at": now}
    if row is None:
        conn.execute(sa.insert(leases).values(name=name, token=1, **values))
        return JobLease(job, holder, 1)
    free = row.holder == "" and row.renewed_at <= now - every
    if not (free or (row.holder != "" and row.renewed_at < now - JOB_LEASE)):
        return None
    taken = conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.token == row.token)
        .values(token=leases.c.token + 1, **values)
    )
    return JobLease(job, holder, row.token + 1) if taken.rowcount else None


def check(conn: Connection, lease: JobLease, now: datetime) -> None:
    """Refuse (``LeadershipLost``) a write under a lease that is not the job's current one,
    or that ran out; else renew it, in the caller's transaction."""
    renewed = conn.execute(
        sa.update(leases)
        .where(_held(lease), leases.c.renewed_at >= now - JOB_LEASE)
        .values(renewed_at=now)
    )
    if not renewed.rowcount:
        raise LeadershipLost(f"the {lease.name} job moved on from token {lease.token}")


def finish(conn: Connection, lease: JobLease, now: datetime) -> bool:
    """Free the job, its run done at ``now``; False when the lease was no longer held."""
    done = conn.execute(sa.update(leases).where(_held(lease)).values(holder="", renewed_at=now))
    return bool(done.rowcount)


def _held(lease: JobLease) -> sa.ColumnElement[bool]:
    return sa.and_(
        leases.c.name == row_name(lease.name),
        leases.c.token == lease.token,
        leases.c.holder == lease.holder,
    )
