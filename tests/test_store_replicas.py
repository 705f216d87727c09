"""Replicas that share one PostgreSQL store and misbehave: one frozen while it holds a lock,
one that wakes up after its lease ran out, two that touch one defect in opposite orders, and
two that ask for the same reminders at once. Each test runs two ``Store`` objects (two
replicas' engines) on one database of the real PostgreSQL fixture."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.factories import make_outcome, make_signature, wait_for_a_lock_wait
from tests.helpers import wait_until
from triagebot.errors import LeadershipLost, StoreError
from triagebot.outbox import Heartbeat, run_effects
from triagebot.rules import Action
from triagebot.store import (
    EFFECT_LEASE,
    Effect,
    EffectKind,
    EffectResult,
    Leadership,
    Reminder,
    SessionLimits,
    Store,
    defects,
    outbox,
)
from triagebot.store.db import RECORD_LOCK, lock_defects, take_turns
from triagebot.store.leader import INTAKE_LOCK
from triagebot.trackers.base import DefectDraft, TrackerIssue
from triagebot.trackers.local import LocalTracker

#: Short enough for a test: a frozen replica is cut off after a second.
LIMITS = SessionLimits(lock_timeout=0.5, statement_timeout=5.0, idle_in_transaction_timeout=1.0)
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> ManualClock:
    """One clock for both replicas, as their hosts' synchronised clocks would be."""
    return ManualClock(START)


@pytest.fixture
def pair(postgres_url: str, clock: ManualClock) -> Iterator[tuple[Store, Store]]:
    """Two replicas' stores on one fresh, migrated database."""
    first, second = (Store(postgres_url, limits=LIMITS, clock=clock) for _ in range(2))
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


# --- effect leases ------------------------------------------------------------------------


def test_a_replica_that_wakes_after_its_lease_ran_out_completes_nothing(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """Replica A leases a create and freezes; a minute later B takes it over under a newer
    token and completes it. A wakes up: its completion and its failure are refused (logged as
    ``outbox.lease_lost``) and change nothing B wrote."""
    a, b = pair
    a.record([make_outcome("<m1@x>")])
    [stale] = a.due_effects(clock(), 10)
    assert b.due_effects(clock() + EFFECT_LEASE / 2, 10) == []  # held
    clock.advance(timedelta(seconds=61))
    [fresh] = b.due_effects(clock(), 10)
    assert (fresh.id, fresh.token > stale.token) == (stale.id, True)
    assert b.complete_effect(fresh, EffectResult(tracker_key="LOCAL-2", occurrences_reported=1))
    with capture_logs() as events:
        late = a.complete_effect(stale, EffectResult(tracker_key="LOCAL-1", occurrences_reported=1))
        failed = a.fail_effect(stale, "too late", None)
        renewed = a.renew_effect(stale)
    assert (late, failed, renewed) == (False, False, False)
    assert [e["doing"] for e in events if e["event"] == "outbox.lease_lost"] == [
        "complete",
        "fail",
        "renew",
    ]
    [defect] = b.defects()
    assert defect.key == "LOCAL-2"
    assert b.effects() == [("create", "done", 0)]


def test_a_worker_paused_past_its_lease_skips_the_effects_taken_over_meanwhile(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """A leases two creates; its first tracker call outlasts the lease, and meanwhile B takes
    both over (finding the issue A's call made, filing the other). Back in its round, A's
    completion is refused, and the lease is checked before the second effect, which A leaves
    to B: each defect is filed once. (A round within a beat of its lease skips that check.)"""
    a, b = pair
    a.record([make_outcome("<m1@x>", signature=make_signature("a" * 16))])
    a.record([make_outcome("<m2@x>", signature=make_signature("b" * 16))])
    b_tracker = LocalTracker(b)
    done_by_b: list[int] = []

    class SlowTracker(LocalTracker):
        """The first create outlasts the lease; B's outbox runs meanwhile."""

        def create(self, draft: DefectDraft) -> TrackerIssue:
            issue = super().create(draft)
            if draft.signature == "a" * 16:
                clock.advance(EFFECT_LEASE + timedelta(seconds=1))
                done_by_b.append(run_effects(b, b_tracker, clock(), 10))
            return issue

    with capture_logs() as events:
        assert run_effects(a, SlowTracker(a), START, 10) == 0
    assert done_by_b == [2]
    assert [e["doing"] for e in events if e["event"] == "outbox.lease_lost"] == [
        "complete",
        "renew",
    ]
    assert sorted(d.key or "" for d in a.defects()) == ["LOCAL-1", "LOCAL-2"]
    assert [i.key for i in b_tracker.find_all("b" * 16)] == ["LOCAL-2"]
    assert [e for e in a.effects() if e[0] == "create"] == [("create", "done", 0)] * 2


def test_a_worker_keeps_the_lease_of_the_effect_it_performs_by_heartbeat(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """While A performs an effect its heartbeat renews the lease, however long the call
    takes; once A stops beating (it died), B takes the effect over after ``EFFECT_LEASE``."""
    a, b = pair
    a.record([make_outcome("<m1@x>")])
    [effect] = a.due_effects(clock(), 10)
    with Heartbeat(a, 0.02) as beat, beat.on(effect):
        for _ in range(3):  # three minutes of a slow tracker call
            clock.advance(timedelta(seconds=59))
            time.sleep(0.2)  # a few beats
            assert b.due_effects(clock(), 10) == []
    clock.advance(EFFECT_LEASE + timedelta(seconds=1))
    [taken] = b.due_effects(clock(), 10)
    assert taken.token == effect.token + 1


# --- one lock order -----------------------------------------------------------------------


def leased_update(store: Store, clock: ManualClock) -> Effect:
    """A filed defect with two occurrences, one reported, and its pending update leased."""
    store.record([make_outcome("<m1@x>")])
    [create] = store.due_effects(clock(), 10)
    store.complete_effect(create, EffectResult(tracker_key="LOCAL-1", occurrences_reported=1))
    store.record([make_outcome("<m2@x>")])
    [update] = store.due_effects(clock(), 10)
    assert update.kind is EffectKind.UPDATE
    return update


def complete_in_background(store: Store, effect: Effect, done: list[bool]) -> threading.Thread:
    result = EffectResult(occurrences_reported=2)
    thread = threading.Thread(target=lambda: done.append(store.complete_effect(effect, result)))
    thread.start()
    return thread


def test_a_batch_and_an_effects_completion_on_one_defect_never_deadlock(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """A batch locks the defect, then merges versions into its pending update's payload,
    while a worker completes that update (after the tracker call): the completion locks the
    defect first too, so it waits for the batch instead of deadlocking with it."""
    a, b = pair
    update = leased_update(a, clock)
    done: list[bool] = []
    with capture_logs() as events:
        with b.write() as conn:  # the batch's order (``Batch._load``, then ``_effects``)
            lock_defects(conn, defects.c.id == update.defect_id)
            completer = complete_in_background(a, update, done)
            wait_for_a_lock_wait(b)
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == update.id)
                .values(payload={**update.payload, "versions": {"4.2": 2}})
            )
        completer.join(30)
    assert done == [True]
    assert [e for e in events if e["event"] == "store.write_retry"] == []
    assert a.defect(update.defect_id).occurrences_reported == 2


def test_a_completion_that_loses_a_deadlock_is_retried_by_the_store_alone(
    clock: ManualClock, postgres_url: str
) -> None:
    """A writer that takes the locks in the other order (the outbox row, then the defect)
    deadlocks with a completion; PostgreSQL aborts the completion, and the store runs only
    its transaction again: ``complete_effect`` returns once, with the effect done."""
    # both wait for locks longer than PostgreSQL takes to detect a deadlock (1 s)
    a, b = (Store(postgres_url, clock=clock) for _ in range(2))
    a.migrate()
    update = leased_update(a, clock)
    done: list[bool] = []
    with capture_logs() as events:
        with b.write() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.id == update.id).values(last_error="x"))
            completer = complete_in_background(a, update, done)
            wait_for_a_lock_wait(b)
            lock_defects(conn, defects.c.id == update.defect_id)  # PostgreSQL detects it here
        completer.join(30)
    assert done == [True]
    retries = [e["sqlstate"] for e in events if e["event"] == "store.write_retry"]
    assert retries and set(retries) == {"40P01"}  # under load the retry may meet it again
    assert a.defect(update.defect_id).occurrences_reported == 2
    assert a.effects() == [("create", "done", 0), ("update", "done", 0)]
    a.close()
    b.close()


# --- reminders ----------------------------------------------------------------------------

CANDIDATES = 20
HELPDESK_STAFF = "helpdesk@acme.example"


def unanswered_candidates(store: Store, clock: ManualClock) -> list[int]:
    """Candidates whose candidate mail went out two days ago and is still unanswered."""
    store.record(
        [
            make_outcome(f"<c{i}@x>", Action.CANDIDATE, signature=make_signature(f"{i:016x}"))
            for i in range(CANDIDATES)
        ]
    )
    ids = [d.id for d in store.defects()]
    for defect_id in ids:
        store.record_notification(
            defect_id, "candidate", HELPDESK_STAFF, f"<cand{defect_id}@x>", clock() - DAY * 2
        )
    return ids


def test_replicas_asking_for_reminders_at_once_get_disjoint_sets(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """Both replicas ask at the same moment: every due reminder is claimed by exactly one."""
    ids = unanswered_candidates(pair[0], clock)
    start = threading.Barrier(2)
    claimed: list[list[Reminder]] = [[], []]

    def claim(index: int) -> None:
        start.wait()
        claimed[index] = pair[index].claim_reminders(clock() - DAY)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    first, second = ({r.defect_id for r in c} for c in claimed)
    assert first.isdisjoint(second)
    assert sorted(first | second) == ids


def test_a_claimed_reminder_comes_due_again_only_after_its_lease(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """A replica claims the reminders and dies before sending one: the other gets them once
    the lease has run out; one that was sent is never due again."""
    a, b = pair
    ids = unanswered_candidates(a, clock)
    assert [r.defect_id for r in a.claim_reminders(clock() - DAY)] == ids
    assert b.claim_reminders(clock() - DAY) == []
    a.record_notification(ids[0], "reminder", HELPDESK_STAFF, "<r@x>", clock())
    clock.advance(EFFECT_LEASE + timedelta(seconds=1))
    assert [r.defect_id for r in b.claim_reminders(clock() - DAY)] == ids[1:]


# --- intake leadership --------------------------------------------------------------------

FAILOVER = timedelta(seconds=2)


def lead_within(leadership: Leadership, seconds: float) -> int | None:
    """Ask for the lead until it is granted or ``seconds`` have passed."""
    return wait_until(leadership.hold, seconds, step=0.05)


def test_one_replica_leads_the_intake_and_a_standby_takes_over_when_it_stops(
    pair: tuple[Store, Store],
) -> None:
    """The first replica to ask leads, the other stands by; an orderly stop hands the lead
    over under the next fencing token."""
    a, b = (store.leadership(name, FAILOVER) for store, name in zip(pair, "ab", strict=True))
    assert (a.hold(), b.hold()) == (1, None)
    assert a.hold() == 1  # kept
    a.release()
    assert lead_within(b, 2) == 2
    status = pair[0].status(START)
    assert status["intake"]["leader"] == "b"
    assert [(r["holder"], r["leads"]) for r in status["replicas"]] == [("b", True), ("a", False)]
    b.release()


def test_a_frozen_leader_is_replaced_within_the_failover_and_records_nothing_after(
    pair: tuple[Store, Store],
) -> None:
    """The leader stops making progress (frozen): the server ends its session after the
    failover time, the standby leads, and a batch the old leader then records under its
    old token is refused with nothing written."""
    first, second = pair
    a, b = first.leadership("a", FAILOVER), second.leadership("b", FAILOVER)
    old = a.hold()
    assert old == 1 and b.hold() is None
    frozen_at = time.monotonic()
    new = lead_within(b, 10)
    took = time.monotonic() - frozen_at
    assert new == 2
    assert FAILOVER.total_seconds() - 0.5 < took < FAILOVER.total_seconds() * 1.5
    with pytest.raises(LeadershipLost):
        first.record([make_outcome("<late@x>")], lead=old)
    assert first.defects() == []
    assert second.record([make_outcome("<m1@x>")], lead=new) == 1
    with capture_logs() as events:
        time.sleep(FAILOVER.total_seconds() / 3 + 0.1)
        assert a.hold() is None  # it wakes up: its session is gone, it stands by
    assert [e["event"] for e in events if e["log_level"] == "warning"] == ["intake.lost"]
    b.release()


def test_a_crashed_leaders_lead_is_taken_over_at_the_next_attempt(
    pair: tuple[Store, Store], postgres_url: str
) -> None:
    """A leader whose process died loses its session and the lock with it: the standby
    leads at its next attempt, not after the failover time."""
    a, b = pair[0].leadership("a", timedelta(seconds=60)), pair[1].leadership("b", FAILOVER)
    assert a.hold() == 1 and b.hold() is None
    with pair[1].engine.connect() as conn:  # as the kernel does for a killed process
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND objid = :lock AND granted"
            ),
            {"lock": INTAKE_LOCK & 0xFFFFFFFF},
        )
    assert lead_within(b, 2 * b.poll + 1) == 2
    b.release()
