"""Report kinds: reports, replies to triagebot, auto-replies and bounces, own mail, other."""

from __future__ import annotations

from pathlib import Path

import pytest

from triagebot.mail.classify import AddressSet
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind

MAILS = Path(__file__).parent / "mails"
REALWORLD = Path(__file__).resolve().parents[1] / "bench" / "realworld" / "traces"
SETTINGS = ParseSettings(
    report_senders=("@acme-desk.example.com", "monitor@appserver.example.com"),
    own_addresses=("helpdesk@example.com",),
)
TRACE = (
    "System.NullReferenceException: Object reference not set to an instance of an object.\n"
    "   at Acme.Desk.Cases.CaseViewModel.LoadAsync(Int32 caseId) in C:\\src\\Case.cs:line 142\n"
    "   at Acme.Desk.Shell.MainWindow.OnLoaded(Object sender, RoutedEventArgs e)\n"
)
BARE = "System.InvalidOperationException: Sequence contains no elements\n"
# bench/realworld/traces/php/vatsim-account-list-first-on-null.txt
LOGGED = (
    "production.ERROR: exception 'Symfony\\Component\\Debug\\Exception\\FatalErrorException' "
    "with message 'Call to a member function first() on null'\n"
)


def mail(body: str, **headers: str) -> bytes:
    base = {
        "Message-ID": "<x-1@example.com>",
        "From": "Someone <someone@example.org>",
        "To": "helpdesk@example.com",
        "Subject": "Problem",
        "Content-Type": "text/plain; charset=utf-8",
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return ("".join(f"{k}: {v}\n" for k, v in base.items()) + "\n" + body).encode()


def kind(raw: bytes, settings: ParseSettings = SETTINGS) -> Kind:
    return parse_message(raw, settings).kind


class TestErrorReports:
    def test_trace_with_frames_from_anyone(self) -> None:
        assert kind(mail(TRACE)) is Kind.ERROR_REPORT

    def test_bare_exception_line_needs_a_report_sender(self) -> None:
        """Without frames only a configured report sender makes it a report."""
        stranger = parse_message(mail("Hi,\n" + BARE), SETTINGS)
        assert stranger.kind is Kind.OTHER
        assert stranger.trace is not None
        reporter = mail(BARE, From="errors@acme-desk.example.com")
        assert kind(reporter) is Kind.ERROR_REPORT
        assert kind(mail(BARE, From="errors@sub.acme-desk.example.com")) is Kind.ERROR_REPORT

    def test_bare_exception_line_in_a_report_block(self) -> None:
        """An application's report whose trace was cut: the fields make it a report."""
        fields = "Application: Acme Desk\nVersion: 4.2.1\nMachine: WS-0142\n\n"
        report = parse_message(mail(fields + BARE), SETTINGS)
        assert report.kind is Kind.ERROR_REPORT
        assert report.reason == "exception line with report fields"
        one_field = parse_message(mail("Version: 4.2.1\n\n" + BARE), SETTINGS)
        assert one_field.kind is Kind.OTHER
        no_exception = "Application: Acme Desk\nVersion: 4.2.1\n\nsomething failed\n"
        assert kind(mail(no_exception)) is Kind.OTHER

    def test_exception_logged_at_an_error_level_is_a_report(self) -> None:
        """An application's own error record needs neither frames nor report fields."""
        report = parse_message(mail("From the server log:\n" + LOGGED), SETTINGS)
        assert (report.kind, report.reason) == (Kind.ERROR_REPORT, "exception logged at ERROR")
        assert report.trace is not None
        assert report.trace.exceptions[0].message == "Call to a member function first() on null"
        automated = parse_message(mail(LOGGED, Auto_Submitted="auto-generated"), SETTINGS)
        assert (automated.kind, automated.reason) == (
            Kind.ERROR_REPORT,
            "trace despite auto-submitted: auto-generated",
        )
        info = parse_message(mail(LOGGED.replace(".ERROR:", ".INFO:")), SETTINGS)
        assert info.kind is Kind.OTHER

    def test_a_runtimes_printout_without_frames_is_a_report(self) -> None:
        """A real paste (``bench/realworld``): .NET's inner-exception lines show the runtime
        printed the exception; the same exception line alone in a sentence is a mention. A
        React error overlay's header without its frames does not count: two bugs of the corpus
        share its type and message (with its frames it is a trace: ``react_overlay``)."""
        corpus_file = "dotnet/journal-limpet-sql-execution-timeout.txt"
        printed_by = "a .NET exception with its inner exceptions"
        text = (REALWORLD / corpus_file).read_text("utf-8")
        report = parse_message(mail("It crashed again:\n\n" + text), SETTINGS)
        assert (report.kind, report.reason) == (
            Kind.ERROR_REPORT,
            f"exception printed as {printed_by}",
        )
        assert report.trace is not None and report.trace.exceptions[0].type
        first_line = text.splitlines()[0]
        assert kind(mail("Yesterday we saw\n" + first_line + "\nfor a moment.")) is Kind.OTHER
        react = (REALWORLD / "js/shoppingwebsite-homescreen-map-undefined.txt").read_text()
        assert kind(mail("\n".join(react.splitlines()[:2]))) is Kind.OTHER

    def test_a_runtimes_printout_quoted_in_a_reply_is_not_a_report(self) -> None:
        printout = "System.InvalidOperationException: a\n ---> System.IO.IOException: b\n"
        assert kind(mail(printout)) is Kind.ERROR_REPORT
        quoted = "Fixed now, thanks.\n\n> " + printout.replace("\n", "\n> ")
        assert kind(mail(quoted, Subject="Re: Problem", In_Reply_To="<a@x>")) is Kind.OTHER

    def test_report_sender_wins_over_auto_filters(self) -> None:
        raw = mail(
            BARE,
            From="Service Monitor <monitor@appserver.example.com>",
            Auto_Submitted="auto-generated",
            Precedence="bulk",
            Subject="Automatic reply: nightly check",
        )
        assert kind(raw) is Kind.ERROR_REPORT

    def test_report_sender_without_exception(self) -> None:
        report = parse_message(mail("All good.", From="errors@acme-desk.example.com"), SETTINGS)
        assert report.kind is Kind.OTHER
        assert report.reason == "report sender without exception"

    @pytest.mark.parametrize(
        "header",
        [
            {"Auto_Submitted": "auto-generated"},
            {"Precedence": "bulk"},
            {"X_Auto_Response_Suppress": "All", "Auto_Submitted": "auto-generated"},
        ],
    )
    def test_machine_report_with_auto_headers_and_frames(self, header: dict[str, str]) -> None:
        """A real trace with frames from an unknown machine sender is still a report."""
        report = parse_message(mail(TRACE, **header), SETTINGS)
        assert report.kind is Kind.ERROR_REPORT
        assert report.reason.startswith("trace despite")

    def test_fixture_report_with_auto_headers(self) -> None:
        assert kind((MAILS / "dotnet_plain.eml").read_bytes(), ParseSettings()) is Kind.ERROR_REPORT


class TestReplies:
    def test_in_reply_to_own_message_even_when_quoting_a_trace(self) -> None:
        report = parse_message((MAILS / "reply_quoting.eml").read_bytes(), SETTINGS)
        assert report.kind is Kind.REPLY
        assert report.trace is None
        assert report.in_reply_to == "triagebot.c-7f3a9@helpdesk.example.com"
        assert report.references == ("root-1@example.com", "triagebot.c-7f3a9@helpdesk.example.com")

    def test_references_only(self) -> None:
        raw = mail("file", References="<a@x> <triagebot.c-99@helpdesk.example.com>")
        assert kind(raw) is Kind.REPLY

    def test_plus_address(self) -> None:
        assert kind(mail("ignore " + TRACE, To="Bot <helpdesk+c-ab12@example.com>")) is Kind.REPLY

    def test_plus_address_of_someone_else(self) -> None:
        assert kind(mail(TRACE, To="other+c-ab12@elsewhere.example.com")) is Kind.ERROR_REPORT

    def test_subject_token(self) -> None:
        assert kind(mail("ok", Subject="AW: [triage C-42] NullReferenceException")) is Kind.REPLY

    def test_prefix_setting(self) -> None:
        settings = ParseSettings(own_message_id_prefix="tb-")
        assert kind(mail("ok", In_Reply_To="<tb-c-1@h>"), settings) is Kind.REPLY
        assert kind(mail("ok", In_Reply_To="<triagebot.c-1@h>"), settings) is Kind.OTHER


class TestAutoReplies:
    @pytest.mark.parametrize(
        "subject",
        [
            "Out of Office: Weekly digest",
            "Automatic reply: [triage C-12] New defect",
            "AutoReply: your message",
            "Auto-Reply: your message",
            "Abwesenheitsnotiz: Neuer Fehler",
            "AW: Automatische Antwort: Neuer Fehler",
            "Absence du bureau",
            "Réponse automatique : Nouveau défaut",
            "Respuesta automática: Nuevo defecto",
            "Afwezig: Nieuw defect",
            "Risposta automatica: Nuovo difetto",
            "Automatyczna odpowiedź: Nowy błąd",
        ],
    )
    def test_out_of_office_subjects(self, subject: str) -> None:
        assert kind(mail("I am away until Monday.", Subject=subject)) is Kind.AUTO_REPLY

    def test_subject_words_inside_a_report_subject_do_not_count(self) -> None:
        raw = mail(BARE, Subject="Crash in AutoReplyService", From="errors@acme-desk.example.com")
        assert kind(raw) is Kind.ERROR_REPORT
        assert kind(mail("hello", Subject="Error in AutoReplyService")) is Kind.OTHER

    @pytest.mark.parametrize(
        "headers",
        [
            {"Auto_Submitted": "auto-replied"},
            {"Auto_Submitted": "auto-generated; owner-email=x@y"},
            {"X_Autoreply": "yes"},
            {"X_Autorespond": "Vacation"},
            {"Precedence": "junk"},
            {"Precedence": "list"},
        ],
    )
    def test_auto_headers(self, headers: dict[str, str]) -> None:
        report = parse_message(mail("Thank you for your message.", **headers), SETTINGS)
        assert report.kind is Kind.AUTO_REPLY
        assert report.reason

    def test_auto_submitted_no_is_not_auto(self) -> None:
        assert kind(mail("hello", Auto_Submitted="no")) is Kind.OTHER

    def test_out_of_office_to_own_mail_is_not_a_reply(self) -> None:
        """An OOO answering a candidate mail must never be read as a reply command."""
        report = parse_message((MAILS / "ooo_german.eml").read_bytes(), SETTINGS)
        assert report.kind is Kind.AUTO_REPLY
        assert report.subject == "Automatische Antwort: [triage C-12] Neuer Fehler"

    def test_auto_reply_to_own_mail_quoting_trace(self) -> None:
        raw = mail(TRACE, Auto_Submitted="auto-replied", In_Reply_To="<triagebot.c-1@h>")
        assert kind(raw) is Kind.AUTO_REPLY

    def test_delivery_report_quoting_a_trace(self) -> None:
        report = parse_message((MAILS / "dsn_bounce.eml").read_bytes(), SETTINGS)
        assert report.kind is Kind.AUTO_REPLY
        assert report.reason == "delivery report"
        assert "User unknown" in report.text

    @pytest.mark.parametrize(
        "sender", ["MAILER-DAEMON@mx.example.com", "Postmaster <postmaster@example.com>"]
    )
    def test_daemon_senders(self, sender: str) -> None:
        assert kind(mail(TRACE, From=sender, Subject="Failure notice")) is Kind.AUTO_REPLY

    def test_bounce_subject(self) -> None:
        assert kind(mail(TRACE, Subject="Undeliverable: New defect")) is Kind.AUTO_REPLY


class TestQuotedTraces:
    """A trace only quoted in a reply belongs to the earlier mail; quoted in a new mail it is
    still a report (a customer pasting the error as a quote)."""

    QUOTED = "".join("> " + line + "\n" for line in TRACE.splitlines())
    ANSWER = "Thanks, raising the limit fixed it. No action needed.\n\nOn Wed, Tom wrote:\n"

    @pytest.mark.parametrize(
        "headers",
        [
            {"Subject": "Re: Unhandled exception in Portal"},
            {"Subject": "AW: [ERROR] Shop on WEB-03"},
            {"Subject": "SV: Crash"},
            {"Subject": "RE[2]: Crash"},
            {"Subject": "Problem", "In_Reply_To": "<earlier@client.example>"},
            {"Subject": "Problem", "References": "<a@client.example> <b@client.example>"},
        ],
    )
    def test_reply_quoting_a_trace_is_not_a_report(self, headers: dict[str, str]) -> None:
        report = parse_message(mail(self.ANSWER + self.QUOTED, **headers), SETTINGS)
        assert (report.kind, report.reason) == (Kind.OTHER, "trace only quoted in a reply")

    def test_nested_quote_in_html_reply(self) -> None:
        quote = f"<blockquote><blockquote><pre>{TRACE}</pre></blockquote></blockquote>"
        html = "<p>Agreed, closing.</p>" + quote
        raw = mail(html, Subject="Re: Re: Crash", Content_Type="text/html; charset=utf-8")
        assert kind(raw) is Kind.OTHER

    @pytest.mark.parametrize("subject", ["Crash report Acme Desk", "Fwd: Crash", "WG: Fehler"])
    def test_quoted_trace_in_a_new_mail_is_a_report(self, subject: str) -> None:
        body = "Hi, this still happens with the latest build.\n\nOn Wed, Tom wrote:\n"
        assert kind(mail(body + self.QUOTED, Subject=subject)) is Kind.ERROR_REPORT

    def test_reply_quoting_a_logged_error_is_not_a_report(self) -> None:
        quoted = "".join("> " + line + "\n" for line in LOGGED.splitlines())
        report = parse_message(mail(self.ANSWER + quoted, Subject="Re: Crash"), SETTINGS)
        assert (report.kind, report.reason) == (Kind.OTHER, "trace only quoted in a reply")

    def test_reply_with_its_own_trace_is_a_report(self) -> None:
        body = "Now it fails differently:\n" + TRACE.replace("142", "150") + "\n" + self.QUOTED
        assert kind(mail(body, Subject="Re: Crash")) is Kind.ERROR_REPORT


class TestOwnAndOther:
    def test_own_mail_coming_back(self) -> None:
        """triagebot's own candidate mail (quoting a trace) delivered to the watched box."""
        by_sender = parse_message(mail(TRACE, From="Triage <helpdesk+c-1@example.com>"), SETTINGS)
        assert (by_sender.kind, by_sender.reason) == (Kind.OTHER, "own mail")
        by_id = mail(TRACE, Message_ID="<triagebot.c-1@helpdesk.example.com>")
        assert kind(by_id) is Kind.OTHER

    def test_plain_question(self) -> None:
        report = parse_message(mail("Can you reset my password?"), SETTINGS)
        assert (report.kind, report.trace, report.reason) == (Kind.OTHER, None, "")


class TestAddressSet:
    def test_forms(self) -> None:
        entries = AddressSet(["Errors@Acme.example", "@reports.example", "corp.example", " "])
        assert "errors@acme.example" in entries
        assert "ERRORS+tag@acme.example" in entries
        assert "x@reports.example" in entries
        assert "x@eu.corp.example" in entries
        assert "x@notcorp.example" not in entries
        assert "other@acme.example" not in entries
        assert not AddressSet([])


class TestAnswersAndAutomatedReports:
    """RFC 3834: automated reports say ``auto-generated``; answers say ``auto-replied``."""

    @pytest.mark.parametrize(
        "headers",
        [
            {"Auto_Submitted": "auto-replied"},
            {"X_Autoreply": "yes"},
            {"X_Autorespond": "Vacation"},
            {"Subject": "Out of Office: Crash in billing"},
            {"Subject": "Automatische Antwort: Fehlerbericht"},
        ],
    )
    def test_an_answer_repeating_a_trace_is_no_report(self, headers: dict[str, str]) -> None:
        report = parse_message(mail(TRACE, **headers), SETTINGS)
        assert report.kind is Kind.AUTO_REPLY

    @pytest.mark.parametrize("value", ["auto-generated", "auto-notified"])
    def test_an_automated_report_is_a_report(self, value: str) -> None:
        report = parse_message(mail(TRACE, Auto_Submitted=value), SETTINGS)
        assert report.kind is Kind.ERROR_REPORT
