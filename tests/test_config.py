"""Configuration loading: typed values, key-path errors, secrets from env/files only."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from triagebot.config import (
    Config,
    DigestConfig,
    HelpdeskConfig,
    ListenerConfig,
    MailboxConfig,
    Secret,
    ServiceConfig,
    SmtpConfig,
    StoreConfig,
    TrackerConfig,
    config_from_dict,
    load_config,
)
from triagebot.errors import ConfigError
from triagebot.rules import load_rules
from triagebot.shipped import RULES_DIR, rules_folder
from triagebot.trackers import configured
from triagebot.trackers.azure_devops import AzureDevOpsSettings
from triagebot.trackers.github import GitHubSettings
from triagebot.trackers.jira import JiraSettings

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triagebot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problem(path: Path) -> str:
    """The first thing wrong with the config at ``path``: the error a required section
    raises, or the one an optional section recorded (its feature is then off)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return str(exc)
    assert config.broken, "the config has no problem"
    return config.broken[0][1]


class TestExampleConfig:
    def test_example_file_loads_with_embedded_defaults(self) -> None:
        """The shipped example is valid and describes the embedded defaults."""
        config = load_config(ROOT / "config.example.toml")
        assert config.mailbox.kind == "maildir"
        assert config.mailbox.path == ROOT / "var" / "mail"
        assert config.tracker.kind == "local"
        assert config.store.url == f"sqlite:///{ROOT / 'var' / 'triagebot.db'}"

    @pytest.mark.parametrize(
        ("section", "cls"),
        [
            ("mailbox", MailboxConfig),
            ("service", ServiceConfig),
            ("listener", ListenerConfig),
            ("tracker", TrackerConfig),
            ("store", StoreConfig),
            ("smtp", SmtpConfig),
            ("helpdesk", HelpdeskConfig),
            ("digest", DigestConfig),
            ("tracker.jira", JiraSettings),
            ("tracker.azure_devops", AzureDevOpsSettings),
            ("tracker.github", GitHubSettings),
        ],
    )
    def test_example_documents_every_key(self, section: str, cls: type) -> None:
        """Each key a section accepts appears in the example (secrets as ``<name>_env``)."""
        text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        start = text.index(f"[{section}]")  # commented out or not
        block = text[start : text.find("\n\n", start)]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in ("environment", "tables"):
                continue  # set by [smtp.environments.NAME] / the [tracker.<kind>] tables
            secret = Secret in typing.get_args(hints[f.name])
            key = f"{f.name}_(env|file)" if secret else f.name  # the header explains both
            assert re.search(rf"^(# ?)?{key} +=", block, re.MULTILINE), f"[{section}] {key}"

    def test_empty_config_is_all_defaults(self) -> None:
        """No file at all still gives a working configuration, relative to the cwd."""
        config = config_from_dict({})
        assert isinstance(config, Config)
        assert config.listener is None
        assert config.mailbox.batch_size == 500


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[mailbox]\nkinde = 'imap'\n", "[mailbox].kinde: unknown key"),
            ("[mailbox]\nkind = 'pop3'\n", "[mailbox].kind: 'pop3' is not one of"),
            ("[mailbox]\nbatch_size = '10'\n", "[mailbox].batch_size: must be a whole number"),
            ("[mailbox]\npoll_interval = -1\n", "[mailbox].poll_interval: must not be negative"),
            ("[tracker]\nsync_interval = -1\n", "[tracker].sync_interval: must not be negative"),
            ("[mailbx]\n", "[mailbx]: unknown section"),
            (
                "[mailbox]\nkind = 'imap'\nusername='u'\nauth='xoauth2'\ntoken_command='t'\n",
                "[mailbox].host: required when kind = 'imap'",
            ),
            ("[signature]\napp_frames = 'Acme.*'\n", "[signature].app_frames: must be a list"),
            ("[listener]\nport = 70000\n", "[listener].port: 70000 is not a TCP port"),
            ("mailbox = 3\n", "[mailbox]: must be a table"),
            ("[mailbox]\nbatch_size = 0\n", "[mailbox].batch_size: must be at least 1"),
            ("[mailbox]\nbatch_bytes = 0\n", "[mailbox].batch_bytes: must be at least 1"),
            ("[mailbox]\nmin_age = -1\n", "[mailbox].min_age: must not be negative"),
            ("[mailbox]\npoll_interval = 0\n", "[mailbox].poll_interval: must be more than 0"),
            (
                "[[digest]]\nname = 'daily'\nrecipients = ['a@x.org']\nschedule = '61 8 * * *'\n",
                "[[digest]] daily.schedule: not a cron line",
            ),
            (
                "[[digest]]\nname = 'daily'\nrecipients = ['a@x.org']\ntimezone = 'Mars/Base'\n",
                "[[digest]] daily.timezone: unknown time zone 'Mars/Base'",
            ),
            (
                "[store]\nurl = 'postgresql+psycopg://bot:hunter2@db.example.com/triage'\n",
                "[store].url: a password in the URL is a secret written inline",
            ),
            ("[store]\nlock_timeout = 0\n", "[store].lock_timeout: must be from 0.001"),
            (
                "[store]\nidle_in_transaction_timeout = 100000\n",
                "[store].idle_in_transaction_timeout: must be from 0.001 to 86400 seconds",
            ),
        ],
    )
    def test_error_names_key_and_problem(self, tmp_path: Path, text: str, message: str) -> None:
        """Every error starts with the key path and says what is wrong (raised for a
        required section, recorded in ``broken`` for an optional one)."""
        assert problem(write(tmp_path, text)).startswith(message)

    def test_broken_toml_names_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[mailbox\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_config(path)

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("nope", "[tracker.jira].url: not a URL"),
            ("http://jira.example.com", "[tracker.jira].url: must be https"),
        ],
    )
    def test_tracker_settings_are_read_by_the_same_reader(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
    ) -> None:
        """``[tracker.<kind>]`` errors name the kind's table and key like any section."""
        monkeypatch.setenv("JIRA_TOKEN", "t0ken-value")
        text = (
            f"[tracker]\nkind='jira'\n[tracker.jira]\nurl='{url}'\nproject='OPS'\n"
            "username='bot@example.com'\ntoken_env='JIRA_TOKEN'\n"
        )
        config = load_config(write(tmp_path, text))
        with pytest.raises(ConfigError) as info:
            configured(config.tracker, config.base_dir)
        assert str(info.value).startswith(message)

    def test_flat_tracker_keys_still_work_with_a_warning(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first releases' ``[tracker] url = ...`` is read as ``[tracker.jira]``."""
        monkeypatch.setenv("JIRA_TOKEN", "t0ken-value")
        text = (
            "[tracker]\nkind='jira'\nurl='https://jira.example.com'\nproject='OPS'\n"
            "username='bot@example.com'\ntoken_env='JIRA_TOKEN'\nsync_interval=60\n"
        )
        config = load_config(write(tmp_path, text))
        settings = configured(config.tracker, config.base_dir).settings
        assert (settings.url, settings.project, settings.secret) == (
            "https://jira.example.com",
            "OPS",
            "t0ken-value",
        )
        assert config.tracker.sync_interval == 60.0
        (warning,) = config.warnings
        assert "belong in [tracker.jira]" in warning
        assert "token_env" in warning

    def test_a_key_both_flat_and_in_the_table_is_an_error(self, tmp_path: Path) -> None:
        text = "[tracker]\nkind='jira'\nproject='A'\n[tracker.jira]\nproject='B'\n"
        with pytest.raises(ConfigError, match=r"^\[tracker\]\.project: also given"):
            load_config(write(tmp_path, text))

    def test_unknown_tracker_kind_lists_the_known_ones(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, "[tracker]\nkind='bugzilla'\n"))
        with pytest.raises(ConfigError, match=r"^\[tracker\]\.kind: unknown tracker 'bugzilla'"):
            configured(config.tracker, config.base_dir)


class TestSecrets:
    def test_inline_secret_is_refused(self, tmp_path: Path) -> None:
        """A password written into the file is an error pointing to the _env/_file keys."""
        with pytest.raises(ConfigError, match=r"\[mailbox\].password: secrets are not written"):
            load_config(write(tmp_path, "[mailbox]\npassword = 'hunter2'\n"))

    def test_secret_from_environment_is_masked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("IMAP_PASSWORD", "s3cr3t-pass")
        text = (
            "[mailbox]\nkind='imap'\nhost='imap.example.com'\nusername='helpdesk'\n"
            "password_env='IMAP_PASSWORD'\n"
        )
        config = load_config(write(tmp_path, text))
        assert isinstance(config.mailbox.password, Secret)
        assert config.mailbox.password.reveal() == "s3cr3t-pass"
        assert "s3cr3t" not in repr(config)
        assert "env:IMAP_PASSWORD" in repr(config.mailbox.password)

    def test_missing_environment_variable_is_named(self, tmp_path: Path) -> None:
        text = "[listener]\nusername='app'\npassword_env='TRIAGEBOT_TEST_UNSET_VAR'\n"
        assert problem(write(tmp_path, text)).startswith(
            "[listener].password_env: environment variable TRIAGEBOT_TEST_UNSET_VAR"
        )

    def test_secret_file_is_relative_to_config(self, tmp_path: Path) -> None:
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "listener").write_text("pa55word\n", encoding="utf-8")
        text = (
            "[listener]\nusername='app'\npassword_file='secrets/listener'\n"
            "tls_cert='tls/cert.pem'\ntls_key='tls/key.pem'\n"
        )
        config = load_config(write(tmp_path, text))
        assert config.listener is not None
        assert config.listener.password is not None
        assert config.listener.password.reveal() == "pa55word"

    def test_env_and_file_together_is_an_error(self, tmp_path: Path) -> None:
        text = "[listener]\nusername='a'\npassword_env='A'\npassword_file='b'\n"
        assert "either password_env or password_file" in problem(write(tmp_path, text))


class TestPaths:
    def test_relative_paths_follow_the_config_file(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, "[mailbox]\npath = 'inbox'\n[rules]\npath='r'\n"))
        assert config.mailbox.path == tmp_path / "inbox"
        assert config.rules.path == tmp_path / "r"
        assert config.store.url == f"sqlite:///{tmp_path / 'var' / 'triagebot.db'}"

    def test_default_paths_follow_the_config_file_too(self, tmp_path: Path) -> None:
        """Sections left out take their paths beside the config, not in the working folder;
        without a rules folder the shipped rules apply."""
        config = load_config(write(tmp_path, "[logging]\nlevel = 'info'\n"))
        assert config.mailbox.path == tmp_path / "var" / "mail"
        assert config.rules.path is None
        assert rules_folder(config.rules.path) == RULES_DIR
        assert len(load_rules(RULES_DIR).rules) > 0

    def test_absolute_and_server_urls_are_kept(self, tmp_path: Path) -> None:
        text = "[store]\nurl = 'postgresql+psycopg://triage@db/triage'\n"
        assert load_config(write(tmp_path, text)).store.url.startswith("postgresql+psycopg://")
