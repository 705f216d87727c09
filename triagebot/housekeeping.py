"""Housekeeping the running service does on its own schedule: retention of old rows.

Retention (``store.retention``) runs once a day among all the replicas: each replica asks for
the ``retention`` job at start and then every ``poll``, and takes it only when no replica runs
it and the last run finished a day ago or more (``Store.claim_job``). The run happens on a
worker thread so mail intake goes on; each of its transactions checks the job's fencing
token, so a replica paused past its lease stops with nothing more written. A failure is
logged and the job is taken again at a later poll. The loop returns as soon as the service
is asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from triagebot.errors import LeadershipLost
from triagebot.store import Store

__all__ = ["RETENTION", "RETENTION_INTERVAL", "RETENTION_POLL", "retention_loop"]

log = structlog.get_logger(__name__)

RETENTION = "retention"  # the job's name among the leases
#: Seconds between retention runs, across all replicas.
RETENTION_INTERVAL = 24 * 3600.0
#: Seconds between a replica's asks for the job: a day's run is late by at most this much
#: when the replica that ran it last is gone.
RETENTION_POLL = 3600.0


async def retention_loop(
    store: Store,
    days: int,
    stopping: asyncio.Event,
    holder: str,
    *,
    interval: float = RETENTION_INTERVAL,
    poll: float = RETENTION_POLL,
) -> None:
    """Fold and prune what is older than ``days`` whenever this replica (``holder``) gets the
    job, asking now and every ``poll`` until ``stopping`` is set."""
    while not stopping.is_set():
        await asyncio.to_thread(_retain, store, days, holder, timedelta(seconds=interval))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll)


def _retain(store: Store, days: int, holder: str, every: timedelta) -> None:
    """One run of the job, when it is this replica's to run."""
    try:
        lease = store.claim_job(RETENTION, holder, every)
        if lease is None:
            return
        done = store.apply_retention(days, lease=lease)
        store.finish_job(lease)
    except LeadershipLost as exc:  # paused past the lease: another replica runs it
        log.warning("retention.lease_lost", holder=holder, error=str(exc))
        return
    except Exception as exc:  # any failure waits for a later poll; the service goes on
        log.warning("retention.failed", error=repr(exc))
        return
    log.info(
        "retention.done",
        cutoff=done.cutoff.isoformat(),
        folded=done.folded,
        pruned=done.pruned,
        bounces=done.bounces,
        fence=lease.token,
    )
