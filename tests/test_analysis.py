"""Analysis in a worker process: same results as in-process, a time budget per mail that
sets a runaway mail aside without stopping the batch, and a stop that does not wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.fakejira import FakeJira
from tests.helpers import Bot, jira_tracker, samples, seed_maildir, wait_until
from triagebot.analysis import AnalysisStopped, InProcess, WorkerProcess
from triagebot.config import Config, config_from_dict
from triagebot.mail.report import Kind
from triagebot.pipeline import Pipeline

RULES = Path(__file__).resolve().parents[1] / "rules"


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
def worker(config: Config) -> WorkerProcess:
    analyser = WorkerProcess(config, budget=30.0)
    yield analyser  # type: ignore[misc]
    analyser.close()


def test_worker_gives_what_the_pipeline_gives_in_order(
    config: Config, worker: WorkerProcess
) -> None:
    raws = [raw for _, raw in samples()]
    here = InProcess(Pipeline.from_config(config)).analyse(raws)
    there = worker.analyse(raws)
    assert [(o.report.message_id, o.report.kind, o.signature) for o in there] == [
        (o.report.message_id, o.report.kind, o.signature) for o in here
    ]


def test_a_mail_over_budget_is_set_aside_and_the_batch_goes_on(worker: WorkerProcess) -> None:
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


def test_stop_abandons_the_analysis_at_once(worker: WorkerProcess) -> None:
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
