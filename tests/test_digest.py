"""Digests over a real SQLite store and a real aiosmtpd server (STARTTLS, AUTH, Exchange rule).

Time is always explicit: runs are driven with the fire times and "now" a cron schedule gives,
never by waiting for the clock.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from tests.conftest_smtp import SMTP_PASSWORD
from tests.factories import (
    DEV,
    FILE_RULES,
    HELPDESK,
    JIRA,
    MON_8,
    by_group,
    decide,
    open_store,
    record,
    resolve,
    runs,
    scheduler_for,
    status,
    variant,
)
from tests.helpers import Bot, jira_config, samples, seed_maildir, smtp_starttls, write_rules
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, HelpdeskConfig, Secret, SmtpConfig, config_from_dict
from triagebot.confirm import ReplyHandler
from triagebot.digest import DigestRunner, Period, build, render
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Report
from triagebot.mail.source import Folder
from triagebot.outbox import run_effects
from triagebot.scheduler import DigestScheduler, last_fire, trigger_for
from triagebot.smtp import Mailer
from triagebot.store import DefectState, Store, defects
from triagebot.trackers.local import LocalTracker

# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, smtp_config: SmtpConfig) -> Config:
    """Local store and rules that file the invoice bugs (the others stay candidates)."""
    rules = write_rules(tmp_path / "rules", FILE_RULES)
    base = config_from_dict(
        {"store": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "rules": {"path": str(rules)}}
    )
    return replace(
        base,
        smtp=smtp_config,
        digests=(DEV, HELPDESK),
        tracker=jira_config(JIRA + "/", tmp_path),
    )


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    store = open_store(config)
    yield store
    store.close()


def inline_images(message: EmailMessage) -> dict[str, bytes]:
    """Content-ID → data of the parts next to the HTML in its ``multipart/related``."""
    html = message.get_body(("related",))
    assert html is not None
    found = {}
    for part in html.iter_parts():
        if part.get_content_maintype() == "image":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            found[str(part["Content-ID"]).strip("<>")] = data
    return found


def parts(message: EmailMessage) -> tuple[str, str, list[dict[str, str]]]:
    """Text part, HTML part and CSV rows of a received digest (checking its structure)."""
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None
    assert html is not None
    alternative = next(p for p in message.iter_parts() if p.get_content_type().startswith("mul"))
    assert alternative.get_content_type() == "multipart/alternative"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    filename = attachment.get_filename()
    assert filename is not None
    assert filename.endswith(".csv")
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return body.get_content().replace("\r\n", "\n"), html.get_content(), rows


# --- content and delivery -----------------------------------------------------------------


def test_developer_digest_orders_by_what_needs_a_developer_each_defect_once(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    """Regressions, then newly filed issues, then the defects growing fastest with their
    trend, then one line counting the candidates; text + HTML with charts + CSV."""
    before = MON_8 - timedelta(days=2)  # the previous period
    record(config, store, by_group("invoice-totals-keyerror"), before)
    record(config, store, by_group("client-case-load-nullref")[:1], before)
    run_effects(store, LocalTracker(store), before)  # filed: LOCAL-1
    resolve(store, "LOCAL-1", "Done")  # fixed in the version seen so far
    nullref = next(d.id for d in store.defects() if d.title.startswith("NullReference"))
    decide(store, nullref, DefectState.FILED)
    run_effects(store, LocalTracker(store), before)  # confirmed by the helpdesk: LOCAL-2
    during = MON_8 - timedelta(hours=3)
    keyerror = by_group("invoice-totals-keyerror")[0][1]
    record(config, store, [("r", variant(keyerror, 1, "99.0"))], during)  # a regression
    record(config, store, by_group("client-case-load-nullref")[1:], during)  # 2, 1 before
    record(config, store, by_group("appserver-case-sql-timeout"), during)  # a candidate
    record(config, store, by_group("invoice-totals-npe")[:1], during)  # filed now
    run_effects(store, LocalTracker(store), during)  # LOCAL-3
    record(config, store, by_group("checkout-voucher-typeerror")[:1], MON_8)  # next period

    result = scheduler_for(config, store).fire("dev-daily", now=MON_8 + timedelta(seconds=2))

    assert result is not None
    assert result.status == "sent"
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ("dev@example.test",)
    assert received.message["X-Triagebot"] == "digest"
    assert received.message["Reply-To"] == "dev@example.test"  # people, not triagebot
    assert "dev-daily" in received.message["Subject"]
    text, html, rows = parts(received.message)
    sections = re.split(r"\n(?=\S.*\(\d+\)\n---)", text)
    regressions, filed, growing = sections[1:4]
    assert re.findall(r"^- (\S+)", regressions, re.M) == ["LOCAL-1"]
    assert "filed, Reopened" in regressions  # the tracker status
    assert f"{JIRA}/browse/LOCAL-1" in regressions
    assert re.findall(r"^- (\S+)", filed, re.M) == ["LOCAL-3"]
    assert re.findall(r"^- (\S+)", growing, re.M) == ["LOCAL-2"]
    assert "2 in period (\u2191 from 1)" in growing
    assert "Open · app Acme Desk Client · version 4.14.3.2072, 4.2.9.5976, 4.6.3.3939" in growing
    # waiting now: the one of the period and the one recorded since
    assert "\nCandidates waiting for the helpdesk: 2 (1 reported in this period)\n" in growing
    assert "SqlException" not in text  # the candidate is only counted
    assert "TypeError" not in text  # recorded after the period ended
    assert [
        (r["key"], r["occurrences_in_period"], r["occurrences_previous_period"]) for r in rows
    ] == [
        ("C-3", "3", "0"),
        ("LOCAL-2", "2", "1"),
        ("LOCAL-1", "1", "2"),
        ("LOCAL-3", "1", "0"),
    ]
    assert rows[1]["application"] == "Acme Desk Client"
    assert rows[1]["url"] == f"{JIRA}/browse/LOCAL-2"
    assert rows[2]["tracker_status"] == "Reopened"
    assert rows[2]["version"] == "5.3.6.4157, 5.5.0.7211, 99.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0]["first_seen"])
    assert len(rows[2]["signatures"]) == 16
    for key in ("LOCAL-1", "LOCAL-2", "LOCAL-3"):
        assert html.count(f'href="{JIRA}/browse/{key}"') == 1  # each defect once
    for external in ("class=", "<style", "<link", "<script", 'width="720"'):
        assert external not in html.replace(
            '<!--[if mso]><table role="presentation" width="720"', ""
        )
    images = inline_images(received.message)
    sources = re.findall(r'<img src="cid:([^"]+)"', html)
    assert sorted(sources) == sorted(images)
    assert len(images) == 4  # the chart and a sparkline per listed defect
    assert all(data.startswith(b"\x89PNG") for data in images.values())


TRIAGE_HELPDESK = HelpdeskConfig(
    recipients=("helpdesk@example.test",),
    allowed_senders=("staff.example.test",),
    reply_address="triage@example.test",
    token_secret=Secret("digest-test-secret-0123456789", "test"),
)


def reply_from_link(link: str, *, thread_headers: bool) -> Report:
    """The mail a client sends from a ``mailto:`` link, read by the real parser; without
    ``thread_headers`` the client dropped the link's ``In-Reply-To`` (many do)."""
    target = urlsplit(link)
    fields = dict(parse_qsl(target.query))
    thread = f"In-Reply-To: {fields['In-Reply-To']}\r\n" if thread_headers else ""
    raw = (
        f"From: Sam <sam@staff.example.test>\r\nTo: {unquote(target.path)}\r\n"
        f"Subject: {fields['subject']}\r\nMessage-ID: <{abs(hash(link))}@staff.example.test>\r\n"
        f"{thread}\r\n{fields['body']}\r\n"
    ).encode()
    return parse_message(raw, ParseSettings(own_addresses=("triage@example.test",)))


def test_helpdesk_digest_lists_candidates_by_occurrences_with_reply_links(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    """Each candidate has confirm / reject links; the reply a link opens acts, with or
    without the thread header; the digest's Reply-To is the configured person."""
    config = replace(
        config,
        helpdesk=TRIAGE_HELPDESK,
        digests=(replace(HELPDESK, reply_to="lead@example.test"),),
    )
    record(config, store, samples(), MON_8 - timedelta(hours=1))
    candidates = sorted(
        (d for d in store.defects() if d.state == "candidate"), key=lambda d: (-d.occurrences, d.id)
    )
    assert len(candidates) >= 2
    assert candidates[0].occurrences > candidates[-1].occurrences

    result = scheduler_for(config, store).fire("helpdesk-daily", now=MON_8)

    assert result is not None
    assert result.status == "sent"
    (received,) = smtp_server.messages
    assert received.message["Reply-To"] == "lead@example.test"
    text, html, rows = parts(received.message)
    references = re.findall(r"^- (C-\d+) ", text, re.MULTILINE)
    assert references == [f"C-{d.id}" for d in candidates]
    assert [r["key"] for r in rows] == [f"C-{d.id}" for d in candidates]
    links = re.findall(r"^ +(confirm|reject): (mailto:\S+)$", text, re.MULTILINE)
    assert len(links) == 2 * len(candidates)
    for _verb, link in links:
        assert f'href="{link.replace("&", "&amp;")}"' in html

    handler = ReplyHandler(TRIAGE_HELPDESK, store)
    confirm, reject = links[0][1], links[3][1]
    assert links[0][0] == "confirm" and links[3][0] == "reject"
    later = MON_8 + timedelta(minutes=10)
    assert handler.handle(reply_from_link(confirm, thread_headers=False), later) is Folder.PROCESSED
    assert handler.handle(reply_from_link(reject, thread_headers=True), later) is Folder.PROCESSED
    assert store.defect(candidates[0].id).state is DefectState.FILED
    assert store.defect(candidates[1].id).state is DefectState.REJECTED


def test_the_daily_chart_counts_every_report_of_its_window(config: Config, store: Store) -> None:
    """Two weeks up to the period's end, also the reports of defects quiet in the period."""
    record(config, store, by_group("client-case-load-nullref"), MON_8 - timedelta(days=5))
    record(config, store, by_group("appserver-case-sql-timeout"), MON_8 - timedelta(hours=2))
    content = build(store, config, DEV, Period(MON_8 - timedelta(days=1), MON_8))
    assert (content.days[0], content.days[-1]) == (date(2029, 12, 24), date(2030, 1, 7))
    per_day = dict(zip(content.days, content.per_day, strict=True))
    assert per_day[date(2030, 1, 2)] == 3  # before the period, its defect not listed
    assert per_day[date(2030, 1, 7)] == 3
    assert sum(content.per_day) == 6
    images = render(content, "acme-prod").images
    assert [i.content_id.partition("@")[0] for i in images] == ["daily"]


def test_html_escapes_titles(config: Config, store: Store) -> None:
    """A title is data: markup in it is shown, not run."""
    record(config, store, by_group("appserver"), MON_8 - timedelta(hours=1))
    with store.write() as conn:
        conn.execute(sa.update(defects).values(title="<script>alert(1)</script> in Load"))
    rendered = scheduler_for(config, store).preview("helpdesk-daily", now=MON_8)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in Load" in rendered.html
    assert "<script>alert(1)</script> in Load" in rendered.text


def test_empty_period_sends_nothing_unless_send_empty(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    quiet = scheduler_for(config, store)
    assert status(quiet.fire("dev-daily", now=MON_8)) == "empty"
    assert smtp_server.messages == []
    loud = replace(config, digests=(replace(DEV, send_empty=True),))
    result = scheduler_for(loud, store).fire("dev-daily", now=MON_8 + timedelta(days=1))
    assert result is not None
    assert result.status == "sent"
    (received,) = smtp_server.messages
    text, _html, rows = parts(received.message)
    assert "No regressions." in text
    assert rows == []


# --- periods, restarts, replicas ----------------------------------------------------------


def test_since_last_digest_survives_a_restart(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    record(config, store, by_group("appserver-case-sql-timeout"), MON_8 - timedelta(hours=2))
    assert status(scheduler_for(config, store).fire("dev-daily", now=MON_8)) == "sent"
    store.close()

    restarted = open_store(config)  # a new process: only the database remembers
    try:
        record(config, restarted, by_group("client-case-load-nullref"), MON_8 + timedelta(hours=2))
        tuesday = MON_8 + timedelta(days=1)
        result = scheduler_for(config, restarted).fire("dev-daily", now=tuesday)
        assert result is not None
        assert result.period is not None
        assert (result.period.start, result.period.end) == (MON_8, tuesday)
        _text, _html, rows = parts(smtp_server.messages[1].message)
        assert [r["title"] for r in rows] == ["NullReferenceException in CaseViewModel.LoadAsync"]
        assert [r[3] for r in runs(restarted)] == ["sent", "sent"]
    finally:
        restarted.close()


def test_missed_run_is_sent_once_at_start(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    """Down from Monday to Wednesday 09:30: one digest covers Monday 08:00 to Wednesday 08:00."""
    scheduler = scheduler_for(config, store)
    record(config, store, by_group("appserver-case-sql-timeout"), MON_8 - timedelta(hours=1))
    assert status(scheduler.fire("dev-daily", now=MON_8)) == "sent"
    record(config, store, by_group("client-case-load-nullref"), MON_8 + timedelta(days=1))

    wednesday = MON_8 + timedelta(days=2, hours=1, minutes=30)
    first = scheduler_for(config, store).catch_up(now=wednesday)  # a new process starts
    again = scheduler_for(config, store).catch_up(now=wednesday + timedelta(minutes=1))

    assert [(r.digest, r.status) for r in first] == [("dev-daily", "sent")]
    assert first[0].period is not None
    assert (first[0].period.start, first[0].period.end) == (MON_8, MON_8 + timedelta(days=2))
    assert again == []
    assert len(smtp_server.messages) == 2
    # the helpdesk digest never ran: it missed nothing, its first run is its next fire time
    assert [r[0] for r in runs(store)] == ["dev-daily", "dev-daily"]


def test_a_run_later_than_the_grace_rolls_into_the_next_period(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    scheduler = scheduler_for(config, store)
    assert scheduler.fire("dev-daily", now=MON_8) is not None
    assert scheduler.catch_up(now=MON_8 + timedelta(days=1, hours=7)) == []
    record(config, store, by_group("appserver"), MON_8 + timedelta(hours=1))
    result = scheduler.fire("dev-daily", now=MON_8 + timedelta(days=2))
    assert result is not None
    assert result.period is not None
    assert result.period.start == MON_8  # nothing between the runs was lost
    assert result.status == "sent"


def test_two_replicas_send_once(config: Config, smtp_server: SmtpServer) -> None:
    stores = [open_store(config), open_store(config)]
    try:
        record(config, stores[0], by_group("appserver"), MON_8 - timedelta(hours=1))
        replicas = [scheduler_for(config, s) for s in stores]
        start = threading.Barrier(2)
        statuses: list[str] = []

        def replica(scheduler: DigestScheduler) -> None:
            start.wait()
            statuses.append(status(scheduler.fire("dev-daily", now=MON_8 + timedelta(seconds=1))))

        threads = [threading.Thread(target=replica, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(statuses) in (["covered", "sent"], ["nothing due", "sent"])
        assert len(smtp_server.messages) == 1
        assert runs(stores[1]) == [("dev-daily", MON_8 - timedelta(days=1), MON_8, "sent")]
    finally:
        for s in stores:
            s.close()


# --- the schedule -------------------------------------------------------------------------


def test_cron_schedule_in_its_time_zone_with_a_controllable_clock() -> None:
    """Weekdays 08:00 Berlin: Friday's next run is Monday, in summer time after the switch."""
    digest = replace(DEV, schedule="0 8 * * mon-fri", timezone="Europe/Berlin")
    trigger = trigger_for(digest)
    friday = datetime(2030, 3, 29, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert trigger.get_next_fire_time(None, friday) == datetime(2030, 4, 1, 6, 0, tzinfo=UTC)
    assert last_fire(trigger, friday) == datetime(2030, 3, 29, 7, 0, tzinfo=UTC)
    sunday = datetime(2030, 3, 31, 12, 0, tzinfo=UTC)
    assert last_fire(trigger, sunday) == datetime(2030, 3, 29, 7, 0, tzinfo=UTC)


def test_due_fires_at_the_scheduled_time_and_only_once(config: Config, store: Store) -> None:
    scheduler = scheduler_for(config, store)
    assert scheduler.due("dev-daily", MON_8 - timedelta(hours=20)) == MON_8 - timedelta(days=1)
    assert scheduler.due("dev-daily", MON_8 - timedelta(minutes=1)) is None  # yesterday's: stale
    assert scheduler.due("dev-daily", MON_8 + timedelta(seconds=5)) == MON_8
    assert scheduler.fire("dev-daily", now=MON_8 + timedelta(seconds=5)) is not None
    assert scheduler.due("dev-daily", MON_8 + timedelta(minutes=5)) is None
    assert scheduler.fire("dev-daily", now=MON_8 + timedelta(minutes=5)) is None
    assert scheduler.due("dev-daily", MON_8 + timedelta(days=1)) == MON_8 + timedelta(days=1)
    assert scheduler.due("dev-daily", MON_8 + timedelta(days=1, hours=7)) is None  # > grace


def test_apscheduler_jobs_follow_the_cron_triggers(config: Config, store: Store) -> None:
    now = datetime.now(UTC)
    scheduler = scheduler_for(config, store)
    scheduler.start()
    try:
        jobs = scheduler.scheduled()
    finally:
        scheduler.stop()
    expected = scheduler.next_fire("dev-daily", now)
    assert jobs["digest:dev-daily"] == expected
    assert jobs["digest:helpdesk-daily"] == expected
    assert "digest:retry" in jobs


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("schedule", "61 8 * * *"),
        ("timezone", "Mars/Olympus"),
        ("csv_delimiter", "::"),
        ("reply_to", "Dev Lead <lead@example.test>"),
        ("threshold", 0),
    ],
)
def test_bad_schedule_or_time_zone_is_a_config_error_naming_the_digest(
    key: str, value: str
) -> None:
    """That digest is off (the service runs), with the error naming the digest and key."""
    table = {"name": "dev-daily", "recipients": ["dev@example.test"], key: value}
    config = config_from_dict({"digest": [table]})
    assert config.digests == ()
    ((section, error),) = config.broken
    assert section == "digest" and error.startswith(f"[[digest]] dev-daily.{key}: ")


def test_reply_to_triagebots_own_mailbox_is_refused_naming_the_key() -> None:
    """Replies to a digest are meant for people: triagebot would read them as reports."""
    config = config_from_dict(
        {
            "smtp": {"host": "mail.example.test", "from_address": "triagebot@example.test"},
            "digest": [
                {
                    "name": "d",
                    "recipients": ["dev@example.test"],
                    "reply_to": "Triagebot@example.test",
                }
            ],
        }
    )
    assert config.digests == ()
    (error,) = [e for s, e in config.broken if s == "digest"]
    assert error.startswith("[[digest]] d.reply_to: ")
    assert "[smtp].from_address" in error


def test_csv_for_german_excel_uses_semicolons_and_local_times(config: Config, store: Store) -> None:
    record(config, store, by_group("appserver"), MON_8 - timedelta(hours=1))
    german = replace(DEV, csv_delimiter=";", timezone="Europe/Berlin")
    scheduler = scheduler_for(replace(config, digests=(german,)), store)
    rendered = scheduler.preview("dev-daily", now=MON_8)
    lines = rendered.csv.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("key;state;title;url;tracker_status;application;environment;")
    (row,) = csv.DictReader(lines, delimiter=";")
    assert row["first_seen"] == "2030-01-07 08:00:00"  # 07:00 UTC, as Berlin's wall clock
    assert row["application"] == "Acme Desk AppServer"
    assert row["occurrences_in_period"] == "3"


# --- failures -----------------------------------------------------------------------------


def test_transient_failure_is_retried_later_not_lost(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    record(config, store, by_group("appserver"), MON_8 - timedelta(hours=1))
    scheduler = scheduler_for(config, store)
    smtp_server.fail_next(1)  # 451 4.3.0 on MAIL FROM

    result = scheduler.fire("dev-daily", now=MON_8)

    assert result is not None
    assert result.status == "retry"
    assert smtp_server.messages == []
    assert runs(store)[0][3] == "retry"
    assert scheduler.retry(now=MON_8 + timedelta(seconds=10)) == []  # backing off
    assert scheduler.fire("dev-daily", now=MON_8 + timedelta(minutes=2)) is None  # still claimed
    retried = scheduler.retry(now=MON_8 + timedelta(minutes=2))
    assert [r.status for r in retried] == ["sent"]
    (received,) = smtp_server.messages
    _text, _html, rows = parts(received.message)
    assert [r["occurrences_in_period"] for r in rows] == ["3"]
    assert scheduler.retry(now=MON_8 + timedelta(hours=1)) == []


def test_a_refused_digest_is_explained_and_sent_once_the_setting_is_fixed(
    config: Config, store: Store, smtp_server: SmtpServer
) -> None:
    """A 5xx (here the relay refusal a From that is not the login's gets) is a setting to
    fix, not a reason to lose the digest: it waits, and goes out once mail works."""
    assert config.smtp is not None
    mismatch = replace(
        config.smtp, from_address="errors@example.test", allow_from_mismatch="testing"
    )
    record(config, store, by_group("appserver"), MON_8 - timedelta(hours=1))
    scheduler = DigestScheduler(DigestRunner(config, store, Mailer(mismatch)))

    with capture_logs() as logs:
        result = scheduler.fire("dev-daily", now=MON_8)

    assert result is not None
    assert result.status == "retry"
    assert "relay" in result.error
    (refused,) = [e for e in logs if e["event"] == "digest.retry"]
    assert refused["log_level"] == "error"
    assert "from_address" in refused["error"]
    assert smtp_server.messages == []

    fixed = DigestScheduler(DigestRunner(config, store, Mailer(config.smtp)))
    [again] = fixed.retry(now=MON_8 + timedelta(days=1))
    assert again.status == "sent"
    assert len(smtp_server.messages) == 1


# --- the service and the command line -----------------------------------------------------


DIGEST_TOML = """
[[digest]]
name = "dev-daily"
recipients = ["dev@example.test"]
schedule = "0 8 * * *"
"""


def test_missing_smtp_disables_digests_with_one_warning_and_reports_are_filed(
    tmp_path: Path,
) -> None:
    bot = Bot(tmp_path)
    seed_maildir(bot.maildir, samples())
    rules = write_rules(tmp_path / "rules", FILE_RULES)
    bot.configure({"rules": {"path": str(rules)}})
    with bot.config.open("a", encoding="utf-8") as fh:
        fh.write(DIGEST_TOML)

    result = bot.once()

    warnings = [e for e in result.events if e.get("level") == "warning"]
    assert [e["event"] for e in warnings] == ["mail.disabled"]
    assert "digests" in warnings[0]["features"]
    filed = [d for d in bot.defects() if d["state"] == "filed"]
    assert {d["title"].split(" ")[0] for d in filed} == {"KeyError", "NullPointerException"}
    assert all(d["key"] for d in filed)
    check = bot.run("check-config")
    assert check.returncode == 0, check.stdout
    (line,) = [x for x in check.stdout.splitlines() if x.startswith("digest")]
    next_three = r"next \w{3} \d{4}-\d\d-\d\d 08:00 UTC, \w{3} "
    assert re.match(r"digest +disabled +dev-daily .*" + next_three, line)
    assert "smtp is disabled" in line


def smtp_bot(tmp_path: Path, smtp_config: SmtpConfig) -> Bot:
    """A Maildir deployment with every sample, mail through the test server, one digest."""
    bot = Bot(tmp_path, env={"SMTP_PASSWORD": SMTP_PASSWORD})
    seed_maildir(bot.maildir, samples())
    bot.configure({"smtp": smtp_starttls(smtp_config, "SMTP_PASSWORD")})
    with bot.config.open("a", encoding="utf-8") as fh:
        fh.write(DIGEST_TOML)
    return bot


def test_service_schedules_digests_and_stops_cleanly(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig
) -> None:
    daemon = smtp_bot(tmp_path, smtp_config).start(tmp_path / "daemon.log")
    try:
        scheduled = daemon.wait_for_event("digest.scheduled")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT08:00:00\+00:00", scheduled["digests"]["dev-daily"])
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
    assert not [e for e in daemon.events() if e.get("level") in ("warning", "error")]


def test_cli_preview_writes_files_and_send_now_sends(
    tmp_path: Path, smtp_server: SmtpServer, smtp_config: SmtpConfig
) -> None:
    bot = smtp_bot(tmp_path, smtp_config)
    bot.once()
    check = bot.run("check-config")
    assert check.returncode == 0, check.stdout
    assert re.search(
        r"^digest +enabled +dev-daily \(developers, 1 recipients\)", check.stdout, re.M
    )
    out = tmp_path / "preview"

    preview = bot.run("digest", "dev-daily", "--preview", "--out", str(out))

    assert preview.returncode == 0, preview.stderr
    text = (out / "dev-daily.txt").read_text(encoding="utf-8")
    assert "Candidates waiting for the helpdesk: 5 (5 reported in this period)" in text
    html = (out / "dev-daily.html").read_text(encoding="utf-8")
    assert '<img src="dev-daily-daily.png"' in html  # the chart as a file next to it
    assert (out / "dev-daily-daily.png").read_bytes().startswith(b"\x89PNG")
    data = (out / "dev-daily.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfkey,state,title")
    assert "NullReferenceException in CaseViewModel.LoadAsync" in data.decode("utf-8-sig")
    stdout = bot.run("digest", "dev-daily", "--preview")
    assert stdout.returncode == 0
    installation = config_from_dict({}).installation  # no [service] name: the host's
    summary = "0 regressions, 0 newly filed, 0 more reported, 5 candidates waiting"
    assert f"Subject: [triage] {installation} · dev-daily: {summary}" in stdout.stdout
    assert smtp_server.messages == []  # previews send nothing

    sent = bot.run("digest", "dev-daily", "--send-now")

    assert sent.returncode == 0, sent.stderr
    assert "sent" in sent.stdout
    (received,) = smtp_server.messages
    _text, _html, rows = parts(received.message)
    assert len(rows) == len({name.rsplit("-", 1)[0] for name, _ in samples()})
    unknown = bot.run("digest", "nope", "--preview")
    assert unknown.returncode == 1
    assert "no digest 'nope'" in unknown.stderr
