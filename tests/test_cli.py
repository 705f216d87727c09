"""The command line as an operator meets it: ``check-config``, ``replay``, ``defects``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakejira import FakeJira
from tests.helpers import (
    GARBAGE,
    SAMPLES,
    Bot,
    copy_rules,
    imap_mailbox,
    jira_tracker,
    listing,
    samples,
    seed_maildir,
)
from tests.servers import free_port
from tests.servers.dovecot import Mailbox

FEATURES = ["environment", "store", "rules", "mailbox", "listener", "metrics", "tracker", "smtp"]
DISABLED_BY_DEFAULT = {"environment", "listener", "metrics", "smtp"}
REPLAY_KEYS = {
    "message_id", "kind", "signature", "title", "exception_type", "language", "frames",
    "rule", "action",
}  # fmt: skip


def status_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """``feature status detail`` lines → feature: (status, detail)."""
    lines: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        feature, status, detail = line.split(maxsplit=2)
        lines[feature] = (status, detail)
    return lines


class TestCheckConfig:
    def test_embedded_defaults(self, tmp_path: Path) -> None:
        """No config file: Maildir, SQLite and local tracker under the working folder."""
        bot = Bot(tmp_path)
        copy_rules(tmp_path / "rules")
        seed_maildir(bot.maildir, samples()[:1])

        result = bot.run("check-config")

        assert result.returncode == 0, result.stdout + result.stderr
        lines = status_lines(result.stdout)
        assert list(lines)[: len(FEATURES)] == FEATURES
        assert all(lines[f][0] == "disabled" for f in DISABLED_BY_DEFAULT)
        assert all(lines[f][0] == "enabled" for f in FEATURES if f not in DISABLED_BY_DEFAULT)
        assert lines["store"][1] == f"sqlite:///{bot.db}"
        assert lines["mailbox"][1].startswith("maildir:")
        assert lines["tracker"][1].startswith("local:")
        assert int(lines["rules"][1].split()[0]) > 0
        assert lines["environment"][1].startswith("none applied: neither TRIAGEBOT_ENV nor")
        assert len(listing(bot.maildir / "new")) == 1  # looked at, nothing moved
        assert bot.db.exists()

    def test_wrong_imap_password(self, tmp_path: Path, mailbox: Mailbox) -> None:
        bot = Bot(tmp_path, env={"TB_IMAP_PASSWORD": mailbox.password + "-wrong"})
        bot.configure(
            {"mailbox": imap_mailbox(mailbox.server.port, mailbox.username, "TB_IMAP_PASSWORD")}
        )

        result = bot.run("check-config")

        assert result.returncode == 1
        lines = status_lines(result.stdout)
        assert lines["mailbox"][0] == "error"
        assert lines["store"][0] == lines["tracker"][0] == "enabled"
        assert mailbox.password not in result.stdout + result.stderr

    def test_unreachable_imap_server_is_reported_at_once(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path, env={"TB_IMAP_PASSWORD": "secret"})
        bot.configure({"mailbox": imap_mailbox(free_port(), "helpdesk", "TB_IMAP_PASSWORD")})
        started = time.monotonic()

        result = bot.run("check-config")

        assert result.returncode == 1
        assert status_lines(result.stdout)["mailbox"][0] == "error"
        assert time.monotonic() - started < 10  # no reconnect back-off (that takes ~15 s)

    def test_jira_reachable_and_wrong_token(self, tmp_path: Path, fake_jira: FakeJira) -> None:
        bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
        bot.configure({"tracker": jira_tracker(fake_jira.url, "TB_JIRA_TOKEN")})
        ok = bot.run("check-config")
        bot.env["TB_JIRA_TOKEN"] = "not-the-token"
        refused = bot.run("check-config")

        assert ok.returncode == 0, ok.stdout
        assert status_lines(ok.stdout)["tracker"] == (
            "enabled",
            f"jira: {fake_jira.url} project OPS (search works)",
        )
        assert refused.returncode == 1
        assert status_lines(refused.stdout)["tracker"][0] == "error"
        assert "not-the-token" not in refused.stdout + refused.stderr

    @pytest.mark.parametrize(
        ("sections", "key"),
        [
            ({"mailbox": {"hots": "imap.example.com"}}, "[mailbox].hots"),
            ({"mailbox": {"batch_size": "many"}}, "[mailbox].batch_size"),
            ({"tracker": {"kind": "jira"}}, "[tracker.jira].url"),
            ({"tracker": {"kind": "jira", "url": "http://jira.example.com"}}, "[tracker.jira].url"),
            ({"mailbox": {"kind": "imap", "host": "h", "username": "u"}}, "[mailbox].password_env"),
        ],
    )
    def test_config_error_exits_2_naming_the_key(
        self, tmp_path: Path, sections: dict[str, dict[str, Any]], key: str
    ) -> None:
        bot = Bot(tmp_path)
        bot.configure(sections)

        result = bot.run("check-config")

        assert result.returncode == 2
        assert result.stdout == ""
        assert key in result.stderr
        (event,) = result.named("config.invalid")
        assert event["error"].startswith(key)


class TestReplay:
    def test_dry_run_json_one_line_per_mail_in_order(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.configure({})
        garbage = tmp_path / "garbage.eml"
        garbage.write_bytes(GARBAGE)
        paths = [str(p) for p in sorted(SAMPLES.glob("*.eml"))]
        before = sorted(tmp_path.rglob("*"))

        result = bot.run("replay", "--dry-run", "--json", *paths, str(garbage))

        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == len(paths) + 1
        assert all(set(r) >= REPLAY_KEYS for r in records)
        assert [r["kind"] for r in records] == ["error_report"] * len(paths) + ["invalid"]
        assert all(r["signature"] and r["frames"] > 0 for r in records[:-1])
        assert sorted(tmp_path.rglob("*")) == before  # a dry run writes nothing

    def test_replay_without_dry_run_is_refused(self, tmp_path: Path) -> None:
        bot = Bot(tmp_path)
        bot.configure({})

        result = bot.run("replay", str(SAMPLES))

        assert result.returncode == 2
        assert "--dry-run" in result.stderr


def test_defects_on_a_fresh_store_lists_nothing(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({})
    assert bot.defects() == []


class TestDefectsListing:
    @pytest.fixture(scope="class")
    def bot(self, tmp_path_factory: pytest.TempPathFactory) -> Bot:
        """The samples processed once: five candidates in the local store."""
        bot = Bot(tmp_path_factory.mktemp("defects"))
        bot.configure({})
        seed_maildir(bot.maildir, samples())
        bot.once()
        return bot

    def test_columns_have_headers(self, bot: Bot) -> None:
        result = bot.run("defects")

        header, *rows = result.stdout.splitlines()
        assert header.split() == ["REF", "KEY", "STATE", "COUNT", "LAST", "SEEN", "(UTC)", "TITLE"]
        assert len(rows) == 5
        assert all(row.split()[2] == "candidate" for row in rows)
        assert sum(int(row.split()[3]) for row in rows) == len(samples())

    def test_filters_by_state_and_since(self, bot: Bot) -> None:
        candidates = bot.run("defects", "--json", "--state", "candidate", "--since", "2000-01-01")
        filed = bot.run("defects", "--state", "filed", "--state", "rejected")
        future = bot.run("defects", "--since", "2999-01-01T00:00")

        assert len(candidates.stdout.splitlines()) == 5
        assert filed.stdout == future.stdout
        assert filed.stdout == f"no defects matching the filters in sqlite:///{bot.db}\n"

    def test_bad_filter_is_a_usage_error(self, bot: Bot) -> None:
        result = bot.run("defects", "--since", "last tuesday")
        assert result.returncode == 2
        assert "'last tuesday' is not a date" in result.stderr


def test_empty_store_says_which_store_it_read(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({})

    result = bot.run("defects")

    assert result.returncode == 0
    assert result.stdout == f"no defects in sqlite:///{bot.db}\n"


def test_shipped_rules_are_at_work_on_the_shipped_samples(tmp_path: Path) -> None:
    """``rules explain samples/*.eml``: every sample matches at least one shipped rule."""
    paths = [str(p) for p in sorted(SAMPLES.glob("*.eml"))]

    result = Bot(tmp_path).run("rules", "explain", *paths)

    assert result.returncode == 0, result.stderr
    sections = result.stdout.split("== ")[1:]
    assert len(sections) == len(paths)
    unmatched = [s.splitlines()[0] for s in sections if "\n  match    " not in s]
    assert unmatched == []
