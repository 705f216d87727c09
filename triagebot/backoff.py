"""When to try again: one schedule for every piece of work that waits after a failure that
may pass (tracker effects in the outbox, digests whose send failed)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "backoff"]

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour."""
    delay: timedelta = BACKOFF_BASE * (2 ** min(attempts, 16))
    return min(delay, BACKOFF_CAP)
