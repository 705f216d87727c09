"""The confirmation loop end to end, with real parts only: ``triagebot run --once`` as a process
reading a Dovecot mailbox, sending through aiosmtpd (STARTTLS + AUTH) and filing into the fake
Jira. A report goes in, the candidate mail comes out at the SMTP server, a reply is built from
it the way Outlook, Gmail or Thunderbird would write it, and goes back into the mailbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest_smtp import SMTP_PASSWORD
from tests.fakejira import FakeJira
from tests.helpers import SAMPLES, Bot, Result, imap_mailbox, jira_tracker, smtp_starttls
from tests.servers.dovecot import Mailbox
from tests.servers.smtp import SmtpServer
from triagebot.config import SmtpConfig
from triagebot.confirm import tokens

SECRET = "e2e-reply-token-secret-4711"
ALICE = "alice@example.test"
REPORT = SAMPLES / "client-case-load-nullref-01.eml"
AGAIN = SAMPLES / "client-case-load-nullref-02.eml"
WHEN = "Mon, 1 Dec 2026 09:00:00 +0000"

Builder = Callable[[EmailMessage, str, str], bytes]


def deployment(
    tmp_path: Path, mailbox: Mailbox, smtp_config: SmtpConfig, jira: FakeJira, **helpdesk: object
) -> Bot:
    bot = Bot(
        tmp_path,
        env={
            "TB_IMAP": mailbox.password,
            "TB_SMTP": SMTP_PASSWORD,
            "TB_JIRA": "api-token",
            "TB_TOKEN_SECRET": SECRET,
        },
    )
    bot.configure(
        {
            "mailbox": imap_mailbox(mailbox.server.port, mailbox.username, "TB_IMAP"),
            "tracker": jira_tracker(jira.url, "TB_JIRA", timeout=5),
            "smtp": smtp_starttls(smtp_config, "TB_SMTP"),
            "helpdesk": {
                "recipients": [ALICE],
                "allowed_senders": [ALICE, "bob@example.test"],
                "reply_address": "helpdesk@example.test",
                "token_secret_env": "TB_TOKEN_SECRET",
                "trusted_authserv_ids": ["mx.example.test"],
                **helpdesk,
            },
        }
    )
    return bot


@dataclass
class Parts:
    """One deployment and the real servers around it."""

    bot: Bot
    mailbox: Mailbox
    smtp: SmtpServer
    jira: FakeJira


@pytest.fixture
def parts(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
    smtp_config: SmtpConfig,
    fake_jira: FakeJira,
) -> Parts:
    bot = deployment(tmp_path, mailbox, smtp_config, fake_jira)
    return Parts(bot, mailbox, smtp_server, fake_jira)


def candidate_mail(
    bot: Bot, mailbox: Mailbox, smtp_server: SmtpServer, report: Path = REPORT
) -> EmailMessage:
    """Deliver the report, run once, and return the one candidate mail that went out."""
    mailbox.append([report.read_bytes()])
    bot.once()
    (sent,) = [r for r in smtp_server.messages if r.message["X-Triagebot"] == "candidate"]
    assert sent.rcpt_tos == (ALICE,)
    return sent.message


def original_text(candidate: EmailMessage) -> str:
    part = candidate.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def mail(headers: dict[str, str], body: str, *, message_id: str, sender: str = ALICE) -> bytes:
    lines = [
        f"From: Alice Example <{sender}>",
        f"Date: {WHEN}",
        f"Message-ID: <{message_id}@mail.example.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        body,
    ]
    return "\r\n".join(lines).replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


def thread(candidate: EmailMessage, prefix: str = "Re: ") -> dict[str, str]:
    return {
        "To": str(candidate["Reply-To"]),
        "Subject": prefix + str(candidate["Subject"]),
        "In-Reply-To": str(candidate["Message-ID"]),
        "References": str(candidate["Message-ID"]),
    }


def quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


# --- how the clients write a reply ---------------------------------------------------------


def outlook_en(candidate: EmailMessage, command: str, mid: str) -> bytes:
    body = (
        f"{command}\n\nRegards,\nAlice\n\n________________________________\n"
        f"From: Triage Bot <triagebot@example.test>\nSent: Monday, December 1, 2026 9:00 AM\n"
        f"To: {ALICE}\nSubject: {candidate['Subject']}\n\n{original_text(candidate)}"
    )
    return mail({**thread(candidate, "RE: "), "Thread-Index": "AdlXyz=="}, body, message_id=mid)


def outlook_de(candidate: EmailMessage, command: str, mid: str) -> bytes:
    body = (
        f"{command}\n\nViele Grüße\nAlice\n\nVon: Triage Bot <triagebot@example.test>\n"
        f"Gesendet: Montag, 1. Dezember 2026 09:00\nAn: Alice Example <{ALICE}>\n"
        f"Betreff: {candidate['Subject']}\n\n{original_text(candidate)}"
    )
    return mail(thread(candidate, "AW: "), body, message_id=mid)


def gmail_en(candidate: EmailMessage, command: str, mid: str) -> bytes:
    body = (
        f"{command}\n\nOn Mon, Dec 1, 2026 at 9:00 AM Triage Bot <triagebot@example.test> "
        f"wrote:\n\n{quoted(original_text(candidate))}\n"
    )
    return mail(thread(candidate), body, message_id=mid)


def thunderbird_de(candidate: EmailMessage, command: str, mid: str) -> bytes:
    """Thunderbird posts below the quote by default, and signs with "-- "."""
    body = (
        f"Am 01.12.26 um 09:00 schrieb Triage Bot:\n{quoted(original_text(candidate))}\n\n"
        f"{command}\n\n-- \nAlice Example\nHelpdesk, Raum 4.11\n"
    )
    return mail(thread(candidate), body, message_id=mid)


def run(bot: Bot) -> Result:
    return bot.once()


def issues(jira: FakeJira) -> list[dict[str, object]]:
    return list(jira.issues.values())


@pytest.mark.parametrize(
    ("client", "command"),
    [
        (outlook_en, "Confirm priority high"),
        (outlook_de, "confirm\npriority High"),
        (gmail_en, "confirm priority high"),
        (thunderbird_de, "Confirm\nPriority high"),
    ],
    ids=["outlook-en", "outlook-de", "gmail-en", "thunderbird-de"],
)
def test_reply_confirms_and_files_once(parts: Parts, client: Builder, command: str) -> None:
    bot, mailbox, smtp_server, fake_jira = parts.bot, parts.mailbox, parts.smtp, parts.jira
    candidate = candidate_mail(bot, mailbox, smtp_server)
    assert candidate["Subject"].startswith("[triage C-1] NullReferenceException")
    assert candidate["Auto-Submitted"] == "auto-generated"
    assert candidate["Reply-To"].startswith("helpdesk+c-c1-")
    assert fake_jira.count("POST", "issue") == 0  # a candidate waits for the helpdesk

    raw = client(candidate, command, "confirm-1")
    mailbox.append([raw])
    result = run(bot)

    assert [e["verb"] for e in result.named("reply.applied")] == ["confirm"]
    (issue,) = issues(fake_jira)
    fields = issue["fields"]
    assert isinstance(fields, dict)
    assert "confirmed by alice@example.test by e-mail" in fields["description"]
    assert fields["priority"] == {"name": "High"}
    (ack,) = [r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "ack"]
    assert ack["To"] == ALICE
    assert ack["In-Reply-To"] == "<confirm-1@mail.example.test>"
    assert candidate["Message-ID"] in ack["References"]
    assert len(mailbox.uids("Processed")) == 2

    mailbox.append([raw])  # the same reply delivered again
    again = run(bot)
    assert again.named("reply.already_applied")
    assert fake_jira.count("POST", "issue") == 1
    assert [r.message["X-Triagebot"] for r in smtp_server.messages].count("ack") == 1


def forged(candidate: EmailMessage, recipient: str, issued: datetime, secret: str) -> str:
    token = tokens.issue(secret, 1, recipient, issued, timedelta(days=30))
    return f"<triagebot.c-{token}@example.test>"


def test_refused_replies_go_to_review_and_change_nothing(parts: Parts) -> None:
    bot, mailbox, smtp_server, fake_jira = parts.bot, parts.mailbox, parts.smtp, parts.jira
    candidate = candidate_mail(bot, mailbox, smtp_server)
    now = datetime.now(UTC)
    subject = "Re: " + str(candidate["Subject"])

    def by_id(message_id: str, name: str, sender: str = ALICE, **extra: str) -> bytes:
        headers = {"To": "helpdesk@example.test", "Subject": subject, "In-Reply-To": message_id}
        return mail({**headers, **extra}, "confirm", message_id=name, sender=sender)

    good = str(candidate["Message-ID"])
    bad = [
        by_id(forged(candidate, ALICE, now, "not-the-real-secret-000"), "forged"),
        by_id(forged(candidate, ALICE, now - timedelta(days=40), SECRET), "expired"),
        by_id(forged(candidate, "bob@example.test", now, SECRET), "other-recipient"),
        by_id(
            forged(candidate, "eve@elsewhere.test", now, SECRET),
            "not-allowed",
            sender="eve@elsewhere.test",
        ),
        by_id(
            good,
            "dkim-fail",
            **{"Authentication-Results": "mx.example.test; dkim=fail; dmarc=fail"},
        ),
    ]
    out_of_office = mail(
        {
            "To": str(candidate["Reply-To"]),
            "Subject": "Automatic reply: " + str(candidate["Subject"]),
            "In-Reply-To": good,
            "Auto-Submitted": "auto-replied",
        },
        "I am out of the office until Monday.",
        message_id="ooo",
    )
    mailbox.append([*bad, out_of_office])
    result = run(bot)

    reasons = [e["reason"] for e in result.named("reply.refused")]
    assert len(reasons) == 5
    assert sum("not issued" in r for r in reasons) == 2
    assert sum("expired" in r for r in reasons) == 1
    assert sum("allowed_senders" in r for r in reasons) == 1
    assert sum("dkim=fail" in r for r in reasons) == 1
    assert len(mailbox.uids("Review")) == 5
    assert len(mailbox.uids("Processed")) == 2  # the report and the out-of-office notice
    assert fake_jira.issues == {}
    assert [d["state"] for d in bot.defects()] == ["candidate"]
    assert [r.message["X-Triagebot"] for r in smtp_server.messages] == ["candidate"]


def test_reject_quoting_an_earlier_confirm_mutes_the_signature(parts: Parts) -> None:
    bot, mailbox, smtp_server, fake_jira = parts.bot, parts.mailbox, parts.smtp, parts.jira
    candidate = candidate_mail(bot, mailbox, smtp_server)
    body = (
        "Reject: known network blip, not a defect\n\n"
        "On Mon, Dec 1, 2026 at 10:00 AM Bob <bob@example.test> wrote:\n"
        "> confirm\n>\n"
        f"> On Mon, Dec 1, 2026 at 9:00 AM Triage Bot <triagebot@example.test> wrote:\n"
        f"{quoted(quoted(original_text(candidate)))}\n"
    )
    mailbox.append([mail(thread(candidate), body, message_id="reject-1")])
    run(bot)
    mailbox.append([AGAIN.read_bytes()])  # the same bug once more
    run(bot)

    (defect,) = bot.defects()
    assert (defect["state"], defect["occurrences"]) == ("rejected", 2)
    assert fake_jira.issues == {}
    sent = [r.message["X-Triagebot"] for r in smtp_server.messages]
    assert sent == ["candidate", "ack"]  # no new candidate mail for the muted signature
