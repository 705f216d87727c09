"""What the command line says when the setup is wrong: one line naming the file or key and
what to do, never a traceback; exit 2 when the config or an input cannot be read."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

import triagebot
from tests.helpers import (
    SAMPLES,
    Bot,
    Result,
    imap_mailbox,
    jira_tracker,
    listing,
    seed_maildir,
)
from tests.servers import free_port
from tests.test_cli import status_lines


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

        assert result.returncode == 1
        line = one_error_line(result)
        assert "[store].url" in line
        assert "'pg8000'" in line
        assert "pip install 'triagebot[postgres]'" in line

    def test_unknown_database_kind_is_a_config_error(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.configure({"store": {"url": "nosuchdb://triage@127.0.0.1/triage"}})

        result = bot.run("defects")

        assert result.returncode == 1
        assert "[store].url" in one_error_line(result)


SAMPLE = SAMPLES / "client-case-load-nullref-01.eml"
#: Every command that reads the config, with the arguments it needs.
COMMANDS = {
    "run": ["run", "--once"],
    "explain": ["explain", str(SAMPLE)],
    "replay": ["replay", "--dry-run", str(SAMPLE)],
    "rules-explain": ["rules", "explain", str(SAMPLE)],
    "check-config": ["check-config"],
}


def shell(tmp_path: Path) -> Bot:
    """A terminal in an empty folder with no config of its own: ``-c`` is given by hand."""
    bot = Bot(tmp_path / "shell")
    bot.home.mkdir(exist_ok=True)
    return bot


class TestConfigFile:
    @pytest.mark.parametrize("command", list(COMMANDS))
    @pytest.mark.parametrize("problem", ["missing", "folder", "utf-16"])
    def test_unreadable_config_is_one_line(
        self, tmp_path: Path, command: str, problem: str
    ) -> None:
        """Exit 2 and one line naming the file and what is wrong, for every command."""
        path = tmp_path / "triagebot.toml"
        if problem == "folder":
            path.mkdir()
        elif problem == "utf-16":
            path.write_text('[logging]\nformat = "json"\n', encoding="utf-16")

        result = shell(tmp_path).run("-c", str(path), *COMMANDS[command])

        assert result.returncode == 2
        line = one_error_line(result)
        assert str(path) in line
        expected = {"missing": "file not found", "folder": "is a folder", "utf-16": "UTF-8"}
        assert expected[problem] in line
        if problem == "utf-16":
            assert "save it as UTF-8" in line

    def test_utf8_byte_order_mark_is_accepted(self, tmp_path: Path) -> None:
        """Notepad writes a BOM; the file still reads."""
        path = tmp_path / "triagebot.toml"
        path.write_text('\ufeff[logging]\nformat = "json"\n', encoding="utf-8")

        result = shell(tmp_path).run("-c", str(path), "explain", "--json", str(SAMPLE))

        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["kind"] == "error_report"

    @pytest.mark.parametrize("command", ["explain", "replay", "rules-explain"])
    def test_missing_mail_file_is_one_line(self, tmp_path: Path, command: str) -> None:
        missing = tmp_path / "no-such-report.eml"
        argv = [*COMMANDS[command][:-1], str(SAMPLE), str(missing)]

        result = shell(tmp_path).run(*argv)

        assert result.returncode == 2
        assert str(missing) in one_error_line(result)
        assert result.stdout == ""  # nothing half-done before the error


class TestConfigOption:
    def test_config_after_the_sub_command(self, tmp_path: Path) -> None:
        """``run --once -c FILE`` from another folder runs that deployment."""
        deployment = Bot(tmp_path / "deployment")
        deployment.home.mkdir()
        deployment.configure({})
        seed_maildir(deployment.maildir, [(SAMPLE.name, SAMPLE.read_bytes())])

        ran = shell(tmp_path).run("run", "--once", "-c", str(deployment.config))
        listed = shell(tmp_path).run("defects", "--json", "--config", str(deployment.config))

        assert ran.returncode == 0, ran.stderr
        assert len(listed.stdout.splitlines()) == 1
        assert listing(deployment.maildir / "cur") == [SAMPLE.name]
        assert list((tmp_path / "shell").iterdir()) == []

    def test_after_wins_over_before(self, tmp_path: Path) -> None:
        good = tmp_path / "good.toml"
        good.write_text('[logging]\nformat = "json"\n', encoding="utf-8")

        result = shell(tmp_path).run(
            "-c", str(tmp_path / "missing.toml"), "explain", "-c", str(good), str(SAMPLE)
        )

        assert result.returncode == 0, result.stderr

    def test_version(self, tmp_path: Path) -> None:
        result = shell(tmp_path).run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"triagebot {triagebot.__version__}"


class TestDefaultPaths:
    def test_check_config_reports_missing_folders_without_making_them(
        self, tmp_path: Path
    ) -> None:
        """The default Maildir is beside the config file, a named rules folder too; neither
        exists, so both are errors and neither is created."""
        deployment = tmp_path / "deployment"
        deployment.mkdir()
        config = deployment / "triagebot.toml"
        config.write_text('[logging]\nformat = "json"\n[rules]\npath = "my-rules"\n')

        result = shell(tmp_path).run("check-config", "-c", str(config))

        assert result.returncode == 1
        lines = status_lines(result.stdout)
        assert lines["mailbox"] == (
            "error",
            f"[mailbox].path: Maildir {deployment / 'var' / 'mail'} does not exist",
        )
        assert lines["rules"] == (
            "error",
            f"[rules].path: folder {deployment / 'my-rules'} does not exist",
        )
        assert not (deployment / "var" / "mail").exists()
        assert not (deployment / "my-rules").exists()
        assert list((tmp_path / "shell").iterdir()) == []

    def test_without_rules_folder_the_shipped_rules_apply(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.config.write_text('[logging]\nformat = "json"\n', encoding="utf-8")

        result = bot.run("rules", "explain", str(SAMPLE))

        assert result.returncode == 0, result.stderr
        assert "  match    component-client:" in result.stdout


class TestReadOnlyCommands:
    @pytest.mark.parametrize(
        "argv",
        [
            ["defects"],
            ["status"],
            ["explain", str(SAMPLE)],
            ["replay", "--dry-run", str(SAMPLE)],
            ["rules", "explain", str(SAMPLE)],
        ],
    )
    def test_need_no_service_secrets(self, tmp_path: Path, argv: list[str]) -> None:
        """IMAP password, Jira token, SMTP password and reply-token secret all unset."""
        bot = Bot(tmp_path)  # no TB_* variables in its environment
        bot.configure(
            {
                "mailbox": imap_mailbox(free_port(), "helpdesk", "TB_IMAP_PASSWORD"),
                "tracker": jira_tracker("http://127.0.0.1:9", "TB_JIRA_TOKEN"),
                "smtp": {"host": "127.0.0.1", "password_env": "TB_SMTP_PASSWORD"},
            }
        )

        result = bot.run(*argv)

        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr

    def test_the_service_still_needs_them(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.configure({"mailbox": imap_mailbox(free_port(), "helpdesk", "TB_IMAP_PASSWORD")})

        result = bot.run("run", "--once")

        assert result.returncode == 2
        assert "TB_IMAP_PASSWORD is not set" in one_error_line(result)


class TestUnreachableTracker:
    def test_refused_connection_answers_within_15_s(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
        bot.configure({"tracker": jira_tracker(f"http://127.0.0.1:{free_port()}", "TB_JIRA_TOKEN")})
        started = time.monotonic()

        result = bot.run("check-config")

        assert time.monotonic() - started < 15
        assert result.returncode == 1
        status, detail = status_lines(result.stdout)["tracker"]
        assert status == "error"
        assert "ConnectionError" in detail

    def test_unknown_host_is_not_retried(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
        bot.configure({"tracker": jira_tracker("https://jira.invalid", "TB_JIRA_TOKEN")})
        started = time.monotonic()

        result = bot.run("check-config")

        assert time.monotonic() - started < 10
        assert status_lines(result.stdout)["tracker"][0] == "error"
        assert result.named("jira.retry") == []
        assert len(result.named("jira.host_not_found")) == 1
