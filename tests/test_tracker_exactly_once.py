"""The tracker never files twice and never counts twice: the real outbox and the real client
of each tracker kind over HTTP to its fake, with creates that land late, issues filed twice for
one signature, and comments whose answers are lost."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.clocks import ManualClock
from tests.factories import FakeTime, jira_settings, make_outcome, make_signature
from tests.fakeazure import FakeAzure
from tests.fakegithub import FakeGitHub
from tests.fakehttp import FakeServer
from tests.fakejira import FakeJira
from tests.helpers import wait_until
from triagebot.backoff import backoff
from triagebot.config import Secret
from triagebot.outbox import run_effects
from triagebot.store import Store
from triagebot.trackers.azure_devops import AzureDevOpsSettings, AzureDevOpsTracker
from triagebot.trackers.base import Tracker
from triagebot.trackers.github import GitHubSettings, GitHubTracker
from triagebot.trackers.jira import JiraTracker

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DEADLINE = 120.0  # the trackers' call deadline: how long an uncertain create may still land
SIGNATURE = "a" * 16
LABEL = f"errsig-{SIGNATURE}"


@dataclass
class Kind:
    """One tracker kind as these tests drive it: its fake, its adapter, and how the fake shows
    creates, issues and comments."""

    fake: FakeServer
    tracker: Tracker
    create_path: str  # the create request (POST)
    comment_path: Callable[[str], str]  # the comment request of an issue (POST)
    issues: Callable[[], list[str]]  # keys, oldest first
    comments: Callable[[str], list[str]]
    seed: Callable[[], str]  # an issue filed by someone else with the signature's label
    closed_as_duplicate_of: Callable[[str, str], bool]


def jira(fake: FakeJira, fake_time: FakeTime) -> Kind:
    tracker = JiraTracker(
        replace(jira_settings(fake, timeout=0.3), deadline=DEADLINE),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )

    def closed(key: str, original: str) -> bool:
        fields = fake.issues[key]["fields"]
        return (
            fields["status"]["name"] == "Closed"
            and {
                "type": {"name": "Duplicate"},
                "inward": key,
                "outward": original,
            }
            in fake.links
        )

    return Kind(
        fake,
        tracker,
        "issue",
        lambda key: f"issue/{key}/comment",
        lambda: list(fake.issues),
        fake.comments,
        lambda: fake.add_issue("filed by hand", (LABEL,)),
        closed,
    )


def azure(fake: FakeAzure, fake_time: FakeTime) -> Kind:
    settings = AzureDevOpsSettings(
        url=fake.url, project="Cases", token=Secret("pat-secret"), timeout=0.3, deadline=DEADLINE
    )
    tracker = AzureDevOpsTracker(settings, sleep=fake_time.sleep, clock=fake_time.clock)

    def closed(key: str, original: str) -> bool:
        item = fake.work_items[int(key)]
        return item["fields"]["System.State"] == "Closed" and any(
            r["rel"] == "System.LinkTypes.Duplicate-Reverse"
            and r["url"].endswith(f"/workItems/{original}")
            for r in item.get("relations", ())
        )

    return Kind(
        fake,
        tracker,
        r"Cases/_apis/wit/workitems/\$Bug",
        lambda key: f"Cases/_apis/wit/workitems/{key}/comments",
        lambda: [str(i) for i in sorted(fake.work_items)],
        lambda key: [c["text"] for c in fake.comments[int(key)]],
        lambda: str(fake.add_work_item("filed by hand", (LABEL,), state="Active")),
        closed,
    )


def github(fake: FakeGitHub, fake_time: FakeTime) -> Kind:
    settings = GitHubSettings(
        base_url=fake.url,
        repository="acme/cases",
        token=Secret("ghp_test", "env:GITHUB_TOKEN"),
        timeout=1,  # whole seconds: the shortest PyGithub takes
        deadline=DEADLINE,
    )
    tracker = GitHubTracker(settings, sleep=fake_time.sleep, clock=fake_time.clock)

    def closed(key: str, original: str) -> bool:
        issue = fake.issue(int(key))
        said = any(f"Duplicate of #{original}" in body for body in fake.bodies(int(key)))
        return (issue["state"], issue["state_reason"]) == ("closed", "duplicate") and said

    return Kind(
        fake,
        tracker,
        "repos/acme/cases/issues",
        lambda key: f"repos/acme/cases/issues/{key}/comments",
        lambda: [str(n) for n in sorted(fake.issues)],
        lambda key: fake.bodies(int(key)),
        lambda: str(fake.add_issue("filed by hand", (LABEL,))),
        closed,
    )


@pytest.fixture(params=["jira", "azure_devops", "github"])
def kind(request: pytest.FixtureRequest, fake_time: FakeTime) -> Iterator[Kind]:
    fake: Any
    if request.param == "jira":
        with FakeJira() as fake:
            yield jira(fake, fake_time)
    elif request.param == "azure_devops":
        with FakeAzure() as fake:
            yield azure(fake, fake_time)
    else:
        with FakeGitHub() as fake:
            yield github(fake, fake_time)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=ManualClock(T0))
    s.migrate()
    yield s
    s.close()


def mails(store: Store, first: int, count: int, signature: str = SIGNATURE) -> None:
    """``count`` reports of one bug, recorded in one batch."""
    store.record(
        [
            make_outcome(f"<{signature[:4]}-{i}@x>", signature=make_signature(signature))
            for i in range(first, first + count)
        ]
    )


class TestLateCreate:
    def test_a_create_that_lands_after_the_timeout_files_one_issue(
        self, kind: Kind, store: Store
    ) -> None:
        """The tracker holds the create past the client's timeout and applies it later. The
        retry after the back-off searches, finds nothing yet, and does not create; once the
        call's deadline has passed the search finds the late issue."""
        held = threading.Event()
        kind.fake.before(kind.create_path, lambda: held.wait(30), method="POST")
        mails(store, 0, 1)
        assert run_effects(store, kind.tracker, T0) == 0  # timed out: uncertain
        assert run_effects(store, kind.tracker, T0 + backoff(0)) == 0  # searched only
        assert kind.fake.count("POST", kind.create_path) == 1
        held.set()
        assert wait_until(kind.issues, 10)
        assert run_effects(store, kind.tracker, T0 + timedelta(seconds=DEADLINE)) == 1
        [defect] = store.defects()
        assert kind.issues() == [defect.key]
        assert kind.fake.count("POST", kind.create_path) == 1

    def test_a_create_that_never_lands_is_sent_again_after_the_deadline(
        self, kind: Kind, store: Store
    ) -> None:
        """Refused after it was sent (a 502 from a proxy): nothing is filed before the
        deadline, then one create."""
        kind.fake.fail(kind.create_path, 502, method="POST")
        mails(store, 0, 1)
        assert run_effects(store, kind.tracker, T0) == 0
        assert run_effects(store, kind.tracker, T0 + backoff(0)) == 0
        assert kind.fake.count("POST", kind.create_path) == 1
        assert run_effects(store, kind.tracker, T0 + timedelta(seconds=DEADLINE)) == 1
        assert kind.fake.count("POST", kind.create_path) == 2
        assert len(kind.issues()) == 1


def test_lost_creates_behind_a_lagging_search_index(fake_time: FakeTime, store: Store) -> None:
    """The drill on Jira Cloud: six new signatures, every create applied but its answer lost,
    and the search index behind. The retry after the back-off finds nothing and files nothing;
    after the deadline the index has caught up: six issues for six signatures."""
    signatures = [f"{n:x}" * 16 for n in range(6)]
    with FakeJira("Cloud") as fake:
        tracker = jira(fake, fake_time).tracker
        fake.search_lag = True
        fake.drop_after_create(times=6)
        for signature in signatures:
            mails(store, 0, 1, signature)
        assert run_effects(store, tracker, T0) == 0
        assert run_effects(store, tracker, T0 + backoff(0)) == 0
        assert fake.count("POST", "issue") == 6
        fake.reindex()
        assert run_effects(store, tracker, T0 + timedelta(seconds=DEADLINE)) == 6
        print(f"creates {fake.count('POST', 'issue')}, issues {len(fake.issues)}, signatures 6")
        assert fake.count("POST", "issue") == len(fake.issues) == 6
        assert sorted(d.key or "" for d in store.defects()) == sorted(fake.issues)


class TestReconcile:
    def test_two_issues_for_one_signature(self, kind: Kind, store: Store) -> None:
        """The oldest is kept, the other linked to it as its duplicate and closed with a
        comment; the kept issue's next update carries the whole total."""
        kept, other = kind.seed(), kind.seed()
        mails(store, 0, 3)
        assert run_effects(store, kind.tracker, T0) == 1
        [defect] = store.defects()
        assert defect.key == kept
        assert kind.closed_as_duplicate_of(other, kept)
        assert kind.fake.count("POST", kind.create_path) == 0
        assert run_effects(store, kind.tracker, T0) == 1  # the update the reset queued
        [comment] = kind.comments(kept)
        assert comment.startswith("3 new occurrences (total 3)")
        closed_comments = len(kind.comments(other))
        assert run_effects(store, kind.tracker, T0 + timedelta(days=1)) == 0
        assert len(kind.comments(other)) == closed_comments == 1


class TestLostComment:
    def test_a_comment_whose_answer_was_lost_is_not_posted_again(
        self, kind: Kind, store: Store
    ) -> None:
        """The occurrence comment lands but its answer is lost: the retry finds its mark and
        posts nothing; mails meanwhile go in the next update, counted once."""
        mails(store, 0, 1)
        assert run_effects(store, kind.tracker, T0) == 1
        [defect] = store.defects()
        assert defect.key is not None
        mails(store, 1, 2)
        kind.fake.drop(kind.comment_path(defect.key), method="POST")
        assert run_effects(store, kind.tracker, T0) == 0
        assert len(kind.comments(defect.key)) == 1
        mails(store, 3, 4)  # while the update waits for its retry
        assert run_effects(store, kind.tracker, T0 + backoff(0)) == 1
        assert kind.fake.count("POST", kind.comment_path(defect.key)) == 1
        assert run_effects(store, kind.tracker, T0 + backoff(0)) == 1  # the follow-up
        first, second = kind.comments(defect.key)
        assert first.startswith("2 new occurrences (total 3)")
        assert second.startswith("4 new occurrences (total 7)")
