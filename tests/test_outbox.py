"""The outbox's lanes and schedule: an SMTP outage never delays filing, and a tracker that
asks for time (a 429's Retry-After) gets it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.clocks import ManualClock
from tests.conftest_smtp import SMTP_PASSWORD
from tests.factories import FakeTime, jira_settings, make_outcome
from tests.fakejira import FakeJira
from tests.helpers import (
    Bot,
    jira_tracker,
    samples,
    seed_maildir,
    smtp_starttls,
    wait_until,
    write_rules,
)
from tests.servers import HOST
from triagebot.config import SmtpConfig
from triagebot.outbox import run_effects
from triagebot.store import Store
from triagebot.trackers.jira import JiraTracker


@pytest.fixture
def silent_smtp() -> Iterator[tuple[int, list[socket.socket]]]:
    """A mail server that accepts connections and never says a word (a hung relay, a
    firewall that swallows packets): the port and the connections it took."""
    listener = socket.create_server((HOST, 0))
    taken: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            taken.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], taken
    listener.close()
    for conn in taken:
        conn.close()


def test_an_smtp_outage_does_not_delay_filing(
    tmp_path: Path,
    fake_jira: FakeJira,
    smtp_config: SmtpConfig,
    silent_smtp: tuple[int, list[socket.socket]],
) -> None:
    """Candidate mails hang on a mute mail server for the whole SMTP timeout; a report the
    rules file directly still reaches Jira within seconds, because mail has its own lane."""
    port, taken = silent_smtp
    bot = Bot(
        tmp_path, env={"TB_JIRA": "api-token", "TB_SMTP": SMTP_PASSWORD, "TB_SECRET": "s" * 24}
    )
    rules = write_rules(
        tmp_path / "rules", [{"name": "file-python", "language": "python", "action": "file"}]
    )
    bot.configure(
        {
            "tracker": jira_tracker(fake_jira.url, "TB_JIRA", timeout=5),
            "smtp": {**smtp_starttls(smtp_config, "TB_SMTP"), "port": port, "timeout": 60},
            "helpdesk": {
                "recipients": ["alice@example.test"],
                "allowed_senders": ["example.test"],
                "reply_address": "helpdesk@example.test",
                "token_secret_env": "TB_SECRET",
            },
            "rules": {"path": str(rules)},
        }
    )
    mails = samples()
    dotnet = [m for m in mails if "nullref" in m[0]]
    python = [m for m in mails if "keyerror" in m[0]]
    assert dotnet and python
    seed_maildir(bot.maildir, dotnet)  # candidates: a candidate mail each
    daemon = bot.start(tmp_path / "daemon.log")
    try:
        assert wait_until(lambda: taken, 30), "the candidate mail never reached the server"
        seed_maildir(bot.maildir, python)  # filed directly
        started = time.monotonic()
        assert wait_until(lambda: fake_jira.count("POST", "issue"), 20), daemon.log.read_text()
        assert time.monotonic() - started < 15  # far below the 60 s the mail lane is stuck
    finally:
        assert daemon.terminate(timeout=15) == 0


def test_a_long_retry_after_is_honoured(
    tmp_path: Path, fake_jira: FakeJira, fake_time: FakeTime, clock: ManualClock
) -> None:
    """Jira throttles with ``Retry-After: 3600``: the create is not tried again after the
    usual 30 s back-off but after the hour it was asked to wait."""
    store = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    store.migrate()
    tracker = JiraTracker(jira_settings(fake_jira), sleep=fake_time.sleep, clock=fake_time.clock)
    try:
        store.record([make_outcome("<throttled@x>")], now=clock())
        fake_jira.fail("search/jql", 429, times=100, retry_after=3600)
        assert run_effects(store, tracker, clock()) == 0
        asked = fake_jira.count("GET", "search/jql")
        (retrying,) = store.status(clock())["outbox"]["retrying"]
        assert "429" in retrying["error"] or "still failing" in retrying["error"]
        for minutes in (1, 10, 59):
            assert run_effects(store, tracker, clock() + timedelta(minutes=minutes)) == 0
        assert fake_jira.count("GET", "search/jql") == asked  # nothing asked within the hour
        fake_jira.clear_faults()
        assert run_effects(store, tracker, clock() + timedelta(minutes=61)) == 1
        assert len(fake_jira.issues) == 1
    finally:
        store.close()
