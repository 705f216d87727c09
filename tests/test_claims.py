"""Leased work other than effects, fenced: a digest period, a reminder and the retention job.

Each test runs two replicas (two ``Store`` objects on one database, SQLite and PostgreSQL in
turn) on one manual clock: replica A claims, its lease runs out (it was paused), B claims the
same work under a newer token and does it; then A wakes up, and whatever A then tries to
send or write is refused, so nothing goes out twice and nothing B wrote is overwritten.
Digests and reminders go through a real aiosmtpd server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.factories import (
    DEV,
    FILE_RULES,
    MON_8,
    by_group,
    make_outcome,
    make_signature,
    record,
    row_counts,
    runs,
)
from tests.helpers import write_rules
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, HelpdeskConfig, Secret, SmtpConfig, config_from_dict
from triagebot.confirm import Notifier
from triagebot.confirm.notify import DUE_MAIL
from triagebot.digest import CLAIM_LEASE, DigestRunner
from triagebot.errors import LeadershipLost
from triagebot.rules import Action
from triagebot.smtp import Mailer
from triagebot.store import EFFECT_LEASE, JOB_LEASE, Store

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
STAFF = "staff@example.test"


@pytest.fixture
def clock() -> ManualClock:
    """One clock for both replicas, as their hosts' synchronised clocks would be."""
    return ManualClock(START)


@pytest.fixture
def pair(store_url: str, clock: ManualClock) -> Iterator[tuple[Store, Store]]:
    """Replicas A and B on one fresh, migrated database of each backend in turn."""
    a, b = (Store(store_url, clock=clock) for _ in range(2))
    a.migrate()
    yield a, b
    a.close()
    b.close()


# --- digests ------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, smtp_config: SmtpConfig, store_url: str) -> Config:
    rules = write_rules(tmp_path / "rules", FILE_RULES)
    base = config_from_dict({"store": {"url": store_url}, "rules": {"path": str(rules)}})
    return replace(base, smtp=smtp_config, digests=(DEV,))


def test_a_digest_period_taken_over_is_sent_once_and_the_late_claimer_changes_nothing(
    config: Config, pair: tuple[Store, Store], smtp_server: SmtpServer
) -> None:
    """A claims the 08:00 period and freezes before sending; after ``CLAIM_LEASE`` B's retry
    sweep takes it over and sends it. A wakes up: it sends nothing (``covered``), and its
    late attempt to end the run (``retry``) is refused, so the period stays ``sent``."""
    a, b = (DigestRunner(config, store, Mailer(config.smtp)) for store in pair)  # type: ignore[arg-type]
    record(config, pair[0], by_group("appserver"), MON_8 - timedelta(hours=1))
    claim = a.claim("dev-daily", MON_8, MON_8, MON_8 - DAY)
    assert claim is not None
    assert b.retry_due(MON_8 + CLAIM_LEASE / 2) == []  # A's claim still holds
    later = MON_8 + CLAIM_LEASE + timedelta(minutes=1)
    assert [r.status for r in b.retry_due(later)] == ["sent"]
    with capture_logs() as events:
        late = a.send(claim, later)
        finished = pair[0].finish_digest(
            "dev-daily", MON_8, claim.token, "retry", error="late", retry_at=later
        )
    assert (late.status, finished) == ("covered", False)
    assert [e["doing"] for e in events if e["event"] == "digest.claim_lost"] == ["send"]
    assert len(smtp_server.messages) == 1
    assert runs(pair[1]) == [("dev-daily", MON_8 - DAY, MON_8, "sent")]


# --- reminders ----------------------------------------------------------------------------


@pytest.fixture
def helpdesk() -> HelpdeskConfig:
    return HelpdeskConfig(
        recipients=(STAFF,),
        allowed_senders=("example.test",),
        reply_address="helpdesk@example.test",
        token_secret=Secret("unit-test-secret-0123456789", "test"),
        reminder_after_hours=24,
    )


def test_a_reminder_taken_over_goes_out_once_and_the_late_claimer_records_nothing(
    pair: tuple[Store, Store],
    clock: ManualClock,
    helpdesk: HelpdeskConfig,
    smtp_config: SmtpConfig,
    smtp_server: SmtpServer,
) -> None:
    """A claims the due reminders and freezes; once the claims ran out B claims and sends
    them. A wakes up: it sends none of them, and its completions are refused, so each
    candidate has one reminder, sent by B."""
    a, b = (Notifier(Mailer(smtp_config), helpdesk, store) for store in pair)
    pair[0].record(
        [
            make_outcome(f"<c{i}@x>", Action.CANDIDATE, signature=make_signature(f"{i:016x}"))
            for i in range(3)
        ]
    )
    ids = [d.id for d in pair[0].defects()]
    for defect_id in ids:
        pair[0].record_notification(
            defect_id, "candidate", STAFF, f"<c{defect_id}@x>", START - 2 * DAY
        )
    stale = pair[0].claim_reminders(clock() - DAY)
    assert [c.defect_id for c in stale] == ids
    assert b.remind(clock()) == 0  # A's claims still hold
    clock.advance(EFFECT_LEASE + timedelta(seconds=1))
    assert b.remind(clock()) == len(ids)
    with capture_logs() as events:
        late = [a.send_reminder(claim, clock()) for claim in stale]
        completed = pair[0].complete_reminder(stale[0], "<late@x>", clock())
    assert (late, completed) == ([False] * len(ids), False)
    assert len([e for e in events if e["event"] == "confirm.reminder_claim_lost"]) == len(ids)
    assert len(smtp_server.messages) == len(ids)
    for defect_id in ids:
        assert list(pair[1].notified(defect_id, "reminder")) == [STAFF]


def refusal_answers(store: Store, staff: range) -> None:
    """Refused replies from different ``staff`` members, each waiting for its answer."""
    for i in staff:
        answer = {
            "to": f"staff{i}@example.test",
            "reason": "the token has expired",
            "subject": "Re: [triage C-1] confirm",
            "in_reply_to": f"<r{i}@example.test>",
            "references": [f"<r{i}@example.test>"],
        }
        at = START - timedelta(minutes=5)
        queued = store.queue_refusal_notice(
            f"<r{i}@example.test>", answer["to"], answer, at=at, per=timedelta(hours=1)
        )
        assert queued


def test_the_due_mails_are_sent_by_one_replica_and_one_paused_past_its_lease_sends_none(
    pair: tuple[Store, Store],
    clock: ManualClock,
    helpdesk: HelpdeskConfig,
    smtp_config: SmtpConfig,
    smtp_server: SmtpServer,
) -> None:
    """The answers to refused replies (like the summaries) are sent by whichever replica
    holds the ``due-mail`` job: while A holds it B sends nothing; once A's lease ran out B
    takes the job and sends them all. A wakes up with a new answer due: it sends nothing and
    marks nothing sent, and the answer waits for the job's holder."""
    a, b = (
        Notifier(Mailer(smtp_config), helpdesk, store, holder=name)
        for store, name in zip(pair, "ab", strict=True)
    )
    refusal_answers(pair[0], range(2))
    mine = pair[0].claim_job(DUE_MAIL, "a", timedelta(0))
    assert mine is not None
    b.send_due(clock())
    assert smtp_server.messages == []  # A holds the job
    clock.advance(JOB_LEASE + timedelta(seconds=1))
    b.send_due(clock())
    assert sorted(m.message["To"] for m in smtp_server.messages) == [
        "staff0@example.test",
        "staff1@example.test",
    ]
    refusal_answers(pair[0], range(2, 3))
    with pytest.raises(LeadershipLost):
        a.answer_refusals(clock(), mine)
    with pytest.raises(LeadershipLost):
        pair[0].refusal_notice_sent("<r2@example.test>", clock(), lease=mine)
    assert len(smtp_server.messages) == 2
    assert [m for m, _ in pair[0].refusal_notices_due()] == ["<r2@example.test>"]


# --- the retention job --------------------------------------------------------------------

RETAIN_DAYS = 30


def old_mail(store: Store) -> None:
    """One mail recorded past the retention period."""
    store.record([make_outcome("<old@x>")], now=START - timedelta(days=RETAIN_DAYS + 1))


def test_one_replica_runs_the_retention_job_and_one_paused_past_its_lease_writes_nothing(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """A takes the job and freezes; while it holds the job B cannot take it. After
    ``JOB_LEASE`` B takes it under a newer token: A's run is then refused before it writes,
    B's folds the old mail, and neither replica runs it again within the day."""
    a, b = pair
    old_mail(a)
    mine = a.claim_job("retention", "a", DAY)
    assert mine is not None
    assert b.claim_job("retention", "b", DAY) is None
    clock.advance(JOB_LEASE + timedelta(seconds=1))
    theirs = b.claim_job("retention", "b", DAY)
    assert theirs is not None and theirs.token > mine.token
    with pytest.raises(LeadershipLost):
        a.apply_retention(RETAIN_DAYS, lease=mine)
    assert row_counts(a) == {"messages": 1, "occurrences": 1}  # A wrote nothing
    done = b.apply_retention(RETAIN_DAYS, lease=theirs)
    assert (done.folded, done.pruned) == (1, 1)
    assert (a.finish_job(mine), b.finish_job(theirs)) == (False, True)
    clock.advance(DAY / 2)
    assert (a.claim_job("retention", "a", DAY), b.claim_job("retention", "b", DAY)) == (None, None)
    clock.advance(DAY / 2)
    assert a.claim_job("retention", "a", DAY) is not None


def test_a_job_lease_that_ran_out_is_refused_even_before_anyone_took_it_over(
    pair: tuple[Store, Store], clock: ManualClock
) -> None:
    """A replica that wakes up past its lease does not write on the chance that nobody
    noticed: its own run is refused too, and the job is free for the next replica."""
    a, b = pair
    old_mail(a)
    mine = a.claim_job("retention", "a", DAY)
    assert mine is not None
    clock.advance(JOB_LEASE + timedelta(seconds=1))
    with pytest.raises(LeadershipLost):
        a.apply_retention(RETAIN_DAYS, lease=mine)
    assert row_counts(a) == {"messages": 1, "occurrences": 1}
    assert b.claim_job("retention", "b", DAY) is not None
