"""Bounces of the mail triagebot sent: read from the shapes real servers write (a Postfix DSN,
Exchange NDRs with and without a delivery-status part, a qmail bounce), matched to the
candidate mail they return, recorded once, never answered, and listed by ``status``.

The fixtures under ``mails/bounces`` follow the servers' own layouts; ``@@MESSAGE_ID@@`` and
``@@SUBJECT@@`` stand for the returned mail's, filled in from the mail triagebot really sent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clocks import ManualClock
from tests.fakejira import FakeJira
from tests.helpers import Bot
from tests.servers.smtp import SmtpServer
from tests.test_confirm_e2e import ALICE, REPORT, deployment
from triagebot.config import SmtpConfig
from triagebot.mail.bounce import Failure
from triagebot.mail.maildir import deliver
from triagebot.mail.parse import parse_message
from triagebot.mail.report import Kind
from triagebot.pipeline import Outcome
from triagebot.store import Store
from triagebot.store.schema import bounces

BOUNCES = Path(__file__).parent / "mails" / "bounces"
SENT_ID = "triagebot.c-0123abcd@example.test"
WEEK = timedelta(days=7)
DAYS = 400  # [store] retention_days
#: Fixture → the recipient it returns, its status code and a piece of the server's answer.
EXPECTED = {
    "postfix_dsn.eml": (
        "bob@example.test",
        "5.1.1",
        "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown in virtual"
        " mailbox table",
    ),
    "exchange_ndr_571.eml": (
        "carol@contoso.com",
        "5.7.1",
        "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]",
    ),
    "exchange_ndr_511_text.eml": (
        "dave@fabrikam.com",
        "5.1.1",
        "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
    ),
    "qmail.eml": ("erin@northwind.test", "5.1.1", "Sorry, no mailbox here by that name. (#5.1.1)"),
}


def bounce(name: str, message_id: str, subject: str = "[triage C-1] acme-prod: error") -> bytes:
    raw = (BOUNCES / name).read_bytes()
    return raw.replace(b"@@MESSAGE_ID@@", f"<{message_id}>".encode()).replace(
        b"@@SUBJECT@@", subject.encode()
    )


class TestReading:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_each_shape_names_the_returned_mail_and_the_answer(self, name: str) -> None:
        """The returned mail's Message-ID, the failed recipient, status and answer are read
        from each server's layout, and the bounce stays an auto-reply."""
        report = parse_message(bounce(name, SENT_ID))

        assert report.kind is Kind.AUTO_REPLY
        assert report.bounce is not None
        assert report.bounce.original_ids[0] == SENT_ID
        assert report.bounce.failures == (Failure(*EXPECTED[name]),)

    def test_a_delay_warning_is_no_failure(self) -> None:
        """``Action: delayed`` (the server still tries): nothing failed yet."""
        raw = bounce("postfix_dsn.eml", SENT_ID).replace(b"Action: failed", b"Action: delayed")
        report = parse_message(raw)

        assert report.bounce is not None
        assert report.bounce.failures == ()

    def test_exim_names_its_failed_recipients_in_a_header(self) -> None:
        """A text bounce without ``<address>:`` lines: ``X-Failed-Recipients`` names them."""
        raw = (
            b"From: Mail Delivery System <Mailer-Daemon@mx.example.test>\n"
            b"To: helpdesk@example.test\nSubject: Mail delivery failed: returning message\n"
            b"X-Failed-Recipients: frank@example.test\nIn-Reply-To: <" + SENT_ID.encode() + b">\n"
            b"\nThis message was created automatically by mail delivery software.\n"
        )
        report = parse_message(raw)

        assert report.bounce is not None
        assert report.bounce.original_ids == (SENT_ID,)
        assert report.bounce.failures == (Failure("frank@example.test"),)

    def test_a_report_is_no_bounce(self) -> None:
        assert parse_message(REPORT.read_bytes()).bounce is None


def _candidates(smtp: SmtpServer) -> dict[str, EmailMessage]:
    return {
        r.rcpt_tos[0]: r.message for r in smtp.messages if r.message["X-Triagebot"] == "candidate"
    }


def test_bounces_of_candidate_mails_are_recorded_once_and_listed_by_status(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig, fake_jira: FakeJira
) -> None:
    """A report goes out as candidate mails to five people; four come back from four kinds of
    server, and one bounce returns someone else's mail. Through the Maildir source: the four
    are recorded with what was sent, to whom, when and the server's answer; the foreign one is
    not; a bounce delivered twice counts once; nothing answers a bounce."""
    recipients = [ALICE, *(r for r, _, _ in EXPECTED.values())]
    bot: Bot = deployment(tmp_path, None, smtp_config, fake_jira, recipients=recipients)
    deliver(bot.maildir, REPORT.read_bytes())
    bot.once()
    sent = _candidates(smtp_server)
    assert sorted(sent) == sorted(recipients)
    mails_before = len(smtp_server.messages)

    returned = {
        name: bounce(name, sent[to]["Message-ID"].strip("<>"), str(sent[to]["Subject"]))
        for name, (to, _, _) in EXPECTED.items()
    }
    for raw in returned.values():
        deliver(bot.maildir, raw)
    deliver(bot.maildir, bounce("postfix_dsn.eml", "20261201.4711@other.example.test"))
    (summary,) = bot.once().named("run.summary")
    deliver(bot.maildir, returned["qmail.eml"])  # a server sends the same bounce again
    bot.once()
    shown = bot.run("status")
    listed = bot.run("status", "--json")

    assert len(smtp_server.messages) == mails_before  # no bounce was answered
    assert summary["outcomes"] == {"bounce": 5}  # as /metrics counts them
    assert shown.returncode == listed.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("bounces "))
    assert lines[start] == "bounces   4 in the last 30 days (times UTC)"
    listing = lines[start + 1 :]
    assert len(listing) == 4
    for recipient, status, answer in EXPECTED.values():
        (line,) = [x for x in listing if f" to {recipient}, sent " in x]
        assert " candidate C-1 to " in line
        assert line.endswith(f": {status} {answer}")
    recent = json.loads(listed.stdout)["bounces"]["recent"]
    reporters = {b["recipient"]: b["reporter"] for b in recent}
    assert {(b["recipient"], b["kind"], b["defect"]) for b in recent} == {
        (r, "candidate", 1) for r, _, _ in EXPECTED.values()
    }
    assert {b["message_id"] for b in recent} == {sent[r]["Message-ID"] for r in reporters}
    assert reporters["bob@example.test"] == "mx1.example.test"
    assert reporters["carol@contoso.com"] == "AM9PR01MB7011.eurprd01.prod.exchangelabs.com"


def test_a_digest_bounce_names_the_digest_and_foreign_ones_are_left_out(
    store: Store, t0: datetime
) -> None:
    """On each backend: a bounce of a digest is recorded with the digest's name and when its
    run was claimed; one of a mail triagebot sent but did not record (a ``--send-test``) with
    its Message-ID only; one of someone else's mail not at all."""
    end = t0 - timedelta(hours=1)
    claim = store.claim_digest("weekly-dev", end, t0 - timedelta(minutes=5), end - WEEK)
    assert claim is not None
    _, token = claim
    store.finish_digest("weekly-dev", end, token, "sent", message_id="<triagebot.d-1@example.test>")
    mails = {
        "digest": bounce("qmail.eml", "triagebot.d-1@example.test"),
        "test": bounce("exchange_ndr_511_text.eml", "triagebot.t-9@example.test"),
        "foreign": bounce("postfix_dsn.eml", "20261201.4711@other.example.test"),
    }
    outcomes = [Outcome(parse_message(raw), key=key) for key, raw in mails.items()]

    store.record(outcomes, now=t0)
    shown = store.status(t0)["bounces"]

    assert shown["count"] == 2
    by_key = {b["recipient"]: b for b in shown["recent"]}
    assert set(by_key) == {"erin@northwind.test", "dave@fabrikam.com"}
    digest = by_key["erin@northwind.test"]
    assert (digest["kind"], digest["digest"], digest["defect"]) == ("digest", "weekly-dev", None)
    assert digest["sent_at"] == (t0 - timedelta(minutes=5)).isoformat()
    test_mail = by_key["dave@fabrikam.com"]
    assert (test_mail["kind"], test_mail["digest"], test_mail["sent_at"]) == (None, None, None)
    assert test_mail["message_id"] == "<triagebot.t-9@example.test>"
    assert test_mail["status"] == "5.1.1"


def test_retention_removes_old_bounces_and_keeps_recent_ones(
    store: Store, clock: ManualClock, t0: datetime
) -> None:
    """On each backend: a bounce older than ``retention_days`` goes with the retention run, a
    later one stays (``status`` reads the last 30 days)."""
    old = bounce("qmail.eml", "triagebot.t-1@example.test")
    store.record([Outcome(parse_message(old))], now=t0)
    clock.advance(timedelta(days=DAYS - 1))
    recent = bounce("exchange_ndr_511_text.eml", "triagebot.t-2@example.test")
    store.record([Outcome(parse_message(recent))], now=clock())
    clock.advance(timedelta(days=2))

    done = store.apply_retention(DAYS, limit=1)

    assert done.bounces == 1
    with store.read() as conn:
        left = conn.execute(sa.select(bounces.c.original_id)).scalars().all()
    assert left == ["<triagebot.t-2@example.test>"]
    assert store.apply_retention(DAYS).bounces == 0
