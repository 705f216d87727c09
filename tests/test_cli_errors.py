"""What the command line says when the setup is wrong: one line naming the file or key and
what to do, exit 2, never a traceback."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.helpers import Bot, Result


def one_error_line(result: Result) -> str:
    """The error, told once: off a terminal that is one JSON error event (a plain line on a
    terminal), and nothing else on stderr that is not a log event."""
    assert "Traceback" not in result.stderr, result.stderr
    assert [e for e in result.events if "raw" in e] == [], result.stderr
    (error,) = [e for e in result.events if e.get("level") == "error"]
    return str(error["error"])


class TestStoreDriver:
    @pytest.mark.parametrize("command", [["defects"], ["status"], ["run", "--once"]])
    def test_missing_driver_names_the_extra(self, tmp_path: Path, command: list[str]) -> None:
        """A PostgreSQL URL whose driver is not installed says how to install one."""
        assert importlib.util.find_spec("pg8000") is None  # the driver this test relies on
        bot = Bot(tmp_path)
        bot.configure({"store": {"url": "postgresql+pg8000://triage@127.0.0.1:1/triage"}})

        result = bot.run(*command)

        assert result.returncode == 2
        line = one_error_line(result)
        assert "[store].url" in line
        assert "'pg8000'" in line
        assert "pip install 'triagebot[postgres]'" in line

    def test_unknown_database_kind_is_a_config_error(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.configure({"store": {"url": "nosuchdb://triage@127.0.0.1/triage"}})

        result = bot.run("defects")

        assert result.returncode == 2
        assert "[store].url" in one_error_line(result)
