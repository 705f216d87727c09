"""The adapters built from config: XOAUTH2 token commands run for real (a shell)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from triagebot.cli import _secrets
from triagebot.config import MailboxConfig, config_from_dict, load_config
from triagebot.errors import SourceUnavailable
from triagebot.services import store_url, token_provider

TOKEN = "ya29.secret-token-value"


def xoauth2(command: str) -> MailboxConfig:
    config = config_from_dict(
        {
            "mailbox": {
                "kind": "imap",
                "host": "127.0.0.1",
                "username": "bot@example.com",
                "auth": "xoauth2",
                "token_command": command,
            }
        }
    )
    return config.mailbox


class TestTokenCommand:
    def test_prints_a_token(self) -> None:
        assert token_provider(xoauth2(f"echo {TOKEN}"))() == TOKEN

    def test_failing_command_is_unavailable_and_never_shows_its_output(self) -> None:
        provider = token_provider(xoauth2(f"sh -c 'echo {TOKEN}; exit 3'"))
        with pytest.raises(SourceUnavailable, match="exited 3") as caught:
            provider()
        assert TOKEN not in str(caught.value)

    def test_missing_command_is_unavailable(self) -> None:
        provider = token_provider(xoauth2("/nonexistent/get-token --fresh"))
        with pytest.raises(SourceUnavailable, match="could not run"):
            provider()

    def test_hanging_command_is_unavailable(self) -> None:
        command = f"{sys.executable} -c 'import time; time.sleep(5)'"
        provider = token_provider(xoauth2(command), timeout=0.3)
        with pytest.raises(SourceUnavailable, match=r"within 0\.3 s"):
            provider()


class TestStorePassword:
    def test_password_from_a_file_is_set_into_the_url(self, tmp_path: Path) -> None:
        """The URL in the file has no password; the engine's URL has it (quoted), and the
        redactor learns it like every other secret."""
        (tmp_path / "db.pass").write_text("p@ss:w/rd\n", encoding="utf-8")
        config_file = tmp_path / "triagebot.toml"
        config_file.write_text(
            "[store]\nurl = 'postgresql+psycopg://bot@db.example.com:5433/triage'\n"
            "password_file = 'db.pass'\n",
            encoding="utf-8",
        )
        config = load_config(config_file)
        assert "p@ss" not in repr(config.store)
        url = make_url(store_url(config.store))
        assert (url.username, url.password, url.host, url.port) == (
            "bot",
            "p@ss:w/rd",
            "db.example.com",
            5433,
        )
        assert url.database == "triage"
        assert "p@ss:w/rd" in _secrets(config)

    def test_without_a_password_the_url_is_kept(self) -> None:
        config = config_from_dict({"store": {"url": "sqlite:////var/lib/triagebot.db"}})
        assert store_url(config.store) == "sqlite:////var/lib/triagebot.db"
