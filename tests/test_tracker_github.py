"""The GitHub tracker, always through the real PyGithub client over HTTP to the fake GitHub."""

from __future__ import annotations

import inspect
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from github import Auth, Github
from github.GithubException import (
    BadAttributeException,
    BadCredentialsException,
    BadUserAgentException,
    GithubException,
    IncompletableObject,
    RateLimitExceededException,
    TwoFactorException,
    UnknownObjectException,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.clocks import ManualClock
from tests.factories import SIG_A, FakeTime, make_outcome
from tests.fakegithub import FakeGitHub
from triagebot.backoff import backoff
from triagebot.config import Secret, config_from_dict
from triagebot.errors import ConfigError, RetryableError, TrackerError, TrackerUnavailable
from triagebot.outbox import run_effects
from triagebot.store import Store
from triagebot.trackers import configured
from triagebot.trackers.base import (
    DefectDraft,
    OccurrenceUpdate,
    Tracker,
    TrackerContext,
    TrackerIssue,
)
from triagebot.trackers.github import (
    BODY_LIMIT,
    KIND,
    SIGNATURE_LABEL_COLOR,
    STATUS_FALLBACK,
    GitHubSettings,
    GitHubTracker,
    code_fence,
    escape_markdown,
    map_github_errors,
    rate_limit_wait,
    web_url,
)
from triagebot.trackers.http import HttpUnavailable

SIG = "0123456789abcdef"
LABEL = "errsig-" + SIG
ISSUES = "repos/acme/cases/issues"
TRACE = """System.NullReferenceException: Object reference not set to an instance of an object.
   at Acme.Cases.CaseViewModel.Save() in C:\\src\\Cases\\CaseViewModel.cs:line 42
   at Acme.Cases.CaseView.OnSave(Object sender, EventArgs e)"""
ZWSP = "\u200b"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PYGITHUB_ERRORS = sys.modules[GithubException.__module__]


BASE = GitHubSettings(
    repository="acme/cases", token=Secret("ghp_test", "env:GITHUB_TOKEN"), deadline=30.0
)


def settings(fake: FakeGitHub, **overrides: Any) -> GitHubSettings:
    return replace(BASE, base_url=fake.url, **overrides)


def draft(signature: str = SIG, **overrides: object) -> DefectDraft:
    values: dict[str, object] = {
        "signature": signature,
        "title": "NullReferenceException in CaseViewModel.Save",
        "language": "dotnet",
        "exception_chain": ("System.NullReferenceException",),
        "message": "Object reference not set to an instance of an object.",
        "top_frames": ("Acme.Cases.CaseViewModel.Save",),
        "trace_text": TRACE,
        "metadata": {"application": "Acme Cases", "version": "4.2.1"},
        "first_seen": NOW,
        "labels": ("from mail",),
    }
    return DefectDraft(**{**values, **overrides})  # type: ignore[arg-type]


def calls(fake: FakeGitHub, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests[since:]]


def assert_inert(text: str) -> None:
    """Every ASCII punctuation character is backslash-escaped, a mention or reference sign is
    followed by a zero width space, no link survives, and it is one line."""
    assert "\n" not in text
    assert "://" not in text
    assert "www." not in text.lower()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            escaped = text[i + 1]
            assert escaped.isascii() and not escaped.isalnum() and not escaped.isspace()
            if escaped in "@#":
                assert text[i + 2] == ZWSP, text
            i += 2
            continue
        assert not (char.isascii() and not char.isalnum() and not char.isspace()), (char, text)
        i += 1


@pytest.fixture
def tracker(fake_github: FakeGitHub, fake_time: FakeTime) -> GitHubTracker:
    return GitHubTracker(settings(fake_github), sleep=fake_time.sleep, clock=fake_time.clock)


@pytest.fixture(scope="module")
def app_key() -> str:
    """A GitHub App's private key, as GitHub hands it out (PKCS#1 PEM)."""
    key = rsa.generate_private_key(public_exponent=65_537, key_size=2_048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    return pem.decode()


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


class TestRoundTrip:
    @pytest.mark.parametrize("fake_github", ["", "/api/v3"], indirect=True)
    def test_create_then_find(self, fake_github: FakeGitHub, tracker: GitHubTracker) -> None:
        """A created issue is found by its signature label, on github.com and on Enterprise
        Server, with no request beyond the list, the label and the create."""
        assert tracker.find(SIG) is None
        created = tracker.create(draft(assignee="octocat"))
        assert created == tracker.find(SIG)
        assert created == TrackerIssue(
            "1", "open", False, f"{fake_github.web_url}/acme/cases/issues/1"
        )
        issue = fake_github.issue(1)
        assert issue["title"] == "NullReferenceException in CaseViewModel.Save"
        assert [label["name"] for label in issue["labels"]] == [
            LABEL,
            "triagebot",
            "bug",
            "from mail",
        ]
        assert issue["assignees"][0]["login"] == "octocat"
        assert calls(fake_github) == [
            ("GET", ISSUES),
            ("POST", "repos/acme/cases/labels"),
            ("POST", ISSUES),
            ("GET", ISSUES),
        ]
        assert fake_github.requests[0].query == {
            "labels": LABEL,
            "state": "all",
            "sort": "created",
            "direction": "asc",
            "per_page": "100",
        }

    def test_find_returns_the_oldest_issue_not_a_pull_request(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """The list holds pull requests too: a labelled one filed first is skipped."""
        fake_github.add_issue("a fix", (LABEL,), pull_request=True)
        first = fake_github.add_issue("old", (LABEL,))
        fake_github.add_issue("newer", (LABEL,))
        found = tracker.find(SIG)
        assert found is not None
        assert found.key == str(first) == "2"

    def test_closed_issues_are_found(self, fake_github: FakeGitHub, tracker: GitHubTracker) -> None:
        """A closed issue is still the signature's defect: recurrences reopen it, never refile."""
        number = fake_github.add_issue("old", (LABEL,))
        fake_github.close(number)
        assert tracker.find(SIG) == TrackerIssue(
            "1", "closed", True, f"{fake_github.web_url}/acme/cases/issues/1"
        )

    def test_find_does_not_wait_for_the_search_index(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """Search has not indexed the new issue yet; the issue list already holds it, so a
        create whose answer was lost is found, not filed again."""
        fake_github.search_lag = True
        tracker.create(draft())
        client = Github(auth=Auth.Token("ghp_test"), base_url=fake_github.url, retry=None)
        query = f'repo:acme/cases label:"{LABEL}" is:issue'
        assert client.search_issues(query).totalCount == 0
        assert tracker.find(SIG) is not None
        fake_github.reindex()
        assert client.search_issues(query).totalCount == 1
        assert fake_github.count(path="search/issues") == 2  # the test's own searches

    def test_hash_and_bare_number_address_the_same_issue(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """``#1`` as a reply writes it, and ``1`` as the tracker hands it out, are issue 1;
        a candidate's ``C-41`` is no key, and a foreign key is refused before any request."""
        tracker.create(draft())
        assert KIND.key("#1") == KIND.key(" 1 ") == "1"
        assert KIND.key("#12") == "12"
        assert KIND.key("C-41") is None
        assert KIND.key("#0") is None
        assert KIND.key("OPS-1") is None
        assert tracker.get("#1") == tracker.get("1") == tracker.get(" #1 ")
        assert [r.path for r in fake_github.requests[-3:]] == [f"{ISSUES}/1"] * 3
        before = len(fake_github.requests)
        with pytest.raises(TrackerError, match="not a GitHub issue key"):
            tracker.update_occurrences("OPS-1", OccurrenceUpdate(total=2, new=1, last_seen=NOW))
        assert len(fake_github.requests) == before

    def test_satisfies_protocol_and_hides_secret(self, tracker: GitHubTracker) -> None:
        """The tracker is a ``Tracker``, and its settings' repr masks the token."""
        as_protocol: Tracker = tracker
        assert as_protocol.name == "github"
        assert "ghp_test" not in repr(tracker.settings)

    def test_long_title_is_one_line_under_the_limit(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """A title is one line of at most 256 characters (GitHub's limit)."""
        tracker.create(draft(title="Boom\n" + "x" * 400))
        title = fake_github.issue(1)["title"]
        assert len(title) == 256
        assert title.startswith("Boom x")

    def test_unknown_assignee_is_a_tracker_error_not_retried(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, fake_time: FakeTime
    ) -> None:
        """GitHub's 422 names the field; it is a refusal, not an outage."""
        with pytest.raises(TrackerError) as err:
            tracker.create(draft(assignee="nobody"))
        assert not isinstance(err.value, RetryableError)
        assert "422" in str(err.value)
        assert "assignees" in str(err.value)
        assert fake_github.count("POST", ISSUES) == 1
        assert fake_time.sleeps == []


class TestBody:
    def test_hostile_report_text_stays_text(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """Mentions, HTML, links, references and table breakers from a report are escaped;
        the trace sits verbatim in a fence longer than its own backtick runs."""
        message = "@here <img src=x onerror=alert(1)> [click](https://evil.test) #1 www.evil.test"
        trace = TRACE + "\n```\n@here *not bold*\n````` \nend"
        tracker.create(
            draft(
                message=message + "\n# not a heading",
                trace_text=trace,
                metadata={"application": "A|B\n| x | y |", "reporter": "@acme/ops"},
            )
        )
        body = fake_github.issue(1)["body"]
        head, _, rest = body.partition("### Stack trace")
        first = head.splitlines()[0]
        assert first.startswith("**System\\.NullReferenceException**: ")
        assert_inert(first.removeprefix("**System\\.NullReferenceException**: "))
        assert "\\@\u200bhere \\<img src\\=x" in first
        rows = {line.split(" | ")[0]: line for line in head.splitlines() if line.startswith("| ")}
        assert_inert(rows["| application"].split(" | ")[1].removesuffix(" |"))
        assert rows["| reporter"] == "| reporter | \\@\u200bacme\\/ops |"
        assert f"\n``````text\n{trace}\n``````\n" in rest
        assert code_fence(trace) == "``````"

    @given(st.text(alphabet=st.sampled_from("@#:/.<>[]()*_`|!\\&wgh-1 \n\r:"), max_size=40))
    def test_escaping_leaves_nothing_active(self, text: str) -> None:
        """Whatever the text, every markup character comes out escaped and every mention, reference
        or link broken."""
        assert_inert(escape_markdown(text))

    def test_long_trace_is_shortened_in_the_middle(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """GitHub refuses bodies over 65,536 characters: the trace keeps its head (the .NET
        or Java exception) and its tail (Python's), with a note of what was left out."""
        frame = '  File "/srv/acme/cases/deep.py", line 7, in recurse\n    return recurse(depth)\n'
        trace = "Traceback (most recent call last):\n" + frame * 1_200 + "RecursionError: deep"
        tracker.create(draft(language="python", trace_text=trace))
        body = fake_github.issue(1)["body"]
        assert BODY_LIMIT - 300 < len(body) <= BODY_LIMIT
        gap = re.search(r"\[… (\d+) characters left out …\]", body)
        assert gap is not None
        omitted = int(gap[1])
        assert f"{omitted:,} characters in the middle are left out" in body
        block = body.split("```text\n", 1)[1].rsplit("\n```", 1)[0]
        head, tail = block.split(f"\n[… {omitted} characters left out …]\n")
        assert trace.startswith(head)
        assert trace.endswith(tail)
        assert len(head) + len(tail) + omitted == len(trace)
        assert head.startswith("Traceback") and tail.endswith("RecursionError: deep")


class TestStatuses:
    @staticmethod
    def seed(fake: FakeGitHub, n: int, labels: tuple[str, ...] = ("triagebot",)) -> list[str]:
        """``n`` issues; every fifth closed as completed, every seventh as not planned."""
        keys = [str(fake.add_issue(f"bug {i}", labels)) for i in range(n)]
        for i, key in enumerate(keys):
            if i % 5 == 0:
                fake.close(int(key))
            elif i % 7 == 0:
                fake.close(int(key), "not_planned")
        return keys

    def test_hundred_keys_in_one_request(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """One page of the labelled list answers 100 keys; others' issues and pull requests
        in the repository are not asked for."""
        fake_github.add_issue("someone else's", ("question",))
        fake_github.add_issue("a fix", ("triagebot",), pull_request=True)
        keys = self.seed(fake_github, 100)
        found = tracker.statuses(keys)
        assert sorted(found) == sorted(keys)
        url = f"{fake_github.web_url}/acme/cases/issues"
        assert found["3"] == TrackerIssue("3", "closed", True, f"{url}/3")
        assert found["10"] == TrackerIssue("10", "closed (not planned)", True, f"{url}/10")
        assert found["4"] == TrackerIssue("4", "open", False, f"{url}/4")
        assert calls(fake_github) == [("GET", ISSUES)]
        assert fake_github.requests[0].query["labels"] == "triagebot"

    @pytest.mark.parametrize(("page_limit", "pages"), [(None, 2), (40, 4)])
    def test_pages_stop_below_the_smallest_key(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, page_limit: int | None, pages: int
    ) -> None:
        """Newest first: once a page reaches below the smallest key nothing older is read
        (keys 101-250 of 250: 250-151 and 150-51 by 100; by 40 down to 91)."""
        keys = self.seed(fake_github, 250)[100:]
        fake_github.page_limit = page_limit
        found = tracker.statuses([*keys, keys[0]])
        assert sorted(found) == sorted(keys)
        assert calls(fake_github) == [("GET", ISSUES)] * pages

    def test_unlisted_keys_are_fetched_one_by_one(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """An issue whose label someone removed is asked by number; a deleted one (410) and
        one that never was (404) are left out without failing the sync."""
        keys = self.seed(fake_github, 4)
        fake_github.remove_label(2, "triagebot")
        fake_github.close(2)
        fake_github.delete(3)
        found = tracker.statuses([*keys, "#99"])
        assert sorted(found) == ["1", "2", "4"]
        assert found["2"].resolved
        assert calls(fake_github)[1:] == [("GET", f"{ISSUES}/{n}") for n in (2, 3, 99)]

    def test_fetching_by_number_is_bounded_and_takes_turns(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """30 issues without the label: each sync fetches at most 20, the next one goes on
        where the last stopped, so all are known after two."""
        keys = self.seed(fake_github, 30, labels=())
        first = tracker.statuses(keys)
        assert len(first) == STATUS_FALLBACK
        assert fake_github.count("GET", rf"{ISSUES}/\d+") == STATUS_FALLBACK
        second = tracker.statuses(keys)
        assert sorted({**first, **second}, key=int) == keys

    def test_without_labels_the_whole_list_is_read(self, fake_github: FakeGitHub) -> None:
        """With no labels configured the status sync lists every issue of the repository."""
        tracker = GitHubTracker(settings(fake_github, labels=()))
        keys = self.seed(fake_github, 3, labels=())
        assert sorted(tracker.statuses(keys)) == keys
        assert "labels" not in fake_github.requests[0].query

    def test_empty_asks_nothing(self, fake_github: FakeGitHub, tracker: GitHubTracker) -> None:
        """No keys, no request."""
        assert tracker.statuses([]) == {}
        assert fake_github.count() == 0


class TestRetries:
    def test_secondary_limit_retry_after_honoured(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, fake_time: FakeTime
    ) -> None:
        """403 "secondary rate limit" with Retry-After: wait that long, then go on."""
        fake_github.fail(ISSUES, 403, times=2, retry_after=3)
        assert tracker.find(SIG) is None
        assert fake_time.sleeps == [3.0, 3.0]
        assert fake_github.count("GET", ISSUES) == 3

    def test_secondary_limit_without_a_wait_waits_a_minute(
        self, fake_github: FakeGitHub, fake_time: FakeTime
    ) -> None:
        """A limit that names no wait is waited out for a minute, as GitHub advises."""
        tracker = GitHubTracker(
            settings(fake_github, deadline=300.0), sleep=fake_time.sleep, clock=fake_time.clock
        )
        fake_github.fail(ISSUES, 429)
        assert tracker.find(SIG) is None
        assert fake_time.sleeps == [60.0]

    def test_throttled_create_and_busy_comment_are_sent_again(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, fake_time: FakeTime
    ) -> None:
        """A 429 or a 503 means GitHub applied nothing: sending the create or the comment
        again is safe; without Retry-After the waits back off."""
        fake_github.fail(ISSUES, 429, method="POST", retry_after=2)
        key = tracker.create(draft()).key
        fake_github.fail(rf"{ISSUES}/{key}/comments", 503, times=3)
        tracker.update_occurrences(key, OccurrenceUpdate(total=12, new=11, last_seen=NOW))
        assert list(fake_github.issues) == [int(key)]
        assert fake_github.count("POST", ISSUES) == 2
        assert len(fake_github.bodies(1)) == 1
        assert fake_time.sleeps == [2.0, 0.5, 1.0, 2.0]

    def test_primary_limit_waits_until_the_reset(
        self, fake_github: FakeGitHub, fake_time: FakeTime, clock: ManualClock
    ) -> None:
        """Remaining 0: wait until X-RateLimit-Reset (epoch seconds) by the wall clock."""
        tracker = GitHubTracker(
            settings(fake_github), sleep=fake_time.sleep, clock=fake_time.clock, wall_clock=clock
        )
        fake_github.rate_limit(ISSUES, reset=int(clock.now.timestamp()) + 12)
        assert tracker.find(SIG) is None
        [waited] = fake_time.sleeps
        assert 11.0 < waited <= 12.0

    def test_reset_beyond_the_deadline_gives_up_at_once(
        self, fake_github: FakeGitHub, fake_time: FakeTime, clock: ManualClock
    ) -> None:
        """A reset an hour away is not slept through: the outbox retries later."""
        tracker = GitHubTracker(
            settings(fake_github), sleep=fake_time.sleep, clock=fake_time.clock, wall_clock=clock
        )
        fake_github.rate_limit(ISSUES, reset=int(clock.now.timestamp()) + 3_600, status=429)
        with pytest.raises(TrackerUnavailable, match="rate limit"):
            tracker.find(SIG)
        assert fake_time.sleeps == []
        assert fake_github.count() == 1

    def test_retries_follow_the_settings(
        self, fake_github: FakeGitHub, fake_time: FakeTime
    ) -> None:
        """``backoff_base``, ``backoff_cap`` and ``deadline`` drive the shared retry loop: a
        busy page of the status list (503, 502) is asked again until it answers, or until the
        deadline."""
        limits = settings(fake_github, backoff_base=0.25, backoff_cap=0.5, deadline=1.5)
        tracker = GitHubTracker(limits, sleep=fake_time.sleep, clock=fake_time.clock)
        keys = [str(fake_github.add_issue(f"bug {i}", ("triagebot",))) for i in range(3)]
        fake_github.fail(ISSUES, 503, times=3)
        assert sorted(tracker.statuses(keys)) == keys
        fake_github.fail(ISSUES, 502, times=1_000)
        with pytest.raises(TrackerUnavailable, match="after 4 attempts"):
            tracker.statuses(keys)
        assert fake_time.sleeps == [0.25, 0.5, 0.5] * 2

    def test_timeout_retried(self, fake_github: FakeGitHub, fake_time: FakeTime) -> None:
        """A read timeout on a GET is retried (PyGithub's own timeout, in whole seconds)."""
        tracker = GitHubTracker(
            settings(fake_github, timeout=1), sleep=fake_time.sleep, clock=fake_time.clock
        )
        fake_github.slow(ISSUES, 1.5, method="GET")
        assert tracker.find(SIG) is None
        assert fake_time.sleeps == [0.5]
        assert fake_github.count("GET", ISSUES) == 2

    def test_bad_token_is_refused_not_retried(
        self, fake_github: FakeGitHub, fake_time: FakeTime
    ) -> None:
        """401 Bad credentials is a refusal: one request, no retry, no token in the message."""
        tracker = GitHubTracker(
            settings(fake_github, token=Secret("ghp_wrong")),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        with pytest.raises(TrackerError) as err:
            tracker.find(SIG)
        assert not isinstance(err.value, TrackerUnavailable)
        assert "401" in str(err.value)
        assert "Bad credentials" in str(err.value)
        assert "ghp_wrong" not in str(err.value)
        assert fake_github.count() == 1
        assert fake_time.sleeps == []

    def test_dropped_connection_after_create_is_left_to_the_outbox(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, fake_time: FakeTime
    ) -> None:
        """The create is applied but its answer lost: no second POST and no look-up inside
        the call; the outbox retries later, ``find`` first."""
        fake_github.drop(ISSUES, method="POST")
        with pytest.raises(TrackerUnavailable):
            tracker.create(draft())
        assert calls(fake_github) == [("POST", "repos/acme/cases/labels"), ("POST", ISSUES)]
        assert len(fake_github.issues) == 1
        assert fake_time.sleeps == []

    def test_gateway_error_on_create_is_not_sent_again(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """A 502 may come after GitHub filed the issue: only the outbox tries again."""
        fake_github.fail(ISSUES, 502, method="POST")
        with pytest.raises(TrackerUnavailable):
            tracker.create(draft())
        assert fake_github.count("POST", ISSUES) == 1

    def test_comment_not_sent_again_after_its_answer_was_lost(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """A comment whose answer was lost may have landed: it is not sent twice."""
        key = tracker.create(draft()).key
        fake_github.drop(rf"{ISSUES}/{key}/comments")
        with pytest.raises(TrackerUnavailable):
            tracker.update_occurrences(key, OccurrenceUpdate(total=3, new=2, last_seen=NOW))
        assert fake_github.count("POST", rf"{ISSUES}/{key}/comments") == 1
        assert len(fake_github.bodies(1)) == 1


class TestMalformedAnswers:
    """A proxy's page or a wrong ``base_url`` answers 200 with something else: a refusal
    naming what came back, not a crash."""

    def test_list_that_is_not_a_list(self, fake_github: FakeGitHub, tracker: GitHubTracker) -> None:
        """A page that is not a list of issues."""
        fake_github.fail(ISSUES, 200)
        with pytest.raises(TrackerError, match="not a list"):
            tracker.find(SIG)

    def test_issue_that_is_not_an_issue(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """An issue without a number and a state."""
        fake_github.fail(f"{ISSUES}/1", 200)
        with pytest.raises(TrackerError, match="not an issue"):
            tracker.get("1")


class TestOutbox:
    def test_lost_create_answer_files_exactly_one_issue(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, store: Store, later: datetime
    ) -> None:
        """The outbox retries the create later; its ``find`` sees the issue that was filed."""
        store.record([make_outcome("<0@x>")])
        fake_github.drop(ISSUES, method="POST")
        assert run_effects(store, tracker, later) == 0
        assert store.effects() == [("create", "pending", 1)]
        assert run_effects(store, tracker, later + backoff(0)) == 1
        [defect] = store.defects()
        assert defect.key == "1"
        assert list(fake_github.issues) == [1]
        assert fake_github.count("POST", ISSUES) == 1

    def test_hundred_mails_one_create_one_comment(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, store: Store, later: datetime
    ) -> None:
        """100 mails of one bug in 5 batches: one create, then one comment with the count."""
        store.record([make_outcome("<0@x>")])
        assert run_effects(store, tracker, later) == 1
        for batch in range(5):
            store.record([make_outcome(f"<{batch}-{i}@x>") for i in range(20)])
        assert run_effects(store, tracker, later) == 1
        assert run_effects(store, tracker, later) == 0
        assert fake_github.count("POST", ISSUES) == 1
        assert fake_github.count("POST", rf"{ISSUES}/\d+/comments") == 1
        [comment] = fake_github.bodies(1)
        visible, mark = comment.split("\n\n")
        assert mark == "<!-- triagebot:effect=2 -->"  # hidden: a retry looks for it
        assert visible.startswith("100 new occurrences (total 101), last seen ")
        assert visible.endswith("; versions 4\\.2\\.0 \\(100\\); environments prod \\(100\\).")
        assert fake_github.issue(1)["labels"][0]["name"] == "errsig-" + SIG_A

    def test_mails_before_the_first_round_ride_on_the_create(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, store: Store, later: datetime
    ) -> None:
        """100 mails recorded before the outbox runs: the create carries the count, and no
        comment follows."""
        for batch in range(5):
            store.record([make_outcome(f"<{batch}-{i}@x>") for i in range(20)])
        assert run_effects(store, tracker, later) == 1
        assert calls(fake_github) == [
            ("GET", ISSUES),
            ("POST", "repos/acme/cases/labels"),
            ("POST", ISSUES),
        ]
        assert "\n| Occurrences | 100 |\n" in fake_github.issue(1)["body"]
        assert run_effects(store, tracker, later) == 0


class TestEffects:
    def test_update_occurrences_is_one_escaped_comment(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """One request, one comment; the versions (from reports) escaped."""
        key = tracker.create(draft()).key
        before = len(fake_github.requests)
        update = OccurrenceUpdate(
            total=42,
            new=7,
            last_seen=datetime(2025, 3, 2, 8, 30, tzinfo=UTC),
            versions=("4.2.1", "4.3 @here"),
            environments=("prod",),
        )
        tracker.update_occurrences(key, update)
        assert calls(fake_github, before) == [("POST", f"{ISSUES}/1/comments")]
        [body] = fake_github.bodies(1)
        assert body == (
            "7 new occurrences (total 42), last seen 2025-03-02 08:30:00 UTC; "
            "versions 4\\.2\\.1, 4\\.3 \\@\u200bhere; environments prod."
        )

    @pytest.mark.parametrize(
        ("reason", "status"), [("completed", "closed"), ("not_planned", "closed (not planned)")]
    )
    def test_reopen_closed_issue_with_one_comment(
        self, fake_github: FakeGitHub, tracker: GitHubTracker, reason: str, status: str
    ) -> None:
        """Closed as completed or not planned: one PATCH opens it, one comment says why."""
        key = tracker.create(draft()).key
        fake_github.close(1, reason)
        assert (tracker.get(key).status, tracker.get(key).resolved) == (status, True)
        before = len(fake_github.requests)
        reopened = tracker.reopen(key, "Recurred in version 4.3 [x](https://evil.test)")
        assert (reopened.status, reopened.resolved) == ("open (reopened)", False)
        assert calls(fake_github, before) == [
            ("PATCH", f"{ISSUES}/1"),
            ("POST", f"{ISSUES}/1/comments"),
        ]
        assert fake_github.bodies(1) == [
            "Reopened by triagebot: the error came back.\n\n"
            "Recurred in version 4\\.3 \\[x\\]\\(https\\:\u200b\\/\\/evil\\.test\\)"
        ]
        assert fake_github.issue(1)["state"] == "open"

    def test_reopen_heading_can_be_off(self, fake_github: FakeGitHub) -> None:
        """An empty ``reopen_comment`` leaves the outbox's sentence alone."""
        tracker = GitHubTracker(settings(fake_github, reopen_comment=""))
        key = tracker.create(draft()).key
        tracker.reopen(key, "again")
        assert fake_github.bodies(1) == ["again"]

    def test_link_signature_adds_the_label_once(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """The label is created (GitHub's 422 already_exists the second time is fine) and
        added to the issue once, however often it is linked."""
        key = tracker.create(draft()).key
        tracker.link_signature(key, "fedcba9876543210")
        tracker.link_signature("#" + key, "fedcba9876543210")
        names = [label["name"] for label in fake_github.issue(1)["labels"]]
        assert names.count("errsig-fedcba9876543210") == 1
        assert fake_github.labels["errsig-fedcba9876543210"]["color"] == SIGNATURE_LABEL_COLOR
        assert fake_github.count("POST", f"{ISSUES}/1/labels") == 2
        found = tracker.find("fedcba9876543210")
        assert found is not None
        assert found.key == key

    def test_existing_signature_label_is_fine(
        self, fake_github: FakeGitHub, tracker: GitHubTracker
    ) -> None:
        """A signature label that exists already (422 already_exists) does not stop a create."""
        tracker.create(draft())
        second = tracker.create(draft())
        assert second.key == "2"
        assert fake_github.count("POST", "repos/acme/cases/labels") == 2
        assert len(fake_github.labels) == 4  # the signature, triagebot, bug, from mail


class TestAppAuth:
    def test_installation_token_is_minted_once_and_used(
        self, fake_github: FakeGitHub, app_key: str
    ) -> None:
        """A GitHub App signs a JWT, trades it for an installation token, and uses that."""
        tracker = GitHubTracker(
            settings(
                fake_github,
                token=None,
                app_id=1234,
                installation_id=42,
                private_key=Secret(app_key),
            )
        )
        created = tracker.create(draft())
        assert tracker.find(SIG) == created
        assert len(fake_github.minted) == 1
        assert calls(fake_github)[0] == ("POST", "app/installations/42/access_tokens")
        assert fake_github.count("POST", "app/installations/42/access_tokens") == 1

    @pytest.mark.parametrize(("app_id", "installation_id"), [(9999, 42), (1234, 7)])
    def test_wrong_app_or_installation_is_refused(
        self, fake_github: FakeGitHub, app_key: str, app_id: int, installation_id: int
    ) -> None:
        """A JWT of another App (401) or an unknown installation (404) mints nothing and is a
        refusal."""
        tracker = GitHubTracker(
            settings(
                fake_github,
                token=None,
                app_id=app_id,
                installation_id=installation_id,
                private_key=Secret(app_key),
            )
        )
        with pytest.raises(TrackerError) as err:
            tracker.find(SIG)
        assert not isinstance(err.value, RetryableError)
        assert fake_github.minted == []


def _error(cls: type[GithubException], status: int, message: str, **headers: str) -> Exception:
    return cls(
        status, {"message": message, "documentation_url": "https://docs.github.com"}, headers
    )


MAPPING: list[tuple[Exception, type[TrackerError]]] = [
    (
        _error(GithubException, 429, "slow down", **{"retry-after": "7"}),
        HttpUnavailable,
    ),
    (
        _error(
            RateLimitExceededException,
            403,
            "API rate limit exceeded",
            **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1740830460"},
        ),
        HttpUnavailable,
    ),
    (
        _error(RateLimitExceededException, 403, "You have exceeded a secondary rate limit"),
        HttpUnavailable,
    ),
    (_error(GithubException, 500, "boom"), HttpUnavailable),
    (_error(GithubException, 502, "Server Error"), HttpUnavailable),
    (_error(GithubException, 503, "Service Unavailable"), HttpUnavailable),
    (_error(GithubException, 504, "timeout"), HttpUnavailable),
    (_error(BadCredentialsException, 401, "Bad credentials"), TrackerError),
    (
        _error(TwoFactorException, 401, "Must specify two-factor authentication OTP code."),
        TrackerError,
    ),
    (
        _error(GithubException, 403, "Resource not accessible by integration"),
        TrackerError,
    ),
    (
        _error(BadUserAgentException, 403, "Missing or invalid User Agent string"),
        TrackerError,
    ),
    (_error(UnknownObjectException, 404, "Not Found"), TrackerError),
    (_error(GithubException, 410, "This issue was deleted"), TrackerError),
    (_error(GithubException, 422, "Validation Failed"), TrackerError),
    (IncompletableObject(400, message="Cannot complete object"), TrackerError),
    (BadAttributeException(1, str, None), TrackerError),
    (json.JSONDecodeError("Expecting value", "{", 1), TrackerError),
    (jwt.InvalidKeyError("Could not parse the provided public key."), TrackerError),
]


class TestErrorMapping:
    @pytest.mark.parametrize(("foreign", "ours"), MAPPING)
    def test_mapping_table(self, foreign: Exception, ours: type[TrackerError]) -> None:
        """Each foreign error becomes its tracker error, retryable exactly when GitHub may accept it
        later."""
        with pytest.raises(TrackerError) as err, map_github_errors(lambda: NOW):
            raise foreign
        assert type(err.value) is ours
        assert err.value.__cause__ is foreign
        assert isinstance(err.value, RetryableError) == (ours is not TrackerError)

    def test_every_pygithub_error_is_mapped(self) -> None:
        """No exception class of PyGithub's escapes the boundary: a new one in a PyGithub
        release fails here until it has a row (``requests``' own: ``test_tracker_http``)."""
        pygithub = [
            cls
            for _, cls in inspect.getmembers(PYGITHUB_ERRORS, inspect.isclass)
            if issubclass(cls, Exception) and cls.__module__ == PYGITHUB_ERRORS.__name__
        ]
        for cls in pygithub:
            if issubclass(cls, GithubException):
                error: Exception = cls(418, {"message": "I'm a teapot"}, {})
            else:
                assert cls is BadAttributeException, f"unmapped: {cls.__name__}"
                error = cls(1, str, None)
            with pytest.raises(TrackerError), map_github_errors():
                raise error

    def test_wait_reaches_the_error(self) -> None:
        """A primary limit carries the seconds to its reset, counted from the given clock."""
        error = _error(
            RateLimitExceededException,
            403,
            "API rate limit exceeded",
            **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 90)},
        )
        with pytest.raises(HttpUnavailable) as err, map_github_errors(lambda: NOW):
            raise error
        assert err.value.retry_after == 90.0
        assert err.value.status == 403

    def test_rate_limit_wait(self) -> None:
        """Retry-After wins; a spent primary limit waits until its reset; else no hint."""
        reset = str(int(NOW.timestamp()) + 90)
        assert rate_limit_wait({"retry-after": "7"}, NOW) == 7.0
        assert (
            rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, NOW) == 90.0
        )
        assert (
            rate_limit_wait({"x-ratelimit-remaining": "3", "x-ratelimit-reset": reset}, NOW) is None
        )
        past = str(int(NOW.timestamp()) - 90)
        assert (
            rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": past}, NOW) == 0.0
        )
        assert rate_limit_wait({"retry-after": "soon"}, NOW) is None


class TestSettings:
    BASE: ClassVar[dict[str, object]] = {"repository": "acme/cases", "token_env": "GITHUB_TOKEN"}

    @staticmethod
    def read(table: dict[str, object]) -> GitHubSettings:
        config = config_from_dict({"tracker": {"kind": "github", "github": table}})
        found = configured(config.tracker, config.base_dir)
        assert isinstance(found.settings, GitHubSettings)
        return found.settings

    @pytest.fixture(autouse=True)
    def _token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")

    def test_defaults_url_and_description(self) -> None:
        """``[tracker.github]`` read through the registry; the kind's url is the web page."""
        s = self.read(self.BASE)
        assert (s.base_url, s.labels, s.label_prefix) == (
            "https://api.github.com",
            ("triagebot", "bug"),
            "errsig-",
        )
        assert s.token is not None and s.token.reveal() == "ghp_test"
        assert KIND.url(s, "#123") == "https://github.com/acme/cases/issues/123"
        assert KIND.url(s, "LOCAL-1") == ""  # a defect not moved here yet has no page
        assert KIND.describe(s) == "github: https://github.com/acme/cases (token)"

    def test_built_from_config_with_a_template_of_ones_own(
        self, fake_github: FakeGitHub, tmp_path: Path
    ) -> None:
        """The registry builds the tracker from ``[tracker.github]``; a template of the same
        name in the user's folder replaces the shipped one, with the ``md`` filter at hand."""
        (tmp_path / "defect_description.github.md.j2").write_text(
            "Signature {{ draft.message | md }}"
        )
        config = config_from_dict(
            {
                "tracker": {
                    "kind": "github",
                    "github": {**self.BASE, "base_url": fake_github.url},
                }
            }
        )
        store = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=ManualClock(NOW))
        context = TrackerContext(store, ManualClock(NOW), template_dir=tmp_path)
        tracker = configured(config.tracker, config.base_dir).build(context)
        assert isinstance(tracker, GitHubTracker)
        tracker.create(draft(message="<b>hi</b>"))
        assert fake_github.issue(1)["body"] == "Signature \\<b\\>hi\\<\\/b\\>"

    def test_enterprise_server(self) -> None:
        """Enterprise Server's API root ``/api/v3`` and GHE.com's ``api.`` host give the site's
        pages."""
        s = self.read({**self.BASE, "base_url": "https://ghe.example.com/api/v3"})
        assert KIND.url(s, "7") == "https://ghe.example.com/acme/cases/issues/7"
        assert web_url("https://api.acme.ghe.com") == "https://acme.ghe.com"

    def test_app_settings(self, tmp_path: Path, app_key: str) -> None:
        """A GitHub App from a key file; the key never shows in a repr."""
        key_file = tmp_path / "app.pem"
        key_file.write_text(app_key)
        table = {"repository": "acme/cases", "app_id": 1234, "installation_id": 42}
        s = self.read({**table, "private_key_file": str(key_file)})
        assert s.token is None and s.private_key is not None
        assert KIND.describe(s).endswith("(GitHub App 1234, installation 42)")
        assert "BEGIN" not in repr(s)

    @pytest.mark.parametrize(
        ("extra", "key"),
        [
            ({"base_url": "ftp://github"}, "base_url"),
            ({"base_url": "http://ghe.example.com/api/v3"}, "base_url"),
            ({"repository": "acme"}, "repository"),
            ({"labels": ["a,b"]}, "labels"),
            ({"labels": ["x" * 51]}, "labels"),
            ({"label_prefix": ""}, "label_prefix"),
            ({"duplicate_reason": "wontfix"}, "duplicate_reason"),
            ({"undo_reason": "wontfix"}, "undo_reason"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": 2.5}, "timeout"),
            ({"deadline": 0}, "deadline"),
            ({"token": "ghp_inline"}, "token"),
            ({"app_id": 1234}, "token_env"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_invalid_settings_name_the_key(self, extra: dict[str, object], key: str) -> None:
        """``[tracker.github]`` is read by the config's reader: each mistake names its key."""
        with pytest.raises(ConfigError, match=rf"^\[tracker\.github\]\.{key}: "):
            self.read({**self.BASE, **extra})

    @pytest.mark.parametrize(
        ("table", "key"),
        [
            ({"repository": "acme/cases"}, "token_env"),
            (
                {"repository": "acme/cases", "app_id": 1234, "installation_id": 42},
                "private_key_file",
            ),
            (
                {"repository": "acme/cases", "app_id": 1234, "private_key_file": "KEY"},
                "installation_id",
            ),
            (
                {"repository": "acme/cases", "installation_id": 42, "private_key_file": "KEY"},
                "app_id",
            ),
            (
                {
                    "repository": "acme/cases",
                    "app_id": 1,
                    "installation_id": 2,
                    "private_key_file": "BAD",
                },
                "private_key_file",
            ),
        ],
    )
    def test_app_settings_name_the_key(
        self, table: dict[str, object], key: str, tmp_path: Path, app_key: str
    ) -> None:
        """A GitHub App needs all three of its keys, and a key that can sign."""
        files = {
            "KEY": app_key,
            "BAD": "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n",
        }
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        resolved = {
            k: str(tmp_path / v) if k == "private_key_file" else v for k, v in table.items()
        }
        with pytest.raises(ConfigError, match=rf"^\[tracker\.github\]\.{key}: "):
            self.read(resolved)


class TestFake:
    def test_pygithub_reads_the_fake_like_github(self, fake_github: FakeGitHub) -> None:
        """The fake's Link pagination, repository, comments and labels as PyGithub's own
        objects read them (not lazy: ``get_repo`` and ``get_issue`` fetch first)."""
        client = Github(
            auth=Auth.Token("ghp_test"),
            base_url=fake_github.url,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            per_page=7,
        )
        for i in range(20):
            fake_github.add_issue(f"bug {i}", ("triagebot",))
        repo = client.get_repo("acme/cases")
        assert repo.full_name == "acme/cases"
        issues = repo.get_issues(state="all", labels=["triagebot"], direction="asc")
        assert [i.number for i in issues] == list(range(1, 21))
        assert fake_github.count("GET", ISSUES) == 3  # 7 + 7 + 6
        issue = repo.get_issue(1)
        issue.create_comment("hi")
        assert [c.body for c in issue.get_comments()] == ["hi"]
        assert [label.name for label in repo.get_labels()] == ["triagebot"]
        assert repo.get_label("triagebot").color == "ededed"
        assert calls(fake_github)[0] == ("GET", "repos/acme/cases")
