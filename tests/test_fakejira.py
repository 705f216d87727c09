"""Self-checks of the fake Jira, driven through the real ``jira`` client over HTTP."""

from __future__ import annotations

import io
import time

import pytest
import requests
from jira import JIRA, JIRAError

from tests.fakejira import FakeJira, JqlError, parse_jql

BUG = {"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}}


def client(fake: FakeJira) -> JIRA:
    if fake.deployment == "Cloud":
        return JIRA(fake.url, basic_auth=("bot@example.com", "api-token"), max_retries=0)
    return JIRA(fake.url, token_auth="pat-secret", max_retries=0)


def create(jira: JIRA, summary: str = "boom", **fields: object) -> str:
    key: str = jira.create_issue(fields={**BUG, "summary": summary, **fields}, prefetch=False).key
    return key


class TestIssues:
    def test_create_get_and_server_info(self, fake_jira: FakeJira) -> None:
        """An issue created through the client comes back with its fields and status Open."""
        jira = client(fake_jira)
        assert jira.deploymentType == "Cloud"
        key = create(jira, labels=["errsig-1"], priority={"name": "High"})
        issue = jira.issue(key)
        assert (issue.fields.summary, issue.fields.labels) == ("boom", ["errsig-1"])
        assert issue.fields.status.name == "Open"
        assert issue.fields.priority.name == "High"

    def test_limits_answer_jira_error_json(self, fake_jira: FakeJira) -> None:
        """Over-long summary and description are refused with Jira's error JSON."""
        jira = client(fake_jira)
        with pytest.raises(JIRAError) as err:
            create(jira, "s" * 256, description="d" * 32_768)
        assert err.value.status_code == 400
        body = err.value.response.json()
        assert body["errorMessages"] == []
        assert set(body["errors"]) == {"summary", "description"}
        assert fake_jira.issues == {}

    def test_missing_fields_and_bad_auth(self, fake_jira: FakeJira) -> None:
        """Required fields are checked, and wrong credentials are refused with 401."""
        with pytest.raises(JIRAError) as err:
            client(fake_jira).create_issue(
                fields={"project": {"key": "NOPE"}, "issuetype": {"name": "Epic"}, "summary": ""}
            )
        assert set(err.value.response.json()["errors"]) == {"project", "issuetype", "summary"}
        bad = JIRA(fake_jira.url, basic_auth=("bot@example.com", "wrong"), max_retries=0)
        with pytest.raises(JIRAError) as err:
            bad.issue("OPS-1")
        assert err.value.status_code == 401

    def test_labels_update_operations_and_comments(self, fake_jira: FakeJira) -> None:
        """PUT ``update`` adds and removes labels; comments are listed in order."""
        jira = client(fake_jira)
        key = create(jira, labels=["a", "b"])
        jira.issue(key).update(update={"labels": [{"add": "c"}, {"remove": "a"}]})
        jira.add_comment(key, "first")
        jira.add_comment(key, "second")
        assert fake_jira.issues[key]["fields"]["labels"] == ["b", "c"]
        assert [c.body for c in jira.comments(key)] == ["first", "second"]

    def test_workflow(self, fake_jira: FakeJira) -> None:
        """Open → In Progress → Resolved → Closed, Reopen from Closed; others are refused."""
        jira = client(fake_jira)
        key = create(jira)
        for name in ("Start Progress", "Resolve Issue", "Close Issue"):
            jira.transition_issue(key, name)
        assert jira.issue(key).fields.status.name == "Closed"
        assert [t["name"] for t in jira.transitions(key)] == ["Reopen"]
        jira.transition_issue(key, "Reopen")
        assert jira.issue(key).fields.status.name == "Reopened"
        with pytest.raises(JIRAError):
            jira.transition_issue(key, "3")  # Reopen is not offered from Reopened

    def test_attachment_needs_xsrf_header(self, fake_jira: FakeJira) -> None:
        """The client's multipart upload is stored; a request without the token gets 403."""
        jira = client(fake_jira)
        key = create(jira)
        jira.add_attachment(key, io.BytesIO(b"trace\n"), "trace.txt")
        assert fake_jira.attachments[key] == [("trace.txt", b"trace\n")]
        plain = requests.post(
            f"{fake_jira.url}/rest/api/2/issue/{key}/attachments",
            auth=("bot@example.com", "api-token"),
            files={"file": ("x.txt", b"x")},
            timeout=5,
        )
        assert plain.status_code == 403

    def test_issue_link(self, fake_jira: FakeJira) -> None:
        """A link is kept with its inward and outward issue."""
        jira = client(fake_jira)
        first, second = create(jira), create(jira)
        jira.create_issue_link("Duplicate", first, second)
        assert fake_jira.links[0]["inward"] == first
        assert fake_jira.links[0]["outward"] == second


class TestSearch:
    def test_cloud_pages_with_next_page_token(self, fake_jira: FakeJira) -> None:
        """Cloud search walks pages of ``search/jql``; the old ``search`` answers 410."""
        jira = client(fake_jira)
        keys = [create(jira, labels=["errsig-x"]) for _ in range(5)]
        found = jira.search_issues('labels = "errsig-x" ORDER BY created', maxResults=2)
        assert [i.key for i in found] == keys[:2]
        second = jira.enhanced_search_issues(
            'labels = "errsig-x" ORDER BY created', nextPageToken=found.nextPageToken, maxResults=2
        )
        assert [i.key for i in second] == keys[2:4]
        every = jira.search_issues("labels = errsig-x ORDER BY key DESC", maxResults=0)
        assert [i.key for i in every] == keys[::-1]
        assert fake_jira.count("GET", "search/jql") == 3
        assert fake_jira.count(path="search") == 0
        gone = requests.get(
            f"{fake_jira.url}/rest/api/2/search", auth=("bot@example.com", "api-token"), timeout=5
        )
        assert gone.status_code == 410

    @pytest.mark.parametrize("fake_jira", ["Server"], indirect=True)
    def test_data_center_pages_with_start_at(self, fake_jira: FakeJira) -> None:
        """Data Center search pages by ``startAt`` with a ``total``; ``search/jql`` is unused."""
        jira = client(fake_jira)
        keys = [create(jira, labels=["l"]) for _ in range(3)]
        page = jira.search_issues("project = OPS AND labels = l", startAt=1, maxResults=1)
        assert [i.key for i in page] == keys[1:2]
        assert page.total == 3
        assert fake_jira.count("GET", "search") == 1
        assert fake_jira.count(path="search/jql") == 0

    def test_jql_subset(self, fake_jira: FakeJira) -> None:
        """``=``, ``!=``, ``in``, ``not in`` joined by AND, with ORDER BY; other syntax is 400."""
        jira = client(fake_jira)
        a = create(jira, labels=["x", "y"])
        b = create(jira, labels=["y"])
        c = create(jira)

        def keys(jql: str) -> list[str]:
            return [i.key for i in jira.search_issues(jql)]

        assert keys(f"key in ({a}, {c}) ORDER BY created") == [a, c]
        assert keys('labels in ("x", z)') == [a]
        assert keys("project = OPS AND labels = y AND labels != x") == [b]
        assert keys("labels not in (x, y)") == [c]
        with pytest.raises(JIRAError) as err:
            jira.search_issues("summary ~ boom")
        assert err.value.status_code == 400

    @pytest.mark.parametrize(
        "jql", ["labels =", "labels in (a", "foo = 1", "labels = a ORDER created", "key < 3"]
    )
    def test_parser_rejects(self, jql: str) -> None:
        """JQL outside the subset is an error, never a wider query."""
        with pytest.raises(JqlError):
            parse_jql(jql)


class TestFaults:
    def test_429_with_retry_after_seconds_and_date(self, fake_jira: FakeJira) -> None:
        """Scripted faults answer in Jira's error JSON with Retry-After in seconds or as an
        HTTP date, in the order scripted, and are used up."""
        jira = client(fake_jira)
        fake_jira.fail("issue/.*", 429, retry_after=7)
        fake_jira.fail("issue/.*", 503, retry_after=30, as_date=True)
        for status in (429, 503):
            with pytest.raises(JIRAError) as err:
                jira.issue("OPS-1")
            assert err.value.status_code == status
            header = err.value.response.headers["Retry-After"]
            assert header == "7" if status == 429 else header.endswith("GMT")
        with pytest.raises(JIRAError) as err:
            jira.issue("OPS-1")
        assert err.value.status_code == 404  # faults are used up

    def test_drop_after_create_stores_the_issue(self, fake_jira: FakeJira) -> None:
        """The create is applied, then the connection closes without an answer."""
        jira = client(fake_jira)
        fake_jira.drop_after_create()
        with pytest.raises(requests.exceptions.ConnectionError):
            create(jira)
        assert list(fake_jira.issues) == ["OPS-1"]

    def test_latency_and_request_log(self, fake_jira: FakeJira) -> None:
        """A slow fault delays the answer; every request is logged with its time."""
        jira = client(fake_jira)
        fake_jira.slow("serverInfo", 0.2)
        started = time.monotonic()
        jira.server_info()
        assert time.monotonic() - started >= 0.2
        assert fake_jira.count("GET", "serverInfo") == 2  # construction + explicit call
        assert all(r.at <= time.monotonic() for r in fake_jira.requests)

    def test_cleared_faults_are_not_served(self, fake_jira: FakeJira) -> None:
        """``clear_faults``: Jira is healthy again, whatever was still scripted."""
        jira = client(fake_jira)
        fake_jira.fail("serverInfo", 503, times=10)
        fake_jira.clear_faults()
        assert jira.server_info()["deploymentType"] == "Cloud"
