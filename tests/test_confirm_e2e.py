"""The confirmation loop end to end, with real parts only: ``triagebot run --once`` as a process
reading a Dovecot mailbox, sending through aiosmtpd (STARTTLS + AUTH) and filing into the fake
Jira. A report goes in, the candidate mail comes out at the SMTP server, a reply is built from
it the way Outlook, Gmail or Thunderbird would write it, and goes back into the mailbox."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import pytest

from tests.conftest_smtp import SMTP_PASSWORD
from tests.fakejira import FakeJira
from tests.helpers import SAMPLES, Bot, Result, imap_mailbox, jira_tracker, smtp_starttls
from tests.servers.dovecot import Mailbox
from tests.servers.smtp import SmtpServer
from triagebot.config import SmtpConfig
from triagebot.confirm import tokens
from triagebot.mail.maildir import deliver, make_maildir

SECRET = "e2e-reply-token-secret-4711"
ALICE = "alice@example.test"
REPORT = SAMPLES / "client-case-load-nullref-01.eml"
AGAIN = SAMPLES / "client-case-load-nullref-02.eml"
WHEN = "Mon, 1 Dec 2026 09:00:00 +0000"

Builder = Callable[[EmailMessage, str, str], bytes]


def deployment(
    tmp_path: Path,
    mailbox: Mailbox | None,
    smtp_config: SmtpConfig,
    jira: FakeJira,
    **helpdesk: object,
) -> Bot:
    """A deployment reading ``mailbox`` over IMAP, or its own Maildir when it is None."""
    bot = Bot(
        tmp_path,
        env={
            "TB_IMAP": mailbox.password if mailbox else "",
            "TB_SMTP": SMTP_PASSWORD,
            "TB_JIRA": "api-token",
            "TB_TOKEN_SECRET": SECRET,
        },
    )
    inbox = (
        imap_mailbox(mailbox.server.port, mailbox.username, "TB_IMAP")
        if mailbox
        else {"kind": "maildir", "path": str(bot.maildir)}
    )
    bot.configure(
        {
            "service": {"name": "acme-prod"},
            "mailbox": inbox,
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


class Inbox(Protocol):
    def append(self, messages: Iterable[bytes]) -> None: ...


def candidate_mail(
    bot: Bot, mailbox: Inbox, smtp_server: SmtpServer, report: Path = REPORT, to: str = ALICE
) -> EmailMessage:
    """Deliver the report, run once, and return the one candidate mail that went out."""
    mailbox.append([report.read_bytes()])
    bot.once()
    (sent,) = [r for r in smtp_server.messages if r.message["X-Triagebot"] == "candidate"]
    assert sent.rcpt_tos == (to,)
    return sent.message


def original_text(candidate: EmailMessage) -> str:
    part = candidate.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def mail(
    headers: dict[str, str],
    body: str,
    *,
    message_id: str,
    sender: str = ALICE,
    from_field: str = "",
    top: Sequence[str] = (),
) -> bytes:
    """``top``: header lines above all others, as receiving servers prepend them."""
    lines = [
        *top,
        f"From: {from_field or f'Alice Example <{sender}>'}",
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
    assert candidate["Subject"] == (
        "[triage C-1] acme-prod · Acme Desk Client 4.2.9.5976: "
        "NullReferenceException in CaseViewModel.LoadAsync"
    )
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


def forged(issued: datetime, secret: str) -> str:
    token = tokens.issue(secret, 1, issued, timedelta(days=30))
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
        by_id(forged(now, "not-the-real-secret-000"), "forged"),
        by_id(forged(now - timedelta(days=40), SECRET), "expired"),
        by_id(good.replace("c1-", "c2-"), "other-candidate"),
        by_id(good, "not-allowed", sender="eve@elsewhere.test"),
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
    assert sum("not genuine" in r for r in reasons) == 2
    assert sum("expired" in r for r in reasons) == 1
    assert sum("allowed_senders" in r for r in reasons) == 1
    assert sum("fails for example.test" in r for r in reasons) == 1
    assert len(mailbox.uids("Review")) == 5
    assert len(mailbox.uids("Processed")) == 2  # the report and the out-of-office notice
    assert fake_jira.issues == {}
    assert [d["state"] for d in bot.defects()] == ["candidate"]
    # Alice is allowed: told once why (not once per refusal); eve is told nothing.
    sent = [r.message for r in smtp_server.messages]
    assert [m["X-Triagebot"] for m in sent] == ["candidate", "refusal"]
    assert sent[1]["To"] == ALICE
    assert sent[1]["In-Reply-To"] == "<forged@mail.example.test>"
    assert "not genuine" in original_text(sent[1])


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


# --- the shared helpdesk list, and forged proof --------------------------------------------

LIST = "helpdesk-list@example.test"
JANE = "jane.doe@example.test"
#: What the receiving server stamps on internal mail: no signature, no DMARC verdict.
REAL_STAMP = (
    "Authentication-Results: mx.example.test; dkim=none; dmarc=none header.from=example.test"
)
#: What the receiving server truly stamps on an attacker's mail (a valid signature of the
#: attacker's domain, the envelope sender and reasons of the attacker's choosing), each
#: looking like a pass to a careless reader.
FORGED_STAMPS = [
    "mx.example.test; dkim=pass header.d=evil.example; dmarc=fail header.from=example.test",
    "mx.example.test; spf=fail smtp.mailfrom=dkim=pass@evil.example",
    'mx.example.test; dkim=fail reason="body hash did not verify, dkim=pass" header.d=example.test',
    "mx.example.test; dmarc=fail (was dmarc=pass) header.from=example.test",
]
#: A complete pass, written by the sender below the server's own stamp.
FORGED_BELOW = (
    "mx.example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test"
)


class MaildirInbox:
    """The deployment's own Maildir, delivered into the way the SMTP listener does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        make_maildir(root)

    def append(self, messages: Iterable[bytes]) -> None:
        for raw in messages:
            name = deliver(self.root, raw)
            settled = time.time() - 3600  # long complete: no writer is still at it
            os.utime(self.root / "new" / name, (settled, settled))

    def count(self, folder: str) -> int:
        where = {"Review": self.root / ".Review" / "new", "Processed": self.root / "cur"}[folder]
        return len(list(where.iterdir())) if where.exists() else 0


@pytest.fixture(params=["imap", "maildir"])
def staff(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    smtp_server: SmtpServer,
    smtp_config: SmtpConfig,
    fake_jira: FakeJira,
) -> tuple[Bot, Inbox, Callable[[str], int]]:
    """The issue's deployment: candidate mails to a shared list, staff allowed by domain."""
    mailbox: Mailbox | None = None
    if request.param == "imap":
        mailbox = request.getfixturevalue("mailbox")
    bot = deployment(
        tmp_path,
        mailbox,
        smtp_config,
        fake_jira,
        recipients=[LIST],
        allowed_senders=["example.test"],
    )
    if mailbox is not None:
        imap = mailbox
        return bot, imap, lambda folder: len(imap.uids(folder))
    inbox = MaildirInbox(bot.maildir)
    return bot, inbox, inbox.count


def test_staff_answer_the_lists_mail_from_their_own_address_and_forgeries_change_nothing(
    staff: tuple[Bot, Inbox, Callable[[str], int]], smtp_server: SmtpServer, fake_jira: FakeJira
) -> None:
    """Forged subject-only replies (each stamp above, and a full pass below the server's own)
    and From tricks with a genuine token go to Review without a trace; then Jane's token
    reply from her own address files the candidate and is acknowledged to her."""
    bot, inbox, count = staff
    candidate = candidate_mail(bot, inbox, smtp_server, to=LIST)
    subject = "Re: " + str(candidate["Subject"])
    commands = ["confirm", "reject not a bug", "duplicate OPS-1"]
    by_subject = {"To": "helpdesk@example.test", "Subject": subject}
    forgeries = [
        mail(
            by_subject,
            commands[n % 3],
            message_id=f"forged-{n}",
            sender=JANE,
            top=top,
        )
        for n, top in enumerate(
            [
                *([f"Authentication-Results: {s}"] for s in FORGED_STAMPS),
                [REAL_STAMP, f"Authentication-Results: {FORGED_BELOW}"],
            ]
        )
    ]
    tricks = [
        '"jane.doe@example.test" <evil@evil.example>',
        f"{JANE}, evil@evil.example",
        "=?utf-8?q?jane.doe=40example.test?=",
    ]
    forgeries += [
        mail(thread(candidate), "confirm", message_id=f"trick-{n}", from_field=from_field)
        for n, from_field in enumerate(tricks)
    ]
    forgeries.append(
        mail(
            {**thread(candidate), "Sender": JANE},
            "reject",
            message_id="sender",
            sender="evil@evil.example",
        )
    )
    inbox.append(forgeries)
    refused = run(bot)

    assert len(refused.named("reply.refused")) == len(forgeries)
    assert count("Review") == len(forgeries)
    assert [d["state"] for d in bot.defects()] == ["candidate"]
    assert fake_jira.issues == {}
    # Jane (allowed) is told once why; the From tricks name nobody allowed: no mail to anyone.
    sent = [r.message for r in smtp_server.messages]
    assert [(m["X-Triagebot"], m["To"]) for m in sent] == [("candidate", LIST), ("refusal", JANE)]

    reply = mail(thread(candidate), "confirm priority high", message_id="jane-1", sender=JANE)
    inbox.append([reply])
    result = run(bot)

    assert [e["verb"] for e in result.named("reply.applied")] == ["confirm"]
    (issue,) = issues(fake_jira)
    fields = issue["fields"]
    assert isinstance(fields, dict)
    assert f"confirmed by {JANE} by e-mail" in fields["description"]
    (ack,) = [r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "ack"]
    assert ack["To"] == JANE


# --- every authorised reply gets an answer -------------------------------------------------


def answers_sent(smtp_server: SmtpServer) -> list[tuple[str, str]]:
    """``(kind, recipient)`` of every mail that went out besides candidate mails."""
    return [
        (str(r.message["X-Triagebot"]), str(r.message["To"]))
        for r in smtp_server.messages
        if r.message["X-Triagebot"] != "candidate"
    ]


def test_a_reply_without_a_command_and_refused_replies_get_exactly_one_answer(
    staff: tuple[Bot, Inbox, Callable[[str], int]], smtp_server: SmtpServer
) -> None:
    """Jane's question is kept as a comment and answered once with the state and the commands;
    her refused replies (a forged token, twice) get one line saying why; automatic mail with
    the same forged token (out-of-office, list traffic, a null Return-Path) and a bounce
    quoting the candidate get nothing."""
    bot, inbox, count = staff
    candidate = candidate_mail(bot, inbox, smtp_server, to=LIST)
    question = "Is this the crash Bob saw on Friday?\nIt only happens after a restart."
    forged_thread = {
        **thread(candidate),
        "In-Reply-To": forged(datetime.now(UTC), "not-the-real-secret-000"),
        "References": "",
    }
    automatic = [
        {"Auto-Submitted": "auto-replied", "Subject": "Out of office"},
        {"List-Id": "Helpdesk <helpdesk.lists.example.test>"},
        {"Return-Path": "<>"},
    ]
    bounce = mail(
        {"To": "helpdesk@example.test", "Subject": "Undeliverable: " + str(candidate["Subject"])},
        "Your message could not be delivered.\n\n" + quoted(original_text(candidate)),
        message_id="bounce",
        from_field="Mail Delivery System <MAILER-DAEMON@example.test>",
    )
    inbox.append(
        [
            mail(thread(candidate), question, message_id="question", sender=JANE),
            mail(forged_thread, "confirm", message_id="forged-1", sender=JANE),
            mail(forged_thread, "reject", message_id="forged-2", sender=JANE),
            *(
                mail({**forged_thread, **headers}, "confirm", message_id=f"auto-{n}", sender=JANE)
                for n, headers in enumerate(automatic)
            ),
            bounce,
        ]
    )
    result = run(bot)

    assert len(result.named("reply.refused")) == 2 + 2  # the forged pair, list and null path
    assert count("Review") == 4
    assert [d["state"] for d in bot.defects()] == ["candidate"]
    assert answers_sent(smtp_server) == [("help", JANE), ("refusal", JANE)]
    help_mail, refusal = (r.message for r in smtp_server.messages[1:])
    text = original_text(help_mail).replace("\r\n", "\n")
    assert "no command on its first line; it is kept as a comment on C-1" in text
    assert "C-1 is a candidate: it waits for your decision." in text
    assert "For example:\n  confirm priority high" in text
    assert help_mail["In-Reply-To"] == "<question@mail.example.test>"
    assert original_text(refusal).startswith("triagebot did not act on your reply: token not")
    # answers thread with the reply and name the installation, as every mail triagebot sends
    assert help_mail["Subject"] == "Re: " + str(candidate["Subject"])
    assert str(refusal["Subject"]).startswith("Re: [triage C-1] acme-prod ")

    inbox.append([mail(forged_thread, "confirm", message_id="forged-3", sender=JANE)])
    run(bot)  # within the hour: refused again, told nothing more
    assert answers_sent(smtp_server) == [("help", JANE), ("refusal", JANE)]


def test_a_command_on_the_subject_line_and_a_duplicate_of_another_candidate(
    parts: Parts,
) -> None:
    """``RE: [triage C-1] confirm`` above a body without a command files C-1; then
    ``duplicate C-1`` makes C-2 update C-1's issue."""
    bot, mailbox, smtp_server, fake_jira = parts.bot, parts.mailbox, parts.smtp, parts.jira
    mailbox.append(
        [REPORT.read_bytes(), (SAMPLES / "appserver-case-sql-timeout-01.eml").read_bytes()]
    )
    run(bot)
    first, second = sorted(
        (r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "candidate"),
        key=lambda m: str(m["Subject"]),
    )
    if not str(first["Subject"]).startswith("[triage C-1]"):
        first, second = second, first
    by_subject = {**thread(first), "Subject": "RE: [triage C-1] confirm"}
    mailbox.append([mail(by_subject, "Thanks, looks real to me.\n\nAlice", message_id="subj")])
    run(bot)
    (issue_key,) = fake_jira.issues
    mailbox.append([mail(thread(second), "Duplicate C-1", message_id="dup")])
    result = run(bot)

    assert [e["verb"] for e in result.named("reply.applied")] == ["duplicate"]
    states = {d["ref"]: (d["state"], d["key"]) for d in bot.defects()}
    assert states == {"C-1": ("filed", issue_key), "C-2": ("duplicate", issue_key)}
    listed = bot.run("defects").stdout.splitlines()[1:]  # under the column headers
    assert [line.split()[:2] for line in listed] == [["C-1", issue_key], ["C-2", issue_key]]
    assert fake_jira.count("POST", "issue") == 1
    acks = [r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "ack"]
    assert len(acks) == 2
    assert f"C-2 now updates {issue_key}." in original_text(acks[1])
    # the subject-line command lost the installation's name: the answer puts it back
    assert acks[0]["Subject"] == "Re: [triage C-1] acme-prod: confirm"


def test_undo_by_mail_closes_the_filed_issue_and_a_new_confirm_reopens_it(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig, fake_jira: FakeJira
) -> None:
    """Through the deployment's Maildir, aiosmtpd and the fake Jira: a confirm files, an
    ``undo`` closes the issue with a comment and is answered, a new confirm reopens it."""
    bot = deployment(tmp_path, None, smtp_config, fake_jira)
    inbox = MaildirInbox(bot.maildir)
    candidate = candidate_mail(bot, inbox, smtp_server)
    inbox.append([gmail_en(candidate, "confirm", "confirm-1")])
    run(bot)
    (key,) = fake_jira.issues

    inbox.append([gmail_en(candidate, "undo", "undo-1")])
    result = run(bot)
    assert [e["refused"] for e in result.named("reply.undo")] == [None]
    assert fake_jira.issues[key]["fields"]["status"]["name"] == "Closed"
    assert any("undone by alice@example.test" in c for c in fake_jira.comments(key))
    (defect,) = bot.defects()
    assert defect["state"] == "candidate"
    acks = [r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "ack"]
    assert len(acks) == 2  # the confirm's and the undo's, though minutes apart
    assert acks[1]["In-Reply-To"] == "<undo-1@mail.example.test>"
    assert f"{key} is closed with a comment" in original_text(acks[1])

    inbox.append([gmail_en(candidate, "confirm priority high", "confirm-2")])
    run(bot)
    assert list(fake_jira.issues) == [key]  # reopened, never filed twice
    assert fake_jira.issues[key]["fields"]["status"]["name"] == "Reopened"
    (defect,) = bot.defects()
    assert defect["state"] == "filed"
