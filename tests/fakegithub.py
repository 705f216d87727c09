"""A stateful fake of GitHub's REST API, served over real HTTP for the real PyGithub client.

It follows GitHub's published REST API closely enough that the adapter cannot tell it from one
repository on github.com (or on Enterprise Server, with ``prefix="/api/v3"``): issues with the
open/closed workflow and ``state_reason``, labels (created on first use, ``already_exists``
on a second create), comments, the search API with an index that can lag behind, ``Link``
header pagination, rate-limit headers, error JSON (``{"message", "documentation_url"}``, 422
with ``errors``), 401 for a bad token, and GitHub App installation tokens minted for a JWT
(whose signature is not checked). Scripted faults (``tests.fakehttp``): any status (429/503,
a secondary rate limit with ``Retry-After``, a primary one with ``X-RateLimit-Reset`` from
``rate_limit``), latency, and a connection dropped after the request was applied. Tests read
``issues``, ``labels``, ``comments`` and ``requests`` directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode

from tests.fakehttp import Call, FakeServer, Fault, Json, Response, Route, Routes

TITLE_LIMIT = 256
BODY_LIMIT = 65_536
LABEL_LIMIT = 50
PAGE_DEFAULT = 30
PAGE_MAX = 100
RATE_LIMIT = 5_000
DOCS = "https://docs.github.com/rest"
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for installation ID 42."
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def error(status: int, message: str, **extra: Any) -> Response:
    """GitHub's error JSON."""
    return Response(status, {"message": message, "documentation_url": DOCS, **extra})


def _invalid(resource: str, field_name: str, code: str, message: str = "") -> Response:
    detail = {"resource": resource, "field": field_name, "code": code}
    if message:
        detail["message"] = message
    return error(422, "Validation Failed", errors=[detail])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the server -----------------------------------------------------------------------------


class FakeGitHub(FakeServer):
    """One repository (``owner/name``) on a small GitHub at 127.0.0.1.

    ``prefix``: ``""`` as on api.github.com, ``"/api/v3"`` as on Enterprise Server.
    ``tokens``: accepted personal access tokens; ``installations``: GitHub App installation
    ids that ``app_id`` may mint tokens for.
    """

    def __init__(
        self,
        repository: str = "acme/cases",
        *,
        prefix: str = "",
        tokens: frozenset[str] = frozenset({"ghp_test"}),
        app_id: int = 1234,
        installations: frozenset[int] = frozenset({42}),
        users: frozenset[str] = frozenset({"octocat", "hubot"}),
    ) -> None:
        super().__init__(prefix + "/", _route)
        self.repository = repository
        self.prefix = prefix
        self.tokens = set(tokens)
        self.app_id = app_id
        self.installations = installations
        self.users = users
        self.issues: dict[int, Json] = {}  # by number; pull requests share the numbering
        self.labels: dict[str, Json] = {}  # by lower-cased name
        self.comments: dict[int, list[Json]] = {}
        self.minted: list[str] = []  # installation tokens handed out
        #: Items per page at most, below GitHub's own cap of 100 (tests of paging).
        self.page_limit: int | None = None
        #: When set, new issues stay out of search results until ``reindex()``.
        self.search_lag = False
        self._unindexed: set[int] = set()
        self._next_id = 1_000
        self._remaining = RATE_LIMIT
        self.web_url = self.origin
        #: What ``base_url`` is set to.
        self.url = self.web_url + prefix

    # -- scripting and inspection -----------------------------------------------------------
    def rate_limit(
        self, path: str, reset: int, status: int = 403, *, times: int = 1, method: str | None = None
    ) -> None:
        """The next ``times`` requests matching ``path`` meet a spent primary rate limit:
        ``status`` with Remaining 0 until ``reset`` (epoch seconds). ``fail`` with 403 or 429
        is a secondary limit (with ``retry_after``, if given)."""
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        self._add(Fault(re.compile(path), method, times, status, headers))

    def add_issue(
        self, title: str, labels: tuple[str, ...] = (), *, pull_request: bool = False
    ) -> int:
        """Seed an issue (or a pull request) directly, as if filed by someone else."""
        with self._lock:
            return int(self._create(title, "", list(labels), [], pull_request)["number"])

    def close(self, number: int, reason: str = "completed") -> None:
        with self._lock:
            self._set_state(self.issues[number], "closed", reason)

    def delete(self, number: int) -> None:
        """Delete an issue: GitHub answers 410 Gone for it from then on."""
        with self._lock:
            self.issues[number]["deleted"] = True

    def remove_label(self, number: int, name: str) -> None:
        with self._lock:
            self.issues[number]["labels"].remove(name)

    def reindex(self) -> None:
        """The search index catches up with every issue."""
        with self._lock:
            self._unindexed.clear()

    def issue(self, number: int) -> Json:
        """An issue as the API shows it."""
        with self._lock:
            return self._view(self.issues[number])

    def bodies(self, number: int) -> list[str]:
        """The comments of an issue, oldest first."""
        with self._lock:
            return [c["body"] for c in self.comments.get(number, [])]

    # -- GitHub's answers -------------------------------------------------------------------
    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        if "X-RateLimit-Reset" in fault.headers:
            return error(status, PRIMARY_LIMIT_MESSAGE)
        if status in (403, 429):
            return error(status, SECONDARY_LIMIT_MESSAGE)
        return error(
            status, "Service Unavailable" if status == 503 else f"Fault {status} injected."
        )

    def finish(self, response: Response) -> Response:
        """Every answer carries the rate-limit headers, and each one spends a request."""
        with self._lock:
            self._remaining = max(0, self._remaining - 1)
            rate = {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": str(self._remaining),
                "X-RateLimit-Used": str(RATE_LIMIT - self._remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 3_600),
                "X-RateLimit-Resource": "core",
            }
        response.headers = {**rate, **response.headers}
        return response

    def serve(self, route: Route[Any], call: Call) -> Response:
        denied = self._authorise(route.tag, call.headers.get("Authorization", ""))
        if denied is not None:
            return denied
        if (
            "repo" in call.match.groupdict()
            and call.match["repo"].lower() != self.repository.lower()
        ):
            return error(404, "Not Found")
        return super().serve(route, call)

    def bad_request(self, exc: Exception) -> Response:
        return error(400, f"Problems parsing JSON: {exc}")

    def not_found(self, method: str, path: str) -> Response:
        return error(404, "Not Found")

    def _authorise(self, kind: str, header: str) -> Response | None:
        scheme, _, value = header.partition(" ")
        if kind == "jwt":
            if scheme != "Bearer" or not _valid_jwt(value, self.app_id):
                return error(401, "A JSON web token could not be decoded")
            return None
        if scheme.lower() not in ("token", "bearer") or not value:
            return error(401, "Requires authentication")
        if value not in self.tokens:
            return error(401, "Bad credentials")
        return None

    # -- state helpers ----------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return f"{self.url}/{path}"

    def _repo_api(self) -> str:
        return self._api(f"repos/{self.repository}")

    def _label(self, name: str) -> Json:
        """The label ``name``, created with GitHub's default colour when it is new."""
        found = self.labels.get(name.lower())
        if found is None:
            self._next_id += 1
            found = {
                "id": self._next_id,
                "node_id": f"LA_{self._next_id}",
                "url": f"{self._repo_api()}/labels/{quote(name)}",
                "name": name,
                "color": "ededed",
                "default": False,
                "description": None,
            }
            self.labels[name.lower()] = found
        return found

    def _create(
        self, title: str, body: str, labels: list[str], assignees: list[str], pr: bool = False
    ) -> Json:
        self._next_id += 1
        number = len(self.issues) + 1
        names = list(dict.fromkeys(self._label(n)["name"] for n in labels))
        now = _now()
        issue: Json = {
            "id": self._next_id,
            "number": number,
            "title": title,
            "body": body or None,
            "labels": names,
            "assignees": assignees,
            "state": "open",
            "state_reason": None,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "pull_request": pr,
            "deleted": False,
        }
        self.issues[number] = issue
        self.comments[number] = []
        if self.search_lag:
            self._unindexed.add(number)
        return issue

    def _set_state(self, issue: Json, state: str, reason: str | None) -> None:
        if state == "closed":
            issue["state_reason"] = reason or "completed"
            if issue["state"] != "closed":
                issue["closed_at"] = _now()
        elif issue["state"] == "closed":
            issue["state_reason"] = "reopened"
            issue["closed_at"] = None
        issue["state"] = state
        issue["updated_at"] = _now()

    def _user(self, login: str) -> Json:
        return {"login": login, "id": sum(map(ord, login)), "type": "User"}

    def _view(self, issue: Json) -> Json:
        """The issue's JSON, as GitHub's REST API shows it."""
        number = issue["number"]
        api = f"{self._repo_api()}/issues/{number}"
        kind = "pull" if issue["pull_request"] else "issues"
        view: Json = {
            "url": api,
            "repository_url": self._repo_api(),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.web_url}/{self.repository}/{kind}/{number}",
            "id": issue["id"],
            "node_id": f"I_{issue['id']}",
            "number": number,
            "title": issue["title"],
            "user": self._user("triagebot"),
            "labels": [self.labels[n.lower()] for n in issue["labels"]],
            "state": issue["state"],
            "state_reason": issue["state_reason"],
            "locked": False,
            "assignee": self._user(issue["assignees"][0]) if issue["assignees"] else None,
            "assignees": [self._user(a) for a in issue["assignees"]],
            "milestone": None,
            "comments": len(self.comments[number]),
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
            "author_association": "OWNER",
            "body": issue["body"],
        }
        if issue["pull_request"]:
            view["pull_request"] = {
                "url": f"{self._repo_api()}/pulls/{number}",
                "html_url": view["html_url"],
            }
        return view

    def _found(self, call: Call) -> Json | Response:
        """The issue the path names, or GitHub's 404/410."""
        issue = self.issues.get(int(call.match["number"]))
        if issue is None:
            return error(404, "Not Found")
        if issue["deleted"]:
            return error(410, "This issue was deleted")
        return issue

    def _page(self, call: Call, items: list[Json], wrap: Callable[[list[Json]], Any]) -> Response:
        """One page of ``items`` with GitHub's ``Link`` header (first/prev/next/last)."""
        per_page = min(int(call.param("per_page", str(PAGE_DEFAULT))), PAGE_MAX)
        per_page = max(1, min(per_page, self.page_limit or PAGE_MAX))
        page = max(1, int(call.param("page", "1")))
        last = max(1, -(-len(items) // per_page))
        start = (page - 1) * per_page
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                query = urlencode({**call.query, "page": [str(target)]}, doseq=True)
                links.append(f'<{self._api(call.path)}?{query}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, wrap(items[start : start + per_page]), headers)

    def _validate(self, data: Json, *, creating: bool) -> Response | None:
        title = data.get("title")
        if creating and (not isinstance(title, str) or not title.strip()):
            return _invalid("Issue", "title", "missing_field")
        if isinstance(title, str) and len(title) > TITLE_LIMIT:
            return _invalid(
                "Issue", "title", "custom", "title is too long (maximum is 256 characters)"
            )
        body = data.get("body")
        if isinstance(body, str) and len(body) > BODY_LIMIT:
            return _invalid(
                "Issue", "body", "custom", "body is too long (maximum is 65536 characters)"
            )
        for name in data.get("labels") or ():
            if not isinstance(name, str) or not name.strip() or len(name) > LABEL_LIMIT:
                return _invalid("Label", "name", "invalid")
        for login in _assignees(data):
            if login not in self.users:
                return _invalid("Issue", "assignees", "invalid", f"{login} is not assignable")
        return None


def _assignees(data: Json) -> list[str]:
    logins = list(data.get("assignees") or ())
    if data.get("assignee"):
        logins.insert(0, data["assignee"])
    return list(dict.fromkeys(logins))


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _valid_jwt(token: str, app_id: int) -> bool:
    """A JWT of this app: its header and claims are read, the signature is not checked."""
    try:
        head, claims, signature = token.split(".")
        header, payload = _b64json(head), _b64json(claims)
    except (ValueError, binascii.Error):
        return False
    return (
        bool(signature)
        and header.get("alg") == "RS256"
        and str(payload.get("iss")) == str(app_id)
        and int(payload.get("exp", 0)) > int(payload.get("iat", 0))
    )


# --- routes ---------------------------------------------------------------------------------

_REPO = r"repos/(?P<repo>[^/]+/[^/]+)"
_ISSUE = _REPO + r"/issues/(?P<number>[0-9]+)"
_route: Routes[FakeGitHub] = Routes()


@_route("GET", _REPO, "token")
def _repo_get(fake: FakeGitHub, call: Call) -> Response:
    owner, name = fake.repository.split("/")
    return Response(
        200,
        {
            "id": 1,
            "name": name,
            "full_name": fake.repository,
            "owner": fake._user(owner),
            "private": True,
            "html_url": f"{fake.web_url}/{fake.repository}",
            "url": fake._repo_api(),
            "has_issues": True,
            "default_branch": "main",
        },
    )


@_route("GET", _REPO + "/issues", "token")
def _issues_list(fake: FakeGitHub, call: Call) -> Response:
    state = call.param("state", "open")
    if state not in ("open", "closed", "all"):
        return _invalid("Issue", "state", "invalid")
    wanted = {n.strip().lower() for n in call.param("labels").split(",") if n.strip()}
    hits = [
        i
        for i in fake.issues.values()
        if not i["deleted"]
        and state in ("all", i["state"])
        and wanted <= {n.lower() for n in i["labels"]}
    ]
    sort = call.param("sort", "created")
    if sort not in ("created", "updated", "comments"):
        return _invalid("Issue", "sort", "invalid")
    hits.sort(key=lambda i: (i[f"{sort}_at"] if sort != "comments" else 0, i["number"]))
    if call.param("direction", "desc") == "desc":
        hits.reverse()
    return fake._page(call, [fake._view(i) for i in hits], lambda page: page)


@_route("POST", _REPO + "/issues", "token")
def _issue_create(fake: FakeGitHub, call: Call) -> Response:
    data = call.json()
    if not isinstance(data, dict):
        return error(400, "Problems parsing JSON")
    refused = fake._validate(data, creating=True)
    if refused is not None:
        return refused
    issue = fake._create(
        data["title"], data.get("body") or "", list(data.get("labels") or ()), _assignees(data)
    )
    view = fake._view(issue)
    return Response(201, view, {"Location": view["url"]})


@_route("GET", _ISSUE, "token")
def _issue_get(fake: FakeGitHub, call: Call) -> Response:
    issue = fake._found(call)
    return issue if isinstance(issue, Response) else Response(200, fake._view(issue))


@_route("PATCH", _ISSUE, "token")
def _issue_edit(fake: FakeGitHub, call: Call) -> Response:
    issue = fake._found(call)
    if isinstance(issue, Response):
        return issue
    data = call.json()
    refused = fake._validate(data, creating=False)
    if refused is not None:
        return refused
    state = data.get("state")
    if state is not None and state not in ("open", "closed"):
        return _invalid("Issue", "state", "invalid")
    reason = data.get("state_reason")
    if reason is not None and reason not in ("completed", "not_planned", "duplicate", "reopened"):
        return _invalid("Issue", "state_reason", "invalid")
    for name in ("title", "body"):
        if name in data:
            issue[name] = data[name]
    if "labels" in data:
        issue["labels"] = [fake._label(n)["name"] for n in data["labels"]]
    if state is not None:
        fake._set_state(issue, state, reason)
    issue["updated_at"] = _now()
    return Response(200, fake._view(issue))


@_route("POST", _ISSUE + "/comments", "token")
def _comment_add(fake: FakeGitHub, call: Call) -> Response:
    issue = fake._found(call)
    if isinstance(issue, Response):
        return issue
    body = (call.json() or {}).get("body")
    if not isinstance(body, str) or not body.strip():
        return _invalid("IssueComment", "body", "missing_field")
    if len(body) > BODY_LIMIT:
        return _invalid(
            "IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)"
        )
    fake._next_id += 1
    number = issue["number"]
    comment: Json = {
        "id": fake._next_id,
        "url": f"{fake._repo_api()}/issues/comments/{fake._next_id}",
        "html_url": f"{fake.web_url}/{fake.repository}/issues/{number}"
        f"#issuecomment-{fake._next_id}",
        "issue_url": f"{fake._repo_api()}/issues/{number}",
        "user": fake._user("triagebot"),
        "body": body,
        "created_at": _now(),
        "updated_at": _now(),
        "author_association": "OWNER",
    }
    fake.comments[number].append(comment)
    issue["updated_at"] = _now()
    return Response(201, comment, {"Location": comment["url"]})


@_route("GET", _ISSUE + "/comments", "token")
def _comment_list(fake: FakeGitHub, call: Call) -> Response:
    issue = fake._found(call)
    if isinstance(issue, Response):
        return issue
    return fake._page(call, fake.comments[issue["number"]], lambda page: page)


@_route("POST", _ISSUE + "/labels", "token")
def _issue_labels_add(fake: FakeGitHub, call: Call) -> Response:
    """Accepts a bare array or ``{"labels": [...]}``; labels already there stay once."""
    issue = fake._found(call)
    if isinstance(issue, Response):
        return issue
    data = call.json()
    names = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(names, list) or not names:
        return _invalid("Label", "labels", "missing_field")
    refused = fake._validate({"labels": names}, creating=False)
    if refused is not None:
        return refused
    for name in names:
        label = fake._label(name)["name"]
        if label.lower() not in {n.lower() for n in issue["labels"]}:
            issue["labels"].append(label)
    issue["updated_at"] = _now()
    return Response(200, [fake.labels[n.lower()] for n in issue["labels"]])


@_route("GET", _REPO + "/labels", "token")
def _labels_list(fake: FakeGitHub, call: Call) -> Response:
    return fake._page(call, list(fake.labels.values()), lambda page: page)


@_route("GET", _REPO + r"/labels/(?P<name>[^/]+)", "token")
def _label_get(fake: FakeGitHub, call: Call) -> Response:
    label = fake.labels.get(unquote(call.match["name"]).lower())
    return Response(200, label) if label is not None else error(404, "Not Found")


@_route("POST", _REPO + "/labels", "token")
def _label_create(fake: FakeGitHub, call: Call) -> Response:
    data = call.json()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return _invalid("Label", "name", "missing_field")
    if len(name) > LABEL_LIMIT:
        return _invalid("Label", "name", "custom", "name is too long (maximum is 50 characters)")
    if len(data.get("description") or "") > 100:
        return _invalid(
            "Label", "description", "custom", "description is too long (maximum is 100 characters)"
        )
    color = str(data.get("color", "ededed")).removeprefix("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        return _invalid("Label", "color", "invalid")
    if name.lower() in fake.labels:
        return _invalid("Label", "name", "already_exists")
    label = fake._label(name)
    label["color"] = color.lower()
    label["description"] = data.get("description")
    return Response(201, label, {"Location": label["url"]})


_SEARCH_TERM = re.compile(r"(?P<key>[a-z]+):(?P<value>.+)")


@_route("GET", "search/issues", "token")
def _search(fake: FakeGitHub, call: Call) -> Response:
    """``repo:``, ``label:``, ``is:issue|pr|open|closed``, ``state:`` and words in titles."""
    try:
        terms = shlex.split(call.param("q"))
    except ValueError:
        return _invalid("Search", "q", "invalid")
    hits = [
        i for i in fake.issues.values() if not i["deleted"] and i["number"] not in fake._unindexed
    ]
    for term in terms:
        m = _SEARCH_TERM.fullmatch(term)
        key, value = (m["key"], m["value"].lower()) if m else ("", term.lower())
        if key == "repo" and value != fake.repository.lower():
            hits = []
        elif key == "label":
            hits = [i for i in hits if value in {n.lower() for n in i["labels"]}]
        elif (key, value) in (("is", "issue"), ("is", "pr")):
            hits = [i for i in hits if i["pull_request"] == (value == "pr")]
        elif key in ("is", "state"):
            hits = [i for i in hits if i["state"] == value]
        elif not key:
            hits = [i for i in hits if value in i["title"].lower()]
    hits.sort(key=lambda i: (i["created_at"], i["number"]))
    if call.param("order", "desc") == "desc":
        hits.reverse()
    items = [fake._view(i) for i in hits]
    return fake._page(
        call,
        items,
        lambda page: {"total_count": len(items), "incomplete_results": False, "items": page},
    )


@_route("POST", r"app/installations/(?P<installation>[0-9]+)/access_tokens", "jwt")
def _access_token(fake: FakeGitHub, call: Call) -> Response:
    if int(call.match["installation"]) not in fake.installations:
        return error(404, "Not Found")
    token = "ghs_" + secrets.token_hex(18)
    fake.tokens.add(token)
    fake.minted.append(token)
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Response(
        201,
        {
            "token": token,
            "expires_at": expires,
            "permissions": {"issues": "write", "metadata": "read"},
            "repository_selection": "selected",
        },
    )
