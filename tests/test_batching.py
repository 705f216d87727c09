"""The batch paths behind live throughput: set-based store writes, occurrence counts fetched
once per batch, and the helpers they rely on. Real SQLite files, real mails, real pipeline."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bench.mailgen import bug_pool, generate
from triagebot.analysis import InProcess
from triagebot.config import config_from_dict
from triagebot.daemon import Daemon, handle_batch
from triagebot.lifecycle import LISTED, OTHERS
from triagebot.mail.maildir import MaildirSettings, MaildirSource
from triagebot.mail.source import Incoming
from triagebot.outbox import run_effects
from triagebot.pipeline import Pipeline
from triagebot.rules import load_rules
from triagebot.stack.signature import fold_recursion
from triagebot.store import IN_CHUNK, EffectKind, Store
from triagebot.trackers.local import LocalTracker

BURST_RULE = """
[[rule]]
name = "file-burst"
description = "Three of a kind within an hour are filed."
occurrences = { at_least = 3, within = "1h" }
action = "file"
"""
DAILY_RULE = """
[[rule]]
name = "file-daily"
description = "Nine a day are filed as well."
occurrences = { at_least = 9, within = "1d" }
action = "file"
"""
ONLY_GO_RULE = """
[[rule]]
name = "only-go"
description = "Go only."
language = "go"
action = "ignore"
"""


def rules_folder(tmp_path: Path, *rules: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "50-test.toml").write_text("".join(rules), encoding="utf-8")
    return folder


def pipeline_with(tmp_path: Path, *rules: str) -> Pipeline:
    folder = rules_folder(tmp_path, *rules)
    return Pipeline.from_config(config_from_dict({"rules": {"path": str(folder)}}))


def mails(count: int, bugs: int, seed: int = 7) -> list[Incoming]:
    return [
        Incoming(f"m{i:05d}", mail.raw)
        for i, mail in enumerate(generate(count, seed, pool=bug_pool()[:bugs]))
    ]


class Statements:
    """Counts the SQL statements an engine runs (``occurrences`` look-ups separately)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.all = 0
        self.counting = 0
        self.texts: set[str] = set()
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.all += 1
        self.texts.add(statement)
        if statement.lstrip().upper().startswith("SELECT") and "occurrences" in statement:
            self.counting += 1


class TestHandleBatch:
    def test_a_kept_analysis_learns_what_the_store_holds(
        self, tmp_path: Path, store: Store
    ) -> None:
        """Kept across batches, the analysis learns the recorded signatures, so the next
        batch's reports of known bugs are not signed by the older versions again."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        analysis = InProcess(pipeline)
        first = handle_batch(pipeline, store, "test", mails(20, bugs=4), analysis=analysis)
        assert first.signed and set(first.signed) <= analysis.known.values
        again = analysis.analyse([m.raw for m in mails(20, bugs=4)])
        known = [o for o in again if o.signature is not None]
        assert known and all(o.signature.value in analysis.known.values for o in known)
        assert all(o.previous == () for o in known)


class TestStoreCounts:
    def test_counts_match_count_for_every_signature_and_window(
        self, tmp_path: Path, store: Store
    ) -> None:
        """``counts`` gives, in one query, what ``count`` gives per signature."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        batch = mails(60, bugs=6)
        handle_batch(pipeline, store, "test", batch)
        outcomes = [pipeline.process(m.raw) for m in batch]
        signatures = {o.signature.value for o in outcomes if o.signature is not None}
        assert len(signatures) > 1
        dates = sorted(o.report.date for o in outcomes if o.report.date is not None)
        for since in (dates[0], dates[len(dates) // 2], dates[-1] + timedelta(seconds=1)):
            found = store.counts([*signatures, "f" * 16], since)
            expected = {s: n for s in signatures if (n := store.count(s, since))}
            assert found == expected

    def test_a_cap_reads_each_defect_up_to_it_and_decides_the_same(
        self, tmp_path: Path, store: Store
    ) -> None:
        """The batch asks for no more than a rule needs (3 for the burst rule): a bug with
        many occurrences in the window counts as the cap, and the next batch's reports of it
        are filed as they would be with the full count."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        handle_batch(pipeline, store, "test", mails(40, bugs=2))
        outcomes = [pipeline.process(m.raw) for m in mails(40, bugs=2)]
        sigs = {o.signature.value for o in outcomes if o.signature is not None}
        since = datetime(2000, 1, 1, tzinfo=UTC)
        full = store.counts(sigs, since)
        assert len(full) == 2 and all(n > 5 for n in full.values())
        assert store.counts(sigs, since, 5) == dict.fromkeys(full, 5)
        assert store.counts(sigs, since, 1000) == full
        assert pipeline.rules.windows == {timedelta(hours=1): 3}

        statements = Statements(store.engine)
        done = handle_batch(pipeline, store, "test", mails(6, bugs=2, seed=8))
        assert done.outcomes == {("error_report", "file"): 6}
        assert any("LIMIT" in text for text in statements.texts)

    def test_more_signatures_than_one_in_clause_holds(self, tmp_path: Path, store: Store) -> None:
        """Long signature lists are split below the parameter limit and still all counted."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        handle_batch(pipeline, store, "test", mails(20, bugs=2))
        outcomes = [pipeline.process(m.raw) for m in mails(20, 2)]
        known = {o.signature.value for o in outcomes if o.signature is not None}
        unknown = [f"{i:016x}" for i in range(IN_CHUNK * 2 + 7)]
        since = datetime(2000, 1, 1, tzinfo=UTC)
        found = store.counts([*unknown, *known], since)
        assert set(found) == known
        assert sum(found.values()) == 20

    def test_lists_of_any_length_share_a_few_statements(self, store: Store) -> None:
        """``IN`` lists are padded to a power of two: lists of 1 to 600 values make ten
        statements, not 600. Each is prepared and kept per connection (SQLite keeps 128, one
        of 500 values ~50 KB), so lengths that change from batch to batch kept the caches of
        a long-running service filling and churning."""
        since = datetime(2000, 1, 1, tzinfo=UTC)
        statements = Statements(store.engine)
        lengths = range(1, 601, 13)
        for length in lengths:
            assert store.counts([f"{i:016x}" for i in range(length)], since) == {}
        assert statements.all >= len(lengths)
        shapes = {text for text in statements.texts if " IN (" in text}
        assert 1 <= len(shapes) <= 10, len(shapes)


class TestBatch:
    def test_occurrence_counts_cost_one_query_per_batch(self, tmp_path: Path, store: Store) -> None:
        """However many reports reach the ``occurrences`` rule, the store is asked once."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        statements = Statements(store.engine)
        handle_batch(pipeline, store, "test", mails(80, bugs=8))
        assert statements.counting == 1

    def test_reports_of_the_same_batch_count_towards_the_rule(
        self, tmp_path: Path, store: Store
    ) -> None:
        """The third report of a bug in one batch is filed, the two before it are not."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        batch = mails(12, bugs=1)
        handle_batch(pipeline, store, "test", batch)
        with store.read() as conn:
            actions = [
                row.action
                for row in conn.execute(sa.text("SELECT action FROM messages ORDER BY source_ref"))
            ]
        assert actions == ["candidate", "candidate"] + ["file"] * 10

    def test_record_statements_do_not_grow_with_known_defects(
        self, tmp_path: Path, store: Store
    ) -> None:
        """A batch of known bugs costs the same statements whether it touches 3 or 30."""
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        process = pipeline.process
        store.record([process(m.raw) for m in mails(300, bugs=30, seed=1)])
        used = []
        for bugs, seed in ((3, 2), (30, 3)):
            outcomes = [process(m.raw) for m in mails(120, bugs=bugs, seed=seed)]
            touched = {o.signature.value for o in outcomes if o.signature is not None}
            statements = Statements(store.engine)
            store.record(outcomes)
            used.append((len(touched), statements.all))
        assert used[0][0] < 10 < used[1][0]
        assert used[0][1] == used[1][1]

    def test_later_batches_coalesce_into_one_pending_update(self, tmp_path: Path) -> None:
        """Once filed, each defect has one pending ``update`` whose payload gathers the
        versions of every later batch; no batch queues a second one."""
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", update_delay=timedelta(hours=1))
        store.migrate()
        tracker = LocalTracker(store)
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        batches = [mails(60, bugs=3, seed=seed) for seed in (1, 2, 3)]
        handle_batch(pipeline, store, "test", batches[0])
        run_effects(store, tracker, store.clock())
        filed = {d.id for d in store.defects() if d.key is not None}
        assert filed
        for batch in batches[1:]:
            handle_batch(pipeline, store, "test", batch)
        later = store.clock() + timedelta(hours=2)
        updates = store.due_effects(later, 100, [EffectKind.UPDATE])
        assert sorted(e.defect_id for e in updates) == sorted(filed)
        versions = {
            o.report.metadata["version"]
            for batch in batches[1:]
            for o in map(pipeline.process, (m.raw for m in batch))
            if o.signature is not None and "version" in o.report.metadata
        }
        listed = set().union(*(e.payload["versions"] for e in updates)) - {OTHERS}
        assert listed and listed <= versions  # the most frequent ones, by name
        assert all(len(e.payload["versions"]) <= LISTED + 1 for e in updates)
        store.close()

    def test_defects_by_id_reads_what_defect_reads(self, tmp_path: Path, store: Store) -> None:
        pipeline = pipeline_with(tmp_path, BURST_RULE)
        handle_batch(pipeline, store, "test", mails(30, bugs=5))
        ids = [d.id for d in store.defects()]
        found = store.defects_by_id([*ids, 9999])
        assert sorted(found) == ids
        assert all(found[i] == store.defect(i) for i in ids)


class TestRules:
    def test_windows_are_the_occurrence_look_backs(self, tmp_path: Path) -> None:
        rules = load_rules(rules_folder(tmp_path, BURST_RULE, ONLY_GO_RULE, DAILY_RULE))
        assert rules.windows == {timedelta(hours=1): 3, timedelta(days=1): 9}

    def test_explained_misses_carry_what_the_report_had(self, tmp_path: Path) -> None:
        """Plain decisions share the precomputed misses; ``explain`` adds the actual values."""
        pipeline = pipeline_with(tmp_path, ONLY_GO_RULE)
        outcome = pipeline.analyse(mails(1, bugs=1)[0].raw)
        assert outcome.signature is not None
        plain = pipeline.rules.evaluate(outcome.report, outcome.signature)
        explained = pipeline.rules.evaluate(outcome.report, outcome.signature, explain=True)
        assert plain.misses[0].condition == "language matches 'go'"
        language = outcome.signature.language
        assert explained.misses[0].condition == f"language matches 'go' (got {language})"
        assert plain.misses[0] is pipeline.rules.rules[0].checks[0][1]


def _fold_reference(keys: list[str], max_cycle: int) -> tuple[list[str], int]:
    """The plain algorithm: after each key, try every period up to ``max_cycle``."""
    out: list[str] = []
    folded = 0
    for key in keys:
        out.append(key)
        for period in range(1, min(max_cycle, len(out) // 2) + 1):
            if out[-period:] == out[-2 * period : -period]:
                del out[-period:]
                folded += period
                break
    return out, folded


@given(st.lists(st.sampled_from("abcd"), max_size=40), st.integers(1, 8))
def test_fold_recursion_shortcut_changes_nothing(keys: list[str], max_cycle: int) -> None:
    assert fold_recursion(keys, max_cycle) == _fold_reference(keys, max_cycle)


class TestMaildirRead:
    @pytest.mark.parametrize("size", [0, 1, 64 * 1024 - 1, 64 * 1024, 300_000])
    def test_fetch_returns_every_byte(self, tmp_path: Path, size: int) -> None:
        """Mails of any size come back whole (the reader works in chunks)."""
        source = MaildirSource(MaildirSettings(tmp_path / "Maildir", min_age=0))
        source.open()
        raw = os.urandom(size)
        (tmp_path / "Maildir" / "new" / "1.mail").write_bytes(raw)
        assert [m.raw for m in source.fetch(10)] == [raw]


class TestAcknowledgement:
    def test_failed_acknowledgement_is_retried_and_counts_nothing_twice(
        self, tmp_path: Path
    ) -> None:
        """Moves run while the next batch is processed; when one fails, the source starts
        over and the mail already recorded is acknowledged without being counted again."""
        maildir = tmp_path / "Maildir"
        batch = mails(12, bugs=2)
        source = MaildirSource(MaildirSettings(maildir))
        source.open()
        for incoming in batch:
            (maildir / "new" / incoming.ref).write_bytes(incoming.raw)
        blockers = [maildir / "cur" / f"{m.ref}:2,S" for m in batch]
        for blocker in blockers:  # a file cannot be renamed onto a directory that holds one
            (blocker / "x").mkdir(parents=True)
        config = config_from_dict(
            {
                "mailbox": {"kind": "maildir", "path": str(maildir), "batch_size": 5},
                "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "rules": {"path": str(rules_folder(tmp_path, BURST_RULE))},
            }
        )
        daemon = Daemon.from_config(config)

        failures: list[dict[str, Any]] = []

        def repair(events: list[dict[str, Any]]) -> None:
            """Clear cur/ once the daemon has reported the failed move (or after 10 s)."""
            deadline = time.monotonic() + 10
            while not failures and time.monotonic() < deadline:
                failures.extend(e for e in list(events) if e["event"] == "source.failed")
                time.sleep(0.01)
            for blocker in blockers:
                shutil.rmtree(blocker)

        with capture_logs() as events:
            fixer = threading.Thread(target=repair, args=(events,))
            fixer.start()
            asyncio.run(daemon.run(once=True))
            fixer.join()
        assert failures
        assert "cannot move" in failures[0]["error"]
        assert sorted(p.name.split(":")[0] for p in (maildir / "cur").iterdir()) == [
            m.ref for m in batch
        ]
        assert not list((maildir / "new").iterdir())
        with sqlite3.connect(tmp_path / "db.sqlite") as conn:
            assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(batch)
            assert conn.execute("SELECT sum(occurrences) FROM defects").fetchone()[0] == len(batch)
