"""Housekeeping the running service does on its own schedule: retention of old rows.

Retention (``store.retention``) runs at start and then once a day, on a worker thread so
mail intake goes on; a failure is logged and waits for the next day. The loop returns as
soon as the service is asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from triagebot.store import Store

__all__ = ["RETENTION_INTERVAL", "retention_loop"]

log = structlog.get_logger(__name__)

#: Seconds between retention runs.
RETENTION_INTERVAL = 24 * 3600.0


async def retention_loop(
    store: Store, days: int, stopping: asyncio.Event, interval: float = RETENTION_INTERVAL
) -> None:
    """Fold and prune what is older than ``days`` now and every ``interval`` until
    ``stopping`` is set."""
    while not stopping.is_set():
        try:
            done = await asyncio.to_thread(store.apply_retention, days)
        except Exception as exc:  # any failure waits for the next run; the service goes on
            log.warning("retention.failed", error=repr(exc), retry_in=interval)
        else:
            log.info(
                "retention.done",
                cutoff=done.cutoff.isoformat(),
                folded=done.folded,
                pruned=done.pruned,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
