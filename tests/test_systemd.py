"""``Type=notify``: the service says READY once its sources are open, STOPPING on the way
out, and feeds the watchdog only while its loops make progress; the shipped units pass
``systemd-analyze verify``. The notifications are read from a ``NOTIFY_SOCKET`` the test
creates, as systemd would."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import REPO, Bot, samples, seed_maildir
from triagebot.store.db import RECORD_LOCK
from triagebot.systemd import LoopWatch, notify, watchdog_interval

UNITS = REPO / "contrib" / "systemd"


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notification socket."""

    def __init__(self, abstract: bool = False) -> None:
        self._dir = tempfile.mkdtemp(prefix="notify-", dir="/tmp")  # short: 108-byte limit
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"triagebot-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self._dir, "notify")
            self.sock.bind(self.address)

    def messages(self, timeout: float) -> list[str]:
        """Every datagram that arrives within ``timeout`` seconds."""
        return self.until(None, timeout)

    def until(self, wanted: str | None, timeout: float) -> list[str]:
        """Datagrams up to and including the first holding the line ``wanted`` (None: all
        that arrive within ``timeout``)."""
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                found.append(self.sock.recv(4096).decode())
            except TimeoutError:
                break
            if wanted is not None and wanted in found[-1].splitlines():
                return found
        if wanted is None:
            return found
        raise AssertionError(f"no {wanted} within {timeout}s; got {found}")

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


class TestProtocol:
    def test_a_path_and_an_abstract_socket_receive_one_datagram(
        self, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.address)
        assert notify("READY=1", "STATUS=reading maildir")
        assert notify_socket.messages(0.2) == ["READY=1\nSTATUS=reading maildir"]
        abstract = NotifySocket(abstract=True)
        try:
            monkeypatch.setenv("NOTIFY_SOCKET", abstract.address)
            assert notify("STOPPING=1")
            assert abstract.messages(0.2) == ["STOPPING=1"]
        finally:
            abstract.close()

    def test_outside_systemd_or_with_a_gone_socket_nothing_fails(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        assert not notify("READY=1")
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
        assert not notify("READY=1")

    def test_the_watchdog_interval_is_for_this_process_only(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        assert watchdog_interval() == 30.0
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        assert watchdog_interval() == 30.0
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for a parent
        assert watchdog_interval() is None
        monkeypatch.delenv("WATCHDOG_USEC")
        assert watchdog_interval() is None

    def test_a_loop_is_stuck_only_inside_a_step_that_lasts(self) -> None:
        now = [100.0]
        watch = LoopWatch(lambda: now[0])
        watch.progress("source imap")
        watch.progress("outbox-tracker")
        watch.idle("outbox-tracker")  # waiting for work is never stuck
        now[0] += 5
        assert watch.stuck(10) == {}
        now[0] += 6
        assert watch.stuck(10) == {"source imap": 11.0}
        watch.progress("source imap")  # the next step began
        assert watch.stuck(10) == {}


def test_the_service_says_ready_feeds_the_watchdog_and_says_stopping(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    """READY=1 once the Maildir is open, WATCHDOG=1 about twice per second while idle
    (``WATCHDOG_USEC`` = 1 s), STOPPING=1 after SIGTERM, and a clean exit."""
    bot = Bot(tmp_path, env={"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "1000000"})
    bot.configure({"service": {"workers": 0}})
    seed_maildir(bot.maildir, samples()[:2])
    daemon = bot.start(tmp_path / "daemon.log")
    try:
        ready = notify_socket.until("READY=1", 30)
        assert ready[-1] == "READY=1\nSTATUS=reading maildir"
        fed = notify_socket.messages(2.5)
        assert 3 <= fed.count("WATCHDOG=1") <= 7, fed
        assert daemon.terminate() == 0
        assert "STOPPING=1" in notify_socket.messages(1.0)
    finally:
        daemon.kill()


def test_a_stuck_store_starves_the_watchdog_until_it_moves_again(
    tmp_path: Path, notify_socket: NotifySocket, postgres_url: str
) -> None:
    """The store's record lock is held elsewhere, so the next batch hangs in its commit: the
    watchdog is not fed (systemd would restart the service); once the lock is released the
    batch commits and the watchdog is fed again."""
    bot = Bot(tmp_path, env={"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "1000000"})
    bot.configure({"service": {"workers": 0}, "store": {"url": postgres_url}})
    daemon = bot.start(tmp_path / "daemon.log")
    engine = sa.create_engine(postgres_url)
    try:
        notify_socket.until("READY=1", 30)
        notify_socket.until("WATCHDOG=1", 5)
        with engine.connect() as holder:
            holder.execute(sa.select(sa.func.pg_advisory_lock(RECORD_LOCK)))
            seed_maildir(bot.maildir, samples()[:1])
            daemon.wait_for_event("watchdog.starved", timeout=15)
            notify_socket.messages(0.6)  # a datagram sent before the check
            starved = notify_socket.messages(2.0)
            assert "WATCHDOG=1" not in starved, starved
            holder.execute(sa.select(sa.func.pg_advisory_unlock(RECORD_LOCK)))
            holder.commit()
        notify_socket.until("WATCHDOG=1", 5)
        assert daemon.wait_for_event("batch.recorded")["messages"] == 1
        assert daemon.terminate() == 0
    finally:
        engine.dispose()
        daemon.kill()


def unit_settings(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, each key's values in order."""
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, eq, value = line.partition("=")
        if eq and not line.startswith(("#", ";", "[")):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


HARDENING = {
    "Type": "notify",
    "User": "triagebot",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
}


@pytest.mark.parametrize(
    ("unit", "state"),
    [("triagebot.service", "/var/lib/triagebot"), ("triagebot@.service", "/var/lib/triagebot/%i")],
)
def test_units_are_hardened_notify_services_writing_only_their_state(unit: str, state: str) -> None:
    settings = unit_settings(UNITS / unit)
    assert {key: settings[key][-1] for key in HARDENING} == HARDENING
    assert settings["ReadWritePaths"] == [state]
    assert settings["WorkingDirectory"] == [state]
    assert settings["WatchdogSec"] and settings["NotifyAccess"] == ["main"]
    (command,) = settings["ExecStart"]
    assert command.endswith(" run") and " -c /etc/triagebot/" in command


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing to say about the units (an instance of the
    template included); the installed command is stood in for by a script, since verify
    checks that ``ExecStart`` is executable."""
    command = tmp_path / "triagebot"
    command.write_text("#!/bin/sh\n", encoding="utf-8")
    command.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for unit in ("triagebot.service", "triagebot@.service"):
        text = (UNITS / unit).read_text(encoding="utf-8")
        assert "/opt/triagebot/bin/triagebot " in text
        (units / unit).write_text(text.replace("/opt/triagebot/bin/triagebot", str(command)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "triagebot.service", "triagebot@acme.service"],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
