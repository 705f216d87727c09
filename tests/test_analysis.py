"""Analysis in a worker process: same results as in-process, a time budget per mail that
sets a runaway mail aside without stopping the batch, and a stop that does not wait."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bench import heldout
from tests.fakejira import FakeJira
from tests.helpers import Bot, jira_tracker, samples, seed_maildir, wait_until
from triagebot.analysis import AnalysisStopped, InProcess, WorkerPool
from triagebot.config import Config, config_from_dict
from triagebot.daemon import Daemon
from triagebot.mail.report import Kind
from triagebot.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"


def big_report(frames: int) -> bytes:
    """A .NET report with a long trace: slow enough to outlast a tiny budget."""
    trace = "System.InvalidOperationException: boom\n" + "".join(
        f"   at Acme.Module{i % 97}.Type{i}.Method{i}(String a) in C:\\src\\F{i}.cs:line {i}\n"
        for i in range(frames)
    )
    return (
        b"From: errors@acme.example\nTo: helpdesk@acme.example\nSubject: Error report\n"
        b"Message-ID: <big@acme.example>\nContent-Type: text/plain; charset=utf-8\n\n"
        + trace.encode()
    )


@pytest.fixture
def config() -> Config:
    return config_from_dict({"rules": {"path": str(RULES)}})


@pytest.fixture
def worker(config: Config) -> WorkerPool:
    analyser = WorkerPool(config, budget=30.0, size=2)
    yield analyser  # type: ignore[misc]
    analyser.close()


def test_worker_gives_what_the_pipeline_gives_in_order(config: Config, worker: WorkerPool) -> None:
    raws = [raw for _, raw in samples()]
    here = InProcess(Pipeline.from_config(config)).analyse(raws)
    there = worker.analyse(raws)
    assert [(o.report.message_id, o.report.kind, o.signature) for o in there] == [
        (o.report.message_id, o.report.kind, o.signature) for o in here
    ]


def test_the_service_gets_traces_without_frames(config: Config, worker: WorkerPool) -> None:
    """Frames stay in the analysis process (the signature carries what they gave); exception
    types, messages and the frame count (as ``dropped``) cross over."""
    raws = [raw for _, raw in samples()]
    here = InProcess(Pipeline.from_config(config)).analyse(raws)
    there = worker.analyse(raws)
    traced = [(h, t) for h, t in zip(here, there, strict=True) if h.report.trace is not None]
    assert traced
    for h, t in traced:
        assert h.report.trace is not None and t.report.trace is not None
        assert [(e.type, e.message) for e in t.report.trace.exceptions] == [
            (e.type, e.message) for e in h.report.trace.exceptions
        ]
        assert t.report.trace.frame_count == 0
        assert t.report.trace.dropped == h.report.trace.frame_count + h.report.trace.dropped
        assert t.key == h.key and t.previous == h.previous


@pytest.mark.parametrize("where", ["in process", "worker"])
def test_older_algorithms_sign_only_what_the_store_may_need_to_link(
    config: Config, worker: WorkerPool, where: str
) -> None:
    """The store links an unknown signature through the older algorithms' readings; for a
    signature it holds (learnt after a commit) they are not worked out, and a dry run, which
    records nothing, never needs them."""
    pipeline = Pipeline.from_config(config)
    analyser = InProcess(pipeline) if where == "in process" else worker
    raws = [raw for _, raw in samples()]
    first = analyser.analyse(raws)
    signed = [o.signature.value for o in first if o.signature is not None]
    assert len(set(signed)) >= 3 and all(o.previous for o in first if o.signature)
    held = set(signed[::2])
    analyser.learn(held)
    again = analyser.analyse(raws)

    assert [o.signature for o in again] == [o.signature for o in first]
    for before, after in zip(first, again, strict=True):
        if before.signature is None:
            continue
        expected = () if before.signature.value in held else before.previous
        assert after.previous == expected
    assert all(not pipeline.analyse(raw, keyed=False).previous for raw in raws)


def test_a_child_that_dies_costs_one_mail_and_the_batch_goes_on(
    config: Config, worker: WorkerPool
) -> None:
    """A child killed mid-batch (the OOM killer, a crash in a C extension): the mail it was
    on is set aside as ``analysis crashed``, its other mails go to the other child or a new
    one, and every other outcome is what the pipeline gives."""
    raws = [raw for _, raw in samples()] * 40
    expected = [o.signature for o in InProcess(Pipeline.from_config(config)).analyse(raws)]
    worker.analyse(raws[:4])  # both children running
    victim = multiprocessing.active_children()[0].pid
    assert victim is not None
    threading.Timer(0.3, os.kill, args=(victim, signal.SIGKILL)).start()
    out = worker.analyse(raws * 5)

    crashed = [i for i, o in enumerate(out) if o.report.reason == "analysis crashed"]
    assert len(crashed) <= 1
    assert len(out) == len(raws) * 5
    assert [o.signature for i, o in enumerate(out) if i not in crashed] == [
        s for i, s in enumerate(expected * 5) if i not in crashed
    ]
    assert [p.pid for p in multiprocessing.active_children()].count(victim) == 0
    assert len(multiprocessing.active_children()) == 2  # replaced


def test_a_mail_over_budget_is_set_aside_and_the_batch_goes_on(worker: WorkerPool) -> None:
    """The child is killed and replaced; the runaway mail is invalid with the reason."""
    raws = [raw for _, raw in samples()][:2]
    worker.analyse(raws[:1])  # child started and warm
    worker.budget = 0.001
    [slow] = worker.analyse([big_report(3000)])
    worker.budget = 30.0
    after = worker.analyse(raws)

    assert slow.report.kind is Kind.INVALID
    assert slow.report.reason == "analysis timeout (over 0.001 s)"
    assert slow.report.message_id.startswith("sha256:")
    assert [o.report.kind for o in after] == [Kind.ERROR_REPORT, Kind.ERROR_REPORT]


def test_stop_abandons_the_analysis_at_once(worker: WorkerPool) -> None:
    """A stop from another thread (the signal handler's) ends a long analysis in well under
    a second; the batch raises ``AnalysisStopped`` (it is read again next time)."""
    worker.analyse([raw for _, raw in samples()][:1])
    threading.Timer(0.2, worker.stop).start()
    started = time.monotonic()
    with pytest.raises(AnalysisStopped):
        worker.analyse([big_report(2000)] * 2000)  # minutes of work
    assert time.monotonic() - started < 2.0


def test_sigterm_stops_the_service_within_five_seconds_while_jira_hangs(
    tmp_path: Path, fake_jira: FakeJira
) -> None:
    """The outbox is inside a Jira call that answers after 60 s: SIGTERM still ends the
    process in about five seconds, and the mail was recorded before (nothing is lost)."""
    bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "file.toml").write_text(
        '[[rule]]\nname = "file-all"\naction = "file"\n', encoding="utf-8"
    )
    bot.configure(
        {
            "tracker": jira_tracker(fake_jira.url, "TB_JIRA_TOKEN"),
            "rules": {"path": str(tmp_path / "rules")},
        }
    )
    fake_jira.slow("search.*", 60.0, times=100)
    seed_maildir(bot.maildir, samples()[:2])
    daemon = bot.start(tmp_path / "daemon.log")
    try:
        assert wait_until(lambda: fake_jira.count(path="search.*") > 0, 30, 0.05)
        started = time.monotonic()
        assert daemon.terminate(timeout=15) == 0
        stopped_after = time.monotonic() - started
    finally:
        daemon.kill()
    assert stopped_after < 7.0, stopped_after
    assert list((bot.maildir / "cur").iterdir())  # recorded and acknowledged before the stop


def test_the_service_decides_the_same_with_one_or_many_analysis_processes(
    tmp_path: Path,
) -> None:
    """The real-trace corpus in its mail shapes (HTML, attachments, forwards, encodings),
    drained by the service with its analysis in this process, in one child and in three
    (more than the cores, so chunks finish out of order): the same signatures, the same
    decisions and the same order of outcomes in the store, batch after batch."""
    corpus = heldout.corpus(1, 1, 7, REPO / "bench" / "realworld")
    assert len(corpus) > 450
    seen: dict[int, list[tuple[object, ...]]] = {}
    for workers in (0, 1, 3):
        root = tmp_path / f"workers-{workers}"
        seed_maildir(root / "Maildir", [(f"{i:05d}.eml", m.raw) for i, m in enumerate(corpus)])
        config = config_from_dict(
            {
                "mailbox": {"kind": "maildir", "path": str(root / "Maildir"), "batch_size": 200},
                "store": {"url": f"sqlite:///{root / 'db.sqlite'}"},
                "rules": {"path": str(RULES)},
                "service": {"workers": workers},
            }
        )
        asyncio.run(Daemon.from_config(config).run(once=True))
        with sqlite3.connect(root / "db.sqlite") as conn:
            seen[workers] = conn.execute(
                "SELECT source_ref, kind, signature, action, rule, defect_id, reason"
                " FROM messages ORDER BY rowid"
            ).fetchall()
    assert len(seen[0]) == len(corpus)
    assert sum(1 for row in seen[0] if row[2]) > 350  # signed reports
    assert seen[1] == seen[0]
    assert seen[3] == seen[0]
