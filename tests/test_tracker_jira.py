"""The Jira tracker, always through the real ``jira`` client over HTTP to the fake Jira."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from jira import JIRAError

from tests.factories import FakeTime, jira_settings
from tests.fakejira import FakeJira
from triagebot.config import Secret, config_from_dict
from triagebot.errors import ConfigError, RetryableError, TrackerError, TrackerUnavailable
from triagebot.trackers import configured
from triagebot.trackers.base import (
    DefectDraft,
    OccurrenceUpdate,
    Tracker,
    TrackerIssue,
    undo_comment,
)
from triagebot.trackers.http import HttpUnavailable
from triagebot.trackers.jira import (
    DESCRIPTION_LIMIT,
    JiraTracker,
    escape_markup,
    map_jira_errors,
)

TRACE = """System.NullReferenceException: Object reference not set to an instance of an object.
   at Acme.Cases.CaseViewModel.Save() in C:\\src\\Cases\\CaseViewModel.cs:line 42
   at Acme.Cases.CaseView.OnSave(Object sender, EventArgs e)"""


def draft(signature: str = "0123456789abcdef", **overrides: object) -> DefectDraft:
    values: dict[str, object] = {
        "signature": signature,
        "title": "NullReferenceException in CaseViewModel.Save",
        "language": "dotnet",
        "exception_chain": ("System.NullReferenceException",),
        "message": "Object reference not set to an instance of an object.",
        "top_frames": ("Acme.Cases.CaseViewModel.Save",),
        "trace_text": TRACE,
        "metadata": {"application": "Acme Cases", "version": "4.2.1"},
        "first_seen": datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    }
    return DefectDraft(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def tracker(fake_jira: FakeJira, fake_time: FakeTime) -> JiraTracker:
    return JiraTracker(jira_settings(fake_jira), sleep=fake_time.sleep, clock=fake_time.clock)


class TestRoundTrip:
    @pytest.mark.parametrize("fake_jira", ["Cloud", "Server"], indirect=True)
    def test_create_then_find(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        """A created defect is found by its signature label, on Cloud and on Data Center."""
        assert tracker.find("0123456789abcdef") is None
        created = tracker.create(
            draft(labels=("from mail",), priority="High", components=("Client",), assignee="u1")
        )
        assert created == tracker.find("0123456789abcdef")
        assert (created.status, created.resolved) == ("Open", False)
        assert created.url == f"{fake_jira.url}/browse/{created.key}"
        fields = fake_jira.issues[created.key]["fields"]
        assert fields["summary"] == "NullReferenceException in CaseViewModel.Save"
        assert fields["labels"] == ["errsig-0123456789abcdef", "from_mail"]
        assert fields["priority"] == {"name": "High"}
        assert fields["components"] == [{"name": "Client"}]
        user_key = "accountId" if fake_jira.deployment == "Cloud" else "name"
        assert fields["assignee"] == {user_key: "u1"}
        search = "search/jql" if fake_jira.deployment == "Cloud" else "search"
        assert fake_jira.count("GET", search) == 2
        assert fake_jira.count("POST", "issue") == 1

    def test_old_search_endpoint_never_used_on_cloud(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        tracker.create(draft())
        assert tracker.find("0123456789abcdef") is not None
        assert fake_jira.count(path="search") == 0

    def test_satisfies_protocol_and_hides_secret(self, tracker: JiraTracker) -> None:
        as_protocol: Tracker = tracker
        assert as_protocol.name == "jira"
        assert "api-token" not in repr(tracker.settings)

    def test_long_title_is_one_line_under_the_limit(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        key = tracker.create(draft(title="Boom\n" + "x" * 400)).key
        summary = fake_jira.issues[key]["fields"]["summary"]
        assert len(summary) == 255
        assert summary.startswith("Boom x")

    def test_bad_field_is_a_tracker_error_not_retried(
        self, fake_jira: FakeJira, tracker: JiraTracker, fake_time: FakeTime
    ) -> None:
        with pytest.raises(TrackerError) as err:
            tracker.create(draft(components=("NoSuchComponent",)))
        assert not isinstance(err.value, RetryableError)
        assert "NoSuchComponent" in str(err.value)
        assert fake_time.sleeps == []


class TestClose:
    def test_an_undone_issue_is_closed_once_with_its_comment(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        """``undo_transition`` with the comment riding on it; a repeat (a lost answer) finds
        the issue resolved and comments nothing more."""
        key = tracker.create(draft()).key
        closed = tracker.close(key, undo_comment("bob@example.test"))
        assert (closed.status, closed.resolved) == ("Closed", True)
        again = tracker.close(key, undo_comment("bob@example.test"))
        assert again.resolved
        (comment,) = fake_jira.comments(key)
        assert "undone by bob@example.test" in comment
        reopened = tracker.reopen(key, "Confirmed again.")
        assert (reopened.status, reopened.resolved) == ("Reopened", False)

    def test_a_missing_transition_is_an_error(self, fake_jira: FakeJira) -> None:
        tracker = JiraTracker(replace(jira_settings(fake_jira), undo_transition="Withdraw"))
        key = tracker.create(draft()).key
        with pytest.raises(TrackerError, match="Withdraw"):
            tracker.close(key, "undone")
        assert fake_jira.comments(key) == []


class TestDescription:
    def test_markup_escaped_and_trace_in_noformat(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        message = "Bad {token} [link|http://x] *bold* _it_ !img! ^sup^ +u+ ~sub~ -x- {noformat}"
        trace = TRACE + "\n{noformat}\n*not bold*"
        key = tracker.create(draft(message=message, trace_text=trace)).key
        text = fake_jira.issues[key]["fields"]["description"]
        assert (
            r"Bad \{token\} \[link\|http://x\] \*bold\* \_it\_ \!img\! \^sup\^ \+u\+ \~sub\~"
            in text
        )
        assert r"\{noformat\}" in text
        block = text.split("{noformat}\n", 1)[1].rsplit("\n{noformat}", 1)[0]
        assert "*not bold*" in block  # verbatim inside the block
        assert "{noformat}" not in block  # the trace cannot close the block early
        assert "C:\\src\\Cases" in block
        assert "|application|Acme Cases|" in text
        assert text.count("{noformat}") == 2

    @pytest.mark.parametrize("line", ["- item", "# item", "h1. Title", "bq. quote", "----"])
    def test_line_start_markup_escaped(self, line: str) -> None:
        escaped = escape_markup(f"first\n{line}")
        assert escaped.split("\n")[1].startswith("\\")

    @given(st.text(alphabet=st.sampled_from("{}[]*_|!^+~?\\ab -#\n"), max_size=40))
    def test_escaping_leaves_no_bare_markup(self, text: str) -> None:
        escaped = escape_markup(text)
        bare = escaped.replace("&#92;", "")
        for i, char in enumerate(bare):
            if char in "{}[]*_|!^+~?":
                assert bare[i - 1] == "\\"

    def test_long_trace_truncated_and_attached(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        frame = "   at Acme.Cases.Deep.Recursion(Int32 depth) in C:\\src\\Deep.cs:line 7\n"
        trace = TRACE + "\n" + frame * 1_000  # about 71,000 characters
        key = tracker.create(draft(trace_text=trace)).key
        text = fake_jira.issues[key]["fields"]["description"]
        assert DESCRIPTION_LIMIT - 500 < len(text) <= DESCRIPTION_LIMIT
        assert "trace.txt" in text
        assert text.rstrip().endswith("{noformat}")
        assert fake_jira.attachments[key] == [("trace.txt", trace.encode())]

    def test_short_trace_not_attached(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        key = tracker.create(draft()).key
        assert key not in fake_jira.attachments
        assert fake_jira.count("POST", r"issue/.*/attachments") == 0


class TestStatuses:
    @staticmethod
    def seed(fake: FakeJira, n: int) -> list[str]:
        """``n`` issues; every fifth resolved, every seventh closed."""
        keys = [fake.add_issue(f"bug {i}") for i in range(n)]
        for i, key in enumerate(keys):
            if i % 5 == 0:
                fake.set_status(key, "Resolved")
            elif i % 7 == 0:
                fake.set_status(key, "Closed")
        return keys

    @pytest.mark.parametrize("fake_jira", ["Cloud", "Server"], indirect=True)
    @pytest.mark.parametrize(("page_limit", "searches"), [(None, 3), (40, 8)])
    def test_one_search_per_chunk_paged(
        self, fake_jira: FakeJira, tracker: JiraTracker, page_limit: int | None, searches: int
    ) -> None:
        """250 keys: three ``key in (...)`` searches, each paged when the server pages
        (100 + 100 + 50 keys by 40: 3 + 3 + 2 pages); repeated keys are asked once."""
        keys = self.seed(fake_jira, 250)
        fake_jira.page_limit = page_limit
        found = tracker.statuses([*keys, keys[0]])
        assert sorted(found) == sorted(keys)
        assert found[keys[0]] == TrackerIssue(
            keys[0], "Resolved", True, f"{fake_jira.url}/browse/{keys[0]}"
        )
        assert (found[keys[7]].status, found[keys[7]].resolved) == ("Closed", True)
        assert (found[keys[1]].status, found[keys[1]].resolved) == ("Open", False)
        search = "search/jql" if fake_jira.deployment == "Cloud" else "search"
        assert fake_jira.count("GET", search) == searches
        others = [r.path for r in fake_jira.requests if r.path != search]
        assert sorted(others) == ["field", "serverInfo"]  # connecting, once

    @pytest.mark.parametrize("fake_jira", ["Cloud", "Server"], indirect=True)
    def test_deleted_issue_does_not_break_the_sync(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        """Jira refuses ``key in`` naming an issue that is gone (Data Center only validates
        when asked): that chunk is asked key by key, the missing one left out."""
        keys = self.seed(fake_jira, 3)
        found = tracker.statuses([*keys, "OPS-9999"])
        assert sorted(found) == sorted(keys)
        search = "search/jql" if fake_jira.deployment == "Cloud" else "search"
        assert fake_jira.count("GET", search) == 1
        per_key = 4 if fake_jira.deployment == "Cloud" else 0
        assert len([r for r in fake_jira.requests if r.path.startswith("issue/")]) == per_key

    def test_resolution_counts_as_resolved(self, fake_jira: FakeJira) -> None:
        """A workflow's done status missing from ``resolved_statuses``: its resolution tells."""
        tracker = JiraTracker(jira_settings(fake_jira, resolved_statuses=("Closed",)))
        [key] = self.seed(fake_jira, 1)
        assert tracker.statuses([key])[key].resolved is True

    def test_empty_asks_nothing(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        assert tracker.statuses([]) == {}
        assert fake_jira.count() == 0


class TestRetries:
    def test_429_retry_after_seconds_honoured(
        self, fake_jira: FakeJira, tracker: JiraTracker, fake_time: FakeTime
    ) -> None:
        """Throttled: each retry waits the seconds Jira's Retry-After asks for."""
        tracker.find("x")  # connect first
        fake_jira.fail("search/jql", 429, times=2, retry_after=3)
        assert tracker.find("x") is None
        assert fake_time.sleeps == [3.0, 3.0]
        assert fake_jira.count("GET", "search/jql") == 4

    def test_429_retry_after_http_date_honoured(
        self, fake_jira: FakeJira, tracker: JiraTracker, fake_time: FakeTime
    ) -> None:
        """An HTTP date counts from now; a throttled create filed nothing, so it is sent
        again, once."""
        tracker.find("x")
        fake_jira.fail("issue", 429, method="POST", retry_after=5, as_date=True)
        created = tracker.create(draft())
        assert len(fake_time.sleeps) == 1
        assert 3.0 <= fake_time.sleeps[0] <= 5.0
        assert list(fake_jira.issues) == [created.key]

    def test_retries_follow_the_settings(self, fake_jira: FakeJira, fake_time: FakeTime) -> None:
        """``backoff_base``, ``backoff_cap`` and ``deadline`` drive the shared retry loop: a
        busy status search is asked again until it answers, or until the deadline."""
        backoff = jira_settings(fake_jira, backoff_base=0.25, backoff_cap=0.5)
        tracker = JiraTracker(
            replace(backoff, deadline=1.5), sleep=fake_time.sleep, clock=fake_time.clock
        )
        keys = [fake_jira.add_issue(f"bug {i}") for i in range(3)]
        fake_jira.fail("search/jql", 503, times=3)
        assert len(tracker.statuses(keys)) == 3
        fake_jira.fail("search/jql", 503, times=1_000)
        with pytest.raises(TrackerUnavailable, match="after 4 attempts"):
            tracker.statuses(keys)
        assert fake_time.sleeps == [0.25, 0.5, 0.5] * 2

    def test_timeout_retried(self, fake_jira: FakeJira, fake_time: FakeTime) -> None:
        """A search that outlives ``timeout`` is safe to repeat, and is."""
        tracker = JiraTracker(
            jira_settings(fake_jira, timeout=0.2), sleep=fake_time.sleep, clock=fake_time.clock
        )
        tracker.find("x")
        fake_jira.slow("search/jql", 0.5)
        assert tracker.find("x") is None
        assert fake_time.sleeps == [0.5]

    def test_dropped_connection_after_create_is_left_to_the_outbox(
        self, fake_jira: FakeJira, tracker: JiraTracker, fake_time: FakeTime
    ) -> None:
        """The create is stored but its answer lost: no second POST and no search inside the
        call (Cloud's search may not show the new issue yet); the outbox retries later."""
        fake_jira.drop_after_create()
        with pytest.raises(TrackerUnavailable):
            tracker.create(draft())
        assert fake_jira.count("POST", "issue") == 1
        assert fake_jira.count("GET", r"search.*") == 0
        assert fake_time.sleeps == []
        assert len(fake_jira.issues) == 1

    def test_busy_create_and_comment_are_sent_again(
        self, fake_jira: FakeJira, tracker: JiraTracker, fake_time: FakeTime
    ) -> None:
        """A 503 means Jira applied nothing: sending the create or the comment again is safe;
        without Retry-After the waits back off."""
        fake_jira.fail("issue", 503, method="POST")
        key = tracker.create(draft()).key
        fake_jira.fail(f"issue/{key}/comment", 503, times=3)
        tracker.update_occurrences(key, OccurrenceUpdate(12, 11, datetime(2025, 3, 2, tzinfo=UTC)))
        assert list(fake_jira.issues) == [key]
        assert len(fake_jira.issues[key]["fields"]["comment"]["comments"]) == 1
        assert fake_time.sleeps == [0.5, 0.5, 1.0, 2.0]

    def test_reopen_comment_is_plain_text(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        """A version from a report cannot inject markup (links, colour, mentions) into Jira."""
        key = tracker.create(draft()).key
        tracker.reopen(key, "Recurred in version 4.3 [click|https://evil.test] {color:red}*x*")
        (comment,) = fake_jira.issues[key]["fields"]["comment"]["comments"]
        assert comment["body"] == (
            "Recurred in version 4.3 \\[click\\|https://evil.test\\] \\{color:red\\}\\*x\\*"
        )

    def test_comment_not_resent_after_ambiguous_failure(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        """A comment whose answer was lost may have landed: it is not sent twice."""
        key = tracker.create(draft()).key
        fake_jira.drop(f"issue/{key}/comment")
        update = OccurrenceUpdate(total=3, new=2, last_seen=datetime.now(UTC))
        with pytest.raises(TrackerUnavailable):
            tracker.update_occurrences(key, update)
        assert fake_jira.issues[key]["fields"]["comment"]["total"] == 1


class TestEffects:
    def test_update_occurrences_one_comment_and_field(self, fake_jira: FakeJira) -> None:
        tracker = JiraTracker(jira_settings(fake_jira, occurrences_field="customfield_10050"))
        key = tracker.create(draft()).key
        before = len(fake_jira.requests)
        update = OccurrenceUpdate(
            total=42,
            new=7,
            last_seen=datetime(2025, 3, 2, 8, 30, tzinfo=UTC),
            versions=("4.2.1", "4.3.0"),
            environments=("prod",),
        )
        tracker.update_occurrences(key, update)
        assert len(fake_jira.requests) - before == 2  # one PUT, one comment
        fields = fake_jira.issues[key]["fields"]
        assert fields["customfield_10050"] == 42
        body = fields["comment"]["comments"][0]["body"]
        assert body.startswith("7 new occurrences (total 42), last seen 2025-03-02 08:30:00 UTC")
        assert "versions 4.2.1, 4.3.0; environments prod." in body

    @pytest.mark.parametrize("status", ["Resolved", "Closed"])
    def test_reopen_resolved_issue(
        self, fake_jira: FakeJira, tracker: JiraTracker, status: str
    ) -> None:
        key = tracker.create(draft()).key
        fake_jira.set_status(key, status)
        assert tracker.get(key).resolved
        reopened = tracker.reopen(key, "Recurred in 4.3.0")
        assert (reopened.status, reopened.resolved) == ("Reopened", False)
        comments = fake_jira.issues[key]["fields"]["comment"]["comments"]
        assert [c["body"] for c in comments] == ["Recurred in 4.3.0"]

    def test_reopen_of_open_issue_only_comments(
        self, fake_jira: FakeJira, tracker: JiraTracker
    ) -> None:
        key = tracker.create(draft()).key
        assert tracker.reopen(key, "again").status == "Open"
        assert fake_jira.count("POST", r"issue/.*/transitions") == 0

    def test_reopen_without_transition_is_an_error(self, fake_jira: FakeJira) -> None:
        tracker = JiraTracker(jira_settings(fake_jira, reopen_transition="Back to work"))
        key = tracker.create(draft()).key
        fake_jira.set_status(key, "Closed")
        with pytest.raises(TrackerError, match="Back to work"):
            tracker.reopen(key, "again")

    def test_link_signature_adds_label(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        key = tracker.create(draft()).key
        tracker.link_signature(key, "fedcba9876543210")
        assert fake_jira.issues[key]["fields"]["labels"] == [
            "errsig-0123456789abcdef",
            "errsig-fedcba9876543210",
        ]
        found = tracker.find("fedcba9876543210")
        assert found is not None
        assert found.key == key

    def test_find_returns_the_oldest_match(self, fake_jira: FakeJira, tracker: JiraTracker) -> None:
        first = fake_jira.add_issue("old", ("errsig-abc",))
        fake_jira.add_issue("newer", ("errsig-abc",))
        found = tracker.find("abc")
        assert found is not None
        assert found.key == first

    def test_wrong_credentials_are_not_retried(
        self, fake_jira: FakeJira, fake_time: FakeTime
    ) -> None:
        tracker = JiraTracker(
            jira_settings(fake_jira, token=Secret("wrong")),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        with pytest.raises(TrackerError) as err:
            tracker.find("x")
        assert not isinstance(err.value, TrackerUnavailable)
        assert "401" in str(err.value)
        assert "wrong" not in str(err.value)


def _response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


MAPPING: list[tuple[Exception, type[TrackerError]]] = [
    (JIRAError("throttled", 429, response=_response(429)), HttpUnavailable),
    (JIRAError("server", 500, response=_response(500)), HttpUnavailable),
    (JIRAError("gateway", 502, response=_response(502)), HttpUnavailable),
    (JIRAError("down", 503, response=_response(503)), HttpUnavailable),
    (JIRAError("slow", 504, response=_response(504)), HttpUnavailable),
    (JIRAError("bad", 400, response=_response(400)), TrackerError),
    (JIRAError("auth", 401, response=_response(401)), TrackerError),
    (JIRAError("forbidden", 403, response=_response(403)), TrackerError),
    (JIRAError("missing", 404, response=_response(404)), TrackerError),
    (JIRAError("Invalid transition name. Reopen"), TrackerError),
]


class TestErrorMapping:
    @pytest.mark.parametrize(("foreign", "ours"), MAPPING)
    def test_mapping_table(self, foreign: Exception, ours: type[TrackerError]) -> None:
        with pytest.raises(TrackerError) as err, map_jira_errors():
            raise foreign
        assert type(err.value) is ours
        assert err.value.__cause__ is foreign
        retryable = ours is not TrackerError
        assert isinstance(err.value, RetryableError) == retryable

    def test_retry_after_header_reaches_the_error(self) -> None:
        error = JIRAError("x", 429, response=_response(429, {"Retry-After": "12"}))
        with pytest.raises(HttpUnavailable) as err, map_jira_errors():
            raise error
        assert err.value.retry_after == 12.0


class TestSettings:
    @pytest.mark.parametrize(
        ("extra", "key"),
        [
            ({"auth": "kerberos"}, "auth"),
            ({"username": ""}, "username"),
            ({"auth": "pat", "deployment": "x"}, "deployment"),
            ({"url": "ftp://jira"}, "url"),
            ({"url": "http://jira.example.com"}, "url"),
            ({"project": ""}, "project"),
            ({"deadline": 0}, "deadline"),
            ({"duplicate_transition": ""}, "duplicate_transition"),
            ({"undo_transition": ""}, "undo_transition"),
        ],
    )
    def test_invalid_settings_name_the_key(
        self, extra: dict[str, object], key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``[tracker.jira]`` is read by the config's reader: each mistake names its key."""
        monkeypatch.setenv("JIRA_TOKEN", "api-token")
        table = {"url": "https://j.example.com", "project": "P", "username": "u@x"}
        data = {"tracker": {"kind": "jira", "jira": {**table, "token_env": "JIRA_TOKEN", **extra}}}
        config = config_from_dict(data)
        with pytest.raises(ConfigError, match=rf"^\[tracker\.jira\]\.{key}: "):
            configured(config.tracker, config.base_dir)

    def test_forced_deployment_overrides_server_info(self, fake_jira: FakeJira) -> None:
        """A Data Center config against Cloud uses the old search and gets Cloud's 410."""
        tracker = JiraTracker(jira_settings(fake_jira, deployment="datacenter"))
        with pytest.raises(TrackerError, match="410"):
            tracker.find("x")
