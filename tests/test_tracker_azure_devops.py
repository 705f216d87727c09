"""The Azure DevOps Boards tracker, always over real HTTP to the fake Azure DevOps server."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.factories import SIG_A, FakeTime, make_outcome
from tests.fakeazure import FakeAzure
from triagebot.config import Secret, config_from_dict
from triagebot.errors import ConfigError, RetryableError, TrackerError, TrackerUnavailable
from triagebot.outbox import run_effects
from triagebot.store import Store
from triagebot.trackers import configured
from triagebot.trackers.azure_devops import (
    DESCRIPTION_LIMIT,
    KIND,
    AzureDevOpsSettings,
    AzureDevOpsTracker,
    map_azure_devops_errors,
    work_item_id,
)
from triagebot.trackers.base import (
    DefectDraft,
    OccurrenceUpdate,
    Tracker,
    TrackerContext,
    TrackerIssue,
)
from triagebot.trackers.http import HttpUnavailable

TRACE = """Traceback (most recent call last):
  File "/srv/cases/views.py", line 42, in save
    case.commit()
ValueError: case 17 is closed"""
SIG = "0123456789abcdef"
WALL = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # the wall clock of adapter tests
WIQL = "Cases/_apis/wit/wiql"
CREATE = r"Cases/_apis/wit/workitems/\$Bug"
ITEMS = "Cases/_apis/wit/workitems"
ITEM = r"Cases/_apis/wit/workitems/\d+"
COMMENTS = r"Cases/_apis/wit/workitems/\d+/comments"
HOSTILE = "<script>alert(\"x\")</script> & 'quoted' <img src=x onerror=alert(1)>"


BASE = AzureDevOpsSettings(project="Cases", token=Secret("pat-secret"), deadline=30.0)


def settings(fake: FakeAzure, **overrides: Any) -> AzureDevOpsSettings:
    return replace(BASE, url=fake.url, **overrides)


def draft(signature: str = SIG, **overrides: object) -> DefectDraft:
    values: dict[str, object] = {
        "signature": signature,
        "title": "ValueError in cases.views.save",
        "language": "python",
        "exception_chain": ("ValueError",),
        "message": "case 17 is closed",
        "top_frames": ("cases.views.save",),
        "trace_text": TRACE,
        "metadata": {"application": "Acme Cases", "version": "4.2.1"},
        "first_seen": WALL,
    }
    return DefectDraft(**{**values, **overrides})  # type: ignore[arg-type]


def make_tracker(fake: FakeAzure, fake_time: FakeTime, **overrides: object) -> AzureDevOpsTracker:
    return AzureDevOpsTracker(
        settings(fake, **overrides),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        wall_clock=lambda: WALL,
    )


@pytest.fixture
def tracker(fake_azure: FakeAzure, fake_time: FakeTime) -> AzureDevOpsTracker:
    return make_tracker(fake_azure, fake_time)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


class TestKeys:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("AB#123", "123"),
            ("ab#123", "123"),
            (" 123 ", "123"),
            ("C-41", None),
            ("c-41", None),
            ("#123", None),
            ("OPS-123", None),
            ("0", None),
            ("AB#", None),
            ("12a", None),
        ],
    )
    def test_kind_key_is_the_bare_number(self, text: str, key: str | None) -> None:
        """What staff write for an Azure Boards item (``AB#123`` or ``123``) becomes the bare
        number; a candidate's ``C-41`` and other trackers' keys are never keys."""
        assert KIND.key(text) == key

    def test_either_spelling_addresses_the_same_work_item(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """``duplicate AB#123`` and ``duplicate 123`` lead to work item 123 in every method."""
        key = tracker.create(draft()).key
        assert KIND.key(f"AB#{key}") == KIND.key(key) == key
        assert tracker.get(f"AB#{key}") == tracker.get(key)
        tracker.link_signature(f"ab#{key}", "f" * 16)
        tracker.update_occurrences(f"AB#{key}", OccurrenceUpdate(2, 1, WALL))
        assert fake_azure.tags(int(key)) == [f"errsig-{SIG}", f"errsig-{'f' * 16}"]
        assert len(fake_azure.comments[int(key)]) == 1

    def test_a_foreign_key_is_refused_before_any_call(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Another tracker's key or a candidate's reference never reaches the server."""
        with pytest.raises(TrackerError, match="OPS-1"):
            tracker.get("OPS-1")
        with pytest.raises(TrackerError, match="C-41"):
            work_item_id("C-41")
        assert fake_azure.count() == 0

    def test_web_url_of_either_spelling(self, fake_azure: FakeAzure) -> None:
        """The page of a work item; the project is URL-quoted; another tracker's key has none."""
        s = settings(fake_azure, project="Fabrikam Fiber")
        assert KIND.url(s, "AB#7") == f"{fake_azure.url}/Fabrikam%20Fiber/_workitems/edit/7"
        assert KIND.url(s, "7") == KIND.url(s, "AB#7")
        assert KIND.url(s, "OPS-7") == ""


class TestRoundTrip:
    def test_create_then_find(self, fake_azure: FakeAzure, fake_time: FakeTime) -> None:
        """One POST files the draft with every field; ``find`` answers the same work item."""
        tracker = make_tracker(
            fake_azure,
            fake_time,
            area_path="Cases\\Checkout",
            iteration_path="Cases\\Sprint 1",
            occurrences_field="Custom.Occurrences",
        )
        assert tracker.find(SIG) is None
        created = tracker.create(
            draft(
                labels=("from mail", "a;b"),
                components=("Checkout",),
                priority="Highest",
                assignee="alice@acme.example",
                occurrences=3,
            )
        )
        assert created == tracker.find(SIG)
        assert created == TrackerIssue(
            "1", "New", False, f"{fake_azure.url}/Cases/_workitems/edit/1"
        )
        fields = fake_azure.work_items[1]["fields"]
        assert fields["System.Title"] == "ValueError in cases.views.save"
        assert fake_azure.tags(1) == ["a_b", "Checkout", f"errsig-{SIG}", "from mail"]
        assert fields["System.AreaPath"] == "Cases\\Checkout"
        assert fields["System.IterationPath"] == "Cases\\Sprint 1"
        assert fields["Microsoft.VSTS.Common.Priority"] == 1
        assert fields["System.AssignedTo"]["uniqueName"] == "alice@acme.example"
        assert fields["Custom.Occurrences"] == 3
        assert fake_azure.count("POST", CREATE) == 1
        assert fake_azure.count("POST", WIQL) == 2
        assert fake_azure.count("GET", ITEMS) == 1  # the hit's tags and state

    def test_find_returns_the_oldest_exact_tag(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """A longer tag that merely contains ours is skipped; of the real matches the oldest
        wins, resolved or not, and tags compare without case."""
        fake_azure.add_work_item("other bug", ("errsig-abc-old",))
        first = fake_azure.add_work_item("old", ("ERRSIG-ABC",), state="Closed")
        fake_azure.add_work_item("newer", ("errsig-abc",))
        found = tracker.find("abc")
        assert found is not None
        assert (found.key, found.status, found.resolved) == (str(first), "Closed", True)

    @pytest.mark.parametrize(
        ("priority", "expected"), [("High", 1), ("high", 1), ("3", 3), ("Lowest", 4)]
    )
    def test_priority_from_the_rule(
        self, fake_azure: FakeAzure, fake_time: FakeTime, priority: str, expected: int
    ) -> None:
        """Rule priorities map through ``priorities`` (without case); a number 1-4 is taken
        as it is."""
        tracker = make_tracker(fake_azure, fake_time, priorities={"high": "1", "lowest": "4"})
        key = int(tracker.create(draft(priority=priority)).key)
        assert fake_azure.work_items[key]["fields"]["Microsoft.VSTS.Common.Priority"] == expected

    def test_unmapped_priority_is_left_to_the_process_default(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """A priority the table lacks is logged and left out: the process default applies."""
        with capture_logs() as logs:
            key = int(tracker.create(draft(priority="Blocker")).key)
        assert fake_azure.work_items[key]["fields"]["Microsoft.VSTS.Common.Priority"] == 2
        assert any(
            e["event"] == "azure_devops.priority_unmapped" and e["priority"] == "Blocker"
            for e in logs
        )

    def test_work_item_type_from_the_rule(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """A rule's ``issue_type`` is the work item type; one the project lacks is refused."""
        key = int(tracker.create(draft(issue_type="Task")).key)
        assert fake_azure.work_items[key]["fields"]["System.WorkItemType"] == "Task"
        with pytest.raises(TrackerError, match="VS402323") as err:
            tracker.create(draft(issue_type="Epic"))
        assert not isinstance(err.value, RetryableError)
        assert fake_time.sleeps == []

    def test_description_field_is_configurable(
        self, fake_azure: FakeAzure, fake_time: FakeTime
    ) -> None:
        """Bug forms show Repro Steps: the description can go there instead."""
        tracker = make_tracker(
            fake_azure, fake_time, description_field="Microsoft.VSTS.TCM.ReproSteps"
        )
        key = int(tracker.create(draft()).key)
        fields = fake_azure.work_items[key]["fields"]
        assert "case 17 is closed" in fields["Microsoft.VSTS.TCM.ReproSteps"]
        assert "System.Description" not in fields

    def test_long_title_is_one_line_under_the_limit(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Titles are one line of at most 255 characters."""
        key = int(tracker.create(draft(title="Boom\n" + "x" * 400)).key)
        title = fake_azure.work_items[key]["fields"]["System.Title"]
        assert len(title) == 255
        assert title.startswith("Boom x")

    def test_statuses_in_chunks_of_200(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """450 work items: three ``GET workitems?ids=`` (200 + 200 + 50), keyed by the keys
        as given; deleted items and other trackers' keys are left out."""
        ids = [fake_azure.add_work_item(f"bug {i}") for i in range(450)]
        for i in ids:
            if i % 5 == 0:
                fake_azure.set_state(i, "Resolved")
            elif i % 7 == 0:
                fake_azure.set_state(i, "Closed")
        keys = [*map(str, ids), "AB#5", "9999", "OPS-1"]
        found = tracker.statuses(keys)
        assert len(found) == 451
        assert (
            found["5"]
            == found["AB#5"]
            == TrackerIssue("5", "Resolved", True, f"{fake_azure.url}/Cases/_workitems/edit/5")
        )
        assert (found["7"].status, found["7"].resolved) == ("Closed", True)
        assert (found["1"].status, found["1"].resolved) == ("New", False)
        assert "9999" not in found
        assert fake_azure.count("GET", ITEMS) == 3
        assert fake_azure.count() == 3

    def test_empty_statuses_ask_nothing(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """No keys, no call."""
        assert tracker.statuses([]) == {}
        assert fake_azure.count() == 0

    def test_satisfies_protocol_and_hides_secret(self, tracker: AzureDevOpsTracker) -> None:
        """It is a ``Tracker``, and its settings' repr never shows the PAT."""
        as_protocol: Tracker = tracker
        assert as_protocol.name == "azure_devops"
        assert "pat-secret" not in repr(tracker.settings)


class TestEscaping:
    def test_description_escapes_report_text(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Every report value is text in the HTML description, the trace is kept verbatim
        in ``<pre>``, and the only tags are the template's own."""
        trace = TRACE + "\n</pre>" + HOSTILE
        key = tracker.create(
            draft(
                message=HOSTILE,
                trace_text=trace,
                metadata={"application<": HOSTILE},
                top_frames=("<evil>",),
                rule="r<1>",
                confirmed_by="confirmed by a@b.example <c>",
            )
        ).key
        text = fake_azure.work_items[int(key)]["fields"]["System.Description"]
        assert "<script" not in text
        assert "<img" not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quoted&#39;" in text
        tags = set(re.findall(r"</?([a-zA-Z0-9]+)", text))
        assert tags <= {"p", "b", "table", "tr", "th", "td", "h3", "ol", "li", "code", "pre"}
        block = text.split("<pre>", 1)[1].rsplit("</pre>", 1)[0]
        assert html.unescape(block) == trace
        assert "<td>application&lt;</td>" in text

    def test_comments_escape_report_text(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Reopen comments and occurrence comments (versions come from reports) are text."""
        key = tracker.create(draft()).key
        tracker.reopen(key, f"Recurred in version {HOSTILE}")
        update = OccurrenceUpdate(3, 2, WALL, versions=("<b>4.3</b>",), environments=("a&b",))
        tracker.update_occurrences(key, update)
        first, second = (c["text"] for c in fake_azure.comments[int(key)])
        assert first == html.escape(f"Recurred in version {HOSTILE}")
        assert "versions &lt;b&gt;4.3&lt;/b&gt;; environments a&amp;b." in second

    @pytest.mark.parametrize("signature", ["o'brien", "x' OR ''='"])
    def test_wiql_string_is_escaped(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, signature: str
    ) -> None:
        """A quote in the signature stays inside the WIQL literal: it neither breaks the
        query nor widens it to other work items."""
        fake_azure.add_work_item("unrelated", ("errsig-x",))
        assert tracker.find(signature) is None
        created = tracker.create(draft(signature=signature))
        assert tracker.find(signature) == created

    def test_long_trace_is_cut_to_fit_the_field(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """A trace whose escaped HTML exceeds the 1 M characters of a long text field is cut
        at a line end and says so; the work item is filed."""
        frame = '  File "/srv/<app>/deep.py", line 7, in recurse & "more"\n'
        trace = TRACE + "\n" + frame * 30_000  # 1.7 M characters, more once escaped
        key = int(tracker.create(draft(trace_text=trace)).key)
        text = fake_azure.work_items[key]["fields"]["System.Description"]
        assert DESCRIPTION_LIMIT // 2 < len(text) <= DESCRIPTION_LIMIT
        assert "truncated" in text
        block = html.unescape(text.split("<pre>", 1)[1].rsplit("</pre>", 1)[0])
        assert block.endswith('more"\n… (truncated)')


class TestRetries:
    def test_429_retry_after_seconds_honoured(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """Throttled: each retry waits the seconds Retry-After asks for."""
        fake_azure.fail(WIQL, 429, times=2, retry_after=3)
        assert tracker.find("x") is None
        assert fake_time.sleeps == [3.0, 3.0]
        assert fake_azure.count("POST", WIQL) == 3

    def test_429_retry_after_http_date_honoured(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """A date counts from the injected wall clock; a throttled create filed nothing, so
        it is sent again."""
        fake_azure.fail(CREATE, 429, method="POST", retry_at=WALL + timedelta(seconds=5))
        created = tracker.create(draft())
        assert fake_time.sleeps == [5.0]
        assert list(fake_azure.work_items) == [int(created.key)]
        assert fake_azure.count("POST", CREATE) == 2

    def test_retries_follow_the_settings(self, fake_azure: FakeAzure, fake_time: FakeTime) -> None:
        """``backoff_base``, ``backoff_cap`` and ``deadline`` drive the shared retry loop: a
        busy status read is asked again until it answers, or until the deadline."""
        tracker = make_tracker(
            fake_azure, fake_time, backoff_base=0.25, backoff_cap=0.5, deadline=1.5
        )
        keys = [str(fake_azure.add_work_item(f"bug {i}")) for i in range(3)]
        fake_azure.fail(ITEMS, 503, times=3)
        assert sorted(tracker.statuses(keys)) == keys
        fake_azure.fail(ITEMS, 503, times=1_000)
        with pytest.raises(TrackerUnavailable, match="still failing after 4 attempts"):
            tracker.statuses(keys)
        assert fake_time.sleeps == [0.25, 0.5, 0.5] * 2

    def test_timeout_retried(self, fake_azure: FakeAzure, fake_time: FakeTime) -> None:
        """A read that timed out is safe to repeat, and is."""
        tracker = make_tracker(fake_azure, fake_time, timeout=0.2)
        fake_azure.slow(WIQL, 0.5)
        assert tracker.find("x") is None
        assert fake_time.sleeps == [0.5]

    def test_create_timeout_is_not_resent(self, fake_azure: FakeAzure, fake_time: FakeTime) -> None:
        """A create that timed out may still be filed: it is left to the outbox's ``find``."""
        tracker = make_tracker(fake_azure, fake_time, timeout=0.2)
        fake_azure.slow(CREATE, 0.5, method="POST")
        with pytest.raises(TrackerUnavailable):
            tracker.create(draft())
        assert fake_azure.count("POST", CREATE) == 1
        assert fake_time.sleeps == []

    def test_dropped_connection_after_create_is_left_to_the_outbox(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """The create is stored but its answer lost: no second POST and no search inside the
        call; the outbox retries later."""
        fake_azure.drop(CREATE, method="POST")
        with pytest.raises(TrackerUnavailable):
            tracker.create(draft())
        assert fake_azure.count("POST", CREATE) == 1
        assert fake_azure.count("POST", WIQL) == 0
        assert fake_time.sleeps == []
        assert len(fake_azure.work_items) == 1

    def test_busy_create_and_comment_are_sent_again(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """A 503 means nothing was applied: sending the create or the comment again is safe;
        without Retry-After the waits back off."""
        fake_azure.fail(CREATE, 503, method="POST")
        key = tracker.create(draft()).key
        fake_azure.fail(COMMENTS, 503, times=3)
        tracker.update_occurrences(key, OccurrenceUpdate(12, 11, WALL))
        assert list(fake_azure.work_items) == [int(key)]
        assert len(fake_azure.comments[int(key)]) == 1
        assert fake_time.sleeps == [0.5, 0.5, 1.0, 2.0]

    def test_comment_not_resent_after_ambiguous_failure(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """A comment whose answer was lost may have landed: it is not sent twice."""
        key = tracker.create(draft()).key
        fake_azure.drop(COMMENTS, method="POST")
        with pytest.raises(TrackerUnavailable):
            tracker.update_occurrences(key, OccurrenceUpdate(3, 2, WALL))
        assert len(fake_azure.comments[int(key)]) == 1
        assert fake_azure.count("POST", COMMENTS) == 1
        assert fake_time.sleeps == []

    def test_bad_pat_is_not_retried(self, fake_azure: FakeAzure, fake_time: FakeTime) -> None:
        """401 (the adapter asks for it instead of a sign-in page) is a refusal, and the
        token never shows in the error."""
        tracker = make_tracker(fake_azure, fake_time, token=Secret("wrong-pat"))
        with pytest.raises(TrackerError) as err:
            tracker.find("x")
        assert not isinstance(err.value, TrackerUnavailable)
        assert "401" in str(err.value)
        assert "wrong-pat" not in str(err.value)
        assert fake_time.sleeps == []

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"area_path": "Cases\\Nowhere"}, "TF401347"),
            ({"occurrences_field": "Custom.Nope"}, "TF51535"),
        ],
    )
    def test_bad_field_is_a_tracker_error_not_retried(
        self,
        fake_azure: FakeAzure,
        fake_time: FakeTime,
        overrides: dict[str, object],
        code: str,
    ) -> None:
        """A field the server refuses (400) is a ``TrackerError`` carrying its TF code."""
        tracker = make_tracker(fake_azure, fake_time, **overrides)
        with pytest.raises(TrackerError, match=code) as err:
            tracker.create(draft())
        assert not isinstance(err.value, RetryableError)
        assert fake_time.sleeps == []
        assert fake_azure.work_items == {}

    def test_sign_in_page_is_an_error(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """A 203 HTML page (a proxy dropped our header) is never taken for an answer."""
        fake_azure.sign_in(WIQL)
        with pytest.raises(TrackerError, match="not JSON") as err:
            tracker.find("x")
        assert not isinstance(err.value, RetryableError)


class TestEffects:
    def test_update_occurrences_one_field_edit_and_one_comment(
        self, fake_azure: FakeAzure, fake_time: FakeTime
    ) -> None:
        """The total goes in the custom field and the batch in ONE preview-API comment."""
        tracker = make_tracker(fake_azure, fake_time, occurrences_field="Custom.Occurrences")
        key = tracker.create(draft()).key
        before = fake_azure.count()
        update = OccurrenceUpdate(
            total=42,
            new=7,
            last_seen=datetime(2025, 3, 2, 8, 30, tzinfo=UTC),
            versions=("4.2.1", "4.3.0"),
            environments=("prod",),
        )
        tracker.update_occurrences(key, update)
        assert fake_azure.count() - before == 2  # one PATCH, one comment
        assert fake_azure.work_items[int(key)]["fields"]["Custom.Occurrences"] == 42
        [comment] = fake_azure.comments[int(key)]
        assert comment["text"] == (
            "7 new occurrences (total 42), last seen 2025-03-02 08:30:00 UTC; "
            "versions 4.2.1, 4.3.0; environments prod."
        )
        assert fake_azure.requests[-1].query["api-version"] == "7.1-preview.4"

    def test_update_without_field_is_one_comment(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Without ``occurrences_field`` an update is a single call."""
        key = tracker.create(draft()).key
        before = fake_azure.count()
        tracker.update_occurrences(key, OccurrenceUpdate(2, 1, WALL))
        assert fake_azure.count() - before == 1
        assert fake_azure.count("PATCH") == 0

    @pytest.mark.parametrize("state", ["Resolved", "Closed"])
    def test_reopen_resolved_work_item(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, state: str
    ) -> None:
        """A resolved work item moves to ``reopen_state`` and gets one comment."""
        key = tracker.create(draft()).key
        fake_azure.set_state(int(key), state)
        assert tracker.get(key).resolved
        reopened = tracker.reopen(key, "Recurred in 4.3.0")
        assert reopened == TrackerIssue(
            key, "Active", False, f"{fake_azure.url}/Cases/_workitems/edit/{key}"
        )
        fields = fake_azure.work_items[int(key)]["fields"]
        assert (fields["System.State"], fields["System.Reason"]) == ("Active", "Reactivated")
        assert [c["text"] for c in fake_azure.comments[int(key)]] == ["Recurred in 4.3.0"]
        assert fake_azure.count("PATCH") == 1

    @pytest.mark.parametrize("state", ["New", "Active"])
    def test_reopen_of_open_work_item_only_comments(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, state: str
    ) -> None:
        """A work item that is not resolved keeps its state and gets the comment."""
        key = tracker.create(draft()).key
        fake_azure.set_state(int(key), state)
        assert tracker.reopen(key, "again").status == state
        assert fake_azure.count("PATCH") == 0
        assert len(fake_azure.comments[int(key)]) == 1

    def test_reopen_state_outside_the_workflow_is_an_error(
        self, fake_azure: FakeAzure, fake_time: FakeTime
    ) -> None:
        """Azure Boards' rule error names the field; nothing is commented."""
        tracker = make_tracker(fake_azure, fake_time, reopen_state="Reopened")
        key = tracker.create(draft()).key
        fake_azure.set_state(int(key), "Closed")
        with pytest.raises(TrackerError, match="TF401320: Rule Error for field State"):
            tracker.reopen(key, "again")
        assert fake_azure.comments[int(key)] == []
        assert fake_time.sleeps == []

    def test_link_signature_adds_the_tag_once(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker
    ) -> None:
        """Linking twice adds the tag once, and ``find`` then knows the new signature."""
        key = tracker.create(draft()).key
        tracker.link_signature(key, "fedcba9876543210")
        tracker.link_signature(key, "fedcba9876543210")
        assert fake_azure.tags(int(key)) == [f"errsig-{SIG}", "errsig-fedcba9876543210"]
        assert fake_azure.count("PATCH") == 1
        found = tracker.find("fedcba9876543210")
        assert found is not None
        assert found.key == key

    def test_link_keeps_a_tag_added_meanwhile(
        self, fake_azure: FakeAzure, tracker: AzureDevOpsTracker, fake_time: FakeTime
    ) -> None:
        """Someone tags the work item between our read and our write: the write's ``test
        /rev`` fails (412), the step is redone, and both tags stay."""
        key = tracker.create(draft()).key
        fake_azure.before(
            ITEM, lambda: fake_azure.add_tag(int(key), "needs-triage"), method="PATCH"
        )
        tracker.link_signature(key, "fedcba9876543210")
        assert fake_azure.tags(int(key)) == [
            f"errsig-{SIG}",
            "errsig-fedcba9876543210",
            "needs-triage",
        ]
        assert fake_azure.count("PATCH") == 2
        assert fake_time.sleeps == [0.5]


class TestServerVersions:
    def test_server_2020_with_api_6_0(self, fake_time: FakeTime) -> None:
        """Azure DevOps Server 2020 speaks 6.0: every call uses it, comments as 6.0-preview.3."""
        with FakeAzure(max_api_version="6.0") as fake:
            tracker = make_tracker(fake, fake_time, api_version="6.0")
            key = tracker.create(draft()).key
            tracker.update_occurrences(key, OccurrenceUpdate(2, 1, WALL))
            assert tracker.find(SIG) == tracker.get(key)
            versions = {(r.path, r.query["api-version"]) for r in fake.requests}
            assert (f"Cases/_apis/wit/workitems/{key}/comments", "6.0-preview.3") in versions
            assert {v for p, v in versions if not p.endswith("comments")} == {"6.0"}

    def test_api_version_newer_than_the_server_is_refused(self, fake_time: FakeTime) -> None:
        """7.1 against Server 2020 is a configuration error, not an outage."""
        with FakeAzure(max_api_version="6.0") as fake:
            tracker = make_tracker(fake, fake_time)
            with pytest.raises(TrackerError, match="out of range") as err:
                tracker.find("x")
            assert not isinstance(err.value, RetryableError)


class TestOutbox:
    def test_lost_create_response_files_exactly_one_work_item(
        self, store: Store, fake_azure: FakeAzure, fake_time: FakeTime, later: datetime
    ) -> None:
        """The real outbox: the create lands but its answer is lost; the next round finds the
        work item by its tag instead of filing a second one."""
        tracker = make_tracker(fake_azure, fake_time)
        store.record([make_outcome("<0@x>")])
        fake_azure.drop(CREATE, method="POST")
        assert run_effects(store, tracker, later) == 0
        assert len(fake_azure.work_items) == 1
        assert run_effects(store, tracker, later + timedelta(hours=2)) == 1
        [defect] = store.defects()
        assert defect.key == "1"
        assert fake_azure.count("POST", CREATE) == 1
        assert list(fake_azure.work_items) == [1]
        assert f"errsig-{SIG_A}" in fake_azure.tags(1)
        assert run_effects(store, tracker, later + timedelta(hours=3)) == 1  # the total, once
        assert len(fake_azure.comments[1]) == 1

    def test_hundred_mails_one_create_one_comment(
        self, store: Store, fake_azure: FakeAzure, fake_time: FakeTime, later: datetime
    ) -> None:
        """100 mails of one bug in 5 batches after the first: one create, then ONE comment."""
        tracker = make_tracker(fake_azure, fake_time)
        store.record([make_outcome("<0@x>")])
        assert run_effects(store, tracker, later) == 1
        for batch in range(5):
            store.record([make_outcome(f"<{batch}-{i}@x>") for i in range(20)])
        assert run_effects(store, tracker, later) == 1
        assert fake_azure.count("POST", CREATE) == 1
        assert fake_azure.count("POST", COMMENTS) == 1
        [comment] = fake_azure.comments[1]
        assert comment["text"].startswith("100 new occurrences (total 101)")
        assert fake_azure.work_items[1]["fields"]["Microsoft.VSTS.Common.Priority"] == 2  # High
        assert run_effects(store, tracker, later) == 0


def _http_error(status: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = "https://dev.azure.com/acme/Cases/_apis/wit/wiql?api-version=7.1"
    response.headers.update(headers or {})
    return requests.HTTPError(f"{status}", response=response)


MAPPING: list[tuple[Exception, type[TrackerError]]] = [
    (_http_error(429), HttpUnavailable),
    (_http_error(412), HttpUnavailable),
    (_http_error(500), HttpUnavailable),
    (_http_error(503), HttpUnavailable),
    (_http_error(400), TrackerError),
    (_http_error(401), TrackerError),
    (_http_error(404), TrackerError),
    (requests.HTTPError("no response"), TrackerError),
]


class TestErrorMapping:
    @pytest.mark.parametrize(("foreign", "ours"), MAPPING)
    def test_mapping_table(self, foreign: Exception, ours: type[TrackerError]) -> None:
        """Each foreign error becomes the tracker error of its layer, chained."""
        with pytest.raises(TrackerError) as err, map_azure_devops_errors():
            raise foreign
        assert type(err.value) is ours
        assert err.value.__cause__ is foreign
        assert isinstance(err.value, RetryableError) == (ours is not TrackerError)

    def test_retry_after_and_message_reach_the_error(self) -> None:
        """Azure DevOps' error JSON names the problem; Retry-After reaches the retry loop."""
        error = _http_error(429, {"Retry-After": "12", "Content-Type": "application/json"})
        assert error.response is not None
        error.response._content = b'{"message": "TF400733: throttled", "typeKey": "Blocked"}'
        with pytest.raises(HttpUnavailable) as err, map_azure_devops_errors():
            raise error
        assert err.value.retry_after == 12.0
        assert str(err.value) == (
            "Azure DevOps answered 429 for /acme/Cases/_apis/wit/wiql: "
            "TF400733: throttled (Blocked)"
        )


TABLE = {"url": "https://dev.azure.com/acme", "project": "Cases", "token_env": "ADO_PAT"}


class TestSettings:
    def test_read_from_the_config(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """``[tracker.azure_devops]`` through the registry: defaults, the secret, lower-cased
        priority names, paths relative to the config file."""
        monkeypatch.setenv("ADO_PAT", "pat-from-env")
        table = {
            **TABLE,
            "api_version": "6.0",
            "area_path": "Cases\\Checkout",
            "priorities": {"Blocker": "1"},
            "ca_file": "certs/ca.pem",
        }
        data = {"tracker": {"kind": "azure_devops", "azure_devops": table}}
        config = config_from_dict(data, tmp_path / "triagebot.toml")
        found = configured(config.tracker, config.base_dir)
        s = found.settings
        assert isinstance(s, AzureDevOpsSettings)
        assert (s.api_version, s.comments_api_version) == ("6.0", "6.0-preview.3")
        assert (s.work_item_type, s.reopen_state, s.tag_prefix) == ("Bug", "Active", "errsig-")
        assert s.priorities == {"blocker": "1"}
        assert s.ca_file == tmp_path / "certs/ca.pem"
        assert s.secret == "pat-from-env"
        assert "pat-from-env" not in repr(s)
        assert found.describe() == "azure_devops: https://dev.azure.com/acme project Cases (Bug)"
        assert found.url("AB#5") == "https://dev.azure.com/acme/Cases/_workitems/edit/5"
        assert (found.key("AB#5"), found.key("5"), found.key("C-41")) == ("5", "5", None)

    def test_built_with_the_context_clock(self, fake_azure: FakeAzure, tmp_path: Path) -> None:
        """The factory reads Retry-After dates with ``context.clock``: a date that is now by
        that clock means no wait (by the system's clock it is decades away: given up)."""
        far = ManualClock(datetime(2100, 1, 1, tzinfo=UTC))
        store = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=far)
        (tmp_path / "ado.pat").write_text("pat-secret\n", encoding="utf-8")
        table = {"url": fake_azure.url, "project": "Cases", "token_file": "ado.pat"}
        data = {"tracker": {"kind": "azure_devops", "azure_devops": table}}
        config = config_from_dict(data, tmp_path / "triagebot.toml")
        tracker = configured(config.tracker, config.base_dir).build(TrackerContext(store, far))
        assert isinstance(tracker, AzureDevOpsTracker)
        fake_azure.fail(WIQL, 429, retry_at=far.now)
        assert tracker.find("x") is None
        assert fake_azure.count("POST", WIQL) == 2

    @pytest.mark.parametrize(
        ("extra", "key"),
        [
            ({"url": "ftp://dev.azure.com/acme"}, "url"),
            ({"url": "http://tfs.acme.example/DefaultCollection"}, "url"),
            ({"project": ""}, "project"),
            ({"api_version": "7"}, "api_version"),
            ({"api_version": "5.0"}, "api_version"),
            ({"priorities": {"high": "9"}}, "priorities"),
            ({"priorities": {"high": 1}}, "priorities"),
            ({"tag_prefix": "err;sig-"}, "tag_prefix"),
            ({"reopen_state": ""}, "reopen_state"),
            ({"duplicate_state": ""}, "duplicate_state"),
            ({"undo_state": ""}, "undo_state"),
            ({"deadline": 0}, "deadline"),
            ({"verify": "yes"}, "verify"),
            ({"organisation": "acme"}, "organisation"),
            ({"token": "inline"}, "token"),
        ],
    )
    def test_invalid_settings_name_the_key(
        self, extra: dict[str, object], key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each mistake is a ``ConfigError`` naming ``[tracker.azure_devops].<key>``."""
        monkeypatch.setenv("ADO_PAT", "pat")
        data = {"tracker": {"kind": "azure_devops", "azure_devops": {**TABLE, **extra}}}
        config = config_from_dict(data)
        with pytest.raises(ConfigError, match=rf"^\[tracker\.azure_devops\]\.{key}: "):
            configured(config.tracker, config.base_dir)

    def test_missing_token_names_the_key(self) -> None:
        """Without a PAT the error names ``token_env``."""
        table = {k: v for k, v in TABLE.items() if k != "token_env"}
        config = config_from_dict({"tracker": {"kind": "azure_devops", "azure_devops": table}})
        with pytest.raises(ConfigError, match=r"^\[tracker\.azure_devops\]\.token_env: "):
            configured(config.tracker, config.base_dir)
