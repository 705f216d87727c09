"""``check-config`` proves delivery: against the receive connectors of an Exchange-like server
(tests/conftest_smtp.py) every configured recipient is tried at RCPT TO, and each failure says
what to ask the customer's IT for. Static mistakes are caught without connecting."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trustme
from structlog.testing import capture_logs

from tests.conftest_smtp import SMTP_PASSWORD, SMTP_USER, running, smtp_section
from tests.helpers import Bot
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, SmtpConfig, config_from_dict
from triagebot.errors import NotifyError, NotifyUnavailable
from triagebot.smtp import Mailer, Refusal, mail_enabled, map_smtp_errors, static_problems

INSIDE = "helpdesk@example.test"
OUTSIDE = "dev-team@partner.test"
SHARED = "helpdesk-bot@example.test"  # a From that is not the login
HELPDESK = {
    "recipients": [INSIDE],
    "allowed_senders": ["example.test"],
    "reply_address": SMTP_USER,
    "token_secret_env": "TB_SECRET",
}
SEND_AS = f'grant Send As to {SMTP_USER} for {SHARED}, or set from_address = "{SMTP_USER}"'


def mismatched(config: SmtpConfig) -> SmtpConfig:
    """From a shared mailbox the operator believes Send As was granted on (it was not)."""
    return replace(config, from_address=SHARED, allow_from_mismatch="Send As on helpdesk-bot")


def anonymous(config: SmtpConfig, server: SmtpServer) -> SmtpConfig:
    return replace(config, port=server.port, username="", password=None)


class TestRecipients:
    def test_each_refused_recipient_is_named_with_what_to_ask_for(
        self, exchange_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """MAIL FROM passes; Exchange refuses only the outside recipient, only at RCPT TO."""
        config = mismatched(replace(smtp_config, port=exchange_server.port))
        refused = Mailer(config).live_check([INSIDE, OUTSIDE, INSIDE])
        assert [(r.address, r.code, r.reply) for r in refused] == [
            (OUTSIDE, 550, "5.7.1 Unable to relay")
        ]
        assert SEND_AS in refused[0].advice
        assert exchange_server.messages == []

    def test_the_session_is_reset_so_a_mail_after_it_is_clean(
        self, exchange_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        mailer = Mailer(replace(smtp_config, port=exchange_server.port))
        assert mailer.live_check([INSIDE, OUTSIDE]) == []
        mailer.send(mailer.compose(to=[OUTSIDE], subject="s", text="t", kind="test"))
        [received] = exchange_server.messages
        assert received.rcpt_tos == (OUTSIDE,)

    def test_a_send_to_refused_recipients_gives_the_same_advice(
        self, exchange_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        mailer = Mailer(mismatched(replace(smtp_config, port=exchange_server.port)))
        with pytest.raises(NotifyError, match="refused every recipient") as caught:
            mailer.send(mailer.compose(to=[OUTSIDE], subject="s", text="t", kind="test"))
        assert SEND_AS in str(caught.value)

    def test_anonymous_port_25_refuses_outside_recipients(
        self, port25_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        refused = Mailer(anonymous(smtp_config, port25_server)).live_check([INSIDE, OUTSIDE])
        [refusal] = refused
        assert refusal.address == OUTSIDE
        assert "add this host's address to a relay connector" in refusal.advice
        assert "log in" in refusal.advice

    def test_unknown_mailbox(self, smtp_server: SmtpServer, smtp_config: SmtpConfig) -> None:
        smtp_server.fail_next(1, "550 5.1.1 User unknown", commands=("RCPT",))
        [refusal] = Mailer(smtp_config).live_check([INSIDE])
        assert refusal == Refusal(
            INSIDE,
            550,
            "5.1.1 User unknown",
            "the server knows no such mailbox: check the address with the customer",
        )


class TestAdvice:
    def test_port_25_without_auth_while_a_username_is_set(
        self, port25_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        with pytest.raises(NotifyError) as caught:
            Mailer(replace(smtp_config, port=port25_server.port)).live_check([INSIDE])
        message = str(caught.value)
        assert not isinstance(caught.value, NotifyUnavailable)
        assert "offers no AUTH mechanism, but [smtp].username is set" in message
        assert "port 587" in message
        assert "authenticated connector" in message
        assert SMTP_PASSWORD not in message

    def test_starttls_on_an_implicit_tls_port(
        self, smtp_tls_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """The server waits for a TLS hello, the client for a greeting."""
        config = replace(smtp_config, port=smtp_tls_server.port, timeout=0.5)
        with pytest.raises(
            NotifyUnavailable, match=r'implicit TLS, like 465\), set security = "tls"'
        ):
            Mailer(config).live_check()

    def test_starttls_on_port_465_is_permanent(self, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, port=465)
        for error in (TimeoutError("timed out"), smtplib.SMTPServerDisconnected("closed")):
            with pytest.raises(NotifyError) as caught, map_smtp_errors(config):
                raise error
            assert not isinstance(caught.value, NotifyUnavailable)
            assert "port 465 speaks TLS from the first byte" in str(caught.value)
            assert 'set security = "tls"' in str(caught.value)

    def test_certificate_for_another_name_is_not_blamed_on_the_ca(
        self, smtp_ca: trustme.CA, smtp_config: SmtpConfig
    ) -> None:
        cert = smtp_ca.issue_cert("mail.other.test")
        users = {SMTP_USER: SMTP_PASSWORD}
        with (
            running(SmtpServer(users=users, tls=cert)) as server,
            pytest.raises(NotifyError) as caught,
        ):
            Mailer(replace(smtp_config, port=server.port)).live_check()
        message = str(caught.value)
        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        assert "trusted but not issued for '127.0.0.1'" in message
        assert "set [smtp].host to a name the certificate carries" in message
        assert "ca_file" not in message

    @pytest.mark.parametrize(
        ("host", "advice"),
        [
            ("smtp.acme.example:587", "write host = 'smtp.acme.example' and port = 587"),
            ("[2001:db8::25]:25", "write host = '2001:db8::25' and port = 25"),
            ("smtp://smtp.acme.example", "is not a host name or IP address"),
        ],
    )
    def test_host_with_a_port_is_caught_without_connecting(
        self, smtp_config: SmtpConfig, host: str, advice: str
    ) -> None:
        [problem] = static_problems(replace(smtp_config, host=host))
        assert problem.key == "[smtp].host"
        assert advice in problem.message
        with pytest.raises(NotifyError, match=r"\[smtp\]\.host"):
            Mailer(replace(smtp_config, host=host))

    @pytest.mark.parametrize("host", ["2001:db8::25", "127.0.0.1", "smtp.acme.example"])
    def test_plain_hosts_pass(self, smtp_config: SmtpConfig, host: str) -> None:
        assert static_problems(replace(smtp_config, host=host)) == []


class TestRelayConnector:
    def test_no_login_relays_by_address_with_one_warning(
        self, relay_connector_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        config = anonymous(smtp_config, relay_connector_server)
        assert config.security == "starttls"
        assert static_problems(config) == []
        with capture_logs() as logs:
            mailer = mail_enabled(Config(smtp=config))
        assert mailer is not None
        assert [(e["event"], e["log_level"]) for e in logs] == [("mail.no_login", "warning")]
        assert mailer.live_check([OUTSIDE]) == []
        mailer.send(mailer.compose(to=[OUTSIDE], subject="s", text="t", kind="test"))
        [received] = relay_connector_server.messages
        assert received.login is None
        assert received.rcpt_tos == (OUTSIDE,)

    def test_clear_text_to_a_remote_relay_is_still_refused(self, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, host="relay.acme.example", security="none", username="")
        assert [p.key for p in static_problems(replace(config, password=None))] == [
            "[smtp].security"
        ]


class TestDigestRecipients:
    SMTP: ClassVar[dict[str, str]] = {
        "host": "smtp.example.test",
        "username": SMTP_USER,
        "password_env": "TB_SMTP_PASSWORD",
        "from_address": SMTP_USER,
    }

    @pytest.fixture(autouse=True)
    def secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TB_SMTP_PASSWORD", SMTP_PASSWORD)
        monkeypatch.setenv("TB_SECRET", "s" * 24)

    @pytest.mark.parametrize(
        ("recipient", "error"),
        [
            (SMTP_USER, f"'{SMTP_USER}' is triagebot's own address ([smtp].from_address)"),
            ("TriageBot+digest@Example.test", "own address ([smtp].from_address)"),
            ("Dev Team <dev@example.test>", "is not an e-mail address"),
            ("dev@", "is not an e-mail address"),
        ],
    )
    def test_caught_without_connecting(self, recipient: str, error: str) -> None:
        digests = [
            {"name": "daily", "recipients": ["dev@example.test", recipient]},
            {"name": "weekly", "recipients": ["dev@example.test"]},
        ]
        config = config_from_dict({"smtp": self.SMTP, "digest": digests})
        assert [d.name for d in config.digests] == ["weekly"]
        [(section, message)] = config.broken
        assert section == "digest"
        assert message.startswith("[[digest]] daily.recipients: ")
        assert error in message

    def test_the_helpdesk_reply_address_is_own_too(self) -> None:
        tables: dict[str, Any] = {
            "helpdesk": {**HELPDESK, "reply_address": "support@example.test"},
            "digest": [{"name": "d", "recipients": ["Support@example.test"]}],
        }
        config = config_from_dict(tables)
        assert "([helpdesk].reply_address)" in dict(config.broken)["digest"]

    def test_malformed_helpdesk_recipient(self) -> None:
        config = config_from_dict({"helpdesk": {**HELPDESK, "recipients": ["helpdesk"]}})
        assert dict(config.broken)["helpdesk"] == (
            "[helpdesk].recipients: 'helpdesk' is not an e-mail address "
            "(write local@domain, no name)"
        )


class TestCheckConfig:
    """``triagebot check-config`` as the person who must ask the customer's IT runs it."""

    @staticmethod
    def run(tmp_path: Path, smtp: dict[str, Any], *args: str) -> tuple[int, str]:
        bot = Bot(tmp_path, env={"TB_SMTP_PASSWORD": SMTP_PASSWORD, "TB_SECRET": "s" * 24})
        config = bot.configure({"smtp": smtp, "helpdesk": HELPDESK})
        with config.open("a", encoding="utf-8") as toml:  # Bot writes no arrays of tables
            toml.write(f'[[digest]]\nname = "daily"\nrecipients = ["{OUTSIDE}", "{INSIDE}"]\n')
        result = bot.run("check-config", *args)
        [line] = [line for line in result.stdout.splitlines() if line.startswith("smtp ")]
        assert SMTP_PASSWORD not in result.stdout + result.stderr
        return result.returncode, line.split(maxsplit=1)[1]


    def test_a_refused_digest_recipient_fails_the_check_and_the_test_mail(
        self, tmp_path: Path, exchange_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        smtp = smtp_section(
            exchange_server,
            smtp_ca_file,
            from_address=SHARED,
            allow_from_mismatch="Send As on helpdesk-bot",
        )
        code, line = self.run(tmp_path, smtp, "--send-test", INSIDE)
        assert code == 1
        assert line.startswith("error ")
        assert (
            f"{OUTSIDE} in [[digest]] daily.recipients refused: 550 5.7.1 Unable to relay; " in line
        ), line
        assert SEND_AS in line
        assert f"{INSIDE} in" not in line
        assert f"test mail to {INSIDE} not sent" in line
        assert exchange_server.messages == []

    def test_a_refused_recipient_an_environment_gave_names_its_table(
        self, tmp_path: Path, exchange_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        """The base digest goes inside; acme-prod's override sends it outside: the refusal
        names the key to change where it was written."""
        smtp = smtp_section(
            exchange_server,
            smtp_ca_file,
            from_address=SHARED,
            allow_from_mismatch="Send As on helpdesk-bot",
        )
        env = {"TB_SMTP_PASSWORD": SMTP_PASSWORD, "TB_SECRET": "s" * 24, "TRIAGEBOT_ENV": "acme"}
        bot = Bot(tmp_path, env=env)
        config = bot.configure({"smtp": smtp, "helpdesk": HELPDESK})
        with config.open("a", encoding="utf-8") as toml:
            toml.write(
                f'[[digest]]\nname = "daily"\nrecipients = ["{INSIDE}"]\n'
                f'[environments.acme.digest.daily]\nrecipients = ["{OUTSIDE}"]\n'
            )
        result = bot.run("check-config")
        assert result.returncode == 1
        assert (
            f"{OUTSIDE} in [environments.acme.digest.daily].recipients refused: 550 5.7.1"
            in result.stdout
        ), result.stdout

    def test_every_recipient_accepted(
        self, tmp_path: Path, exchange_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        code, line = self.run(tmp_path, smtp_section(exchange_server, smtp_ca_file))
        assert code == 0, line
        assert "live check passed, 2 recipients accepted" in line
        assert exchange_server.messages == []

    def test_relay_connector_is_enabled_with_a_warning(
        self, tmp_path: Path, relay_connector_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        smtp = smtp_section(relay_connector_server, smtp_ca_file)
        del smtp["username"], smtp["password_env"]
        code, line = self.run(tmp_path, smtp)
        assert code == 0, line
        assert line.startswith("enabled ")
        assert "login (none)" in line
        assert "warning: no [smtp].username" in line
