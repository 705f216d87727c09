"""Progress through a backlog: one line at most every ``PROGRESS_EVERY``, not one per mail.

A source that has mail waiting behind its last batch is working a backlog; until the backlog
is gone, ``Progress`` logs done, remaining, rate and ETA now and then, and one line when it
is done. Time comes from the injected clock, so tests decide when a line is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from triagebot.clock import Clock

__all__ = ["PROGRESS_EVERY", "Progress"]

log = structlog.get_logger(__name__)

PROGRESS_EVERY = timedelta(seconds=10)


@dataclass(slots=True)
class _Backlog:
    started: datetime  # when the first batch was recorded
    last_line: datetime
    first: int  # that batch's mails: the rate counts the mails recorded after ``started``
    done: int = 0


class Progress:
    """One source's backlog at a time per source name."""

    def __init__(self, clock: Clock, every: timedelta = PROGRESS_EVERY) -> None:
        self._clock = clock
        self._every = every
        self._backlogs: dict[str, _Backlog] = {}

    def advance(self, source: str, done: int, remaining: int) -> bool:
        """A batch of ``done`` mails was recorded and ``remaining`` wait behind it; returns
        True while a backlog is being worked (per-batch lines then stay at debug)."""
        backlog = self._backlogs.get(source)
        if backlog is None:
            if not remaining:
                return False
            now = self._clock()
            self._backlogs[source] = _Backlog(now, now, first=done, done=done)
            log.info("backlog.started", source=source, remaining=remaining)
            return True
        now = self._clock()
        backlog.done += done
        elapsed = (now - backlog.started).total_seconds()
        rate = (backlog.done - backlog.first) / elapsed if elapsed > 0 else None
        if not remaining:
            del self._backlogs[source]
            log.info(
                "backlog.done", source=source, done=backlog.done, **_rate(rate), seconds=elapsed
            )
        elif now - backlog.last_line >= self._every:
            backlog.last_line = now
            eta = {"eta_seconds": round(remaining / rate)} if rate else {}
            log.info(
                "backlog.progress",
                source=source,
                done=backlog.done,
                remaining=remaining,
                **_rate(rate),
                **eta,
            )
        return True


def _rate(rate: float | None) -> dict[str, float]:
    return {"rate": round(rate, 1)} if rate is not None else {}
