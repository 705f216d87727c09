"""The local tracker and the outbox worker together, on a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clocks import ManualClock
from tests.factories import SIG_A, decide, make_outcome, make_signature
from triagebot.backoff import BACKOFF_CAP, backoff
from triagebot.errors import TrackerError, TrackerUnavailable
from triagebot.outbox import run_effects
from triagebot.rules import Action
from triagebot.store import DefectState, Store
from triagebot.trackers.base import (
    CommentMark,
    DefectDraft,
    OccurrenceUpdate,
    TrackerIssue,
    signature_label,
)
from triagebot.trackers.local import LocalTracker, local_issues


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


@pytest.fixture
def tracker(store: Store) -> LocalTracker:
    return LocalTracker(store)


def comments(tracker: LocalTracker, key: str) -> int:
    with tracker.store.read() as conn:
        return int(
            conn.execute(
                sa.select(local_issues.c.comments).where(local_issues.c.id == int(key[6:]))
            ).scalar_one()
        )


class Flaky(LocalTracker):
    """The real local tracker behind a switchable outage (what a Jira 503 looks like)."""

    down: type[Exception] | None = None

    def find_all(self, signature: str) -> list[TrackerIssue]:
        if self.down is not None:
            raise self.down("tracker is down")
        return super().find_all(signature)


def draft(signature: str = SIG_A) -> DefectDraft:
    return DefectDraft(
        signature=signature,
        title="NullReferenceException in CaseViewModel.Load",
        language="dotnet",
        exception_chain=("System.NullReferenceException",),
        message="Object reference not set",
        top_frames=("Acme.Cases.CaseViewModel.Load",),
        trace_text="System.NullReferenceException: ...",
        labels=("triagebot",),
    )


class TestLocalTracker:
    def test_create_find_get_with_stable_keys(self, tracker: LocalTracker) -> None:
        """Keys count up, ``find`` goes by the signature label, closed issues are found too."""
        first = tracker.create(draft("1" * 16))
        second = tracker.create(draft("2" * 16))
        assert (first.key, second.key) == ("LOCAL-1", "LOCAL-2")
        assert tracker.find("2" * 16) == second
        assert tracker.find("3" * 16) is None
        tracker.resolve(first.key)
        assert tracker.find("1" * 16) == TrackerIssue("LOCAL-1", "Resolved", True)
        assert tracker.labels(first.key) == [signature_label("1" * 16), "triagebot"]

    def test_reopen_link_and_update(self, tracker: LocalTracker, t0: datetime) -> None:
        """Reopen clears resolved; linking adds a label once; updates set the total."""
        key = tracker.create(draft()).key
        tracker.resolve(key)
        assert tracker.reopen(key, "recurred in 4.10") == TrackerIssue(key, "Reopened", False)
        tracker.link_signature(key, "c" * 16)
        tracker.link_signature(key, "c" * 16)
        assert tracker.find("c" * 16) == tracker.get(key)
        tracker.update_occurrences(key, OccurrenceUpdate(total=7, new=6, last_seen=t0))
        assert tracker.get(key).status == "Reopened"

    def test_a_repeated_effect_comments_once(self, tracker: LocalTracker, t0: datetime) -> None:
        """A worker killed after the comment repeats the effect: its mark is there, so the
        comment count does not grow; another effect's comment counts."""
        key = tracker.create(draft()).key
        update = OccurrenceUpdate(total=7, new=6, last_seen=t0)
        assert tracker.update_occurrences(key, update, CommentMark(5)) is True
        assert tracker.update_occurrences(key, update, CommentMark(5, retry=True)) is False
        tracker.reopen(key, "recurred", CommentMark(5))
        assert comments(tracker, key) == 1
        assert tracker.update_occurrences(key, update, CommentMark(6)) is True
        assert comments(tracker, key) == 2

    def test_duplicates_closed_once(self, tracker: LocalTracker) -> None:
        """A duplicate is resolved with one comment and a label naming the issue kept."""
        kept, other = tracker.create(draft()).key, tracker.create(draft()).key
        assert [i.key for i in tracker.find_all(SIG_A)] == [kept, other]
        tracker.close_duplicate(other, kept)
        tracker.close_duplicate(other, kept)
        assert tracker.get(other) == TrackerIssue(other, "Duplicate", True)
        assert f"duplicate-of-{kept}" in tracker.labels(other)
        assert comments(tracker, other) == 1

    def test_statuses_in_one_call(self, tracker: LocalTracker) -> None:
        """Many keys at once; unknown and foreign keys are left out."""
        keys = [tracker.create(draft(f"{i:016x}")).key for i in range(3)]
        tracker.resolve(keys[1])
        found = tracker.statuses([*keys, "LOCAL-99", "OPS-1", "LOCAL-x"])
        assert found == {
            keys[0]: TrackerIssue(keys[0], "Open", False),
            keys[1]: TrackerIssue(keys[1], "Resolved", True),
            keys[2]: TrackerIssue(keys[2], "Open", False),
        }

    def test_unknown_key_is_a_tracker_error(self, tracker: LocalTracker) -> None:
        """A key that does not exist (or is not local) raises, never passes silently."""
        with pytest.raises(TrackerError, match="LOCAL-9"):
            tracker.get("LOCAL-9")
        with pytest.raises(TrackerError, match="not a local tracker key"):
            tracker.get("JIRA-1")


class TestOutboxWorker:
    def test_two_issues_for_one_signature_are_reconciled(
        self, store: Store, tracker: LocalTracker, t0: datetime
    ) -> None:
        """Filed twice: the create keeps the oldest, closes the other as its duplicate, and
        the next update carries the whole total to the one kept."""
        kept, other = tracker.create(draft()).key, tracker.create(draft()).key
        store.record([make_outcome(f"<{i}@x>") for i in range(3)])
        assert run_effects(store, tracker, t0) == 1
        [defect] = store.defects()
        assert defect.key == kept
        assert tracker.get(other).status == "Duplicate"
        assert run_effects(store, tracker, t0) == 1  # the update the create queued
        with store.read() as conn:
            row = conn.execute(
                sa.select(local_issues.c.occurrences).where(local_issues.c.id == 1)
            ).one()
        assert row.occurrences == 3

    def test_file_creates_once_and_updates_coalesce(
        self, store: Store, tracker: LocalTracker, later: datetime
    ) -> None:
        """N mails of one bug → one create and then one update carrying the count."""
        store.record([make_outcome("<0@x>")])
        assert run_effects(store, tracker, later) == 1
        [defect] = store.defects()
        assert defect.key == "LOCAL-1"
        for batch in range(5):
            store.record([make_outcome(f"<{batch}-{i}@x>") for i in range(20)])
        assert run_effects(store, tracker, later) == 1  # ONE update for 100 mails
        full = store.defect(defect.id)
        assert full.occurrences_reported == full.occurrences == 101
        assert run_effects(store, tracker, later) == 0

    def test_lost_create_response_never_files_twice(
        self, store: Store, tracker: LocalTracker, later: datetime
    ) -> None:
        """The create happened on the tracker but its answer was lost: ``find`` recovers it."""
        store.record([make_outcome("<0@x>"), make_outcome("<1@x>")])
        tracker.create(draft())  # the earlier attempt that reached the tracker
        assert run_effects(store, tracker, later) == 1
        assert store.defects()[0].key == "LOCAL-1"
        assert tracker.find(SIG_A) == TrackerIssue("LOCAL-1", "Open", False)
        with pytest.raises(TrackerError):
            tracker.get("LOCAL-2")
        # what the found issue shows is unknown, so the total is sent right after
        assert run_effects(store, tracker, later) == 1
        assert store.defect(store.defects()[0].id).occurrences_reported == 2

    def test_outage_backs_off_then_recovers(self, store: Store, t0: datetime) -> None:
        """A retryable error reschedules with growing delays; mail keeps being recorded."""
        flaky = Flaky(store)
        flaky.down = TrackerUnavailable
        store.record([make_outcome("<0@x>")])
        now = t0
        assert run_effects(store, flaky, now) == 0
        assert run_effects(store, flaky, now + backoff(0) - timedelta(seconds=1)) == 0
        assert run_effects(store, flaky, now + backoff(0)) == 0  # second failure
        assert store.effects() == [("create", "pending", 2)]
        store.record([make_outcome("<1@x>")])
        flaky.down = None
        assert run_effects(store, flaky, now + timedelta(days=1)) == 1
        assert store.defects()[0].key == "LOCAL-1"
        assert backoff(1) == 2 * backoff(0)
        assert backoff(50) == BACKOFF_CAP

    def test_non_retryable_error_fails_the_effect(self, store: Store, later: datetime) -> None:
        """A refusal is parked as ``failed`` and the worker moves on to the next effect."""
        flaky = Flaky(store)
        flaky.down = TrackerError
        store.record([make_outcome("<0@x>")])
        assert run_effects(store, flaky, later) == 0
        assert store.effects() == [("create", "failed", 1)]
        assert run_effects(store, flaky, later) == 0

    def test_regression_reopens_the_issue(
        self, store: Store, tracker: LocalTracker, later: datetime
    ) -> None:
        """A defect resolved in the tracker that recurs in a newer version is reopened."""
        store.record([make_outcome("<0@x>", version="4.9")])
        run_effects(store, tracker, later)
        [defect] = store.defects()
        assert defect.key is not None
        store.record_statuses({defect.key: tracker.resolve(defect.key)})
        store.record([make_outcome("<1@x>", version="4.10")])
        assert run_effects(store, tracker, later) == 2  # reopen + update
        assert tracker.get(defect.key) == TrackerIssue(defect.key, "Reopened", False)
        assert store.defect(defect.id).tracker_status == "Reopened"

    def test_candidates_wait_and_rejections_do_nothing(
        self, store: Store, tracker: LocalTracker, later: datetime
    ) -> None:
        """Nothing reaches the tracker for a candidate until it is confirmed."""
        store.record(
            [
                make_outcome("<0@x>", Action.CANDIDATE),
                make_outcome("<1@x>", Action.CANDIDATE, make_signature("b" * 16)),
            ]
        )
        assert run_effects(store, tracker, later) == 0
        first, second = store.defects()
        decide(store, first.id, DefectState.FILED, by="alice@example.com")
        decide(store, second.id, DefectState.FILED)
        decide(store, second.id, DefectState.REJECTED)
        assert run_effects(store, tracker, later) == 2
        assert [d.key for d in store.defects()] == ["LOCAL-1", None]
        assert tracker.find("b" * 16) is None

    def test_linked_signature_gets_its_label(
        self, store: Store, tracker: LocalTracker, later: datetime
    ) -> None:
        """After an algorithm upgrade the tracker finds the defect by the new signature too."""
        store.record([make_outcome("<0@x>")])
        run_effects(store, tracker, later)
        v2 = make_signature("c" * 16, version="v2")
        store.record([make_outcome("<1@x>", signature=v2, previous=(make_signature(SIG_A),))])
        assert run_effects(store, tracker, later) == 2  # the link and the occurrence update
        assert tracker.find("c" * 16) == tracker.find(SIG_A)
