"""Replicas that share one PostgreSQL store and misbehave: one frozen while it holds a lock,
one that wakes up after its lease ran out, two that touch one defect in opposite orders, and
two that ask for the same reminders at once. Each test runs two ``Store`` objects (two
replicas' engines) on one database of the real PostgreSQL fixture."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.factories import make_outcome
from triagebot.errors import StoreError
from triagebot.store import SessionLimits, Store
from triagebot.store.db import RECORD_LOCK, take_turns

#: Short enough for a test: a frozen replica is cut off after a second.
LIMITS = SessionLimits(lock_timeout=0.5, statement_timeout=5.0, idle_in_transaction_timeout=1.0)


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two replicas' stores on one fresh, migrated database."""
    first, second = (Store(postgres_url, limits=LIMITS) for _ in range(2))
    first.migrate()
    yield first, second
    first.close()
    second.close()


def test_every_session_has_the_configured_timeouts(pair: tuple[Store, Store]) -> None:
    """PostgreSQL's own defaults wait forever; each session of the store has its limits."""
    with pair[0].read() as conn:
        shown = [
            conn.execute(sa.text(f"SHOW {name}")).scalar()
            for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")
        ]
    assert shown == ["500ms", "5s", "1s"]


def test_a_replica_frozen_inside_the_batch_lock_holds_the_others_only_until_cut_off(
    pair: tuple[Store, Store],
) -> None:
    """One replica takes the batch-recording lock and freezes with its transaction open: the
    server ends its session after ``idle_in_transaction_timeout``, and the other replica's
    batch, whose lock waits time out and are retried meanwhile, is recorded right after."""
    frozen, live = pair
    holding, resume = threading.Event(), threading.Event()

    def freeze() -> None:
        with contextlib.suppress(StoreError), frozen.write() as conn:
            take_turns(conn, RECORD_LOCK)
            holding.set()
            resume.wait(30)  # frozen here: the transaction is open and idle

    freezer = threading.Thread(target=freeze)
    freezer.start()
    assert holding.wait(5)
    started = time.monotonic()
    recorder = threading.Thread(target=live.record, args=([make_outcome("<m1@x>")],))
    recorder.start()
    recorder.join(10)
    waited = time.monotonic() - started
    resume.set()
    freezer.join(10)
    recorder.join(10)
    assert waited < 5, f"the batch waited {waited:.1f} s for the frozen replica"
    assert [d.occurrences for d in live.defects()] == [1]
