"""Retention: occurrences past ``retention_days`` become per-day counts and old mail records
go, on both backends, without changing what any defect says of itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.clocks import ManualClock
from tests.factories import make_outcome, row_counts
from triagebot.config import ConfigError, config_from_dict
from triagebot.housekeeping import retention_loop
from triagebot.store import Store
from triagebot.store.retention import cutoff
from triagebot.store.schema import occurrence_days

DAYS = 400


def folded(store: Store) -> dict[tuple[date, str | None], int]:
    """Per-day rows as (day, version) → count."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(occurrence_days.c.day, occurrence_days.c.version, occurrence_days.c.count)
        ).all()
    return {(r.day, r.version): r.count for r in rows}


def test_old_occurrences_fold_into_days_and_totals_stay(store: Store, clock: ManualClock) -> None:
    """Three old reports (two on one day, of two versions) fold into day rows, in chunks
    of two; the recent one stays a row; the defect's count, dates and machines are as
    before; a second run has nothing to do."""
    start = clock()
    store.record([make_outcome("<old-1@x>")], now=clock())
    store.record([make_outcome("<old-2@x>", version="4.3.0")], now=clock())
    clock.advance(timedelta(days=1))
    store.record([make_outcome("<old-3@x>")], now=clock())
    clock.advance(timedelta(days=DAYS))
    store.record([make_outcome("<recent@x>")], now=clock())
    clock.advance(timedelta(days=1))
    (before,) = store.defects()
    seen_before = store.seen_on(before.id)

    done = store.apply_retention(DAYS, limit=2)
    again = store.apply_retention(DAYS, limit=2)

    assert done.cutoff == cutoff(clock(), DAYS)
    assert (done.folded, done.pruned) == (3, 3)
    assert (again.folded, again.pruned) == (0, 0)
    assert row_counts(store) == {"messages": 1, "occurrences": 1}
    first, second = start.date(), (start + timedelta(days=1)).date()
    assert folded(store) == {(first, "4.2.0"): 1, (first, "4.3.0"): 1, (second, "4.2.0"): 1}
    assert store.defects() == [before]
    assert before.occurrences == 4
    assert store.seen_on(before.id) == seen_before


def test_the_cut_off_is_a_utc_midnight(clock: ManualClock) -> None:
    """A day is folded whole, once: never half of it today and the rest tomorrow."""
    cut = cutoff(clock(), DAYS)
    assert (cut.hour, cut.minute, cut.second, cut.microsecond) == (0, 0, 0, 0)
    assert timedelta(days=DAYS) <= clock() - cut < timedelta(days=DAYS + 1)
    assert cut.tzinfo is UTC


def test_retention_days_default_and_minimum() -> None:
    assert config_from_dict({}).store.retention_days == DAYS
    with pytest.raises(ConfigError, match=r"^\[store\]\.retention_days: must be at least 30"):
        config_from_dict({"store": {"retention_days": 7}})


async def test_the_service_loop_runs_at_start_and_returns_on_stop(tmp_path: object) -> None:
    """``retention_loop`` applies retention at once, then waits; stopping ends the wait."""
    moment = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    store = Store(f"sqlite:///{tmp_path}/var/triagebot.db", clock=ManualClock(moment))
    store.migrate()
    store.record([make_outcome("<old@x>")], now=moment - timedelta(days=DAYS + 1))
    stopping = asyncio.Event()
    try:
        loop = asyncio.create_task(retention_loop(store, DAYS, stopping, "a", interval=3600))
        emptied = {"messages": 0, "occurrences": 0}
        for _ in range(500):
            if row_counts(store) == emptied:
                break
            await asyncio.sleep(0.01)
        assert row_counts(store) == emptied
        stopping.set()
        await asyncio.wait_for(loop, 5)
    finally:
        store.close()
