"""Progress through a backlog: a line at most every 10 s of the injected clock with done,
remaining, rate and ETA, instead of a line per mail; ``run --once`` ends with a summary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.helpers import GARBAGE, samples, seed_maildir
from triagebot.config import config_from_dict
from triagebot.daemon import Daemon
from triagebot.progress import Progress

T0 = datetime(2026, 10, 25, 0, 59, 55, tzinfo=UTC)


class TestProgress:
    def test_one_line_at_most_every_ten_seconds_with_rate_and_eta(self) -> None:
        """Batches of 500 every 4 s: the lines come at 12 s and 24 s (not at 4, 8, 16 or
        20), with what is done, what remains, the rate since the start and the ETA."""
        clock = ManualClock(T0)
        progress = Progress(clock)
        remaining = 5_000
        with capture_logs() as events:
            assert progress.advance("imap", 500, remaining)
            for _ in range(6):
                clock.advance(timedelta(seconds=4))
                remaining -= 500
                assert progress.advance("imap", 500, remaining)
        started, *lines = events
        assert started == {
            "event": "backlog.started", "source": "imap", "remaining": 5_000, "log_level": "info"
        }  # fmt: skip
        assert [(e["event"], e["done"], e["remaining"]) for e in lines] == [
            ("backlog.progress", 2_000, 3_500),
            ("backlog.progress", 3_500, 2_000),
        ]
        assert [e["rate"] for e in lines] == [125.0, 125.0]  # 1,500 mails in 12 s
        assert [e["eta_seconds"] for e in lines] == [28, 16]
        assert {e["log_level"] for e in lines} == {"info"}

    def test_the_end_of_a_backlog_is_one_line_and_small_batches_none(self) -> None:
        clock = ManualClock(T0)
        progress = Progress(clock)
        with capture_logs() as events:
            assert not progress.advance("maildir", 3, 0)  # no backlog: nothing to report
            assert progress.advance("maildir", 100, 150)
            clock.advance(timedelta(seconds=3))
            assert progress.advance("maildir", 100, 50)
            clock.advance(timedelta(seconds=1))
            assert progress.advance("maildir", 50, 0)
            assert not progress.advance("maildir", 1, 0)  # over: a new mail is no backlog
        assert [e["event"] for e in events] == ["backlog.started", "backlog.done"]
        done = events[-1]
        assert (done["done"], done["seconds"], done["rate"]) == (250, 4.0, 37.5)

    def test_sources_have_backlogs_of_their_own(self) -> None:
        clock = ManualClock(T0)
        progress = Progress(clock)
        with capture_logs() as events:
            progress.advance("imap", 10, 20)
            progress.advance("maildir", 10, 0)
            clock.advance(timedelta(seconds=10))
            progress.advance("imap", 10, 10)
        assert [(e["event"], e["source"]) for e in events] == [
            ("backlog.started", "imap"),
            ("backlog.progress", "imap"),
        ]


def test_run_once_logs_batches_and_a_summary_not_a_line_per_mail(tmp_path: Path) -> None:
    """13 mails in batches of 5: no per-mail line at info, the batches of the backlog at
    debug, the backlog's start and end, and the summary by outcome."""
    maildir = tmp_path / "mail"
    seed_maildir(maildir, [*samples(), ("zz-garbage", GARBAGE)])
    config = config_from_dict(
        {
            "mailbox": {"path": str(maildir), "batch_size": 5},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "rules": {"path": str(Path(__file__).parents[1] / "rules")},
            "service": {"workers": 0},
        }
    )
    with capture_logs() as events:
        asyncio.run(Daemon.from_config(config, ManualClock(T0)).run(once=True))
    info = [e for e in events if e["log_level"] != "debug"]
    assert not [e for e in info if e["event"] == "message.processed"]
    batches = [e for e in events if e["event"] == "batch.recorded"]
    assert [(b["messages"], b["log_level"]) for b in batches] == [(5, "debug")] * 2 + [(3, "debug")]
    (started,) = [e for e in info if e["event"] == "backlog.started"]
    assert started["remaining"] == 8
    (done,) = [e for e in info if e["event"] == "backlog.done"]
    assert done["done"] == 13
    (summary,) = [e for e in info if e["event"] == "run.summary"]
    assert summary["messages"] == 13
    assert summary["outcomes"] == {"candidate": 12, "quarantined": 1}
    assert summary["defects_new"] == 5
    assert summary["effects_pending"] == {"outbox-tracker": 0, "outbox-mail": 0}


def test_a_batch_outside_a_backlog_is_one_info_line(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    seed_maildir(maildir, samples()[:3])
    config = config_from_dict(
        {
            "mailbox": {"path": str(maildir)},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "service": {"workers": 0},
            "rules": {"path": str(Path(__file__).parents[1] / "rules")},
        }
    )
    with capture_logs() as events:
        asyncio.run(Daemon.from_config(config, ManualClock(T0)).run(once=True))
    (batch,) = [e for e in events if e["event"] == "batch.recorded"]
    assert (batch["log_level"], batch["messages"], batch["new"], batch["candidate"]) == (
        "info", 3, 3, 3
    )  # fmt: skip
    assert not [e for e in events if e["event"].startswith("backlog.")]
