"""Reply trimming: only what the helpdesk member wrote is left for the command parser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triagebot.mail.parse import parse_message
from triagebot.mail.reply import new_text
from triagebot.mail.report import Kind

#: Raw replies as each mail client writes them, with the new text a person would read in
#: ``NAME.expected`` (bench/reply_trimming.py scores them against the reference libraries).
REPLIES = Path(__file__).parent / "mails" / "replies"

CANDIDATE = (
    "A new kind of error was reported 3 times since Monday.\n"
    "\n"
    "NullReferenceException in CaseViewModel.Load\n"
    "   at Acme.Desk.Cases.CaseViewModel.Load(Int32 id)\n"
    "\n"
    "Answer with one of: confirm, reject [reason], duplicate <KEY>, ignore, help\n"
)


def quoted(text: str, prefix: str = "> ") -> str:
    return "\n".join((prefix + line).rstrip() for line in text.splitlines())


def reply_mail(body: str, content_type: str = "text/plain") -> bytes:
    """A reply to a candidate mail as a mail client would send it."""
    head = (
        "From: Anna Muster <anna.muster@acme.example>\r\n"
        "To: triagebot <helpdesk+c-k5rq2x@acme.example>\r\n"
        "Subject: RE: [triage C-42] NullReferenceException in CaseViewModel.Load\r\n"
        "Date: Tue, 04 Jun 2024 08:15:00 +0200\r\n"
        "Message-ID: <AM9PR04MB8.reply@acme.example>\r\n"
        "In-Reply-To: <triagebot.c-002a@acme.example>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    )
    return head.encode() + body.replace("\n", "\r\n").encode()


def trimmed_reply(body: str, content_type: str = "text/plain") -> str:
    report = parse_message(reply_mail(body, content_type))
    assert report.kind is Kind.REPLY
    return new_text(report.body)


OUTLOOK_EN = f"""confirm priority high
component Cases

Thanks, Anna

________________________________
From: triagebot <triagebot@acme.example>
Sent: Monday, June 3, 2024 10:00 AM
To: Helpdesk <helpdesk@acme.example>
Subject: [triage C-42] NullReferenceException in CaseViewModel.Load

{CANDIDATE}"""

OUTLOOK_DE = f"""reject Testdaten, kein Fehler

Freundliche Grüße
Anna Muster

-----Ursprüngliche Nachricht-----
Von: triagebot <triagebot@acme.example>
Gesendet: Montag, 3. Juni 2024 10:00
An: Helpdesk <helpdesk@acme.example>
Cc: Second Level <2nd-level@acme.example>
Betreff: [triage C-42] NullReferenceException in CaseViewModel.Load

{CANDIDATE}"""

# Outlook for Mac and newer Outlook builds put the header block right under the reply.
OUTLOOK_FR_NO_SEPARATOR = f"""duplicate DESK-1234

De : triagebot <triagebot@acme.example>
Envoyé : lundi 3 juin 2024 10:00
À : Helpdesk <helpdesk@acme.example>
Objet : [triage C-42] NullReferenceException in CaseViewModel.Load

{CANDIDATE}"""

GMAIL = f"""confirm
assign jdoe

On Mon, Jun 3, 2024 at 10:00 AM triagebot <triagebot@acme.example> wrote:

{quoted(CANDIDATE)}
"""

GMAIL_WRAPPED = f"""ignore

On Mon, Jun 3, 2024 at 10:00 AM triagebot via Helpdesk <
triagebot@acme.example> wrote:

{quoted(CANDIDATE)}
"""

GMAIL_DE_WRAPPED = f"""confirm label regression

Am Mo., 3. Juni 2024 um 10:00 Uhr schrieb triagebot <
triagebot@acme.example>:

{quoted(CANDIDATE)}
"""

APPLE_MAIL = f"""duplicate DESK-77

Sent from my iPhone

> On 3 Jun 2024, at 10:00, triagebot <triagebot@acme.example> wrote:
>
{quoted(CANDIDATE)}
"""

THUNDERBIRD = f"""reject works as designed

On 03.06.24 10:00, triagebot wrote:
{quoted(CANDIDATE)}

--
Anna Muster | Helpdesk | +41 44 000 00 00
"""

THUNDERBIRD_DE = f"""confirm

Am 03.06.24 um 10:00 schrieb triagebot:
{quoted(CANDIDATE)}
"""

THUNDERBIRD_SIGNATURE_ABOVE_QUOTE = f"""confirm priority low

--{" "}
Anna Muster
Helpdesk

On 03.06.24 10:00, triagebot wrote:
{quoted(CANDIDATE)}
"""

ATTRIBUTIONS = [
    "Le lun. 3 juin 2024 à 10:00, triagebot <triagebot@acme.example> a écrit :",
    "El lun, 3 jun 2024 a las 10:00, triagebot (<triagebot@acme.example>) escribió:",
    "Il giorno lun 3 giu 2024 alle ore 10:00 triagebot <triagebot@acme.example> ha scritto:",
    "Op ma 3 jun. 2024 om 10:00 schreef triagebot <triagebot@acme.example>:",
    "Em seg., 3 de jun. de 2024 às 10:00, triagebot <triagebot@acme.example> escreveu:",
    "Den mån 3 juni 2024 kl 10:00 skrev triagebot <triagebot@acme.example>:",
    "man. 3. jun. 2024 kl. 10:00 skrev triagebot <triagebot@acme.example>:",
    "W dniu 3.06.2024 o 10:00, triagebot pisze:",
    "pon., 3 cze 2024 o 10:00 triagebot <triagebot@acme.example> napisał(a):",
    "пн, 3 июн. 2024 г. в 10:00, triagebot <triagebot@acme.example>:",
    "03.06.2024 10:00, triagebot пишет:",
    "пн, 3 черв. 2024 р. о 10:00 triagebot <triagebot@acme.example> пише:",
    "triagebot <triagebot@acme.example> 于2024年6月3日周一 10:00写道：",
    "2024年6月3日(月) 10:00 triagebot <triagebot@acme.example>:",
    "2024-06-03 10:00 GMT+02:00 triagebot <triagebot@acme.example>:",
    "---- On Mon, 03 Jun 2024 10:00:00 +0200 triagebot wrote ----",
]


class TestClients:
    """Replies as the common mail clients quote them."""

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (OUTLOOK_EN, "confirm priority high\ncomponent Cases\n\nThanks, Anna"),
            (OUTLOOK_DE, "reject Testdaten, kein Fehler\n\nFreundliche Grüße\nAnna Muster"),
            (OUTLOOK_FR_NO_SEPARATOR, "duplicate DESK-1234"),
            (GMAIL, "confirm\nassign jdoe"),
            (GMAIL_WRAPPED, "ignore"),
            (GMAIL_DE_WRAPPED, "confirm label regression"),
            (APPLE_MAIL, "duplicate DESK-77"),
            (THUNDERBIRD, "reject works as designed"),
            (THUNDERBIRD_DE, "confirm"),
            (THUNDERBIRD_SIGNATURE_ABOVE_QUOTE, "confirm priority low"),
        ],
        ids=[
            "outlook-en",
            "outlook-de",
            "outlook-fr-no-separator",
            "gmail",
            "gmail-wrapped",
            "gmail-de-wrapped",
            "apple-mail",
            "thunderbird",
            "thunderbird-de",
            "thunderbird-signature-above-quote",
        ],
    )
    def test_only_the_new_text_remains(self, body: str, expected: str) -> None:
        """The quoted candidate mail, its attribution or headers and the signature are gone."""
        assert trimmed_reply(body) == expected

    @pytest.mark.parametrize("attribution", ATTRIBUTIONS)
    def test_attribution_languages(self, attribution: str) -> None:
        """Attribution lines of many languages end the new text, quoted or not below them."""
        assert new_text(f"confirm\n\n{attribution}\n{quoted(CANDIDATE)}\n") == "confirm"
        assert new_text(f"ignore\n\n{attribution}\n\n{CANDIDATE}") == "ignore"

    def test_crlf_and_lf_give_the_same_text(self) -> None:
        """Line endings of the body do not change the result."""
        assert new_text(GMAIL.replace("\n", "\r\n")) == new_text(GMAIL) == "confirm\nassign jdoe"

    def test_forwarded_message_after_text(self) -> None:
        """A forwarded mail below a note is not part of the note."""
        body = (
            "please look at this one\n\n---------- Forwarded message ---------\n"
            "From: triagebot <triagebot@acme.example>\nDate: Mon, Jun 3, 2024 at 10:00 AM\n"
            "Subject: [triage C-42] NullReferenceException\nTo: <helpdesk@acme.example>\n\n"
            + CANDIDATE
        )
        assert new_text(body) == "please look at this one"


class TestClientFixtures:
    """Every raw reply of ``tests/mails/replies`` trims to its expected text."""

    @pytest.mark.parametrize("name", sorted(path.stem for path in REPLIES.glob("*.eml")))
    def test_fixture(self, name: str) -> None:
        """The new text matches, blank lines and the spaces around lines aside."""
        report = parse_message((REPLIES / f"{name}.eml").read_bytes())
        expected = (REPLIES / f"{name}.expected").read_text(encoding="utf-8")
        assert _lines(new_text(report.body)) == _lines(expected)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class TestFirstLine:
    """Replies that used to lose their first line, where the command is read."""

    def test_flowed_quote_never_joins_the_reply(self) -> None:
        """RFC 3676 4.5: a soft-broken quote line is not joined with the unquoted reply."""
        body = "On 03.06.24 10:00, triagebot wrote:\n> Answer with: confirm, \n> help \nconfirm\n"
        assert trimmed_reply(body, "text/plain; format=flowed") == "confirm"
        report = parse_message(reply_mail("> Hi \n> there\n", "text/plain; format=flowed"))
        assert report.body == "> Hi there\n"

    def test_attribution_on_the_reply_line(self) -> None:
        """A reply written on the attribution's own line is kept, the attribution cut off."""
        body = (
            f"confirm On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:\n{quoted(CANDIDATE)}"
        )
        assert new_text(body) == "confirm"

    @pytest.mark.parametrize(
        "attribution",
        [
            "On 2024-06-03 10:00, triagebot <triagebot@acme.example> sent:",
            "---- John Smith wrote ----",
            "-----On 12/29/1987 17:32 PM, Julius Caesar wrote-----",
            "Vào Th 2, 3 thg 6, 2024 vào lúc 10:00 triagebot <triagebot@acme.example> đã viết:",
        ],
    )
    def test_attribution_forms(self, attribution: str) -> None:
        """Less common attribution forms end the new text too."""
        assert new_text(f"reject\n\n{attribution}\n\n{CANDIDATE}") == "reject"

    def test_two_header_outlook_block(self) -> None:
        """``From:`` and ``Sent:`` alone make a header block; a lone ``Subject:`` line does not."""
        block = "From: triagebot [mailto:triagebot@acme.example]\nSent: Monday, June 3, 2024"
        body = f"ignore\n\n{block}\n\n{CANDIDATE}"
        assert new_text(body) == "ignore"
        assert new_text("confirm\nSubject: the nightly import\nTo be checked") == (
            "confirm\nSubject: the nightly import\nTo be checked"
        )

    def test_html_blockquote_without_attribution(self) -> None:
        """An HTML quote without any attribution line is a quote, not new text."""
        body = "<div>confirm</div><blockquote><div>A new kind of error</div></blockquote>"
        assert trimmed_reply(body, "text/html") == "confirm"

    def test_prose_that_starts_like_a_device_signature(self) -> None:
        """A clause after "Sent from my desk," is prose; a device before the comma is not."""
        prose = "Sent from my desk, the VPN is down so I could not test it."
        assert new_text(f"confirm\n{prose}") == f"confirm\n{prose}"
        assert new_text("confirm\n\nSent from my cell, please excuse any typos.") == "confirm"
        assert new_text("confirm\n\nOutlook für Android herunterladen<https://aka.ms/x>") == (
            "confirm"
        )


class TestHtmlReplies:
    """HTML-only replies, converted to text by the parser, trim like plain ones."""

    def test_gmail_html(self) -> None:
        """Gmail's quote is a blockquote without ``>``: the attribution ends the new text."""
        body = (
            '<div dir="ltr"><div>confirm</div><div>priority high</div></div><br>'
            '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jun 3, 2024 at '
            '10:00 AM triagebot &lt;<a href="mailto:triagebot@acme.example">triagebot@acme.example'
            '</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px">'
            "<div>A new kind of error was reported 3 times.</div><div>confirm, reject, ignore</div>"
            "</blockquote></div>"
        )
        assert trimmed_reply(body, "text/html") == "confirm\npriority high"

    def test_outlook_html(self) -> None:
        """Outlook's ``divRplyFwdMsg`` header block ends the new text."""
        body = (
            '<html><body><div style="font-family:Calibri">reject not reproducible</div>'
            '<div>Anna</div><hr style="display:inline-block;width:98%" tabindex="-1">'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt">'
            "<b>From:</b> triagebot &lt;triagebot@acme.example&gt;<br><b>Sent:</b> Monday, "
            "June 3, 2024 10:00 AM<br><b>To:</b> Helpdesk &lt;helpdesk@acme.example&gt;<br>"
            "<b>Subject:</b> [triage C-42] NullReferenceException</font><div>&nbsp;</div></div>"
            "<div>A new kind of error was reported 3 times.</div><div>confirm</div>"
            "</body></html>"
        )
        assert trimmed_reply(body, "text/html") == "reject not reproducible\nAnna"


class TestCommandsInThreads:
    """Earlier commands further down the thread are never read again."""

    def test_reject_above_an_earlier_confirm(self) -> None:
        """A new ``reject`` quoting an earlier ``confirm`` (and its own quote) keeps only reject."""
        earlier = (
            "confirm\n\nOn Mon, Jun 3, 2024 at 10:00 AM triagebot <triagebot@acme.example> "
            f"wrote:\n\n{quoted(CANDIDATE)}"
        )
        body = (
            "reject duplicate of the printer issue\n\n"
            "On Tue, Jun 4, 2024 at 8:15 AM Anna Muster <anna.muster@acme.example> wrote:\n\n"
            f"{quoted(earlier)}\n"
        )
        assert trimmed_reply(body) == "reject duplicate of the printer issue"

    def test_reject_above_an_earlier_outlook_confirm(self) -> None:
        """The same thread from Outlook: the earlier confirm sits below a header block."""
        body = (
            "reject\n\n________________________________\n"
            "From: Anna Muster <anna.muster@acme.example>\nSent: Tuesday, June 4, 2024 8:15 AM\n"
            "To: triagebot <triagebot@acme.example>\nSubject: RE: [triage C-42] ...\n\nconfirm\n"
        )
        assert trimmed_reply(body) == "reject"


class TestSignatures:
    """Signatures go, prose that merely looks similar stays."""

    @pytest.mark.parametrize(
        "signature",
        [
            "Sent from my iPhone",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPad",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Sent from Mail for Windows",
            "发自我的iPhone",
            "-- \nAnna Muster\nHelpdesk Acme\n+41 44 000 00 00",
            "__________\nAcme AG, Bahnhofstrasse 1, Zürich",
        ],
    )
    def test_signature_removed(self, signature: str) -> None:
        """A device signature or a ``-- `` block after the text is removed."""
        assert (
            new_text(f"confirm component Billing\n\n{signature}\n") == "confirm component Billing"
        )

    def test_prose_kept(self) -> None:
        """Sentences starting like a signature, ``Subject:`` lines and ``---`` prose stay."""
        body = (
            "Sent from the build server at 10:00, the job failed again.\n"
            "Subject: the nightly import\n"
            "This is not a ---------- delimiter."
        )
        assert new_text(body) == body


class TestStructure:
    """Quotes are judged by where they stand."""

    def test_top_posting_with_inline_quotes_below(self) -> None:
        """New text on top and answers between quoted lines below are all kept."""
        body = (
            "confirm\n\nAnswers inline:\n\n> Which version?\n4.2.1\n\n> Which machine?\n"
            "WS-0815\n\n> Answer with one of: confirm, reject\n"
        )
        assert new_text(body) == (
            "confirm\n\nAnswers inline:\n\n> Which version?\n4.2.1\n\n> Which machine?\nWS-0815"
        )

    def test_inline_answers_after_attribution(self) -> None:
        """An attribution followed by a quote and then more new text is an inline answer."""
        body = (
            "see below\n\nOn Mon, Jun 3, 2024 at 10:00 AM triagebot <triagebot@acme.example> "
            "wrote:\n> Which version?\n4.2.1\n> Answer with: confirm\n"
        )
        assert new_text(body) == "see below\n\n> Which version?\n4.2.1"

    def test_bottom_posting(self) -> None:
        """A quote first and the answer below it: the answer is the new text."""
        body = f"On 03.06.24 10:00, triagebot wrote:\n{quoted(CANDIDATE)}\n\nconfirm\n"
        assert new_text(body) == "confirm"

    def test_no_quote_at_all(self) -> None:
        """A body without any quote is returned as written, indentation and blank lines kept."""
        body = "\n\nconfirm\npriority high\n\n    steps:\n      1. open case 42  \n\n"
        assert new_text(body) == "confirm\npriority high\n\n    steps:\n      1. open case 42"

    def test_code_fence_kept(self) -> None:
        """Separator-like lines inside a fenced block are text."""
        body = "confirm\n\n```\n####\n---\n```\nthanks"
        assert new_text(body) == body

    def test_quote_only(self) -> None:
        """A body that is only a quote stays; an attributed quote is an earlier mail."""
        assert new_text("> the printer is on fire\n") == "> the printer is on fire"
        assert new_text(f"> On 03.06.24 10:00, triagebot wrote:\n{quoted(CANDIDATE, '>> ')}") == ""

    def test_empty(self) -> None:
        """Blank bodies give an empty text."""
        assert new_text("") == new_text(" \r\n\r\n") == ""


LINE = st.from_regex(r"[A-Za-z][A-Za-z0-9 ,.!?']{0,70}", fullmatch=True)
TRICKY = st.sampled_from(
    [
        "",
        "> quoted",
        "-- ",
        "________________",
        "From: a <a@b.example>",
        "Sent: Monday, June 3, 2024 10:00 AM",
        "To: b",
        "Subject: x",
        "On Mon, Jun 3, 2024 at 10:00 AM x <x@y.example> wrote:",
        "On Mon, Jun 3, 2024 at 10:00 AM x <",
        "x@y.example> wrote:",
        "Sent from my iPhone",
        "```",
        "2024-06-03 10:00 GMT+02:00 x <x@y.example>:",
    ]
)


class TestProperties:
    """Invariants over arbitrary bodies."""

    @given(st.lists(LINE, min_size=1, max_size=30))
    def test_plain_text_is_kept_whole(self, lines: list[str]) -> None:
        """A body that is all new text comes back whole, never empty."""
        body = "\n".join(lines)
        assert new_text(body) == body.strip("\n").rstrip()
        assert new_text(body) != ""

    @given(st.lists(st.one_of(LINE, TRICKY), max_size=40))
    def test_only_removes_lines(self, lines: list[str]) -> None:
        """Trimming never rewrites a line (it only cuts an attribution off a reply's line): the
        result is a subsequence of the body's lines."""
        remaining = iter(line.rstrip() for line in lines)
        result = new_text("\r\n".join(lines))
        for line in result.split("\n") if result else []:
            assert any(line.rstrip() == candidate for candidate in remaining)

    def test_pathological_input_is_linear(self) -> None:
        """Huge bodies of near-misses are handled quickly (no regex blow-up, no quadratic scan)."""
        parts = [
            "On Mon, Jun 3, 2024 at 10:00 wrote wrote wrote " * 20,
            "- " * 5000 + "x",
            "---- " + "a" * 5000 + " ----",
            "> " * 2000 + "x",
            "2024-06-03 " + "9" * 5000,
        ]
        body = "confirm\n" + "\n".join(parts * 200)
        start = time.perf_counter()
        result = new_text(body)
        assert time.perf_counter() - start < 5.0
        assert result.startswith("confirm\n")
