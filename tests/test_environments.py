"""One config file holding several customer environments, end to end: ``run --once``,
``digest --send-now`` and ``check-config`` as processes, mail through a real aiosmtpd server.
The environment ``TRIAGEBOT_ENV`` (or ``environment =`` in the file) picks decides where mail
goes and how triagebot logs in, and its name is in the subject of every mail it sends."""

from __future__ import annotations

from pathlib import Path

from tests.conftest_smtp import SMTP_PASSWORD
from tests.helpers import SAMPLES, Bot, seed_maildir, smtp_starttls, toml
from tests.servers.smtp import SmtpServer
from triagebot.config import SmtpConfig

ALICE = "alice@example.test"
SECRET = "environments-token-secret-0815"
REPORT = SAMPLES / "client-case-load-nullref-01.eml"

#: acme-prod logs in with a password from a file (the base reads a variable this host lacks),
#: has its own reply mailbox and its own digest audience; acme-test changes the helpdesk only.
ENVIRONMENTS = {
    "environments.acme-prod.smtp": {"password_file": "secrets/smtp-password"},
    "environments.acme-prod.helpdesk": {"reply_address": "helpdesk@example.test"},
    "environments.acme-prod.digest.dev-daily": {"recipients": ["acme-dev@example.test"]},
    "environments.acme-test.helpdesk": {"recipients": ["qa@example.test"]},
}


def deployment(tmp_path: Path, smtp_config: SmtpConfig, environment: str = "", **env: str) -> Bot:
    """The base tables of a vendor's internal installation, two customer environments over
    them, and ``environment = ...`` at the top of the file when given."""
    bot = Bot(tmp_path, env={"TB_TOKEN_SECRET": SECRET, **env})
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "smtp-password").write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    bot.configure(
        {
            "smtp": smtp_starttls(smtp_config, "TB_SMTP_PASSWORD_UNSET"),
            "helpdesk": {
                "recipients": [ALICE],
                "allowed_senders": ["example.test"],
                "reply_address": "helpdesk@internal.example",
                "token_secret_env": "TB_TOKEN_SECRET",
            },
        }
    )
    digest = '[[digest]]\nname = "dev-daily"\nrecipients = ["dev@internal.example"]\n'
    top = f'environment = "{environment}"\n' if environment else ""
    text = bot.config.read_text(encoding="utf-8")
    bot.config.write_text(top + text + digest + toml(ENVIRONMENTS), encoding="utf-8")
    return bot


def environment_line(stdout: str) -> str:
    (line,) = [x for x in stdout.splitlines() if x.startswith("environment ")]
    return " ".join(line.split())


def test_the_environment_decides_where_mail_goes_and_every_subject_names_it(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig
) -> None:
    """With ``TRIAGEBOT_ENV=acme-prod`` the candidate mail, the digest and the check-config
    test mail go out with acme-prod's login, reply mailbox and digest recipients, each
    subject naming acme-prod (no ``[service] name``: the environment's name)."""
    bot = deployment(tmp_path, smtp_config, TRIAGEBOT_ENV="acme-prod")
    seed_maildir(bot.maildir, [(REPORT.name, REPORT.read_bytes())])

    bot.once()
    digest = bot.run("digest", "dev-daily", "--send-now")
    check = bot.run("check-config", "--send-test", "ops@example.test")

    assert digest.returncode == 0, digest.stderr
    assert check.returncode == 0, check.stdout + check.stderr
    sent = {r.message["X-Triagebot"]: r for r in smtp_server.messages}
    assert sorted(sent) == ["candidate", "digest", "test"]
    candidate, report = sent["candidate"], sent["digest"]
    assert candidate.rcpt_tos == (ALICE,)
    assert str(candidate.message["Subject"]).startswith("[triage C-1] acme-prod · Acme Desk Client")
    assert str(candidate.message["Reply-To"]).endswith("@example.test")  # acme-prod's mailbox
    assert report.rcpt_tos == ("acme-dev@example.test",)
    digest_subject = str(report.message["Subject"])
    assert digest_subject == (
        "[triage] acme-prod · dev-daily: 0 regressions, 0 newly filed, 0 more reported, "
        "1 candidate waiting"
    )
    assert sent["test"].message["Subject"] == "[triage] acme-prod: test mail from check-config"
    assert environment_line(check.stdout) == (
        "environment enabled acme-prod from the TRIAGEBOT_ENV variable: "
        "[environments.acme-prod.smtp], [environments.acme-prod.helpdesk], "
        "[environments.acme-prod.digest.dev-daily]; installation name 'acme-prod'"
    )


def test_check_config_says_which_environment_applied_and_what_chose_it(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig
) -> None:
    """``environment = "acme-test"`` in the file applies acme-test (whose SMTP login is the
    base's, which this host cannot read: mail is off, and the key is named); the variable
    wins over the file and says so."""
    bot = deployment(tmp_path, smtp_config, environment="acme-test")

    in_file = bot.run("check-config")
    bot.env["TRIAGEBOT_ENV"] = "acme-prod"
    overridden = bot.run("check-config")

    assert in_file.returncode == 1
    assert environment_line(in_file.stdout) == (
        "environment enabled acme-test from environment = 'acme-test' in the file: "
        "[environments.acme-test.helpdesk]; installation name 'acme-test'"
    )
    assert "[smtp].password_env: environment variable TB_SMTP_PASSWORD_UNSET is not set" in (
        in_file.stdout
    )
    assert overridden.returncode == 0, overridden.stdout
    assert environment_line(overridden.stdout).startswith(
        "environment enabled acme-prod from the TRIAGEBOT_ENV variable, over environment = "
        "'acme-test' in the file: [environments.acme-prod.smtp],"
    )
    assert smtp_server.messages == []  # checks send nothing without --send-test
