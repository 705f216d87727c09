"""parse_message on realistic mails: bodies, encodings, charsets, forwards, headers, metadata."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from triagebot.mail.html import html_to_text
from triagebot.mail.mime import decode_bytes, decode_header_value
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind

MAILS = Path(__file__).parent / "mails"

TRACE = (
    "System.IO.FileNotFoundException: Datei nicht gefunden: 'C:\\Daten\\Übersicht_Größe.xlsx'\n"
    "   at Acme.Desk.Export.ExcelExporter.Open(String path) in C:\\src\\ExcelExporter.cs:line 77\n"
    "   at Acme.Desk.Export.ExportCommand.Execute(Object parameter) in C:\\src\\Export.cs:line 31\n"
)


def load(name: str) -> bytes:
    return (MAILS / name).read_bytes()


def mail(body: bytes, content_type: str = "text/plain; charset=utf-8", **extra: str) -> bytes:
    headers = {
        "Message-ID": "<m-1@ws-0231.example.com>",
        "Date": "Tue, 14 May 2024 09:12:44 +0200",
        "From": "Acme Desk <errors@acme-desk.example.com>",
        "To": "helpdesk@example.com",
        "Subject": "Unhandled exception",
        "MIME-Version": "1.0",
        "Content-Type": content_type,
    }
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    return head + b"\r\n" + body


class TestBodies:
    def test_plain_crlf_report(self) -> None:
        """A plain CRLF report: identity, headers, date, text with LF only, trace found."""
        report = parse_message(load("dotnet_plain.eml"))
        assert report.kind is Kind.ERROR_REPORT
        assert report.message_id == "20240514071244.4711@ws-0231.corp.example.com"
        assert report.sender == "errors@acme-desk.example.com"
        assert report.date == datetime(2024, 5, 14, 7, 12, 44, tzinfo=UTC)
        assert "\r" not in report.text
        assert report.trace is not None
        assert report.trace.exceptions[0].type == "System.NullReferenceException"
        assert report.trace.frame_count == 3
        assert report.headers["x-machine"] == "WS-0231"
        assert report.headers["received"].startswith("from appsrv01.corp.example.com")
        assert "\n" not in report.headers["received"]

    def test_lf_and_crlf_give_the_same_report(self) -> None:
        """Line endings do not change the outcome."""
        crlf = load("dotnet_plain.eml")
        lf = crlf.replace(b"\r\n", b"\n")
        assert parse_message(lf) == parse_message(crlf)

    def test_html_only_outlook(self) -> None:
        """Outlook HTML: one <p> per line, &nbsp; indentation, entities, style/script dropped."""
        report = parse_message(load("html_outlook.eml"))
        assert report.kind is Kind.ERROR_REPORT
        assert "Café & order <42> failed:" in report.text
        assert "not me" not in report.text and "MsoNormal" not in report.text
        assert "\n   at Acme.Server.Orders.OrderService.Submit(Order order)" in report.text
        assert report.trace is not None and report.trace.frame_count == 3
        assert report.metadata["machine"] == "APPSRV01"

    def test_html_pre_block_keeps_lines(self) -> None:
        """A trace inside <pre> keeps its line breaks and indentation."""
        report = parse_message(load("html_pre.eml"))
        assert '  File "/srv/app/acme/jobs/sync.py", line 41, in run\n    self.push(batch)' in (
            report.text
        )
        assert report.trace is not None and report.trace.language == "python"
        assert report.metadata == {"machine": "WS-0042", "environment": "Staging"}

    def test_django_error_page_attachment_and_textarea(self) -> None:
        """Django mails its error page as ``error.html``; the traceback sits in a <textarea>."""
        page = (
            "<html><body><h1>ValueError at /orders/</h1><textarea id='traceback_area'>"
            "Traceback (most recent call last):\n"
            '  File "/srv/shop/orders/views.py", line 12, in submit\n'
            "    total = compute(order)\n"
            '  File "/srv/shop/orders/pricing.py", line 40, in compute\n'
            "    raise ValueError(&quot;negative total&quot;)\n"
            "ValueError: negative total\n</textarea></body></html>"
        )
        mail = EmailMessage()
        mail["From"] = "django@shop.example"
        mail["To"] = "errors@shop.example"
        mail["Subject"] = "[Django] ERROR: Internal Server Error: /orders/"
        mail["Message-ID"] = "<django-1@shop.example>"
        mail.set_content("Internal Server Error: /orders/ (see the attached page)\n")
        mail.add_attachment(page.encode(), maintype="text", subtype="html", filename="error.html")
        report = parse_message(mail.as_bytes())
        assert report.kind is Kind.ERROR_REPORT
        assert report.trace is not None and report.trace.language == "python"
        (exc,) = report.trace.exceptions
        assert exc.type == "ValueError"
        assert [f.function for f in exc.frames] == ["compute", "submit"]

    def test_alternative_prefers_plain(self) -> None:
        report = parse_message(load("alternative_plain.eml"))
        assert "PLAIN-VERSION-MARKER" in report.text
        assert "HTML-VERSION-MARKER" not in report.text
        assert report.kind is Kind.ERROR_REPORT

    def test_alternative_stub_plain_uses_html(self) -> None:
        """A text/plain part that only says "requires HTML" is skipped for the HTML part."""
        report = parse_message(load("alternative_stub.eml"))
        assert "requires an HTML" not in report.text
        assert report.trace is not None and report.trace.language == "javascript"
        assert report.metadata["application"] == "Shop Backend"
        assert report.metadata["version"] == "2.8.0"

    def test_log_attachment_appended_after_body(self) -> None:
        """A base64 .log attachment is read; images are not; the body comes first."""
        report = parse_message(load("mixed_log_attachment.eml"))
        assert report.text.index("Log attached") < report.text.index("Connection pool exhausted")
        assert "iVBOR" not in report.text
        assert report.kind is Kind.ERROR_REPORT
        assert report.trace is not None and report.trace.language == "java"
        assert report.metadata["environment"] == "Prod"

    def test_format_flowed_lines_joined(self) -> None:
        """format=flowed soft breaks inside trace lines are undone, space-stuffing removed."""
        report = parse_message(load("flowed.eml"))
        assert (
            "   at Acme.Desk.Customers.CustomerForm.Validate() in "
            "C:\\build\\src\\Acme.Desk\\Customers\\CustomerForm.cs:line 203\n"
        ) in report.text
        assert "-- \nEva" in report.text
        assert report.trace is not None and report.trace.frame_count == 2

    def test_lost_line_breaks(self) -> None:
        """A trace joined into one long line is still found with all its frames."""
        report = parse_message(load("lost_breaks.eml"))
        assert report.text.count("\n") <= 2
        assert report.kind is Kind.ERROR_REPORT
        assert report.trace is not None and report.trace.frame_count == 6

    def test_quoted_printable_and_base64_bodies(self) -> None:
        qp = parse_message(
            mail(
                b"Version: 4.2=\r\n.1\r\n"
                b"System.IO.FileNotFoundException: Datei nicht gefunden: '=C3=9C'\r\n"
                b"   at Acme.A.B() in C:\\x\\B.cs:line 1\r\n",
                Content_Transfer_Encoding="quoted-printable",
            )
        )
        assert qp.metadata["version"] == "4.2.1"
        assert "gefunden: 'Ü'" in qp.text
        b64 = parse_message(
            mail(
                base64.encodebytes(TRACE.encode("utf-8")),
                Content_Transfer_Encoding="base64",
            )
        )
        assert "Übersicht_Größe" in b64.text
        assert b64.kind is Kind.ERROR_REPORT


class TestCharsets:
    @pytest.mark.parametrize(
        ("charset", "encoding"),
        [
            ("utf-8", "utf-8"),
            ("windows-1252", "cp1252"),
            ("iso-8859-1", "latin-1"),
            ("iso-8859-15", "iso-8859-15"),
            ('"ISO-8859-2"', "iso-8859-2"),
        ],
    )
    def test_declared_charset(self, charset: str, encoding: str) -> None:
        report = parse_message(mail(TRACE.encode(encoding), f"text/plain; charset={charset}"))
        assert "Übersicht_Größe" in report.text
        assert report.kind is Kind.ERROR_REPORT

    def test_iso_8859_2_specific_letters(self) -> None:
        text = "Uživatel: Łukasz Żółć\n" + TRACE
        report = parse_message(mail(text.encode("iso-8859-2"), "text/plain; charset=iso-8859-2"))
        assert report.metadata["uživatel"] == "Łukasz Żółć"

    @pytest.mark.parametrize(
        "data",
        [
            TRACE.encode("utf-16"),  # with BOM
            TRACE.encode("utf-16-le"),
            TRACE.encode("utf-16-be"),
        ],
        ids=["bom", "le", "be"],
    )
    @pytest.mark.parametrize("declared", ["utf-16", "us-ascii", None])
    def test_utf16_with_and_without_bom(self, data: bytes, declared: str | None) -> None:
        ctype = f"text/plain; charset={declared}" if declared else "text/plain"
        report = parse_message(
            mail(base64.encodebytes(data), ctype, Content_Transfer_Encoding="base64")
        )
        assert "Übersicht_Größe" in report.text
        assert report.trace is not None and report.trace.frame_count == 2

    def test_utf8_declared_as_latin1(self) -> None:
        """Valid UTF-8 labelled iso-8859-1 (a common lie) is read as UTF-8, not mojibake."""
        report = parse_message(mail(TRACE.encode("utf-8"), "text/plain; charset=iso-8859-1"))
        assert "Übersicht_Größe" in report.text

    def test_cp1252_declared_as_utf8(self) -> None:
        report = parse_message(mail(("Benutzer: Jürg “JM” Müller\n" + TRACE).encode("cp1252")))
        assert report.metadata["benutzer"] == "Jürg “JM” Müller"

    @pytest.mark.parametrize("charset", ["x-unknown-8bit", "base64", "undefined", "", "utf-8;;"])
    def test_unknown_or_bogus_charset_names(self, charset: str) -> None:
        report = parse_message(mail(TRACE.encode("utf-8"), f"text/plain; charset={charset}"))
        assert "Übersicht_Größe" in report.text

    def test_missing_charset_8bit(self) -> None:
        report = parse_message(mail(TRACE.encode("utf-8"), "text/plain"))
        assert "Übersicht_Größe" in report.text

    def test_undecodable_bytes_become_replacement(self) -> None:
        assert decode_bytes(b"abc \x81\x8d\xff", "utf-8") == "abc \ufffd\ufffdÿ"


class TestForwarded:
    def test_rfc822_attachment_metadata_from_inner_headers(self) -> None:
        report = parse_message(load("forwarded_rfc822.eml"))
        assert report.kind is Kind.ERROR_REPORT
        assert report.sender == "jana.novak@example.com"
        assert report.subject == "Fwd: [Acme Desk] Unhandled exception"
        assert report.metadata == {
            "application": "Acme Desk",
            "version": "4.2.1.3310",
            "machine": "WS-0777",
        }
        assert report.text.index("keeps coming back") < report.text.index("System.IO.IOException")

    def test_inline_gmail_forward(self) -> None:
        """Forwarded-block header lines (From/Date/Subject/To) are not report fields."""
        report = parse_message(load("forwarded_inline.eml"))
        assert report.kind is Kind.ERROR_REPORT
        assert report.metadata == {
            "application": "Acme App Server",
            "version": "7.0.12",
            "environment": "Production",
        }

    def test_outlook_original_message(self) -> None:
        report = parse_message(load("outlook_original.eml"))
        assert report.kind is Kind.ERROR_REPORT
        assert "Gruß Anna" in report.text
        assert report.metadata == {"machine": "WS-0100"}
        assert report.trace is not None and report.trace.frame_count == 2

    def test_quoted_fw_is_unquoted_for_trace_search(self) -> None:
        report = parse_message(load("fw_quoted.eml"))
        assert "\n> " not in report.text
        assert report.kind is Kind.ERROR_REPORT
        assert report.trace is not None and report.trace.language == "python"
        assert report.trace.frame_count == 2
        assert report.metadata == {"machine": "batch-02", "application": "Acme Sync"}


class TestHeaders:
    def test_encoded_words_in_subject_and_from(self) -> None:
        raw = mail(
            TRACE.encode(),
            Subject="=?iso-8859-1?q?Fehler_in_=DCbersicht?= =?utf-8?b?4oCTIEV4cG9ydA==?=",
            From="=?utf-8?q?J=C3=BCrg_M=C3=BCller?= <juerg.mueller@example.com>",
        )
        report = parse_message(raw)
        assert report.subject == "Fehler in Übersicht– Export"
        assert report.headers["from"] == "Jürg Müller <juerg.mueller@example.com>"
        assert report.sender == "juerg.mueller@example.com"

    def test_folded_and_raw_8bit_headers(self) -> None:
        raw = mail(b"x", Subject="Fehler beim\r\n\tSpeichern").replace(
            b"Subject: Fehler", "Subject: Größe Fehler".encode()
        )
        assert parse_message(raw).subject == "Größe Fehler beim Speichern"

    def test_bogus_encoded_word_charset(self) -> None:
        assert decode_header_value("=?x-bogus?q?abc?= z") == "abc z"

    def test_broken_base64_encoded_word_kept_raw(self) -> None:
        report = parse_message(mail(b"x", Subject="=?utf-8?b?4oCTI#?= broken"))
        assert report.subject == "=?utf-8?b?4oCTI#?= broken"
        assert report.kind is Kind.OTHER

    def test_missing_date_and_message_id(self) -> None:
        raw = b"From: a@example.com\nSubject: no date\n\nhello\n"
        report = parse_message(raw)
        assert report.date is None
        assert report.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
        assert report.kind is Kind.OTHER

    def test_bad_date_is_none(self) -> None:
        assert parse_message(mail(b"x", Date="yesterday at noon")).date is None

    def test_message_id_trimmed(self) -> None:
        assert parse_message(mail(b"x", Message_ID="  <abc@host>  ")).message_id == "abc@host"

    def test_mbox_from_line(self) -> None:
        raw = b"From errors@acme-desk.example.com Tue May 14 09:12:44 2024\n" + load(
            "dotnet_plain.eml"
        )
        report = parse_message(raw)
        assert report.message_id == "20240514071244.4711@ws-0231.corp.example.com"
        assert report.kind is Kind.ERROR_REPORT


class TestMetadata:
    def test_headers_win_and_synonyms_map(self) -> None:
        report = parse_message(load("dotnet_plain.eml"))
        assert report.metadata["application"] == "Acme Desk"
        assert report.metadata["user"] == "CORP\\jmüller"
        assert report.metadata["culture"] == "de-CH"
        assert "caused_by" not in report.metadata

    def test_body_synonyms_and_other_keys(self) -> None:
        body = (
            "App: Acme Desk\nApp Version: 4.2.1\nEnv: Test\nHost Name: WS-1\n"
            "Logged In User: jm\nURL: https://x.example.com/a\nhttps://ignored.example.com\n"
            "ValueError: not a field\n"
        )
        report = parse_message(mail(body.encode()))
        assert report.metadata == {
            "application": "Acme Desk",
            "version": "4.2.1",
            "environment": "Test",
            "machine": "WS-1",
            "logged_in_user": "jm",
            "url": "https://x.example.com/a",
        }

    def test_configured_headers(self) -> None:
        settings = ParseSettings(
            metadata_headers={"X-Product": "application", "x-tenant": "tenant"}
        )
        raw = mail(b"Application: body loses\n", X_Product="Acme Web", X_Tenant="contoso")
        assert parse_message(raw, settings).metadata == {
            "application": "Acme Web",
            "tenant": "contoso",
        }


class TestInvalid:
    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (b"", "empty input"),
            (b"  \r\n\r\n ", "empty input"),
            (b"\x00\x01\xff\xfe" * 50, "no mail headers"),
            (b"just some text\nwithout any headers\n", "no mail headers"),
            (b"\n\nFrom: a@b\n", "no mail headers"),
        ],
    )
    def test_not_a_mail(self, raw: bytes, reason: str) -> None:
        report = parse_message(raw)
        assert report.kind is Kind.INVALID
        assert report.reason == reason
        assert report.message_id.startswith("sha256:")


class TestHtml:
    def test_structure(self) -> None:
        text = html_to_text(
            "<div>a <b>bold</b>\n word<br>&nbsp;&nbsp;next</div><ul><li>one</li><li>two</li></ul>"
            "<table><tr><td>K:</td><td>V</td></tr></table><pre>  x\n   y</pre>&lt;tail&gt;"
        )
        assert text == "a bold word\n  next\none\ntwo\nK: V\n  x\n   y\n<tail>"
