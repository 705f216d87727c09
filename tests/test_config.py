"""Configuration loading: typed values, key-path errors, secrets from env/files only."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from triagebot.config import (
    ENVIRONMENT_VARIABLE,
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
from triagebot.smtp import mail_problem
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
            if f.name == "tables":
                continue  # the [tracker.<kind>] tables
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


ENV_BASE = """
[smtp]
host = "smtp.acme.example"
username = "triagebot@acme.example"
password_env = "TB_TEST_SMTP"
from_address = "triagebot@acme.example"

[helpdesk]
recipients = ["helpdesk@acme.example"]
allowed_senders = ["acme.example"]
reply_address = "triagebot@acme.example"
token_secret_env = "TB_TEST_TOKEN"

[[digest]]
name = "daily"
recipients = ["dev@acme.example"]

[[digest]]
name = "weekly"
recipients = ["leads@acme.example"]
"""

CUSTOMER_A = """
[environments.customer-a-prod.smtp]
host = "mail.customer-a.example"
username = "triagebot@customer-a.example"
from_address = "triagebot@customer-a.example"

[environments.customer-a-prod.helpdesk]
reply_address = "triagebot@customer-a.example"

[environments.customer-a-prod.digest.daily]
recipients = ["dev@customer-a.example"]

[environments.customer-a-test.helpdesk]
recipients = ["qa@customer-a.example"]
"""


class TestEnvironments:
    """``[environments.NAME]`` (and the older ``[smtp.environments.NAME]``) over the base
    tables, chosen by ``TRIAGEBOT_ENV`` or ``environment =``."""

    @pytest.fixture(autouse=True)
    def secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
        monkeypatch.setenv("TB_TEST_SMTP", "smtp-password")
        monkeypatch.setenv("TB_TEST_TOKEN", "a-token-secret-of-32-characters!")

    @staticmethod
    def load(tmp_path: Path, text: str, environment: str | None = None) -> Config:
        top = f"environment = {environment!r}\n" if environment else ""
        return load_config(write(tmp_path, top + ENV_BASE + text))

    def test_environment_in_the_file_overrides_smtp_helpdesk_and_one_digest(
        self, tmp_path: Path
    ) -> None:
        """Only the keys the environment gives change; errors and check-config can tell which
        table each key came from."""
        config = self.load(tmp_path, CUSTOMER_A, "customer-a-prod")
        assert config.smtp is not None and config.helpdesk is not None
        assert (config.smtp.host, config.smtp.username) == (
            "mail.customer-a.example",
            "triagebot@customer-a.example",
        )
        assert config.smtp.password is not None  # the base's, kept
        assert config.smtp.password.reveal() == "smtp-password"
        assert config.helpdesk.reply_address == "triagebot@customer-a.example"
        assert config.helpdesk.recipients == ("helpdesk@acme.example",)
        assert {d.name: d.recipients for d in config.digests} == {
            "daily": ("dev@customer-a.example",),
            "weekly": ("leads@acme.example",),
        }
        assert config.broken == ()
        assert config.environment is not None
        assert config.environment.name == "customer-a-prod"
        assert config.environment.source == "environment = 'customer-a-prod' in the file"
        assert config.environment.tables == (
            "[environments.customer-a-prod.smtp]",
            "[environments.customer-a-prod.helpdesk]",
            "[environments.customer-a-prod.digest.daily]",
        )
        assert config.environments == ("customer-a-prod", "customer-a-test")
        assert config.key("smtp", "host") == "[environments.customer-a-prod.smtp].host"
        assert config.key("smtp", "password_env") == "[smtp].password_env"
        assert config.key("digest.daily", "recipients") == (
            "[environments.customer-a-prod.digest.daily].recipients"
        )
        assert config.key("digest.weekly", "recipients") == "[[digest]] weekly.recipients"
        assert config.installation == "customer-a-prod"  # no [service] name: the environment's

    def test_variable_wins_over_the_file_and_says_so(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, "customer-a-test")
        config = self.load(tmp_path, CUSTOMER_A, "customer-a-prod")
        assert config.environment is not None
        assert config.environment.name == "customer-a-test"
        assert config.environment.source == (
            "the TRIAGEBOT_ENV variable, over environment = 'customer-a-prod' in the file"
        )
        assert config.helpdesk is not None and config.smtp is not None
        assert config.helpdesk.recipients == ("qa@customer-a.example",)
        assert config.smtp.host == "smtp.acme.example"  # customer-a-test keeps the base's

    def test_without_a_choice_the_base_applies(self, tmp_path: Path) -> None:
        config = self.load(tmp_path, CUSTOMER_A)
        assert config.environment is None
        assert config.environments == ("customer-a-prod", "customer-a-test")
        assert config.smtp is not None and config.smtp.host == "smtp.acme.example"
        assert config.key("smtp", "host") == "[smtp].host"

    def test_the_older_smtp_environments_form_keeps_working(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        older = (
            ENV_BASE.replace("[smtp]\n", '[smtp]\nenvironment = "customer-b"\n')
            + '[smtp.environments.customer-b]\nhost = "mail.customer-b.example"\n'
        )
        config = load_config(write(tmp_path, older))
        assert config.smtp is not None and config.smtp.host == "mail.customer-b.example"
        assert config.environment is not None
        assert config.environment.source == "[smtp].environment = 'customer-b' in the file"
        assert config.key("smtp", "host") == "[smtp.environments.customer-b].host"
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, "customer-b")
        again = load_config(write(tmp_path, older.replace('environment = "customer-b"\n', "")))
        assert again.smtp == config.smtp

    def test_both_forms_may_name_one_environment_but_one_holds_its_smtp_keys(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The older table keeps SMTP, the new one adds a helpdesk override; two SMTP
        overrides for one environment would leave which one wins to guesswork: an error."""
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, "customer-b")
        both = (
            '[smtp.environments.customer-b]\nhost = "mail.customer-b.example"\n'
            '[environments.customer-b.helpdesk]\nreply_address = "bot@customer-b.example"\n'
        )
        config = self.load(tmp_path, both)
        assert config.smtp is not None and config.helpdesk is not None
        assert (config.smtp.host, config.helpdesk.reply_address) == (
            "mail.customer-b.example",
            "bot@customer-b.example",
        )
        assert config.environments == ("customer-b",)
        twice = both + "[environments.customer-b.smtp]\nport = 465\n"
        with pytest.raises(
            ConfigError,
            match=re.escape(
                "[environments.customer-b.smtp]: [smtp.environments.customer-b] overrides [smtp] "
                "for this environment too: keep one"
            ),
        ):
            self.load(tmp_path, twice)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "[environments.a.smtp]\nport = '587'\n",
                "[environments.a.smtp].port: must be a whole number",
            ),
            ("[environments.a.smtp]\nhots = 'x'\n", "[environments.a.smtp].hots: unknown key"),
            (
                "[environments.a.smtp]\npassword_env = 'TB_TEST_SMTP'\npassword_file = 'pw'\n",
                "[environments.a.smtp].password_env: give either password_env or password_file",
            ),
            (
                "[environments.a.helpdesk]\nrecipients = ['helpdesk']\n",
                "[environments.a.helpdesk].recipients: 'helpdesk' is not an e-mail address",
            ),
            (
                "[environments.a.helpdesk]\ntoken_secret_env = 'TB_TEST_UNSET'\n",
                "[environments.a.helpdesk].token_secret_env: environment variable TB_TEST_UNSET",
            ),
            (
                "[environments.a.digest.daily]\ntimezone = 'Mars/Base'\n",
                "[environments.a.digest.daily].timezone: unknown time zone 'Mars/Base'",
            ),
            (
                "[environments.a.digest.daily]\nrecipients = ['triagebot@acme.example']\n",
                "[environments.a.digest.daily].recipients: 'triagebot@acme.example' is "
                "triagebot's own address ([smtp].from_address)",
            ),
            (
                "[environments.a.digest.monthly]\nrecipients = ['x@acme.example']\n",
                "[environments.a.digest.monthly]: no [[digest]] named 'monthly' "
                "(defined: daily, weekly)",
            ),
            (
                "[environments.a.digest.daily]\nname = 'other'\n",
                "[environments.a.digest.daily].name: a digest keeps its name",
            ),
            (
                "[smtp.environments.a]\ntimeout = 'long'\n",
                "[smtp.environments.a].timeout: must be a number",
            ),
        ],
    )
    def test_errors_name_the_environment_table(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        """A wrong key of an optional section turns that feature off, as in the base table,
        and says which environment table holds it."""
        assert problem(write(tmp_path, "environment = 'a'\n" + ENV_BASE + text)).startswith(message)

    def test_an_override_naming_no_digest_turns_off_nothing_else(self, tmp_path: Path) -> None:
        text = "[environments.a.digest.monthly]\nrecipients = ['x@acme.example']\n"
        config = self.load(tmp_path, text, "a")
        assert [d.name for d in config.digests] == ["daily", "weekly"]
        assert [section for section, _ in config.broken] == ["digest"]
        assert config.smtp is not None and config.helpdesk is not None

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "[environments.a.smtp]\nfrom_address = 'other@acme.example'\n",
                "[environments.a.smtp].from_address: 'other@acme.example' is not the "
                "authenticated mailbox",
            ),
            ("[smtp.environments.a]\nport = 70000\n", "[smtp.environments.a].port: 70000 is not"),
        ],
    )
    def test_mail_problems_name_the_environment_table(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        """Problems seen only when mail is set up (``check-config``, the service's one
        ``mail.disabled`` line) name the environment's table too."""
        found = mail_problem(self.load(tmp_path, text, "a"))
        assert found is not None
        assert found[1].startswith(message)

    @pytest.mark.parametrize(
        ("top", "text", "variable", "message"),
        [
            (
                "environment = 'customer-a-pord'\n",
                CUSTOMER_A,
                "",
                "environment: the file has no [environments.customer-a-pord] "
                "(defined: customer-a-prod, customer-a-test)",
            ),
            ("", CUSTOMER_A, "nope", "TRIAGEBOT_ENV: the file has no [environments.nope]"),
            ("", "", "nope", "TRIAGEBOT_ENV: the file has no [environments.nope] (defined: none)"),
            (
                "",
                "[smtp.environments.customer-b]\nport = 25\n",
                "nope",
                "TRIAGEBOT_ENV: the file has no [environments.nope] or [smtp.environments.nope] "
                "(defined: customer-b)",
            ),
            (
                "",
                "[environments.a.tracker]\nkind = 'jira'\n",
                "",
                "[environments.a].tracker: unknown: an environment overrides keys of its smtp, "
                "helpdesk and digest.<digest name> tables",
            ),
            ("", "[environments.a]\nhost = 'x'\n", "", "[environments.a].host: unknown"),
            (
                "",
                "[environments.'customer a'.smtp]\nport = 25\n",
                "",
                "[environments.customer a]: 'customer a' is not a name",
            ),
            ("environment = 3\n", "", "", "environment: must be a string"),
            (
                "environment = 'a'\n",
                "[environments.a.helpdesk]\n",
                "",
                "",  # consistent: no error
            ),
        ],
    )
    def test_a_wrong_choice_or_table_shape_stops_with_the_key(
        self,
        *,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        top: str,
        text: str,
        variable: str,
        message: str,
    ) -> None:
        """Which customer's settings apply is not guessed: a choice naming no environment and
        a table that cannot be an environment's stop the service (exit 2) with the key."""
        if variable:
            monkeypatch.setenv(ENVIRONMENT_VARIABLE, variable)
        path = write(tmp_path, top + ENV_BASE + text)
        if not message:
            assert load_config(path).environment is not None
            return
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(caught.value).startswith(message)

    def test_the_file_and_the_older_key_must_agree(self, tmp_path: Path) -> None:
        text = "environment = 'a'\n" + ENV_BASE.replace("[smtp]\n", "[smtp]\nenvironment = 'b'\n")
        with pytest.raises(
            ConfigError, match=r"^\[smtp\]\.environment: 'b' differs from environment = 'a'"
        ):
            load_config(write(tmp_path, text))

    @pytest.mark.parametrize(
        ("base", "override", "source"),
        [
            ("password_env = 'TB_TEST_UNSET'", "password_file = 'smtp-password.txt'", "file:"),
            ("password_file = 'missing.txt'", "password_env = 'TB_TEST_SMTP'", "env:TB_TEST_SMTP"),
        ],
    )
    def test_an_environment_switches_between_password_env_and_password_file(
        self, tmp_path: Path, base: str, override: str, source: str
    ) -> None:
        """The environment's form replaces the base's: the base's variable need not be set,
        nor its file exist."""
        (tmp_path / "smtp-password.txt").write_text("from-a-file-0123456789\n", encoding="utf-8")
        text = ENV_BASE.replace('password_env = "TB_TEST_SMTP"', base)
        text += f"[environments.a.smtp]\n{override}\n"
        text += "[environments.a.helpdesk]\ntoken_secret_file = 'smtp-password.txt'\n"
        config = load_config(write(tmp_path, "environment = 'a'\n" + text))
        assert config.broken == ()
        assert config.smtp is not None and config.smtp.password is not None
        assert str(config.smtp.password).startswith(f"Secret(<{source}")
        assert config.helpdesk is not None and config.helpdesk.token_secret is not None
        assert config.helpdesk.token_secret.reveal() == "from-a-file-0123456789"
        assert config.key("helpdesk", "token_secret_file") == (
            "[environments.a.helpdesk].token_secret_file"
        )


    def test_a_secret_problem_names_the_form_and_table_it_came_from(self, tmp_path: Path) -> None:
        (tmp_path / "short.txt").write_text("too-short\n", encoding="utf-8")
        text = "[environments.a.helpdesk]\ntoken_secret_file = 'short.txt'\n"
        assert problem(write(tmp_path, "environment = 'a'\n" + ENV_BASE + text)) == (
            "[environments.a.helpdesk].token_secret_file: the token secret must be at least "
            "16 characters"
        )


class TestServiceName:
    @pytest.mark.parametrize("name", ["customer-a-prod", "acme.prod", "Kunde_Süd-2", "a"])
    def test_a_good_name_is_the_installation(self, name: str) -> None:
        config = config_from_dict({"service": {"name": name}})
        assert config.installation == name

    @pytest.mark.parametrize(
        "name", ["customer a", "-prod", "acme\nBcc: x@evil.example", "[triage]", "a" * 65, "a·b"]
    )
    def test_a_bad_name_is_an_error_naming_the_key(self, name: str) -> None:
        with pytest.raises(ConfigError, match=r"^\[service\]\.name: .* is not a name: 1 to 64"):
            config_from_dict({"service": {"name": name}})

    def test_the_name_wins_over_the_environment_and_the_host(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, "customer-a-prod")
        tables = {"environments": {"customer-a-prod": {}}}
        assert config_from_dict(tables).installation == "customer-a-prod"
        named = config_from_dict({**tables, "service": {"name": "acme-hosted-7"}})
        assert named.installation == "acme-hosted-7"
        monkeypatch.delenv(ENVIRONMENT_VARIABLE)
        assert config_from_dict({}).installation  # the host's name, or "triagebot"
