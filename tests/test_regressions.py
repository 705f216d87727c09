"""Regressions end to end: an issue resolved in the tracker that recurs in a newer version is
reopened through the workflow, exactly once; the status sync is what tells the store."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.clocks import ManualClock
from tests.factories import FakeTime, jira_settings, make_outcome, make_signature
from tests.fakejira import FakeJira
from tests.helpers import SAMPLES, Bot, jira_tracker, listing, seed_maildir, write_rules
from triagebot.outbox import run_effects, sync_statuses
from triagebot.store import EffectResult, Store
from triagebot.trackers.base import Tracker
from triagebot.trackers.jira import JiraTracker
from triagebot.trackers.local import LocalTracker

DAY = timedelta(days=1)  # when everything queued now is due
RECURRED = "Recurred in version"


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


def jira(fake: FakeJira) -> JiraTracker:
    fake_time = FakeTime()
    return JiraTracker(jira_settings(fake), sleep=fake_time.sleep, clock=fake_time.clock)


def file_one(store: Store, tracker: Tracker) -> tuple[int, str]:
    """A defect seen in 4.2, filed: its id and tracker key."""
    store.record([make_outcome("<first@x>", version="4.2")])
    run_effects(store, tracker, store.clock() + DAY)
    [defect] = store.defects()
    assert defect.key is not None
    return defect.id, defect.key


def recur(store: Store, tracker: Tracker, *versions: str) -> None:
    """One batch per version, then an outbox round."""
    for version in versions:
        store.record([make_outcome(f"<{version}-{len(store.effects())}@x>", version=version)])
    run_effects(store, tracker, store.clock() + DAY)


@pytest.mark.parametrize("fake_jira", ["Cloud", "Server"], indirect=True)
def test_jira_issue_resolved_then_recurring_in_newer_version_is_reopened_once(
    fake_jira: FakeJira, store: Store
) -> None:
    tracker = jira(fake_jira)
    defect_id, key = file_one(store, tracker)
    fake_jira.set_status(key, "Resolved")
    assert sync_statuses(store, tracker) == 1
    assert store.defect(defect_id).resolved is True

    recur(store, tracker, "4.2", "4.2.0")  # old clients still running: no regression
    assert fake_jira.issues[key]["fields"]["status"]["name"] == "Resolved"
    assert fake_jira.count("POST", rf"issue/{key}/transitions") == 0

    recur(store, tracker, "4.3", "4.4")
    recur(store, tracker, "4.5")
    assert fake_jira.issues[key]["fields"]["status"]["name"] == "Reopened"
    assert fake_jira.count("POST", rf"issue/{key}/transitions") == 1
    bodies = [c["body"] for c in fake_jira.issues[key]["fields"]["comment"]["comments"]]
    assert sum(RECURRED in b for b in bodies) == 1
    assert any(f"{RECURRED} 4.3 " in b for b in bodies)
    assert sync_statuses(store, tracker) == 0  # the reopen's own result is current
    assert store.defect(defect_id).tracker_status == "Reopened"


def test_local_issue_resolved_then_recurring_is_reopened_once(store: Store) -> None:
    tracker = LocalTracker(store)
    defect_id, key = file_one(store, tracker)
    tracker.resolve(key)
    assert sync_statuses(store, tracker) == 1

    recur(store, tracker, "4.2")
    assert tracker.get(key).resolved is True
    recur(store, tracker, "4.10", "4.11")
    assert (tracker.get(key).status, tracker.get(key).resolved) == ("Reopened", False)
    assert [k for k, _, _ in store.effects(defect_id)].count("reopen") == 1

    tracker.resolve(key)  # fixed again, after 4.11: a second regression is a second reopen
    sync_statuses(store, tracker)
    recur(store, tracker, "4.11")
    assert tracker.get(key).resolved is True
    recur(store, tracker, "4.12")
    assert tracker.get(key).resolved is False
    assert [k for k, _, _ in store.effects(defect_id)].count("reopen") == 2


@pytest.mark.parametrize("fake_jira", ["Cloud", "Server"], indirect=True)
def test_sync_of_250_tracked_defects_takes_three_searches(
    fake_jira: FakeJira, store: Store
) -> None:
    sigs = [make_signature(f"{i:016x}") for i in range(250)]
    store.record([make_outcome(f"<{i}@x>", signature=s) for i, s in enumerate(sigs)])
    for i, effect in enumerate(store.due_effects(store.clock() + DAY, 1000)):
        key = fake_jira.add_issue(f"bug {i}", (f"errsig-{sigs[i].value}",))
        store.complete_effect(effect, EffectResult(tracker_key=key, tracker_status="Open"))
        if i % 10 == 0:
            fake_jira.set_status(key, "Closed")
    tracker = jira(fake_jira)

    assert sync_statuses(store, tracker) == 25
    search = "search/jql" if fake_jira.deployment == "Cloud" else "search"
    assert fake_jira.count("GET", search) == 3
    assert len(fake_jira.requests) == 3 + 2  # serverInfo and the field list when connecting
    assert sum(d.key is not None for d in store.defects()) == 250


# --- the daemon: ``run --once`` syncs before it drains the mailbox ----------------------------

KEYERROR = (SAMPLES / "invoice-totals-keyerror-01.eml").read_bytes()  # billing 5.3.6.4157
FILE_KEYERRORS = [
    {
        "name": "file-keyerror",
        "description": "Billing bugs.",
        "exception_type": "KeyError",
        "action": "file",
    }
]


def keyerror(n: int, version: str) -> tuple[str, bytes]:
    """The sample report as mail ``n`` of ``version``."""
    raw = re.sub(rb"Message-ID: <[^>]+>", f"Message-ID: <k{n}@x>".encode(), KEYERROR)
    return f"keyerror-{n}", raw.replace(b"5.3.6.4157", version.encode())


@pytest.fixture
def jira_bot(tmp_path: Path, fake_jira: FakeJira) -> Bot:
    bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
    rules = write_rules(tmp_path / "rules", FILE_KEYERRORS)
    bot.configure(
        {
            "rules": {"path": str(rules)},
            "tracker": jira_tracker(fake_jira.url, "TB_JIRA_TOKEN", timeout=5, deadline=0.5),
        }
    )
    seed_maildir(bot.maildir, [keyerror(1, "5.3.6.4157")])
    assert bot.once().named("tracker.synced") == []  # nothing tracked yet: Jira not asked
    assert list(fake_jira.issues) == ["OPS-1"]
    return bot


def test_run_once_reopens_a_regression_among_its_own_mails(
    jira_bot: Bot, fake_jira: FakeJira
) -> None:
    fake_jira.set_status("OPS-1", "Resolved")
    seed_maildir(jira_bot.maildir, [keyerror(2, "5.3.6.4157")])
    same = jira_bot.once()
    assert [e["changed"] for e in same.named("tracker.synced")] == [1]
    assert fake_jira.issues["OPS-1"]["fields"]["status"]["name"] == "Resolved"

    seed_maildir(jira_bot.maildir, [keyerror(3, "5.4.0.1"), keyerror(4, "5.4.1.0")])
    newer = jira_bot.once()
    assert len(newer.named("tracker.synced")) == 1  # once per run, not per batch
    assert fake_jira.issues["OPS-1"]["fields"]["status"]["name"] == "Reopened"
    comments = fake_jira.issues["OPS-1"]["fields"]["comment"]["comments"]
    assert sum(f"{RECURRED} 5.4.0.1 " in c["body"] for c in comments) == 1
    assert len(fake_jira.issues) == 1


def test_tracker_down_does_not_stop_intake(jira_bot: Bot, fake_jira: FakeJira) -> None:
    fake_jira.fail("search.*", 503, times=10_000)
    seed_maildir(jira_bot.maildir, [keyerror(2, "5.3.6.4157")])
    result = jira_bot.once()
    [failed] = result.named("tracker.sync_failed")
    assert failed["level"] == "warning"
    assert listing(jira_bot.maildir / "new") == []
    assert len(listing(jira_bot.maildir / "cur")) == 2
    assert [d["occurrences"] for d in jira_bot.defects()] == [2]


def test_lost_create_response_files_once_through_the_outbox(
    fake_jira: FakeJira, store: Store
) -> None:
    """The create reached Jira but its answer was lost: the outbox retries after its back-off,
    finds the issue by the signature label and files nothing twice."""
    tracker = jira(fake_jira)
    store.record([make_outcome("<lost@x>", version="4.2")])
    fake_jira.drop_after_create()
    assert run_effects(store, tracker, store.clock() + DAY) == 0
    [(kind, state, attempts)] = store.effects()
    assert (kind, state, attempts) == ("create", "pending", 1)

    assert run_effects(store, tracker, store.clock() + DAY + timedelta(hours=2)) == 1
    [defect] = store.defects()
    assert list(fake_jira.issues) == [defect.key]
    assert fake_jira.count("POST", "issue") == 1


def test_reopen_comment_escapes_the_reported_version(fake_jira: FakeJira, store: Store) -> None:
    """The version comes from a report: in Jira it shows as text, never as markup."""
    tracker = jira(fake_jira)
    _, key = file_one(store, tracker)
    fake_jira.set_status(key, "Resolved")
    sync_statuses(store, tracker)
    recur(store, tracker, "4.3[x|https://evil.test]")
    bodies = [c["body"] for c in fake_jira.issues[key]["fields"]["comment"]["comments"]]
    assert any("4.3\\[x\\|https://evil.test\\]" in b for b in bodies), bodies
