"""A mistake in an optional section ([helpdesk], a [[digest]], [listener], [smtp]) switches
off that feature with one warning naming the key; the service runs and files, and
``check-config`` fails naming it. A wrong required section still stops the service."""

from __future__ import annotations

import pytest

from tests.helpers import Bot, parse_events, samples, seed_maildir
from triagebot.config import config_from_dict
from triagebot.errors import ConfigError

HELPDESK = {
    "recipients": ["helpdesk@example.test"],
    "allowed_senders": ["example.test"],
    "reply_address": "helpdesk@example.test",
    "token_secret_env": "TB_SECRET",
}
DIGEST = {"name": "daily", "recipients": ["dev@example.test"], "timezone": "UTC"}


def test_a_broken_optional_section_is_recorded_and_the_rest_is_read() -> None:
    config = config_from_dict(
        {
            "helpdesk": {**HELPDESK, "token_secret_env": "", "max_candidate_mails_per_hour": 0},
            "digest": [
                {**DIGEST, "timezone": "Mars/Olympus"},
                {**DIGEST, "name": "weekly", "schedule": "0 8 * * 1"},
                {**DIGEST, "name": "bad-cron", "schedule": "every monday"},
            ],
            "listener": {"port": "twenty-five"},
        }
    )
    assert config.helpdesk is None and config.listener is None
    assert [d.name for d in config.digests] == ["weekly"]
    sections = [section for section, _ in config.broken]
    assert sections == ["listener", "helpdesk", "digest", "digest"]
    errors = dict(config.broken)
    assert "[listener].port" in errors["listener"]
    assert "[helpdesk]." in errors["helpdesk"]
    assert any("[[digest]] daily.timezone" in e for s, e in config.broken if s == "digest")


def test_a_broken_required_section_still_stops() -> None:
    with pytest.raises(ConfigError, match=r"\[mailbox\]\.batch_size"):
        config_from_dict({"mailbox": {"batch_size": 0}})


def test_the_service_runs_and_files_with_a_broken_helpdesk_and_digest(tmp_path: object) -> None:
    bot = Bot(tmp_path, env={"TB_SECRET": "s" * 24})  # type: ignore[arg-type]
    bot.configure(
        {
            "helpdesk": {**HELPDESK, "allowed_senders": ["*"]},
            "digest": {**DIGEST, "schedule": "25 hours"},  # type: ignore[dict-item]
        }
    )
    seed_maildir(bot.maildir, samples()[:3])
    result = bot.once()
    disabled = [e for e in parse_events(result.stderr) if e["event"] == "config.section_disabled"]
    assert sorted(e["section"] for e in disabled) == ["digest", "helpdesk"]
    assert any("allowed_senders" in e["error"] for e in disabled)
    assert sum(d["occurrences"] for d in bot.defects()) == 3
    check = bot.run("check-config")
    assert check.returncode == 1
    lines = [line for line in check.stdout.splitlines() if " error " in f" {line} "]
    assert any(line.startswith("helpdesk") for line in lines), check.stdout
    assert any(line.startswith("digest") for line in lines), check.stdout
