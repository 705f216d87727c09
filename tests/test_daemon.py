"""End to end: ``triagebot run`` as a real process over a real Maildir or Dovecot, real SQLite,
the local tracker or the fake Jira over HTTP."""

from __future__ import annotations

import smtplib
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakejira import FakeJira
from tests.helpers import (
    GARBAGE,
    Bot,
    imap_mailbox,
    jira_tracker,
    listing,
    sample_group,
    samples,
    seed_maildir,
    wait_until,
    write_rules,
)
from tests.servers import free_port
from tests.servers.dovecot import Mailbox

DEFECT_KEYS = {"key", "state", "signatures", "title", "occurrences", "first_seen", "last_seen"}
GARBAGE_NAME = "zz-garbage"
#: The two Python/Java invoice bugs are filed straight away; the others stay candidates.
FILE_RULES = [
    {
        "name": "file-invoice-totals",
        "description": "Invoice totals bugs block billing.",
        "exception_type": ["KeyError", "NullPointerException"],
        "action": "file",
    }
]
FILED_GROUPS = {"invoice-totals-keyerror", "invoice-totals-npe"}
JIRA_TOKEN = "api-token"  # the fake Jira's test account
#: ``message.processed`` (one line per mail) is a debug line.
PER_MAIL_LINES = {"logging": {"format": "json", "level": "debug"}}


def signature_by_group(processed: list[dict[str, Any]]) -> dict[str, str]:
    """Group → signature from ``message.processed`` events, checking each group has ONE."""
    found: dict[str, set[str]] = {}
    for event in processed:
        found.setdefault(sample_group(event["ref"]), set()).add(event["signature"])
    assert all(len(sigs) == 1 for sigs in found.values()), found
    return {group: sigs.pop() for group, sigs in found.items()}


def outbox_rows(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT kind, state, attempts FROM outbox ORDER BY id"))


def retry_delays(db: Path) -> list[timedelta]:
    """How far in the future each pending create is scheduled."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT next_attempt_at FROM outbox WHERE kind = 'create' AND state = 'pending'"
        )
        now = datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC
        return [datetime.fromisoformat(at) - now for (at,) in rows]


def make_effects_due(db: Path) -> None:
    """Let the back-off of every pending effect pass."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000'")


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    """A Maildir deployment holding every sample plus one mail that is not a mail."""
    bot = Bot(tmp_path)
    seed_maildir(bot.maildir, [*samples(), (GARBAGE_NAME, GARBAGE)])
    return bot


class TestRunOnceMaildir:
    def test_every_mail_acknowledged_and_grouped(self, bot: Bot) -> None:
        """Each sample lands in cur/, the garbage in .Quarantine with its reason logged, and
        ``defects --json`` holds one defect per bug with the right count."""
        bot.configure({"mailbox": {"batch_size": 5}, **PER_MAIL_LINES})
        result = bot.once()

        assert listing(bot.maildir / "new") == []
        assert listing(bot.maildir / "cur") == [name for name, _ in samples()]
        assert listing(bot.maildir / ".Quarantine" / "new") == [GARBAGE_NAME]
        (quarantined,) = result.named("message.quarantined")
        assert quarantined["ref"] == GARBAGE_NAME
        assert quarantined["reason"] == "no mail headers"
        assert result.named("daemon.stopped")

        by_group = signature_by_group(result.named("message.processed"))
        expected = Counter(sample_group(name) for name, _ in samples())
        assert len(set(by_group.values())) == len(expected) == 5
        defects = bot.defects()
        assert all(set(d) >= DEFECT_KEYS for d in defects)
        occurrences = {sig: d["occurrences"] for d in defects for sig in d["signatures"]}
        assert occurrences == {by_group[g]: n for g, n in expected.items()}
        assert {d["state"] for d in defects} == {"candidate"}  # the shipped rules filed nothing

    def test_second_run_changes_nothing(self, bot: Bot) -> None:
        bot.configure(PER_MAIL_LINES)
        bot.once()
        before, cur = bot.defects(), listing(bot.maildir / "cur")

        again = bot.once()

        assert again.named("message.processed") == []
        assert again.named("message.quarantined") == []
        assert bot.defects() == before
        assert listing(bot.maildir / "cur") == cur

    def test_redelivered_mail_is_not_counted_twice(self, bot: Bot) -> None:
        """A mail seen again (a crash before the move) is acknowledged, never re-counted."""
        bot.configure({})
        bot.once()
        before = bot.defects()
        name, raw = samples()[0]
        seed_maildir(bot.maildir, [(f"again-{name}", raw)])

        bot.once()

        assert listing(bot.maildir / "new") == []
        assert f"again-{name}" in listing(bot.maildir / "cur")
        assert bot.defects() == before


class TestFiling:
    def test_local_tracker_keys_filed_defects(self, bot: Bot) -> None:
        rules = write_rules(bot.home / "rules", FILE_RULES)
        bot.configure({"rules": {"path": str(rules)}, **PER_MAIL_LINES})
        result = bot.once()

        by_group = signature_by_group(result.named("message.processed"))
        defects = {d["signatures"][0]: d for d in bot.defects()}
        filed = {by_group[g] for g in FILED_GROUPS}
        for sig, defect in defects.items():
            if sig in filed:
                assert defect["state"] == "filed"
                assert defect["key"].startswith("LOCAL-")
            else:
                assert (defect["state"], defect["key"]) == ("candidate", None)
        assert len({defects[s]["key"] for s in filed}) == len(filed)

    def test_jira_one_issue_per_signature_and_one_update(
        self, bot: Bot, fake_jira: FakeJira
    ) -> None:
        """First run files; the rest of the mails, in many batches, reach Jira as ONE comment
        per defect carrying the total."""
        firsts = [name for name, _ in samples() if name.endswith("-01.eml")]
        later = [(name, raw) for name, raw in samples() if name not in firsts]
        for name, _ in later:  # held back until the second run
            (bot.maildir / "new" / name).unlink()
        self._jira(bot, fake_jira, batch_size=1)

        first = bot.once()

        by_group = signature_by_group(first.named("message.processed"))
        filed = {by_group[g] for g in FILED_GROUPS}
        assert fake_jira.count("POST", "issue") == len(filed) == 2
        labels = {key: set(issue["fields"]["labels"]) for key, issue in fake_jira.issues.items()}
        for sig in filed:
            assert sum(f"errsig-{sig}" in lb for lb in labels.values()) == 1

        seed_maildir(bot.maildir, later)
        bot.once()

        assert fake_jira.count("POST", "issue") == len(filed)
        defects = {d["signatures"][0]: d for d in bot.defects()}
        for sig in filed:
            key = defects[sig]["key"]
            assert fake_jira.count("POST", f"issue/{key}/comment") == 1
            (comment,) = fake_jira.issues[key]["fields"]["comment"]["comments"]
            assert f"(total {defects[sig]['occurrences']})" in comment["body"]
        assert len(fake_jira.issues) == len(filed)

    def test_jira_outage_leaves_effects_pending_until_a_later_run(
        self, bot: Bot, fake_jira: FakeJira
    ) -> None:
        self._jira(bot, fake_jira, batch_size=5)
        fake_jira.fail(".*", 503, times=10_000)

        first = bot.once()

        assert listing(bot.maildir / "new") == []
        assert len(listing(bot.maildir / "cur")) == len(samples())
        assert fake_jira.issues == {}
        assert first.named("outbox.retry")
        pending = [row for row in outbox_rows(bot.db) if row[0] == "create"]
        assert len(pending) == len(FILED_GROUPS)
        assert all(state == "pending" and attempts == 1 for _, state, attempts in pending)
        assert all(d["key"] is None for d in bot.defects())
        retry_in = retry_delays(bot.db)
        assert len(retry_in) == len(FILED_GROUPS)
        assert all(timedelta(seconds=20) < d < timedelta(minutes=2) for d in retry_in)

        fake_jira.clear_faults()  # Jira is back ...
        assert bot.once().named("outbox.done") == []  # ... but the back-off is not over yet
        make_effects_due(bot.db)
        bot.once()

        assert fake_jira.count("POST", "issue") == len(FILED_GROUPS)
        filed = [d for d in bot.defects() if d["state"] == "filed"]
        assert sorted(d["key"] for d in filed) == ["OPS-1", "OPS-2"]
        assert {row[1] for row in outbox_rows(bot.db) if row[0] == "create"} == {"done"}

    @staticmethod
    def _jira(bot: Bot, fake: FakeJira, batch_size: int) -> None:
        rules = write_rules(bot.home / "rules", FILE_RULES)
        bot.env["TB_JIRA_TOKEN"] = JIRA_TOKEN
        bot.configure(
            {
                "mailbox": {"batch_size": batch_size},
                "rules": {"path": str(rules)},
                "tracker": jira_tracker(fake.url, "TB_JIRA_TOKEN", timeout=5, deadline=0.5),
                **PER_MAIL_LINES,
            }
        )


def imap_bot(tmp_path: Path, mailbox: Mailbox, **extra: Any) -> Bot:
    bot = Bot(tmp_path, env={"TB_IMAP_PASSWORD": mailbox.password})
    bot.configure(
        {
            "mailbox": imap_mailbox(
                mailbox.server.port, mailbox.username, "TB_IMAP_PASSWORD", batch_size=5, **extra
            )
        }
    )
    return bot


def processed(mailbox: Mailbox) -> int:
    """Mails in ``Processed`` (which the daemon creates when it first connects)."""
    return len(mailbox.uids("Processed")) if "Processed" in mailbox.folders() else 0


class TestImap:
    def test_run_once_moves_every_mail(self, tmp_path: Path, mailbox: Mailbox) -> None:
        mailbox.append([raw for _, raw in samples()] + [GARBAGE])
        bot = imap_bot(tmp_path, mailbox)

        result = bot.once()

        assert mailbox.uids("INBOX") == []
        assert len(mailbox.uids("Processed")) == len(samples())
        assert len(mailbox.uids("Quarantine")) == 1
        assert len(result.named("message.quarantined")) == 1
        expected = Counter(sample_group(name) for name, _ in samples())
        assert sorted(d["occurrences"] for d in bot.defects()) == sorted(expected.values())

    def test_daemon_idles_survives_restart_and_stops_on_sigterm(
        self, tmp_path: Path, mailbox: Mailbox
    ) -> None:
        mails = [raw for _, raw in samples()]
        mailbox.append(mails[:1])
        bot = imap_bot(tmp_path, mailbox)
        daemon = bot.start(tmp_path / "daemon.log")
        try:
            assert wait_until(lambda: processed(mailbox) == 1, 15, 0.1), daemon.log.read_text()

            started = time.monotonic()
            mailbox.append(mails[1:2])  # pushed by IDLE: Dovecot adds ~0.5 s
            assert wait_until(lambda: processed(mailbox) == 2, 5, step=0.05)
            print(f"appended mail processed after {time.monotonic() - started:.2f} s")

            mailbox.append(mails[2:6])
            mailbox.server.restart()  # the daemon may be fetching or idling: either way
            mailbox.append(mails[6:])
            assert wait_until(lambda: processed(mailbox) == len(mails), 20, 0.1)
            assert mailbox.uids("INBOX") == []

            assert daemon.terminate() == 0
        finally:
            daemon.kill()
        events = daemon.events()
        assert any(e.get("event") == "daemon.stopped" for e in events)
        opened = [e for e in events if e.get("event") == "imap.open"]
        assert len(opened) >= 2  # connected again after the restart
        assert all(e["idle"] for e in opened)
        assert sum(d["occurrences"] for d in bot.defects()) == len(mails)


class TestListener:
    def test_reports_sent_over_smtp_are_processed(self, tmp_path: Path) -> None:
        """Applications hand reports to the built-in listener; the service files them."""
        port = free_port()
        bot = Bot(tmp_path)
        bot.configure(
            {
                "mailbox": {"kind": "maildir", "path": str(bot.maildir)},
                "listener": {"host": "127.0.0.1", "port": port},
                "store": {"url": f"sqlite:///{bot.db}"},
                **PER_MAIL_LINES,
            }
        )
        daemon = bot.start(tmp_path / "daemon.log")
        try:
            daemon.wait_for_event("listener.started")
            mails = samples()
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                for _, raw in mails:
                    client.sendmail("app@acme.example", ["triage@acme.example"], raw)
            assert wait_until(
                lambda: len(daemon_events(daemon, "message.processed")) == len(mails), 15, 0.05
            ), daemon.log.read_text()
            # acknowledged (moved out of new/) right after the commit that logged them
            assert wait_until(lambda: not listing(bot.maildir / "new"), 10, 0.05)
            assert daemon.terminate() == 0
        finally:
            daemon.kill()
        assert sum(d["occurrences"] for d in bot.defects()) == len(mails)
        assert len(bot.defects()) == len({sample_group(name) for name, _ in mails})


def daemon_events(daemon: Any, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("event") == name]
