"""Hard dates for clock-driven tests, and a clock the test moves by hand.

Every test that takes the ``clock`` fixture runs once per date below: DST gaps and folds in
two zones (as UTC instants, so the store sees an ordinary time while the scheduler's zones see
the transition), 29 February, the last seconds of a year, past the 32-bit Unix time limit,
and one random date. The random date comes from ``TRIAGEBOT_CLOCK_SEED`` when set, else from a
fresh seed; both the seed and the date are in the test id, so a failure names them and
``TRIAGEBOT_CLOCK_SEED=<seed> pytest ...`` repeats it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["HARD_DATES", "SEED", "ManualClock", "random_date"]

HARD_DATES: dict[str, datetime] = {
    # 02:30 does not exist in Berlin that night (01:00 UTC: 02:00 CET -> 03:00 CEST)
    "dst-gap-berlin": datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    # 02:30 Berlin happens twice (00:30 UTC and 01:30 UTC); this is the first
    "dst-fold-berlin": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    # 02:30 does not exist in New York (07:00 UTC: 02:00 EST -> 03:00 EDT)
    "dst-gap-new-york": datetime(2027, 3, 14, 7, 30, tzinfo=UTC),
    # 01:30 New York happens twice (05:30 UTC and 06:30 UTC); this is the second
    "dst-fold-new-york": datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    "leap-day": datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    "new-years-eve": datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC),
    "after-2038": datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),  # 2**31 s after the epoch
}

SEED = int(os.environ.get("TRIAGEBOT_CLOCK_SEED") or random.SystemRandom().randrange(2**32))


def random_date(seed: int) -> datetime:
    """A date between 2000 and 2100, to the microsecond, drawn from ``seed``."""
    rng = random.Random(seed)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return start + timedelta(microseconds=rng.randrange(100 * 365 * 86_400 * 10**6))


@dataclass
class ManualClock:
    """A ``triagebot.clock.Clock`` that stands still until the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def dates() -> dict[str, datetime]:
    """The hard dates and the random one, by test id."""
    drawn = random_date(SEED)
    return {**HARD_DATES, f"random-seed{SEED}-{drawn:%Y-%m-%dT%H:%M:%S}": drawn}
