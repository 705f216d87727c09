"""Crashes against a durable PostgreSQL (fsync, synchronous commit and full-page writes on, as
in production): the service SIGKILLed at random moments, and the database itself stopped
abruptly and started again under a running service. Every acknowledged mail is in the store,
exactly once, and every mail is acknowledged in the end."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.mailgen import bug_pool, generate
from tests.helpers import Bot, Daemon, listing, seed_maildir, wait_until
from tests.servers.postgres import PostgresServer, find_bindir

SEED = int(os.environ.get("TRIAGEBOT_CRASH_SEED", "20261207"))


@pytest.fixture(scope="module")
def durable() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    server = PostgresServer.create(bindir, durable=True)
    yield server
    server.destroy()


def recorded(server: PostgresServer, url: str) -> list[str]:
    schema = url.rsplit("%3D", 1)[1]
    dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f'SELECT source_ref FROM "{schema}".messages').fetchall()
    return [row[0] for row in rows]


def deployment(tmp_path: Path, url: str) -> Bot:
    bot = Bot(tmp_path)
    bot.configure({"store": {"url": url}, "mailbox": {"batch_size": 5}})
    return bot


def mails(count: int) -> list[tuple[str, bytes]]:
    return [
        (f"m{i:05d}", mail.raw)
        for i, mail in enumerate(generate(count, SEED, pool=bug_pool()[:10]), 1)
    ]


@pytest.mark.slow
def test_sigkill_against_a_durable_postgresql_loses_and_doubles_nothing(
    tmp_path: Path, durable: PostgresServer
) -> None:
    print(f"seed {SEED} (TRIAGEBOT_CRASH_SEED)")
    rng = random.Random(SEED)
    url = durable.database()
    bot = deployment(tmp_path, url)
    everything = mails(300)
    waves = [everything[i : i + 75] for i in range(0, len(everything), 75)]
    for cycle, wave in enumerate(waves):
        seed_maildir(bot.maildir, wave)
        daemon = bot.start(tmp_path / f"run-{cycle}.log")
        try:
            daemon.wait_for_event("daemon.started", timeout=30)
            time.sleep(rng.uniform(0.1, 0.8))
        finally:
            daemon.kill()
        acknowledged = set(listing(bot.maildir / "cur"))
        missing = acknowledged - set(recorded(durable, url))
        assert not missing, f"acknowledged but not in the store: {sorted(missing)[:5]}"
    bot.once()
    assert listing(bot.maildir / "new") == []
    refs = recorded(durable, url)
    assert sorted(refs) == sorted(name for name, _ in everything)  # each exactly once


@pytest.mark.slow
def test_postgresql_stopped_under_a_running_service_loses_nothing(
    tmp_path: Path, durable: PostgresServer
) -> None:
    """An immediate shutdown of PostgreSQL (as a crash) while mail is being recorded: the
    service retries, goes on once the database is back, and what it acknowledged before the
    stop survived it."""
    url = durable.database()
    bot = deployment(tmp_path, url)
    everything = mails(400)
    seed_maildir(bot.maildir, everything)
    daemon = bot.start(tmp_path / "run.log")
    try:
        daemon.wait_for_event("daemon.started", timeout=30)
        assert wait_until(lambda: len(listing(bot.maildir / "cur")) >= 20, 60)
        durable.stop()
        before = set(listing(bot.maildir / "cur"))
        time.sleep(2.0)  # the service meets a database that is gone
        durable.start()
        assert set(recorded(durable, url)) >= before  # committed before it was acknowledged
        assert daemon.wait_for_event("source.failed", timeout=30)
        deadline = time.monotonic() + 90
        while listing(bot.maildir / "new") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        assert daemon.terminate(timeout=15) == 0
    assert listing(bot.maildir / "new") == []
    assert sorted(recorded(durable, url)) == sorted(name for name, _ in everything)


def waits(daemon: Daemon) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("event") == "store.waiting"]


def test_a_service_started_while_postgresql_is_down_waits_for_it(
    tmp_path: Path, durable: PostgresServer
) -> None:
    """Started while the database is stopped, the service waits (one warning per attempt,
    backing off) instead of exiting, and serves once the database is up again."""
    url = durable.database()
    bot = deployment(tmp_path, url)
    everything = mails(20)
    seed_maildir(bot.maildir, everything)
    durable.stop()
    try:
        daemon = bot.start(tmp_path / "run.log")
        daemon.wait_for_event("store.waiting", timeout=30)
        assert wait_until(lambda: len(waits(daemon)) >= 2, 30)
        assert daemon.proc.poll() is None  # waiting, not exited
    finally:
        durable.start()
    try:
        daemon.wait_for_event("daemon.started", timeout=60)
        assert wait_until(lambda: not listing(bot.maildir / "new"), 60)
    finally:
        assert daemon.terminate(timeout=15) == 0
    logged = waits(daemon)
    assert [w["attempt"] for w in logged] == list(range(1, len(logged) + 1))
    assert [w["retry_in"] for w in logged[:2]] == [1.0, 2.0]
    assert {w["level"] for w in logged} == {"warning"}
    assert sorted(recorded(durable, url)) == sorted(name for name, _ in everything)


def test_a_service_waiting_for_postgresql_stops_on_sigterm(
    tmp_path: Path, durable: PostgresServer
) -> None:
    """SIGTERM while it waits for the database ends the service at once, as an orderly stop."""
    bot = deployment(tmp_path, durable.database())
    durable.stop()
    try:
        daemon = bot.start(tmp_path / "run.log")
        daemon.wait_for_event("store.waiting", timeout=30)
        started = time.monotonic()
        assert daemon.terminate(timeout=15) == 0
        assert time.monotonic() - started < 5
    finally:
        durable.start()
