"""A stateful fake of Jira's REST API v2, served over real HTTP for the real ``jira`` client.

It follows Atlassian's documented behaviour closely enough that the adapter cannot tell it from a
small Jira: Cloud (``search/jql`` with ``nextPageToken``; the old ``search`` answers 410) or
Data Center (``search`` with ``startAt``), a small workflow, field limits with Jira's error JSON,
XSRF-checked attachments, comments with entity properties (set on create, read with
``expand=properties``, listed with ``orderBy``), issue links as each issue shows them
(``inwardIssue``/``outwardIssue``), a search index that can lag behind creates
(``search_lag``, as on Cloud), and scripted faults (``tests.fakehttp``: 429/503 with
Retry-After, latency, a connection dropped after the request was applied). Tests read
``issues`` and ``requests`` directly.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakehttp import Call, FakeServer, Fault, Json, Response, Route, Routes

API = "/rest/api/2/"
SUMMARY_LIMIT = 255
TEXT_LIMIT = 32_767
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
ISSUE_TYPES = {"Bug": "1", "Task": "3", "Story": "10001"}
CUSTOM_FIELDS = {"customfield_10050": "Occurrences", "customfield_10051": "Last seen"}

# Workflow: status name -> id, and transitions (id, name, from statuses, to status).
STATUSES = {"Open": "1", "In Progress": "3", "Reopened": "4", "Resolved": "5", "Closed": "6"}
DONE = frozenset({"Resolved", "Closed"})
TRANSITIONS = (
    ("4", "Start Progress", frozenset({"Open", "Reopened"}), "In Progress"),
    ("5", "Resolve Issue", frozenset({"Open", "In Progress", "Reopened"}), "Resolved"),
    ("2", "Close Issue", frozenset({"Open", "In Progress", "Reopened", "Resolved"}), "Closed"),
    ("3", "Reopen", DONE, "Reopened"),
)


class JqlError(ValueError):
    """The query uses syntax outside the subset the fake understands."""


def _error(status: int, messages: tuple[str, ...] = (), **errors: str) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": errors})


# --- JQL subset: clauses joined by AND, then an optional ORDER BY ----------------------------

_JQL_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|=|\(|\)|,)|(?P<word>[A-Za-z0-9_.\-]+))'
)
_JQL_FIELDS = frozenset({"project", "labels", "key", "issuekey", "status", "issuetype"})


def _jql_tokens(jql: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    jql = jql.rstrip()
    while pos < len(jql):
        m = _JQL_TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        pos = m.end()
        if m["str"] is not None:
            tokens.append("\0" + re.sub(r"\\(.)", r"\1", m["str"][1:-1]))
        else:
            tokens.append(m["op"] or m["word"])
    return tokens


@dataclass(frozen=True, slots=True)
class Query:
    clauses: tuple[tuple[str, bool, frozenset[str]], ...]  # field, negated, values (lowered)
    order_by: str = "created"
    descending: bool = False

    def matches(self, issue: Json) -> bool:
        return all(
            bool(_field_values(issue, name) & values) != negated
            for name, negated, values in self.clauses
        )


def _field_values(issue: Json, name: str) -> set[str]:
    fields = issue["fields"]
    if name == "labels":
        return {label.lower() for label in fields["labels"]}
    if name in ("key", "issuekey"):
        return {issue["key"].lower(), issue["id"]}
    if name == "project":
        return {fields["project"]["key"].lower(), fields["project"]["id"]}
    return {fields[name]["name"].lower()}


def parse_jql(jql: str) -> Query:
    """Parse ``f = v``, ``f != v``, ``f [not] in (..)`` joined by AND, then ORDER BY."""
    try:
        return _parse_tokens(_jql_tokens(jql))
    except IndexError:
        raise JqlError("Error in the JQL Query: the query ended unexpectedly.") from None


def _jql_value(tok: str) -> str:
    if tok in ("(", ")", ",", "=", "!="):
        raise JqlError(f"Error in the JQL Query: expected a value but got '{tok}'.")
    return tok.removeprefix("\0").lower()


def _parse_tokens(tokens: list[str]) -> Query:
    clauses: list[tuple[str, bool, frozenset[str]]] = []
    i = 0
    while i < len(tokens) and tokens[i].lower() != "order":
        name = tokens[i].lower()
        if name not in _JQL_FIELDS:
            raise JqlError(f"Field '{tokens[i]}' does not exist or is not supported.")
        op = tokens[i + 1].lower()
        if op in ("=", "!="):
            values = frozenset({_jql_value(tokens[i + 2])})
            i += 3
        elif op == "in" or (op == "not" and tokens[i + 2].lower() == "in"):
            i += 2 if op == "in" else 3
            if tokens[i] != "(":
                raise JqlError("Error in the JQL Query: expected '(' after 'in'.")
            items: set[str] = set()
            i += 1
            while tokens[i] != ")":
                items.add(_jql_value(tokens[i]))
                i += 2 if tokens[i + 1] == "," else 1
            values = frozenset(items)
            i += 1
        else:
            raise JqlError(f"Error in the JQL Query: unsupported operator '{op}'.")
        clauses.append((name, op in ("!=", "not"), values))
        if i < len(tokens) and tokens[i].lower() == "and":
            i += 1
    if i == len(tokens):
        return Query(tuple(clauses))
    if tokens[i + 1].lower() != "by":
        raise JqlError("Error in the JQL Query: expected 'BY' after 'ORDER'.")
    order_by = tokens[i + 2].lower()
    if order_by not in ("created", "key", "updated"):
        raise JqlError(f"Error in the JQL Query: cannot order by '{order_by}'.")
    rest = [t.lower() for t in tokens[i + 3 :]]
    if rest not in ([], ["asc"], ["desc"]):
        raise JqlError(f"Error in the JQL Query: unexpected '{' '.join(rest)}'.")
    return Query(tuple(clauses), order_by, rest == ["desc"])


# --- the server -----------------------------------------------------------------------------


class FakeJira(FakeServer):
    """A small Jira instance on 127.0.0.1 (``deployment``: ``"Cloud"`` or ``"Server"``)."""

    content_type = "application/json;charset=UTF-8"

    def __init__(
        self,
        deployment: str = "Cloud",
        *,
        users: dict[str, str] | None = None,
        bearer_tokens: frozenset[str] = frozenset({"pat-secret"}),
        projects: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__(API, _route)
        self.deployment = deployment
        self.users = users if users is not None else {"bot@example.com": "api-token"}
        self.bearer_tokens = bearer_tokens
        self.projects = projects if projects is not None else {"OPS": ("Client", "Server")}
        self.issues: dict[str, Json] = {}  # by key
        self.attachments: dict[str, list[tuple[str, bytes]]] = {}  # key -> (filename, content)
        self.links: list[Json] = []
        #: Issues per search page at most, below each deployment's own cap (tests of paging).
        self.page_limit: int | None = None
        #: When set, new issues stay out of search results until ``reindex()``.
        self.search_lag = False
        self._unindexed: set[str] = set()
        self._next_id = 10_000
        self._counters: dict[str, int] = {}
        self.url = self.origin

    # -- scripting and inspection -----------------------------------------------------------
    def drop_after_create(self, times: int = 1) -> None:
        """The next issue creates are applied, then their connections close unanswered."""
        self.drop("issue", method="POST", times=times)

    def add_issue(self, summary: str, labels: tuple[str, ...] = (), project: str = "OPS") -> str:
        """Seed an issue directly (as if filed by someone else)."""
        fields = {"project": {"key": project}, "issuetype": {"name": "Bug"}, "summary": summary}
        with self._lock:
            key: str = self._create({**fields, "labels": list(labels)})["key"]
        return key

    def reindex(self) -> None:
        """The search index catches up with every issue."""
        with self._lock:
            self._unindexed.clear()

    def comments(self, key: str) -> list[str]:
        """The bodies of an issue's comments, oldest first."""
        with self._lock:
            return [c["body"] for c in self.issues[key]["fields"]["comment"]["comments"]]

    def set_status(self, key: str, status: str) -> None:
        with self._lock:
            self._apply_status(self.issues[key], status)

    # -- Jira's answers ---------------------------------------------------------------------
    def fault_response(self, fault: Fault) -> Response:
        return _error(fault.status or 500, (f"Fault {fault.status} injected.",))

    def serve(self, route: Route[Any], call: Call) -> Response:
        if route.tag != "public" and not self._authorised(call.headers.get("Authorization", "")):
            return _error(401, ("You are not authenticated. Authentication required.",))
        return super().serve(route, call)

    def bad_request(self, exc: Exception) -> Response:
        return _error(400, (f"Bad request: {exc}",))

    def not_found(self, method: str, path: str) -> Response:
        return _error(404, (f"No route for {method} {path}.",))

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value in self.bearer_tokens
        if scheme == "Basic":
            user, _, secret = base64.b64decode(value).decode().partition(":")
            return self.users.get(user) == secret
        return False

    # -- state helpers ----------------------------------------------------------------------
    def _issue(self, ref: str) -> Json | None:
        if ref in self.issues:
            return self.issues[ref]
        return next((i for i in self.issues.values() if i["id"] == ref), None)

    def _apply_status(self, issue: Json, status: str) -> None:
        fields = issue["fields"]
        fields["status"] = _status(status)
        fields["resolution"] = {"name": "Fixed"} if status in DONE else None
        fields["updated"] = _now()

    def _validate(self, fields: Json, *, creating: bool) -> dict[str, str]:
        errors: dict[str, str] = {}
        if creating:
            project = fields.get("project") or {}
            if (project.get("key") or self._project_key(project.get("id"))) not in self.projects:
                errors["project"] = "valid project is required"
            itype = fields.get("issuetype") or {}
            if itype.get("name") not in ISSUE_TYPES and itype.get("id") not in ISSUE_TYPES.values():
                errors["issuetype"] = "valid issue type is required"
            if not str(fields.get("summary") or "").strip():
                errors["summary"] = "You must specify a summary of the issue."
        summary = fields.get("summary")
        if isinstance(summary, str) and len(summary) > SUMMARY_LIMIT:
            errors["summary"] = "Summary must be less than 255 characters."
        if isinstance(summary, str) and "\n" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        description = fields.get("description")
        if isinstance(description, str) and len(description) > TEXT_LIMIT:
            errors["description"] = (
                "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
            )
        for label in fields.get("labels") or ():
            if not label or any(c.isspace() for c in label) or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        priority = fields.get("priority")
        if priority is not None and priority.get("name") not in PRIORITIES:
            errors["priority"] = f"The priority selected is invalid: {priority.get('name')}."
        for known in ("components",):
            for comp in fields.get(known) or ():
                if comp.get("name") not in self._components(fields):
                    errors[known] = f"Component name '{comp.get('name')}' is not valid"
        for name in fields:
            if name not in _SETTABLE and name not in CUSTOM_FIELDS:
                errors[name] = f"Field '{name}' cannot be set. It is not on the screen, or unknown."
        return errors

    def _components(self, fields: Json) -> tuple[str, ...]:
        project = fields.get("project") or {}
        key = project.get("key") or self._project_key(project.get("id"))
        return self.projects.get(key or "", ())

    def _project_key(self, project_id: str | None) -> str | None:
        return next((k for i, k in enumerate(self.projects) if str(10_000 + i) == project_id), None)

    def _create(self, fields: Json) -> Json:
        project = fields["project"].get("key") or self._project_key(fields["project"].get("id"))
        assert project is not None
        self._counters[project] = self._counters.get(project, 0) + 1
        self._next_id += 1
        key, issue_id = f"{project}-{self._counters[project]}", str(self._next_id)
        itype = fields["issuetype"]
        type_name = itype.get("name") or next(n for n, i in ISSUE_TYPES.items() if i == itype["id"])
        now = _now()
        issue: Json = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}{API}issue/{issue_id}",
            "fields": {
                "summary": fields["summary"],
                "description": fields.get("description"),
                "labels": list(fields.get("labels") or ()),
                "project": _project(project, list(self.projects).index(project), self.url),
                "issuetype": {"name": type_name, "id": ISSUE_TYPES[type_name]},
                "priority": fields.get("priority") or {"name": "Medium"},
                "components": [{"name": c["name"]} for c in fields.get("components") or ()],
                "assignee": fields.get("assignee"),
                "created": now,
                "updated": now,
                "comment": {"comments": [], "total": 0, "maxResults": 0, "startAt": 0},
                "attachment": [],
                "issuelinks": [],
                **{k: v for k, v in fields.items() if k in CUSTOM_FIELDS},
            },
        }
        self._apply_status(issue, "Open")
        self.issues[key] = issue
        if self.search_lag:
            self._unindexed.add(key)
        return issue

    def _search(self, jql: str, fields: list[str] | None, validate: bool = True) -> list[Json]:
        """Like Jira, a ``key`` naming an issue that does not exist fails the whole query
        unless validation is off (Data Center's ``validateQuery=false``)."""
        query = parse_jql(jql)
        if validate:
            known = {k.lower() for k in self.issues} | {i["id"] for i in self.issues.values()}
            for name, _negated, values in query.clauses:
                missing = sorted(values - known) if name in ("key", "issuekey") else []
                if missing:
                    raise JqlError(
                        f"An issue with key '{missing[0].upper()}' does not exist for field 'key'."
                    )
        hits = [
            i for i in self.issues.values() if i["key"] not in self._unindexed and query.matches(i)
        ]
        if query.order_by == "key":
            hits.sort(key=lambda i: int(i["id"]))
        else:
            hits.sort(key=lambda i: (i["fields"][query.order_by], int(i["id"])))
        if query.descending:
            hits.reverse()
        return [_view(i, fields) for i in hits]


# --- routes ---------------------------------------------------------------------------------

_ISSUE = r"issue/(?P<ref>[A-Z][A-Z0-9_]*-\d+|\d+)"
_route: Routes[FakeJira] = Routes()

_SETTABLE = frozenset(
    {
        "project", "issuetype", "summary", "description", "labels", "priority",
        "components", "assignee", "environment",
    }
)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _status(name: str) -> Json:
    category = "done" if name in DONE else "indeterminate" if name == "In Progress" else "new"
    return {"name": name, "id": STATUSES[name], "statusCategory": {"key": category}}


def _project(key: str, index: int, url: str) -> Json:
    pid = str(10_000 + index)
    return {"id": pid, "key": key, "name": f"Project {key}", "self": f"{url}{API}project/{pid}"}


def _view(issue: Json, fields: list[str] | None) -> Json:
    if not fields or "*all" in fields or "*navigable" in fields:
        return issue
    return {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in fields}}


def _fields_param(call: Call) -> list[str] | None:
    values = [f for v in call.query.get("fields", []) for f in v.split(",") if f]
    return values or None


def _object(call: Call) -> Json:
    """The body as a JSON object (empty when there is no body)."""
    data = call.json()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    return data


@_route("GET", "serverInfo", "public")
def _server_info(fake: FakeJira, call: Call) -> Response:
    cloud = fake.deployment == "Cloud"
    version = [1001, 0, 0] if cloud else [9, 12, 2]
    return Response(
        200,
        {
            "baseUrl": fake.url,
            "version": ".".join(map(str, version)),
            "versionNumbers": version,
            "deploymentType": fake.deployment,
            "buildNumber": 100_000,
            "serverTitle": "Fake Jira",
        },
    )


@_route("GET", "field")
def _fields(fake: FakeJira, call: Call) -> Response:
    system = [
        {"id": f, "name": f.title(), "custom": False, "clauseNames": [f]}
        for f in sorted(_SETTABLE | {"status", "resolution", "created", "updated", "comment"})
    ]
    custom = [
        {"id": fid, "name": name, "custom": True, "clauseNames": [f"cf[{fid[12:]}]", name]}
        for fid, name in CUSTOM_FIELDS.items()
    ]
    return Response(200, system + custom)


@_route("GET", "project")
def _projects(fake: FakeJira, call: Call) -> Response:
    return Response(200, [_project(k, i, fake.url) for i, k in enumerate(fake.projects)])


@_route("GET", r"project/(?P<ref>[^/]+)")
def _project_get(fake: FakeJira, call: Call) -> Response:
    ref = call.match["ref"]
    for i, (key, components) in enumerate(fake.projects.items()):
        info = _project(key, i, fake.url)
        if ref in (key, info["id"]):
            info["components"] = [{"name": c} for c in components]
            info["issueTypes"] = [{"name": n, "id": i} for n, i in ISSUE_TYPES.items()]
            return Response(200, info)
    return _error(404, (f"No project could be found with key {ref!r}.",))


@_route("POST", "issue")
def _issue_create(fake: FakeJira, call: Call) -> Response:
    fields = _object(call).get("fields") or {}
    errors = fake._validate(fields, creating=True)
    if errors:
        return _error(400, (), **errors)
    issue = fake._create(fields)
    return Response(201, {"id": issue["id"], "key": issue["key"], "self": issue["self"]})


@_route("GET", _ISSUE)
def _issue_get(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    return Response(200, _view(issue, _fields_param(call)))


@_route("PUT", _ISSUE)
def _issue_edit(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    data = _object(call)
    fields = data.get("fields") or {}
    errors = fake._validate({**fields, "project": issue["fields"]["project"]}, creating=False)
    errors.pop("project", None)
    labels = list(issue["fields"]["labels"])
    for name, operations in (data.get("update") or {}).items():
        for operation in operations:
            for verb, val in operation.items():
                if name == "labels" and verb == "add" and val not in labels:
                    labels.append(val)
                elif name == "labels" and verb == "remove" and val in labels:
                    labels.remove(val)
                elif name == "labels" and verb == "set":
                    labels = list(val)
                elif name == "comment" and verb == "add":
                    _add_comment(issue, val["body"])
                elif name != "labels":
                    errors[name] = f"Operation '{verb}' on field '{name}' is not supported."
    errors.update(fake._validate({"labels": labels}, creating=False))
    if errors:
        return _error(400, (), **errors)
    issue["fields"].update(fields)
    issue["fields"]["labels"] = labels
    issue["fields"]["updated"] = _now()
    return Response(204)


def _add_comment(issue: Json, body: str, properties: list[Json] | None = None) -> Json:
    comments = issue["fields"]["comment"]
    comment = {
        "id": str(10_000 + comments["total"]),
        "body": body,
        "author": {"displayName": "triagebot"},
        "created": _now(),
        "self": f"{issue['self']}/comment/{10_000 + comments['total']}",
        "properties": [{"key": p["key"], "value": p["value"]} for p in properties or ()],
    }
    comments["comments"].append(comment)
    comments["total"] = comments["maxResults"] = len(comments["comments"])
    issue["fields"]["updated"] = _now()
    return comment


@_route("POST", _ISSUE + "/comment")
def _comment_add(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    body = _object(call).get("body")
    if not isinstance(body, str) or not body.strip():
        return _error(400, (), comment="Comment body can not be empty!")
    if len(body) > TEXT_LIMIT:
        return _error(400, (), comment="The entered text is too long.")
    properties = _object(call).get("properties") or []
    if not all(isinstance(p, dict) and p.get("key") and "value" in p for p in properties):
        return _error(400, ("Each property needs a key and a value.",))
    return Response(201, _comment_view(_add_comment(issue, body, properties), expand=False))


def _comment_view(comment: Json, *, expand: bool) -> Json:
    """A comment as Jira shows it: its properties only with ``expand=properties``."""
    return comment if expand else {k: v for k, v in comment.items() if k != "properties"}


@_route("GET", _ISSUE + "/comment")
def _comment_list(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    order = call.param("orderBy", "created")
    if order.lstrip("+-") != "created":
        return _error(400, (f"Cannot order comments by '{order}'.",))
    comments = list(issue["fields"]["comment"]["comments"])
    if order.startswith("-"):
        comments.reverse()
    start, limit = int(call.param("startAt", "0")), int(call.param("maxResults", "5000"))
    expand = "properties" in call.param("expand").split(",")
    page = [_comment_view(c, expand=expand) for c in comments[start : start + limit]]
    return Response(
        200,
        {"comments": page, "startAt": start, "maxResults": limit, "total": len(comments)},
    )


@_route("GET", _ISSUE + "/transitions")
def _transitions_get(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    current = issue["fields"]["status"]["name"]
    available = [
        {"id": tid, "name": name, "to": _status(to)}
        for tid, name, sources, to in TRANSITIONS
        if current in sources
    ]
    return Response(200, {"expand": "transitions", "transitions": available})


@_route("POST", _ISSUE + "/transitions")
def _transitions_post(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    data = _object(call)
    tid = str((data.get("transition") or {}).get("id"))
    current = issue["fields"]["status"]["name"]
    target = next((to for t, _, src, to in TRANSITIONS if t == tid and current in src), None)
    if target is None:
        return _error(400, (f"Transition id '{tid}' is not valid for this issue.",))
    for operation in (data.get("update") or {}).get("comment", ()):
        _add_comment(issue, operation["add"]["body"])
    fake._apply_status(issue, target)
    return Response(204)


@_route("POST", _ISSUE + "/attachments")
def _attachments(fake: FakeJira, call: Call) -> Response:
    issue = fake._issue(call.match["ref"])
    if issue is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    if call.headers.get("X-Atlassian-Token") != "no-check":
        return _error(403, ("XSRF check failed",))
    head = f"Content-Type: {call.headers.get('Content-Type')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + call.body)
    created = []
    for part in message.iter_parts():
        name = part.get_filename()
        content = part.get_payload(decode=True)
        if not name or not isinstance(content, bytes):
            continue
        fake.attachments.setdefault(issue["key"], []).append((name, content))
        aid = str(20_000 + sum(len(v) for v in fake.attachments.values()))
        meta = {
            "id": aid,
            "filename": name,
            "size": len(content),
            "mimeType": part.get_content_type(),
            "self": f"{fake.url}{API}attachment/{aid}",
            "content": f"{fake.url}/secure/attachment/{aid}/{name}",
        }
        issue["fields"]["attachment"].append(meta)
        created.append(meta)
    if not created:
        return _error(400, ("No file was attached.",))
    return Response(200, created)


@_route("POST", "issueLink")
def _issue_link(fake: FakeJira, call: Call) -> Response:
    data = _object(call)
    inward = fake._issue((data.get("inwardIssue") or {}).get("key", ""))
    outward = fake._issue((data.get("outwardIssue") or {}).get("key", ""))
    if inward is None or outward is None:
        return _error(404, ("Issue does not exist or you do not have permission to see it.",))
    kind = data.get("type") or {}
    link = {"type": kind, "inward": inward["key"], "outward": outward["key"]}
    fake.links.append(link)
    link_id = str(30_000 + len(fake.links))
    # The inward issue shows the outward one (A "duplicates" B), and the other way round.
    for issue, side, other in ((inward, "outwardIssue", outward), (outward, "inwardIssue", inward)):
        issue["fields"]["issuelinks"].append(
            {"id": link_id, "type": kind, side: {"key": other["key"], "id": other["id"]}}
        )
    return Response(201)


@_route("GET", "issueLinkType")
def _link_types(fake: FakeJira, call: Call) -> Response:
    names = (("Duplicate", "duplicates"), ("Blocks", "blocks"), ("Relates", "relates to"))
    types = [
        {"id": str(10_000 + i), "name": name, "outward": verb, "inward": f"is {verb} by"}
        for i, (name, verb) in enumerate(names)
    ]
    return Response(200, {"issueLinkTypes": types})


def _search_args(call: Call) -> tuple[str, list[str] | None, int, str]:
    if call.method == "POST":
        data = _object(call)
        raw_fields = data.get("fields")
        return (
            str(data.get("jql") or ""),
            list(raw_fields) if raw_fields else None,
            int(data.get("maxResults") or 50),
            str(data.get("nextPageToken") or data.get("startAt") or ""),
        )
    return (
        call.param("jql"),
        _fields_param(call),
        int(call.param("maxResults", "50")),
        call.param("nextPageToken") or call.param("startAt"),
    )


@_route("POST", "search")
@_route("GET", "search")
def _search_dc(fake: FakeJira, call: Call) -> Response:
    if fake.deployment == "Cloud":
        return _error(
            410,
            ("The requested API has been removed. Please migrate to the search/jql API.",),
        )
    jql, fields, limit, start = _search_args(call)
    body = _object(call) if call.method == "POST" else {}
    validate = str(body.get("validateQuery", call.param("validateQuery", "strict"))).lower()
    try:
        hits = fake._search(jql, fields, validate=validate not in ("false", "none", "warn"))
    except JqlError as exc:
        return _error(400, (str(exc),))
    offset, limit = int(start or 0), min(limit, 1000, fake.page_limit or 1000)
    page = hits[offset : offset + limit]
    return Response(
        200, {"startAt": offset, "maxResults": limit, "total": len(hits), "issues": page}
    )


@_route("POST", "search/jql")
@_route("GET", "search/jql")
def _search_cloud(fake: FakeJira, call: Call) -> Response:
    if fake.deployment != "Cloud":
        return _error(404, ("null for uri: search/jql",))
    jql, fields, limit, token = _search_args(call)
    try:
        hits = fake._search(jql, fields)
    except JqlError as exc:
        return _error(400, (str(exc),))
    offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    limit = min(limit, 100, fake.page_limit or 100)
    page = hits[offset : offset + limit]
    body: Json = {"issues": page, "isLast": offset + limit >= len(hits)}
    if not body["isLast"]:
        body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
    return Response(200, body)
