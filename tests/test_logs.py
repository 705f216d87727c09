"""Logging: JSON lines off a terminal, and secrets never printed."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from tests.helpers import Bot
from triagebot import logs


class TestLogs:
    def test_json_lines_when_not_a_tty_with_secrets_masked(self) -> None:
        """Secret-named keys and configured secret values are masked in every line."""
        stream = io.StringIO()
        logs.configure("info", "auto", secrets=["hunter2-value"], stream=stream)
        log = structlog.get_logger("test")
        log.info("imap.login", user="helpdesk", password="hunter2-value")
        log.warning("imap.error", error="LOGIN failed for hunter2-value")
        logging.getLogger("imapclient").warning("library says %s", "hunter2-value")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["event"] for line in lines[:2]] == ["imap.login", "imap.error"]
        assert lines[0]["password"] == "***"
        assert lines[0]["user"] == "helpdesk"
        assert lines[1]["error"] == "LOGIN failed for ***"
        assert "hunter2" not in stream.getvalue()
        assert lines[2]["logger"] == "imapclient"

    def test_level_filters(self) -> None:
        stream = io.StringIO()
        logs.configure("warning", "json", stream=stream)
        structlog.get_logger("test").info("quiet")
        structlog.get_logger("test").error("loud", n=1)
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["event"] == "loud"

    def test_secrets_masked_in_tracebacks_and_nested_values(self) -> None:
        """An exception whose text holds a secret, from our loggers and from a library's, and
        secrets inside lists and dicts are all masked."""
        stream = io.StringIO()
        logs.configure("info", "json", secrets=["s3cr3t-pass"], stream=stream)
        try:
            raise RuntimeError("login refused for password s3cr3t-pass")
        except RuntimeError:
            structlog.get_logger("test").exception("store.failed")
            logging.getLogger("sqlalchemy").exception("connect failed")
        structlog.get_logger("test").info(
            "nested",
            urls=["postgresql://u:s3cr3t-pass@db/x"],
            auth_info={"token": "abc", "note": "s3cr3t-pass here"},
        )
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert "s3cr3t-pass" not in stream.getvalue()
        assert "login refused for password ***" in lines[0]["exception"]
        assert "login refused for password ***" in lines[1]["exception"]
        assert lines[2]["urls"] == ["postgresql://u:***@db/x"]
        assert lines[2]["auth_info"] == {"token": "***", "note": "*** here"}


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


ANSI = "\x1b["


class TestConsole:
    def test_a_terminal_reads_local_time_to_the_second_in_colour(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Kathmandu is UTC+05:45: the line's time is the local one, never UTC."""
        monkeypatch.setenv("TZ", "Asia/Kathmandu")
        monkeypatch.setenv("TERM", "xterm-256color")
        monkeypatch.delenv("NO_COLOR", raising=False)
        time.tzset()
        try:
            stream = Terminal()
            logs.configure("info", "auto", stream=stream)
            structlog.get_logger("test").info("daemon.started", once=False)
        finally:
            monkeypatch.undo()
            time.tzset()
        line = stream.getvalue()
        assert ANSI in line
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        stamp = datetime.strptime(plain[:19], "%Y-%m-%d %H:%M:%S")
        local = datetime.now(ZoneInfo("Asia/Kathmandu")).replace(tzinfo=None)
        assert abs(local - stamp) < timedelta(seconds=60), plain
        assert "daemon.started" in plain and "once=False" in plain
        assert not plain.startswith("{")

    @pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
    def test_no_colour_when_asked_or_the_terminal_has_none(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
    ) -> None:
        monkeypatch.setenv("TERM", "xterm")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        stream = Terminal()
        logs.configure("info", "auto", stream=stream)
        structlog.get_logger("test").warning("source.failed", error="boom")
        assert "source.failed" in stream.getvalue()
        assert ANSI not in stream.getvalue()

    def test_apscheduler_job_lines_only_at_debug(self) -> None:
        for level, shown in [("info", False), ("debug", True)]:
            stream = io.StringIO()
            logs.configure(level, "json", stream=stream)
            logging.getLogger("apscheduler.scheduler").info('Added job "digest daily"')
            logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
            logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
            events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
            assert ("Job executed successfully" in events) is shown
            assert ('Added job "digest daily"' in events) is shown
            assert "Run time of job was missed" in events

    def test_an_error_is_said_once_plain_on_a_terminal_json_otherwise(self) -> None:
        terminal = Terminal()
        logs.configure("info", "auto", stream=terminal)
        logs.error_once("config.invalid", "triagebot: configuration error: [x].y: bad", error="e")
        assert terminal.getvalue() == "triagebot: configuration error: [x].y: bad\n"
        pipe = io.StringIO()
        logs.configure("info", "auto", stream=pipe)
        logs.error_once("config.invalid", "triagebot: configuration error: [x].y: bad", error="e")
        (line,) = pipe.getvalue().splitlines()
        assert json.loads(line)["event"] == "config.invalid"


def test_check_config_prints_each_result_once(tmp_path: Path) -> None:
    """Each feature is a line on stdout; stderr does not repeat it (at info)."""
    bot = Bot(tmp_path)
    bot.configure({"logging": {"format": "json", "level": "info"}})
    result = bot.run("check-config")
    assert [line.split()[0] for line in result.stdout.splitlines()][:4] == [
        "environment",
        "store",
        "rules",
        "mailbox",
    ]
    assert result.named("check.result") == []
