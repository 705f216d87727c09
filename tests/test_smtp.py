"""Outgoing mail against a real aiosmtpd server: settings checks, delivery, error explanations."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from structlog.testing import capture_logs

from tests.conftest_smtp import SMTP_PASSWORD, SMTP_USER, smtp_section
from tests.helpers import Bot
from tests.servers import HOST, free_port
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, Secret, SmtpConfig, config_from_dict
from triagebot.errors import NotifyError, NotifyUnavailable
from triagebot.smtp import (
    MAIL_FEATURES,
    Mailer,
    mail_enabled,
    map_smtp_errors,
    static_problems,
)

CSV = b"key,title,occurrences\r\nAPP-1,NullReferenceException in CaseView.Load,12\r\n"
HELPDESK = "helpdesk@example.test"


def keys(config: SmtpConfig) -> list[str]:
    return [p.key for p in static_problems(config)]


def send_simple(mailer: Mailer, to: str = HELPDESK) -> None:
    mailer.send(mailer.compose(to=[to], subject="hello", text="body\n", kind="test"))


class TestDelivery:
    def test_multipart_mail_with_csv_and_auto_headers(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """What the server receives is the composed mail: parts, attachment and markers."""
        mailer = Mailer(smtp_config)
        message = mailer.compose(
            to=[HELPDESK, "dev@example.test"],
            subject="Digest: 3 new defects",
            text="Three new defects.\n",
            html="<p style='color:#333'>Three new defects.</p>",
            kind="digest",
            in_reply_to="<a@example.test>",
            references=["<a@example.test>", "<b@example.test>"],
            reply_to="triagebot+c1@example.test",
            attachments=[("defects.csv", "text/csv", CSV)],
        )
        with capture_logs() as logs:
            mailer.send(message)

        [received] = smtp_server.messages
        assert received.login == SMTP_USER
        assert received.mail_from == SMTP_USER
        assert received.rcpt_tos == (HELPDESK, "dev@example.test")
        mail = received.message
        assert mail["From"] == f"Triage Bot <{SMTP_USER}>"
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["X-Auto-Response-Suppress"] == "All"
        assert mail["Precedence"] == "bulk"
        assert mail["X-Triagebot"] == "digest"
        assert mail["References"] == "<a@example.test> <b@example.test>"
        assert mail["In-Reply-To"] == "<a@example.test>"
        assert mail["Reply-To"] == "triagebot+c1@example.test"
        assert mail["Message-ID"].startswith("<triagebot.")
        assert mail["Message-ID"].endswith("@example.test>")
        assert mail.get_content_type() == "multipart/mixed"
        alternative, attachment = mail.iter_parts()
        assert alternative.get_content_type() == "multipart/alternative"
        text, html = alternative.iter_parts()
        assert text.get_content().splitlines() == ["Three new defects."]
        assert "color:#333" in html.get_content()
        assert attachment.get_filename() == "defects.csv"
        assert attachment.get_content_type() == "text/csv"
        assert attachment.get_payload(decode=True) == CSV
        sent = [e for e in logs if e["event"] == "mail.sent"]
        assert sent == [
            {
                "event": "mail.sent",
                "log_level": "info",
                "kind": "digest",
                "recipients": 2,
                "message_id": mail["Message-ID"],
            }
        ]
        assert SMTP_PASSWORD not in repr(logs)

    def test_given_message_id_is_kept_and_plain_text_stays_single_part(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        mailer = Mailer(smtp_config)
        mailer.send(
            mailer.compose(
                to=[HELPDESK], subject="Ack", text="Got it.\n", kind="ack", message_id="<x@y.test>"
            )
        )
        [received] = smtp_server.messages
        assert received.message["Message-ID"] == "<x@y.test>"
        assert received.message.get_content_type() == "text/plain"

    def test_implicit_tls(self, smtp_tls_server: SmtpServer, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, port=smtp_tls_server.port, security="tls")
        send_simple(Mailer(config))
        assert len(smtp_tls_server.messages) == 1

    def test_live_check_sends_nothing(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        Mailer(smtp_config).live_check()
        assert smtp_server.messages == []

    def test_no_auth_on_localhost(self) -> None:
        """``security = none`` without login: allowed on 127.0.0.1, and it delivers."""
        server = SmtpServer().start()
        try:
            config = SmtpConfig(
                host=HOST, port=server.port, security="none", from_address="bot@example.test"
            )
            assert static_problems(config) == []
            send_simple(Mailer(config))
        finally:
            server.stop()
        assert server.messages[0].login is None

    @pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
    def test_server_offers_login_and_plain(
        self, smtp_server: SmtpServer, smtp_ca_file: Path, mechanism: str
    ) -> None:
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cafile=smtp_ca_file))
            client.ehlo()
            client.user, client.password = SMTP_USER, SMTP_PASSWORD
            method = client.auth_login if mechanism == "LOGIN" else client.auth_plain
            code, _ = client.auth(mechanism, method)
        assert code == 235


class TestStaticProblems:
    def test_good_configuration(self, smtp_config: SmtpConfig) -> None:
        assert static_problems(smtp_config) == []

    def test_from_address_differs_from_login(self, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, from_address="helpdesk-bot@example.test")
        [problem] = static_problems(config)
        assert problem.key == "[smtp].from_address"
        assert "Exchange" in problem.message

    def test_same_mailbox_ignores_case(self, smtp_config: SmtpConfig) -> None:
        assert static_problems(replace(smtp_config, from_address=SMTP_USER.upper())) == []

    def test_username_that_is_not_an_address(self, smtp_config: SmtpConfig) -> None:
        """A logon name: ask for the mailbox's SMTP address, not for the bypass."""
        config = replace(smtp_config, username="ACME\\triagebot")
        [problem] = static_problems(config)
        assert problem.key == "[smtp].username"
        assert "ask the customer's IT for the SMTP address of this mailbox" in problem.message
        assert "allow_from_mismatch" not in problem.message
        assert static_problems(replace(config, allow_from_mismatch="relay connector")) == []

    def test_missing_keys(self) -> None:
        """No username is a relay connector (one warning, see test_smtp_live_check)."""
        assert keys(SmtpConfig()) == ["[smtp].host", "[smtp].from_address"]
        assert keys(SmtpConfig(username=SMTP_USER)) == [
            "[smtp].host",
            "[smtp].password_env",
            "[smtp].from_address",
        ]
        assert keys(SmtpConfig(password=Secret("x", "test"))) == [
            "[smtp].host",
            "[smtp].username",
            "[smtp].from_address",
        ]

    def test_invalid_from_address(self, smtp_config: SmtpConfig) -> None:
        assert keys(replace(smtp_config, from_address="Triage <bot@example.test>")) == [
            "[smtp].from_address"
        ]

    def test_security_none_on_a_remote_host(self, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, host="smtp.example.test", security="none")
        assert keys(config) == ["[smtp].security"]

    def test_multi_line_from_name(self, smtp_config: SmtpConfig) -> None:
        assert keys(replace(smtp_config, from_name="Bot\r\nBcc: x@example.test")) == [
            "[smtp].from_name"
        ]

    def test_mailer_refuses_settings_with_problems(self, smtp_config: SmtpConfig) -> None:
        with pytest.raises(NotifyError, match=r"\[smtp\]\.from_address"):
            Mailer(replace(smtp_config, from_address="other@example.test"))

    def test_unreadable_ca_file(self, smtp_config: SmtpConfig, tmp_path: Path) -> None:
        assert keys(replace(smtp_config, ca_file=tmp_path / "missing.pem")) == ["[smtp].ca_file"]

    def test_mismatch_allowed_with_a_reason_then_refused_live(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        """The static check trusts the stated reason; the Exchange-like server does not."""
        config = replace(
            smtp_config,
            from_address="helpdesk-bot@example.test",
            allow_from_mismatch="Send As granted on helpdesk-bot",
        )
        assert static_problems(config) == []
        mailer = Mailer(config)
        with pytest.raises(NotifyError) as caught:
            send_simple(mailer)
        assert not isinstance(caught.value, NotifyUnavailable)
        assert "550" in str(caught.value)
        assert "grant Send As to triagebot@example.test for helpdesk-bot@example.test" in str(
            caught.value
        )
        with pytest.raises(NotifyError, match="relay"):
            mailer.live_check()
        assert smtp_server.messages == []


class TestFailures:
    def test_system_cas_do_not_trust_the_test_server(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        with pytest.raises(NotifyError) as caught:
            Mailer(replace(smtp_config, ca_file=None)).live_check()
        assert not isinstance(caught.value, NotifyUnavailable)
        assert "TLS" in str(caught.value)
        assert "ca_file" in str(caught.value)

    def test_wrong_ca_file_is_named(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig, tmp_path: Path
    ) -> None:
        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        with pytest.raises(NotifyError, match=f"ca_file {other} is not the CA"):
            Mailer(replace(smtp_config, ca_file=other)).live_check()

    def test_ca_file_that_is_not_a_certificate(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig, tmp_path: Path
    ) -> None:
        bogus = tmp_path / "ca.pem"
        bogus.write_text("not a certificate\n")
        with pytest.raises(NotifyError, match="cannot be loaded"):
            Mailer(replace(smtp_config, ca_file=bogus)).live_check()

    def test_wrong_password(self, smtp_server: SmtpServer, smtp_config: SmtpConfig) -> None:
        config = replace(smtp_config, password=Secret("wrong-password", "test"))
        with pytest.raises(NotifyError) as caught:
            send_simple(Mailer(config))
        assert not isinstance(caught.value, NotifyUnavailable)
        assert "535" in str(caught.value)
        assert "authentication failed" in str(caught.value)
        assert "wrong-password" not in str(caught.value)

    @pytest.mark.parametrize(
        "reply", ["451 4.3.0 Temporary local problem", "421 4.3.2 Service not available"]
    )
    def test_transient_reply_is_retryable_and_a_retry_delivers(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig, reply: str
    ) -> None:
        mailer = Mailer(smtp_config)
        smtp_server.fail_next(1, reply)
        with pytest.raises(NotifyUnavailable, match=reply[:3]):
            send_simple(mailer)
        send_simple(mailer)
        assert len(smtp_server.messages) == 1

    def test_recipients_deferred_is_retryable(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        smtp_server.fail_next(1, "450 4.2.1 Mailbox busy", commands=("RCPT",))
        with pytest.raises(NotifyUnavailable, match=f"{HELPDESK} \\(450"):
            send_simple(Mailer(smtp_config))
        assert smtp_server.messages == []

    def test_recipients_refused_are_named(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        smtp_server.fail_next(1, "550 5.1.1 User unknown", commands=("RCPT",))
        with pytest.raises(NotifyError, match=f"refused every recipient: {HELPDESK}") as caught:
            send_simple(Mailer(smtp_config))
        assert not isinstance(caught.value, NotifyUnavailable)

    def test_one_refused_recipient_of_two_is_logged_and_the_rest_delivered(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        smtp_server.fail_next(1, "550 5.1.1 User unknown", commands=("RCPT",))
        mailer = Mailer(smtp_config)
        message = mailer.compose(
            to=["gone@example.test", HELPDESK], subject="s", text="t", kind="digest"
        )
        with capture_logs() as logs:
            mailer.send(message)
        [received] = smtp_server.messages
        assert received.rcpt_tos == (HELPDESK,)
        refused, sent = logs
        assert refused["event"] == "mail.recipients_refused"
        assert refused["refused"] == {"gone@example.test": "550 5.1.1 User unknown"}
        assert (sent["event"], sent["recipients"]) == ("mail.sent", 1)

    def test_server_that_wants_a_login(self, smtp_server: SmtpServer) -> None:
        config = SmtpConfig(
            host=HOST, port=smtp_server.port, security="none", from_address=SMTP_USER
        )
        with pytest.raises(NotifyError, match=r"530 .*wants a login"):
            send_simple(Mailer(config))
        assert smtp_server.messages == []

    def test_connection_refused(self, smtp_config: SmtpConfig) -> None:
        with pytest.raises(NotifyUnavailable, match="cannot reach"):
            send_simple(Mailer(replace(smtp_config, port=free_port())))

    def test_timeout(self, smtp_config: SmtpConfig) -> None:
        """A server that accepts the connection but never greets."""
        with socket.socket() as silent:
            silent.bind((HOST, 0))
            silent.listen()
            config = replace(smtp_config, port=silent.getsockname()[1], timeout=0.3)
            started = time.monotonic()
            with pytest.raises(NotifyUnavailable, match="timeout"):
                Mailer(config).live_check()
        assert time.monotonic() - started < 5


class TestErrorMapping:
    """Every smtplib error becomes a ``NotifyError`` with an explanation (nothing unmapped)."""

    CASES: tuple[tuple[Exception, type[NotifyError], str], ...] = (
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), NotifyError, "auth"),
        (
            smtplib.SMTPSenderRefused(
                550,
                b"5.7.60 SMTP; Client does not have permissions to send as this sender",
                "a@b.test",
            ),
            NotifyError,
            "relay",
        ),
        (smtplib.SMTPDataError(554, b"5.2.252 SendAsDenied"), NotifyError, "relay"),
        (smtplib.SMTPDataError(552, b"5.3.4 Message too big"), NotifyError, "refused"),
        (smtplib.SMTPHeloError(421, b"busy"), NotifyUnavailable, "temporary"),
        (smtplib.SMTPConnectError(554, b"go away"), NotifyError, "refused"),
        (smtplib.SMTPResponseException(530, b"5.7.0 Must authenticate"), NotifyError, "login"),
        (
            smtplib.SMTPRecipientsRefused({"x@y.test": (550, b"5.1.1 User unknown")}),
            NotifyError,
            "x@y.test (550 5.1.1 User unknown)",
        ),
        (smtplib.SMTPNotSupportedError("STARTTLS not supported"), NotifyError, "security"),
        (smtplib.SMTPServerDisconnected("gone"), NotifyUnavailable, "closed"),
        (smtplib.SMTPException("odd"), NotifyError, "odd"),
        (ssl.SSLError(1, "wrong version number"), NotifyError, "TLS"),
        (TimeoutError("timed out"), NotifyUnavailable, "timeout"),
        (ConnectionResetError(104, "reset"), NotifyUnavailable, "cannot reach"),
        (socket.gaierror(-2, "Name or service not known"), NotifyUnavailable, "resolve"),
        (OSError(113, "No route to host"), NotifyUnavailable, "network"),
    )

    @pytest.mark.parametrize(("error", "expected", "explains"), CASES)
    def test_mapping(
        self,
        smtp_config: SmtpConfig,
        error: Exception,
        expected: type[NotifyError],
        explains: str,
    ) -> None:
        with pytest.raises(NotifyError) as caught, map_smtp_errors(smtp_config):
            raise error
        assert type(caught.value) is expected
        assert explains in str(caught.value)
        assert caught.value.__cause__ is error

    def test_every_smtplib_error_is_covered(self) -> None:
        covered = {type(error) for error, _, _ in self.CASES}
        smtplib_errors = {
            cls
            for cls in vars(smtplib).values()
            if isinstance(cls, type) and issubclass(cls, smtplib.SMTPException)
        }
        assert smtplib_errors <= covered


class TestSafety:
    @pytest.mark.parametrize(
        "to", [SMTP_USER, "TriageBot@Example.test", "triagebot+c-123@example.test"]
    )
    def test_never_mails_its_own_address(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig, to: str
    ) -> None:
        with pytest.raises(NotifyError, match="own address"):
            send_simple(Mailer(smtp_config), to=to)
        assert smtp_server.messages == []

    def test_own_address_in_cc_is_refused(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        mailer = Mailer(smtp_config)
        message = mailer.compose(to=[HELPDESK], subject="s", text="t", kind="test")
        message["Cc"] = f"Bot <{SMTP_USER}>"
        with pytest.raises(NotifyError, match="own address"):
            mailer.send(message)
        assert smtp_server.messages == []

    @pytest.mark.parametrize(
        "field",
        [
            {"subject": "Crash\r\nBcc: victim@example.test"},
            {"subject": "Crash\nBcc: victim@example.test"},
            {"message_id": "<a@b>\r\nBcc: victim@example.test"},
            {"in_reply_to": "<a@b>\nX-Evil: 1"},
            {"references": ["<a@b>", "<c@d>\r\nX-Evil: 1"]},
            {"reply_to": "a@b.test\r\nBcc: victim@example.test"},
            {"to": ["a@b.test\r\nBcc: victim@example.test"]},
            {"attachments": [("x.csv\r\nX-Evil: 1", "text/csv", b"")]},
            {"attachments": [("x.csv", "text/csv\r\nX-Evil: 1", b"")]},
        ],
    )
    def test_header_injection_refused(
        self, smtp_config: SmtpConfig, field: dict[str, object]
    ) -> None:
        args: dict[str, object] = {"to": [HELPDESK], "subject": "s", "text": "t", "kind": "test"}
        args.update(field)
        with pytest.raises(NotifyError):
            Mailer(smtp_config).compose(**args)  # type: ignore[arg-type]

    def test_non_ascii_subject_and_name_are_encoded(
        self, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        mailer = Mailer(replace(smtp_config, from_name="Fehlerbericht Süd"))
        mailer.send(
            mailer.compose(to=[HELPDESK], subject="Überlauf in Straße", text="ä\n", kind="test")
        )
        [received] = smtp_server.messages
        assert received.message["Subject"] == "Überlauf in Straße"
        assert received.message["From"].addresses[0].display_name == "Fehlerbericht Süd"


class TestMailEnabled:
    def test_absent_section_disables_mail_with_one_warning(self) -> None:
        with capture_logs() as logs:
            assert mail_enabled(config_from_dict({})) is None
        assert logs == [
            {
                "event": "mail.disabled",
                "log_level": "warning",
                "features": list(MAIL_FEATURES),
                "cause": "section absent",
                "reason": "no [smtp] section",
            }
        ]

    def test_broken_section_disables_mail(self) -> None:
        config = config_from_dict({"smtp": {"host": "smtp.example.test", "hots": "x"}})
        with capture_logs() as logs:
            assert mail_enabled(config) is None
        [event] = logs
        assert event["cause"] == "config error"
        assert "[smtp].hots" in event["reason"]

    def test_static_problems_disable_mail(self, smtp_config: SmtpConfig) -> None:
        config = Config(smtp=replace(smtp_config, from_address="other@example.test"))
        with capture_logs() as logs:
            assert mail_enabled(config) is None
        [event] = logs
        assert event["cause"] == "static problems"
        assert "[smtp].from_address" in event["reason"]
        assert SMTP_PASSWORD not in repr(event)

    def test_good_section_gives_a_mailer(self, smtp_config: SmtpConfig) -> None:
        with capture_logs() as logs:
            mailer = mail_enabled(Config(smtp=smtp_config))
        assert isinstance(mailer, Mailer)
        assert logs == []


class TestCheckConfig:
    """``triagebot check-config`` as an operator runs it."""

    @staticmethod
    def smtp_line(stdout: str) -> tuple[str, str]:
        [line] = [line for line in stdout.splitlines() if line.startswith("smtp ")]
        _, status, detail = line.split(maxsplit=2)
        return status, detail

    @staticmethod
    def bot(tmp_path: Path, smtp: dict[str, object] | None) -> Bot:
        bot = Bot(tmp_path, env={"TB_SMTP_PASSWORD": SMTP_PASSWORD})
        bot.configure({"smtp": smtp} if smtp is not None else {})
        return bot


    def test_absent_section_is_disabled_and_exits_zero(self, tmp_path: Path) -> None:
        result = self.bot(tmp_path, None).run("check-config")
        assert result.returncode == 0, result.stdout + result.stderr
        status, detail = self.smtp_line(result.stdout)
        assert status == "disabled"
        assert "digests" in detail

    def test_good_section_is_enabled_and_sends_nothing(
        self, tmp_path: Path, smtp_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        bot = self.bot(tmp_path, smtp_section(smtp_server, smtp_ca_file))
        result = bot.run("check-config")
        assert result.returncode == 0, result.stdout + result.stderr
        assert self.smtp_line(result.stdout)[0] == "enabled"
        assert smtp_server.messages == []
        assert SMTP_PASSWORD not in result.stdout + result.stderr

    def test_mismatch_is_an_error(
        self, tmp_path: Path, smtp_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        section = smtp_section(smtp_server, smtp_ca_file, from_address="other@example.test")
        result = self.bot(tmp_path, section).run("check-config")
        assert result.returncode == 1
        status, detail = self.smtp_line(result.stdout)
        assert status == "error"
        assert "[smtp].from_address" in detail

    def test_unparsable_section_is_an_error(self, tmp_path: Path) -> None:
        result = self.bot(tmp_path, {"host": "smtp.example.test", "colour": "red"}).run(
            "check-config"
        )
        assert result.returncode == 1
        assert self.smtp_line(result.stdout) == ("error", "[smtp].colour: unknown key")

    def test_send_test_delivers_one_mail(
        self, tmp_path: Path, smtp_server: SmtpServer, smtp_ca_file: Path
    ) -> None:
        bot = self.bot(tmp_path, smtp_section(smtp_server, smtp_ca_file))
        result = bot.run("check-config", "--send-test", HELPDESK)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"test mail sent to {HELPDESK}" in self.smtp_line(result.stdout)[1]
        [received] = smtp_server.messages
        assert received.rcpt_tos == (HELPDESK,)
        assert received.message["X-Triagebot"] == "test"
        assert [e["event"] for e in result.events].count("mail.sent") == 1
