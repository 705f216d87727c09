"""The state store on real SQLite files: atomic batches, idempotence, counts, outbox."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import (
    SIG_A,
    SIG_B,
    decide,
    make_outcome,
    make_report,
    make_signature,
    pending,
    recorded,
    resolve,
)
from triagebot.errors import StoreError
from triagebot.mail.report import Kind, Report
from triagebot.pipeline import Outcome
from triagebot.rules import NO_FIELDS, Action, Decision, Fields
from triagebot.store import (
    DefectState,
    EffectKind,
    EffectResult,
    HumanDecision,
    ReplyRecord,
    Store,
    defect_summaries,
    messages,
    occurrences,
    signatures_of,
)
from triagebot.trackers.base import TrackerIssue


class TestSchema:
    def test_durable_commits_and_migrate_is_repeatable(self, store: Store) -> None:
        """SQLite runs in WAL mode with FULL sync; PostgreSQL sessions commit synchronously
        although the test server's default is off; a second migrate changes nothing."""
        store.migrate()
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM meta")).scalar() == 1
        with store.engine.connect() as conn:
            if store.is_sqlite:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            else:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


class TestRecord:
    def test_counts_one_defect_per_signature(self, store: Store, t0: datetime) -> None:
        """Three mails of one bug and one of another give two defects with the right counts."""
        batch = [make_outcome("<1@x>"), make_outcome("<4@x>", signature=make_signature(SIG_B))]
        assert store.record(batch, now=t0) == 2
        assert store.record([make_outcome("<2@x>")], now=t0 + timedelta(minutes=5)) == 1
        assert store.record([make_outcome("<3@x>")], now=t0 + timedelta(minutes=1)) == 1
        rows = {d.signatures[0]: d for d in store.defects()}
        assert rows[SIG_A].occurrences == 3
        assert rows[SIG_A].first_seen == t0
        assert rows[SIG_A].last_seen == t0 + timedelta(minutes=5)
        assert rows[SIG_B].occurrences == 1
        assert rows[SIG_A].state == "filed"
        assert recorded(store, ["<1@x>", "<9@x>"]) == {"<1@x>"}
        out = rows[SIG_A].as_json()
        assert set(out) >= {"key", "state", "signatures", "title", "occurrences", "first_seen"}
        assert out["key"] is None
        assert out["signatures"] == [SIG_A]

    def test_re_recording_changes_nothing(self, store: Store) -> None:
        """A batch replayed after a crash is skipped message by message."""
        batch = [make_outcome(f"<{i}@x>") for i in range(5)]
        store.record(batch)
        before = (store.defects(), store.effects())
        assert store.record(batch) == 0
        assert store.record([*batch, make_outcome("<new@x>")]) == 1
        assert before[1] == store.effects()
        assert store.defects()[0].occurrences == before[0][0].occurrences + 1

    def test_duplicate_within_a_batch_counts_once(self, store: Store) -> None:
        """The same Message-ID twice in one batch is one occurrence."""
        assert store.record([make_outcome("<d@x>"), make_outcome("<d@x>")]) == 1
        assert store.defects()[0].occurrences == 1

    def test_batch_is_atomic(self, store: Store) -> None:
        """A failure on the last item leaves nothing of the batch behind."""
        good = [make_outcome(f"<{i}@x>", signature=make_signature(f"{i:016x}")) for i in range(3)]
        broken = make_outcome("<bad@x>", signature=make_signature("f" * 16, untitled=True))
        with pytest.raises(StoreError):
            store.record([*good, broken])
        assert store.defects() == []
        assert recorded(store, [o.report.message_id for o in good]) == set()
        assert store.effects() == []
        assert store.record(good) == 3  # and the store is still usable

    def test_messages_without_signature_are_recorded(self, store: Store) -> None:
        """Replies and unparseable mails are remembered (so never re-processed) without a defect."""
        reply = Outcome(Report(message_id="<r@x>", kind=Kind.REPLY))
        assert store.record([reply]) == 1
        assert recorded(store, ["<r@x>"]) == {"<r@x>"}
        assert store.defects() == []

    def test_defect_keeps_first_report_and_rule_fields(self, store: Store) -> None:
        """The defect row holds what the tracker draft needs."""
        store.record([make_outcome("<1@x>", version="4.9"), make_outcome("<2@x>", version="4.10")])
        defect = store.defect(store.defects()[0].id)
        assert defect.metadata["application"] == "Acme.Cases.Client"
        assert defect.fields == Fields(priority="High", labels=("t",))
        assert defect.rule == "test-file"
        assert defect.last_version == "4.10"  # numeric, not string order
        assert defect.exception_types == ("System.NullReferenceException",)
        assert "CaseViewModel.Load" in defect.sample_trace

    def test_count_window(self, store: Store, t0: datetime) -> None:
        """``count`` sees only occurrences at or after ``since``, across batches."""
        for i in range(10):
            store.record([make_outcome(f"<{i}@x>")], now=t0 + timedelta(minutes=i))
        assert store.count(SIG_A, t0) == 10
        assert store.count(SIG_A, t0 + timedelta(minutes=7)) == 3
        assert store.count(SIG_B, t0) == 0


class TestProcessingTime:
    def test_occurrences_count_when_processed_not_when_dated(
        self, store: Store, t0: datetime
    ) -> None:
        """A future ``Date:`` does not pin ``last_seen``; a backlog dated last year counts in
        today's windows; the report's own date stays on the message row."""
        future, old = t0 + timedelta(days=3650), t0 - timedelta(days=365)
        store.record([make_outcome("<future@x>", at=future)], now=t0)
        store.record([make_outcome("<backlog@x>", at=old)], now=t0 + timedelta(minutes=1))
        [defect] = store.defects()
        assert (defect.first_seen, defect.last_seen) == (t0, t0 + timedelta(minutes=1))
        assert store.count(SIG_A, t0 + timedelta(seconds=30)) == 1
        with store.read() as conn:
            query = sa.select(messages.c.message_id, messages.c.received_at)
            received = {r.message_id: r.received_at for r in conn.execute(query)}
        assert received == {"<future@x>": future, "<backlog@x>": old}


class TestWidths:
    def test_over_long_header_values_are_cut_not_fatal(self, store: Store) -> None:
        """A 65-character version (and other over-long metadata) is stored cut to its column,
        on PostgreSQL too, and the rest of the batch is recorded with it."""
        long_id = "<" + "m" * 1200 + "@x>"
        outcome = make_outcome(long_id, version="9." + "1" * 63, environment="e" * 65)
        batch = [outcome, make_outcome("<ok@x>")]
        assert store.record(batch) == 2
        with store.read() as conn:
            row = conn.execute(sa.select(occurrences).order_by(occurrences.c.id)).first()
        assert row is not None
        assert (len(row.version), len(row.environment), len(row.message_id)) == (64, 64, 998)
        assert store.defect(store.defects()[0].id).last_version == "9." + "1" * 62
        assert store.record(batch) == 0  # the cut Message-ID is found again
        assert recorded(store, [long_id]) == {long_id[:998]}


class TestErrorMapping:
    def test_reads_and_counts_map_database_errors(self, store: Store, t0: datetime) -> None:
        """A failing read or count raises ``StoreError``, as a failing write does."""
        store.record([make_outcome("<1@x>")], now=t0)
        assert store.count(SIG_A, t0) == 1  # the thread's reader connection is open now
        with store.write() as conn:
            conn.execute(sa.text("DROP TABLE replies"))
            conn.execute(sa.text("DROP TABLE notifications"))
            conn.execute(sa.text("DROP TABLE outbox"))
            conn.execute(sa.text("DROP TABLE occurrences"))
        with pytest.raises(StoreError, match="store read failed"):
            store.effects()
        with pytest.raises(StoreError, match="store read failed"):
            store.count(SIG_A, t0)
        with pytest.raises(StoreError, match="store read failed"):
            store.counts([SIG_A], t0)
        assert store.defects()[0].occurrences == 1  # the connection is still usable


class TestStates:
    def test_states_follow_decisions(self, store: Store) -> None:
        """file → filed + create; candidate → candidate + notify; ignore → ignored, no effect."""
        store.record(
            [
                make_outcome("<1@x>", Action.FILE, make_signature("1" * 16)),
                make_outcome("<2@x>", Action.CANDIDATE, make_signature("2" * 16)),
                make_outcome("<3@x>", Action.IGNORE, make_signature("3" * 16)),
            ]
        )
        states = {d.signatures[0][0]: d.state for d in store.defects()}
        assert states == {"1": "filed", "2": "candidate", "3": "ignored"}
        kinds = sorted(k for k, _, _ in store.effects())
        assert kinds == ["create", "notify"]

    def test_rules_promote_but_never_demote(self, store: Store) -> None:
        """ignored → filed when a file rule matches later; filed stays filed on a later ignore."""
        store.record([make_outcome("<1@x>", Action.IGNORE)])
        store.record([make_outcome("<2@x>", Action.FILE)])
        store.record([make_outcome("<3@x>", Action.IGNORE)])
        assert store.defects()[0].state == "filed"
        assert pending(store, EffectKind.CREATE) == 1

    def test_human_rejection_sticks(self, store: Store) -> None:
        """A rejected candidate is not filed by a later file decision."""
        store.record([make_outcome("<1@x>", Action.CANDIDATE)])
        defect_id = store.defects()[0].id
        decide(store, defect_id, DefectState.REJECTED)
        store.record([make_outcome("<2@x>", Action.FILE)])
        assert store.defects()[0].state == "rejected"
        assert pending(store, EffectKind.CREATE) == 0

    @pytest.mark.parametrize(
        ("action", "state", "effect"),
        [(Action.FILE, "filed", "create"), (Action.CANDIDATE, "candidate", "notify")],
    )
    def test_override_rejection_lifts_the_mute(
        self, store: Store, action: Action, state: str, effect: str
    ) -> None:
        """A rule with ``override_rejection`` moves a rejected defect to its state, with the
        usual effect; the same rule without the flag leaves it rejected."""
        store.record([make_outcome("<1@x>", Action.CANDIDATE)])
        [notify] = store.due_effects(store.clock() + timedelta(days=1), 10)
        store.complete_effect(notify)
        defect_id = store.defects()[0].id
        decide(store, defect_id, DefectState.REJECTED)
        plain = Decision(action, "r", NO_FIELDS)
        store.record([Outcome(make_report("<2@x>"), make_signature(), plain)])
        assert (
            store.defects()[0].state,
            store.due_effects(store.clock() + timedelta(days=1), 10),
        ) == (
            "rejected",
            [],
        )
        lifting = Decision(action, "r", NO_FIELDS, override_rejection=True)
        store.record([Outcome(make_report(f"<{i}@x>"), make_signature(), lifting) for i in (3, 4)])
        assert store.defects()[0].state == state
        assert [e.kind for e in store.due_effects(store.clock() + timedelta(days=1), 10)] == [
            effect
        ]
        assert store.defects()[0].occurrences == 4

    def test_override_rejection_never_touches_duplicates(self, store: Store) -> None:
        """Only a rejection is lifted: a human's duplicate decision stays."""
        store.record([make_outcome("<1@x>", Action.CANDIDATE)])
        defect_id = store.defects()[0].id
        decide(store, defect_id, DefectState.DUPLICATE)
        lifting = Decision(Action.FILE, "r", NO_FIELDS, override_rejection=True)
        store.record([Outcome(make_report("<2@x>"), make_signature(), lifting)])
        assert store.defects()[0].state == "duplicate"

    def test_confirming_a_candidate_queues_one_create(self, store: Store) -> None:
        """Confirming (twice) enqueues the create once, with who confirmed it."""
        store.record([make_outcome("<1@x>", Action.CANDIDATE)])
        defect_id = store.defects()[0].id
        decide(store, defect_id, DefectState.FILED, by="alice@example.com")
        decide(store, defect_id, DefectState.FILED, by="alice@example.com")
        assert pending(store, EffectKind.CREATE) == 1
        assert store.defect(defect_id).confirmed_by == "alice@example.com"


class TestOutboxRows:
    def file_with_key(self, store: Store) -> int:
        store.record([make_outcome("<0@x>")])
        [create] = store.due_effects(store.clock() + timedelta(days=1), 10)
        result = EffectResult(tracker_key="LOCAL-1", occurrences_reported=1)
        store.complete_effect(create, result)
        return create.defect_id

    def test_updates_coalesce(self, store: Store) -> None:
        """N mails over several batches for a filed defect → one pending update."""
        defect_id = self.file_with_key(store)
        for batch in range(4):
            store.record(
                [
                    make_outcome(f"<{batch}-{i}@x>", version=f"4.{batch}", environment=f"e{i % 2}")
                    for i in range(25)
                ]
            )
        [update] = store.due_effects(store.clock() + timedelta(days=1), 10)
        assert update.kind is EffectKind.UPDATE
        assert update.defect_id == defect_id
        assert update.payload == {
            "versions": {"4.0": 25, "4.1": 25, "4.2": 25, "4.3": 25},
            "environments": {"e0": 52, "e1": 48},  # 13 and 12 of each batch of 25
        }
        assert store.defect(defect_id).occurrences == 101

    def test_completion_requeues_occurrences_that_arrived_meanwhile(self, store: Store) -> None:
        """Occurrences recorded while an update was in flight are not lost."""
        defect_id = self.file_with_key(store)
        store.record([make_outcome("<1@x>")])
        [update] = store.due_effects(store.clock() + timedelta(days=1), 10)
        store.record([make_outcome("<2@x>")])  # arrives while the update is being sent
        store.complete_effect(update, EffectResult(occurrences_reported=2))
        [again] = store.due_effects(store.clock() + timedelta(seconds=1), 10)
        assert again.kind is EffectKind.UPDATE
        assert store.defect(defect_id).occurrences == 3

    def test_fail_effect_reschedules_or_gives_up(self, store: Store) -> None:
        """A retry waits until ``retry_at``; a final failure is never due again."""
        store.record([make_outcome("<1@x>")])
        [create] = store.due_effects(store.clock() + timedelta(days=1), 10)
        later = store.clock() + timedelta(minutes=5)
        store.fail_effect(create, "503", later)
        assert store.due_effects(later - timedelta(seconds=1), 10) == []
        [retry] = store.due_effects(later, 10)
        assert retry.attempts == 1
        store.fail_effect(retry, "400 bad field", None)
        assert store.due_effects(later + timedelta(days=1), 10) == []
        assert store.effects() == [("create", "failed", 2)]

    def test_regression_reopens_once_on_newer_version(self, store: Store) -> None:
        """Resolved after 4.2: a 4.2 recurrence is old clients, a 4.10 one reopens (once)."""
        defect_id = self.file_with_key(store)  # seen in 4.2.0
        resolve(store, "LOCAL-1")
        store.record([make_outcome("<old@x>", version="4.2")])
        assert pending(store, EffectKind.REOPEN) == 0
        store.record(
            [
                make_outcome("<r1@x>", version="4.10"),
                make_outcome("<r2@x>", version="4.11"),
            ]
        )
        store.record([make_outcome("<r3@x>", version="4.12")])
        reopen = [
            e
            for e in store.due_effects(store.clock() + timedelta(days=1), 10)
            if e.kind == "reopen"
        ]
        assert len(reopen) == 1
        assert reopen[0].payload == {"version": "4.10"}
        assert store.defect(defect_id).resolved is False

    def test_upgraded_signature_joins_the_defect_of_the_old_one(self, store: Store) -> None:
        """A v2 signature whose report's v1 signature is known joins that defect in the same
        batch (one ``link`` effect); one whose v1 signature is unknown files a new defect."""
        defect_id = self.file_with_key(store)
        v1, v2 = make_signature(), make_signature("c" * 16, version="v2")
        fresh = make_signature("d" * 16, version="v2")
        store.record(
            [
                make_outcome("<v2-1@x>", signature=v2, previous=(v1,)),
                make_outcome("<v2-2@x>", signature=v2, previous=(v1,)),
                make_outcome("<new@x>", signature=fresh, previous=(make_signature("e" * 16),)),
            ]
        )
        store.record([make_outcome("<v2-3@x>", signature=v2, previous=(v1,))])
        linked, new = store.defects()
        assert (linked.id, linked.signatures, linked.occurrences) == (
            defect_id,
            [SIG_A, "c" * 16],
            4,
        )
        assert new.signatures == ["d" * 16]
        [link] = [
            e for e in store.due_effects(store.clock() + timedelta(days=1), 10) if e.kind == "link"
        ]
        assert (link.defect_id, link.payload) == (defect_id, {"signature": "c" * 16})

    def test_merged_while_in_flight_reaches_the_follow_up(self, store: Store) -> None:
        """Versions merged into an update the worker is performing go out with the next one."""
        self.file_with_key(store)
        store.record([make_outcome("<1@x>", version="4.1", environment="prod")])
        [update] = store.due_effects(store.clock() + timedelta(days=1), 10)
        assert update.payload == {"versions": {"4.1": 1}, "environments": {"prod": 1}}
        store.record([make_outcome("<2@x>", version="4.5", environment="staging")])
        store.complete_effect(update, EffectResult(occurrences_reported=2))
        [again] = store.due_effects(store.clock() + timedelta(seconds=1), 10)
        assert again.kind is EffectKind.UPDATE
        assert set(again.payload["versions"]) >= {"4.5"}
        assert set(again.payload["environments"]) >= {"staging"}


class TestStatusSync:
    def keyed(self, store: Store, n: int) -> list[int]:
        """``n`` filed defects whose creates completed as ``OPS-1`` ... (seen in 4.2.0)."""
        sigs = [make_signature(f"{i:016x}") for i in range(n)]
        store.record([make_outcome(f"<{i}@x>", signature=sig) for i, sig in enumerate(sigs)])
        ids = []
        for i, effect in enumerate(store.due_effects(store.clock() + timedelta(days=1), n), 1):
            store.complete_effect(
                effect, EffectResult(tracker_key=f"OPS-{i}", tracker_status="Open")
            )
            ids.append(effect.defect_id)
        return ids

    def test_tracked_keys_are_filed_and_duplicate_defects(self, store: Store, t0: datetime) -> None:
        """Candidates, rejected and keyless defects are not asked about; shared keys once."""
        _first, second, third = self.keyed(store, 3)
        decide(store, second, DefectState.REJECTED)
        reply = ReplyRecord("<dup@x>", third, "alice@example.com", "duplicate", {}, t0, "<t@x>")
        duplicate = HumanDecision(
            DefectState.DUPLICATE, frozenset({DefectState.FILED}), tracker_key="OPS-1"
        )
        assert store.apply_reply(reply, duplicate)
        store.record([make_outcome("<c@x>", Action.CANDIDATE, make_signature("c" * 16))])
        assert store.tracked_keys() == ["OPS-1"]

    def test_resolution_is_recorded_with_the_version_it_was_fixed_after(self, store: Store) -> None:
        """A resolved issue arms the regression check; unchanged statuses write nothing."""
        first, second = self.keyed(store, 2)
        resolved = {
            "OPS-1": TrackerIssue("OPS-1", "Resolved", True),
            "OPS-2": TrackerIssue("OPS-2", "Open", False),
            "OPS-404": TrackerIssue("OPS-404", "Closed", True),
        }
        assert store.record_statuses(resolved) == 1
        assert store.record_statuses(resolved) == 0
        assert (store.defect(first).resolved, store.defect(first).tracker_status) == (
            True,
            "Resolved",
        )
        assert store.defect(second).resolved is False
        store.record(
            [make_outcome("<same@x>", version="4.2.0", signature=make_signature("0" * 16))]
        )
        assert pending(store, EffectKind.REOPEN) == 0
        store.record([make_outcome("<new@x>", version="4.3", signature=make_signature("0" * 16))])
        assert pending(store, EffectKind.REOPEN) == 1

    def test_pending_reopen_is_not_undone_by_a_stale_status(self, store: Store) -> None:
        """Until the reopen reached the tracker, its "Resolved" must not re-arm the check."""
        [defect_id] = self.keyed(store, 1)
        resolved = {"OPS-1": TrackerIssue("OPS-1", "Resolved", True)}
        store.record_statuses(resolved)
        store.record([make_outcome("<r@x>", version="4.3", signature=make_signature("0" * 16))])
        assert store.defect(defect_id).resolved is False
        assert store.record_statuses(resolved) == 0
        assert store.defect(defect_id).resolved is False


class TestSummaries:
    def test_summaries_and_signatures_by_id(self, store: Store) -> None:
        """The public read helpers give what ``defects()`` gives, for all or some ids."""
        store.record(
            [make_outcome(f"<{i}@x>", signature=make_signature(f"{i:016x}")) for i in range(3)]
        )
        v2 = make_signature("c" * 16, version="v2")
        store.record([make_outcome("<v2@x>", signature=v2, previous=(make_signature("0" * 16),))])
        everything = store.defects()
        with store.read() as conn:
            assert defect_summaries(conn) == everything
            assert defect_summaries(conn, [everything[2].id, everything[0].id]) == [
                everything[0],
                everything[2],
            ]
            assert signatures_of(conn, [everything[0].id]) == {
                everything[0].id: ["0" * 16, "c" * 16]
            }
            assert defect_summaries(conn, []) == []


def test_record_throughput(store: Store) -> None:
    """Batches of 500 over 50 signatures record well above the live target (2,500 msg/s)."""
    sigs = [make_signature(f"{i:016x}") for i in range(50)]
    n = 5000
    outcomes = [make_outcome(f"<{i}@bench>", signature=sigs[i % 50]) for i in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 500):
        store.record(outcomes[i : i + 500])
    rate = n / (time.perf_counter() - start)
    print(f"Store.record: {rate:,.0f} msg/s")
    assert rate > 2500
    assert sum(d.occurrences for d in store.defects()) == n
