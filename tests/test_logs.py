"""Logging: JSON lines off a terminal, and secrets never printed."""

from __future__ import annotations

import io
import json
import logging

import structlog

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
