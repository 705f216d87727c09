"""The daemon in-process over a real Maildir, SQLite store and local tracker: an unexpected
error in the outbox or in a source never leaves it half alive, and a failed start stops what
had started."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tests.helpers import SAMPLES, samples, seed_maildir, write_rules
from tests.servers import free_port
from triagebot.analysis import InProcess
from triagebot.config import Config, SmtpConfig, config_from_dict
from triagebot.daemon import Daemon, DaemonCrashed
from triagebot.mail.maildir import MaildirSettings, MaildirSource
from triagebot.mail.source import Incoming
from triagebot.pipeline import Outcome, Pipeline
from triagebot.smtp import Mailer
from triagebot.store import Store
from triagebot.trackers.base import TrackerIssue
from triagebot.trackers.local import LocalTracker

log = structlog.get_logger(__name__)
FILE_RULES = [
    {
        "name": "file-invoice-totals",
        "description": "Invoice totals bugs block billing.",
        "exception_type": ["KeyError", "NullPointerException"],
        "action": "file",
    }
]


def sample(name: str) -> tuple[str, bytes]:
    return name, (SAMPLES / f"{name}.eml").read_bytes()


def config_for(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    return config_from_dict(
        {
            "mailbox": {"kind": "maildir", "path": str(tmp_path / "Maildir")},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "rules": {"path": str(write_rules(tmp_path / "rules", FILE_RULES))},
            **sections,
        }
    )


def tracker_keys(db: Path) -> list[str | None]:
    with sqlite3.connect(db) as conn:
        return [key for (key,) in conn.execute("SELECT tracker_key FROM defects ORDER BY id")]


class SyncBug(LocalTracker):
    """The local tracker with a bug in its status sync (not a ``TriagebotError``)."""

    def statuses(self, keys: Any) -> dict[str, TrackerIssue]:
        raise RuntimeError("sync bug")


class BrokenSource(MaildirSource):
    """A Maildir whose reading dies of an unexpected error."""

    name = "broken"

    def fetch(self, limit: int) -> list[Incoming]:
        raise RuntimeError("disk on fire")


class ClosingSource(MaildirSource):
    """A Maildir that logs when it is closed, so the order of shutdown can be seen."""

    def close(self) -> None:
        super().close()
        log.info("test.source_closed")


def daemon_with(config: Config, tracker_of: type[LocalTracker], *sources: Any) -> Daemon:
    store = Store(config.store.url)
    store.migrate()
    return Daemon(config, Pipeline.from_config(config), store, tracker_of(store), sources)


async def test_outbox_survives_an_unexpected_sync_error(tmp_path: Path) -> None:
    """A status sync that raises a bug is logged with its traceback, and effects go on."""
    config = config_for(tmp_path, tracker={"sync_interval": 3600})
    maildir = config.mailbox.path
    seed_maildir(maildir, [sample("invoice-totals-keyerror-01")])
    await Daemon.from_config(config).run(once=True)  # filed: a tracked key to sync
    assert tracker_keys(tmp_path / "db.sqlite") == ["LOCAL-1"]
    seed_maildir(maildir, [sample("invoice-totals-npe-01")])
    daemon = daemon_with(config, SyncBug, MaildirSource(MaildirSettings(maildir)))

    with capture_logs() as events:
        running = asyncio.create_task(daemon.run())
        for _ in range(200):
            if tracker_keys(tmp_path / "db.sqlite") == ["LOCAL-1", "LOCAL-2"]:
                break
            await asyncio.sleep(0.05)
        daemon.stop()
        await asyncio.wait_for(running, 20)

    assert tracker_keys(tmp_path / "db.sqlite") == ["LOCAL-1", "LOCAL-2"]
    (failed,) = [e for e in events if e["event"] == "tracker.sync_failed"]
    assert "sync bug" in failed["error"]
    assert failed["exc_info"] is True


async def test_crashed_source_stops_the_daemon_after_its_siblings(tmp_path: Path) -> None:
    """One source dying of a bug stops the daemon with a clear error; the other source is
    cancelled and closed before the store closes."""
    config = config_for(tmp_path)
    healthy = ClosingSource(MaildirSettings(config.mailbox.path))
    broken = BrokenSource(MaildirSettings(tmp_path / "Other"))
    daemon = daemon_with(config, LocalTracker, healthy, broken)

    with capture_logs() as events, pytest.raises(DaemonCrashed, match="disk on fire"):
        await asyncio.wait_for(daemon.run(), 20)

    names = [e["event"] for e in events]
    (crashed,) = [e for e in events if e["event"] == "daemon.crashed"]
    assert crashed["task"] == "source broken"
    assert "test.source_closed" in names
    assert names.index("test.source_closed") < names.index("daemon.stopped")


async def test_failed_start_stops_listener_and_signal_handlers(tmp_path: Path) -> None:
    """A digest schedule that fails at start leaves no listener and no signal handler."""
    port = free_port()
    config = config_for(
        tmp_path,
        listener={"port": port},
        digest=[{"name": "daily", "recipients": ["dev@example.com"]}],  # type: ignore[dict-item]
    )
    bad = dataclasses.replace(config.digests[0], schedule="not a cron line")
    config = dataclasses.replace(config, digests=(bad,))
    store = Store(config.store.url)
    store.migrate()
    mailer = Mailer(
        SmtpConfig(host="127.0.0.1", port=free_port(), security="none", from_address="t@x.org")
    )
    daemon = Daemon(
        config,
        Pipeline.from_config(config),
        store,
        LocalTracker(store),
        [MaildirSource(MaildirSettings(config.mailbox.path))],
        mailer=mailer,
    )

    with pytest.raises(ValueError, match="fields"):  # a line ``config`` would have refused
        await daemon.run()

    loop = asyncio.get_running_loop()
    assert not loop.remove_signal_handler(signal.SIGTERM)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


class CountingSource(MaildirSource):
    """A Maildir that counts the fetches it has started."""

    def __init__(self, settings: MaildirSettings) -> None:
        super().__init__(settings)
        self.started = 0
        self.changed = threading.Condition()

    def fetch(self, limit: int) -> list[Incoming]:
        with self.changed:
            self.started += 1
            self.changed.notify_all()
        return super().fetch(limit)


class WaitingAnalysis(InProcess):
    """In-process analysis that, before analysing a batch, waits (at most 10 s) until the
    source has started the fetch after that batch's."""

    def __init__(self, pipeline: Pipeline, source: CountingSource) -> None:
        super().__init__(pipeline)
        self.source = source
        self.overlapped: list[bool] = []

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]:
        batch = len(self.overlapped) + 1  # fetch N gave batch N: the next fetch is N + 1
        with self.source.changed:
            self.overlapped.append(
                self.source.changed.wait_for(lambda: self.source.started > batch, 10)
            )
        return super().analyse(raws)


async def test_the_next_batch_is_fetched_while_this_one_is_analysed(tmp_path: Path) -> None:
    """An IMAP fetch costs about a third of an analysis: each batch's successor is fetched
    during its analysis, not after it, and every mail is still recorded once."""
    config = config_for(tmp_path, mailbox={"kind": "maildir", "batch_size": 3})
    seed_maildir(config.mailbox.path, samples()[:9])
    store = Store(config.store.url)
    store.migrate()
    source = CountingSource(MaildirSettings(config.mailbox.path))
    pipeline = Pipeline.from_config(config)
    analysis = WaitingAnalysis(pipeline, source)
    daemon = Daemon(config, pipeline, store, LocalTracker(store), [source], analyser=analysis)

    await daemon.run(once=True)

    assert analysis.overlapped == [True, True, True]
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 9
    assert os.listdir(config.mailbox.path / "new") == []
