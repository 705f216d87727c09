"""A stateful fake of the Azure DevOps work item tracking REST API, served over real HTTP.

It follows Microsoft's published REST API for the calls triagebot makes, closely enough that
the adapter cannot tell it from a small project collection:

- ``POST {project}/_apis/wit/workitems/${type}``: create from a JSON Patch document
  (``application/json-patch+json``; ``op``/``path``/``value``), answering the work item
  ``{"id", "rev", "fields", "url"}``;
- ``GET`` / ``PATCH {project}/_apis/wit/workitems/{id}``: read (``fields=``, or
  ``$expand=relations``) and update by JSON Patch, ``test /rev`` included (412 when the work
  item changed since), links added at ``/relations/-`` and ``System.History`` (a comment in
  the same revision);
- ``GET {project}/_apis/wit/workitems?ids=&fields=&errorPolicy=``: at most 200 ids, unknown
  ones ``null`` with ``errorPolicy=omit`` and a 404 otherwise;
- ``POST {project}/_apis/wit/wiql``: a WIQL subset (clauses joined by AND, ORDER BY, ``$top``)
  answering ``{"workItems": [{"id", "url"}]}``. ``CONTAINS`` on ``System.Tags`` is matched as
  a substring of the tag field, the weaker reading, so a client must check the tag itself;
- ``POST`` / ``GET {project}/_apis/wit/workItems/{id}/comments``: preview only (an
  ``api-version`` without ``-preview`` is refused, as Azure DevOps refuses it); the list takes
  ``$top`` and ``order`` (``desc``, newest first, the default, or ``asc``).

Errors use Azure DevOps' JSON (``{"message", "typeKey", ...}``): 400 for an unknown field,
path, area or iteration, a rule violation or a bad state transition (the Agile Bug workflow:
New, Active, Resolved, Closed), 415 for a PATCH that is not JSON Patch, 401 for a bad PAT
(203 with a sign-in page when the client did not send ``X-TFS-FedAuthRedirect: Suppress``).
``max_api_version`` plays an older server (Azure DevOps Server 2020: ``"6.0"``). Tags are
kept sorted and unique, as the service keeps them. Scripted faults (``tests.fakehttp``):
429/503 with Retry-After (seconds or an HTTP date), a sign-in page (``sign_in``), slow
answers, a connection dropped after the request was applied, and an action run just before a
request (someone else editing meanwhile). Tests read ``work_items``, ``comments`` and
``requests`` directly.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import unquote

from tests.fakehttp import Call, FakeServer, Fault, Json, Response, Route, Routes

MAX_IDS = 200
TITLE_LIMIT = 255
LONG_TEXT_LIMIT = 1_000_000
TAGS_PER_ITEM = 100
#: Work item type -> state -> the states it may move to (the Agile process).
WORKFLOWS: dict[str, dict[str, frozenset[str]]] = {
    "Bug": {
        "New": frozenset({"Active", "Resolved", "Closed"}),
        "Active": frozenset({"New", "Resolved", "Closed"}),
        "Resolved": frozenset({"Active", "Closed"}),
        "Closed": frozenset({"Active"}),
    },
    "Task": {
        "New": frozenset({"Active", "Closed", "Removed"}),
        "Active": frozenset({"New", "Closed", "Removed"}),
        "Closed": frozenset({"Active"}),
        "Removed": frozenset({"New"}),
    },
}
_REASONS = {"Active": "Reactivated", "Resolved": "Fixed", "Closed": "Verified", "New": "New"}
#: Fields a JSON Patch may set, by reference name; value: the kind of value.
STANDARD_FIELDS: dict[str, str] = {
    "System.Title": "string",
    "System.Description": "html",
    "Microsoft.VSTS.TCM.ReproSteps": "html",
    "System.Tags": "tags",
    "System.AreaPath": "area",
    "System.IterationPath": "iteration",
    "System.AssignedTo": "identity",
    "System.State": "state",
    "Microsoft.VSTS.Common.Priority": "priority",
    "System.History": "history",
}
#: Link types a relation may have (the system ones triagebot uses).
LINK_TYPES = frozenset(
    {
        "System.LinkTypes.Duplicate-Forward", "System.LinkTypes.Duplicate-Reverse",
        "System.LinkTypes.Related",
    }
)  # fmt: skip
READ_ONLY_FIELDS = frozenset(
    {
        "System.Id", "System.Rev", "System.TeamProject", "System.WorkItemType",
        "System.CreatedDate", "System.ChangedDate", "System.Reason", "System.CommentCount",
    }
)  # fmt: skip


class AzureError(Exception):
    """Ends a request with Azure DevOps' error JSON."""

    def __init__(self, status: int, message: str, type_key: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_key = type_key

    def response(self) -> Response:
        namespace = "Microsoft.TeamFoundation.WorkItemTracking.Server"
        return Response(
            self.status,
            {
                "$id": "1",
                "innerException": None,
                "message": self.message,
                "typeName": f"{namespace}.{self.type_key}, {namespace}",
                "typeKey": self.type_key,
                "errorCode": 0,
                "eventId": 3200,
            },
        )


def _rule_error(field_name: str) -> AzureError:
    return AzureError(
        400,
        f"TF401320: Rule Error for field {field_name}. Error code: Required, HasValues, "
        "LimitedToValues, AllowsOldValue, InvalidEmpty.",
        "RuleValidationException",
    )


def _not_found(item_id: int) -> AzureError:
    return AzureError(
        404,
        f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sorted_tags(value: str) -> str:
    unique: dict[str, str] = {}
    for tag in (t.strip() for t in value.split(";")):
        if tag:
            unique.setdefault(tag.casefold(), tag)
    return "; ".join(sorted(unique.values(), key=str.casefold))


# --- WIQL subset ----------------------------------------------------------------------------

_WIQL_TOKEN = re.compile(
    r"\s*(?:(?P<field>\[[^\]]+\])|(?P<str>'(?:[^']|'')*')|(?P<op><>|=|,)"
    r"|(?P<macro>@[A-Za-z]+)|(?P<word>[A-Za-z0-9_.]+))"
)
_WIQL_FIELDS = frozenset(
    {"system.id", "system.tags", "system.teamproject", "system.state", "system.workitemtype"}
)


def _wiql_error(message: str) -> AzureError:
    return AzureError(400, message, "WorkItemTrackingQuerySyntaxException")


@dataclass(frozen=True, slots=True)
class Wiql:
    clauses: tuple[tuple[str, str, str], ...]  # field (lowered), operator, value
    order_by: str = "system.id"
    descending: bool = False


def parse_wiql(text: str, project: str) -> Wiql:
    """``SELECT ... FROM WorkItems [WHERE [f] op v AND ...] [ORDER BY [f] [ASC|DESC]]``."""
    tokens: list[tuple[str, str]] = []
    pos, text = 0, text.rstrip()
    while pos < len(text):
        m = _WIQL_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _wiql_error(f"TF51005: Expecting a valid token at position {pos} in the query.")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m[kind]
        if kind == "field":
            value = value[1:-1].lower()
        elif kind == "str":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
    words = [v.lower() if k == "word" else None for k, v in tokens]
    if "from" not in words:
        raise _wiql_error("TF51006: The query statement is missing a FROM clause.")
    i = words.index("from") + 2
    clauses: list[tuple[str, str, str]] = []
    try:
        if i < len(tokens) and words[i] == "where":
            i += 1
            while True:
                (kind, name), (_, op), (value_kind, value) = tokens[i : i + 3]
                if kind != "field" or name not in _WIQL_FIELDS:
                    raise _wiql_error(
                        f"TF51005: The query references a field that does not exist: {name}."
                    )
                if op.lower() not in ("=", "<>", "contains") or value_kind not in (
                    "str",
                    "macro",
                    "word",
                ):
                    raise _wiql_error(f"TF51005: Unexpected {op} {value} in the query.")
                if value_kind == "macro":
                    if value.lower() != "@project":
                        raise _wiql_error(f"TF51011: The macro {value} is not supported.")
                    value = project
                clauses.append((name, op.lower(), value))
                i += 3
                if i < len(tokens) and words[i] == "and":
                    i += 1
                    continue
                break
        if i == len(tokens):
            return Wiql(tuple(clauses))
        if words[i : i + 2] != ["order", "by"] or tokens[i + 2][0] != "field":
            raise _wiql_error(f"TF51005: Unexpected token {tokens[i][1]} in the query.")
        rest = words[i + 3 :]
        if rest not in ([], ["asc"], ["desc"]):
            raise _wiql_error("TF51005: Unexpected tokens after ORDER BY.")
        return Wiql(tuple(clauses), tokens[i + 2][1], rest == ["desc"])
    except (IndexError, ValueError):
        raise _wiql_error("TF51005: The query ended unexpectedly.") from None


def _field_text(item: Json, name: str) -> str:
    value = {k.lower(): v for k, v in item["fields"].items()}.get(name, "")
    return str(item["id"]) if name == "system.id" else str(value)


def _matches(item: Json, clause: tuple[str, str, str]) -> bool:
    name, op, value = clause
    actual = _field_text(item, name).casefold()
    if op == "contains":
        return value.casefold() in actual
    return (actual == value.casefold()) == (op == "=")


# --- the server -----------------------------------------------------------------------------


_SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>"
    "<body><form action='https://login.microsoftonline.com/'>Sign in</form></body></html>"
)


def _sign_in_page() -> Response:
    return Response(203, text=_SIGN_IN_PAGE, content_type="text/html; charset=utf-8")


class FakeAzure(FakeServer):
    """A small project collection on 127.0.0.1; ``url`` is the organisation's URL."""

    content_type = "application/json; charset=utf-8; api-version=7.1"

    def __init__(
        self,
        *,
        organization: str = "acme",
        projects: tuple[str, ...] = ("Cases",),
        pats: frozenset[str] = frozenset({"pat-secret"}),
        areas: tuple[str, ...] = ("Cases\\Checkout",),
        iterations: tuple[str, ...] = ("Cases\\Sprint 1",),
        identities: tuple[str, ...] = ("alice@acme.example",),
        custom_fields: tuple[str, ...] = ("Custom.Occurrences",),
        max_api_version: str = "7.1",
    ) -> None:
        super().__init__(f"/{organization}/", _route)
        self.organization = organization
        self.projects = projects
        self.pats = pats
        self.areas = {a.casefold() for a in (*projects, *areas)}
        self.iterations = {i.casefold() for i in (*projects, *iterations)}
        self.identities = identities
        self.fields = {**STANDARD_FIELDS, **dict.fromkeys(custom_fields, "integer")}
        self.max_api_version = _version(max_api_version)
        self.work_items: dict[int, Json] = {}
        self.comments: dict[int, list[Json]] = {}
        self.url = f"{self.origin}/{organization}"

    # -- scripting and inspection -----------------------------------------------------------
    def sign_in(self, path: str, *, method: str | None = None) -> None:
        """The next matching request gets 203 and an HTML sign-in page (a proxy that drops
        ``X-TFS-FedAuthRedirect``, or an expired session)."""
        self._add(Fault(re.compile(path), method, 1, 203))

    def add_work_item(
        self, title: str, tags: tuple[str, ...] = (), *, state: str = "New", project: str = ""
    ) -> int:
        """Seed a Bug directly (as if filed by someone else); returns its id."""
        with self._lock:
            item = self._new_item(project or self.projects[0], "Bug")
            item["fields"].update({"System.Title": title, "System.State": state})
            if tags:
                item["fields"]["System.Tags"] = _sorted_tags("; ".join(tags))
            self._store(item)
            return int(item["id"])

    def set_state(self, item_id: int, state: str) -> None:
        """Someone moved the work item on the board (no rules checked)."""
        with self._lock:
            self._touch(self.work_items[item_id], {"System.State": state})

    def add_tag(self, item_id: int, tag: str) -> None:
        """Someone added a tag in the web portal (a new revision)."""
        with self._lock:
            fields = self.work_items[item_id]["fields"]
            tags = _sorted_tags(f"{fields.get('System.Tags', '')}; {tag}")
            self._touch(self.work_items[item_id], {"System.Tags": tags})

    def tags(self, item_id: int) -> list[str]:
        value = self.work_items[item_id]["fields"].get("System.Tags", "")
        return [t for t in value.split("; ") if t]

    # -- Azure DevOps' answers --------------------------------------------------------------
    def api_path(self, path: str) -> str:
        """Below the organisation, URL-decoded (project names may hold spaces)."""
        return unquote(super().api_path(path))

    def fault_response(self, fault: Fault) -> Response:
        if fault.status == 203:
            return _sign_in_page()
        return AzureError(
            fault.status or 500,
            f"TF400733: The request was throttled or the service is unavailable ({fault.status}).",
            "RequestBlockedException",
        ).response()

    def dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Message
    ) -> Response:
        """Every request is authenticated first, whatever its path."""
        if not self._authorised(headers.get("Authorization", "")):
            if headers.get("X-TFS-FedAuthRedirect") != "Suppress":
                return _sign_in_page()
            return Response(
                401,
                text="Access Denied: The Personal Access Token used has expired or is invalid.",
                content_type="text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'},
            )
        try:
            return super().dispatch(method, path, query, body, headers)
        except AzureError as exc:
            return exc.response()

    def serve(self, route: Route[Any], call: Call) -> Response:
        project = _project(call)
        if project not in self.projects:
            raise AzureError(
                404,
                f"TF200016: The following project does not exist: {project}. Verify that the"
                " name of the project is correct and that the project exists on the"
                " specified Azure DevOps Server.",
                "ProjectDoesNotExistWithNameException",
            )
        self._check_version(call.param("api-version"), route.tag == "preview")
        if call.method == "PATCH" or (call.method == "POST" and route.fn is _create):
            _check_patch_type(call.method, call.headers.get("Content-Type", ""))
        return super().serve(route, call)

    def bad_request(self, exc: Exception) -> Response:
        if isinstance(exc, json.JSONDecodeError):
            body = "The request body could not be parsed as JSON."
            return AzureError(400, body, "VssRequestBodyException").response()
        message = f"The request is not valid: {exc!r}"
        return AzureError(400, message, "VssPropertyValidationException").response()

    def not_found(self, method: str, path: str) -> Response:
        return AzureError(
            404,
            f"The controller for path '/{self.organization}/{path}' was not found.",
            "HttpException",
        ).response()

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return False
        _user, _, secret = base64.b64decode(value).decode().partition(":")
        return secret in self.pats

    def _check_version(self, requested: str, preview: bool) -> None:
        if not requested:
            raise AzureError(
                400,
                "No api-version was supplied for the request. The version must be supplied as"
                " a query parameter (e.g. '?api-version=1.0').",
                "VssVersionNotSpecifiedException",
            )
        number, _, stage = requested.partition("-")
        if preview and not stage.startswith("preview"):
            raise AzureError(
                400,
                f'The requested version "{requested}" of the resource is under preview. The'
                f" -preview flag must be supplied in the api-version for such requests. For"
                f' example: "{number}-preview"',
                "VssInvalidPreviewVersionException",
            )
        if _version(number) > self.max_api_version:
            latest = ".".join(map(str, self.max_api_version))
            raise AzureError(
                400,
                f"The requested REST API version of {number} is out of range for this server."
                f" The latest REST API version this server supports is {latest}.",
                "VssVersionOutOfRangeException",
            )

    # -- state helpers ----------------------------------------------------------------------
    def _new_item(self, project: str, item_type: str) -> Json:
        item_id = max(self.work_items, default=0) + 1
        now = _now()
        return {
            "id": item_id,
            "rev": 1,
            "fields": {
                "System.TeamProject": project,
                "System.AreaPath": project,
                "System.IterationPath": project,
                "System.WorkItemType": item_type,
                "System.State": "New",
                "System.Reason": "New",
                "System.CreatedDate": now,
                "System.ChangedDate": now,
                "System.CommentCount": 0,
                "Microsoft.VSTS.Common.Priority": 2,
            },
            "url": f"{self.url}/_apis/wit/workItems/{item_id}",
        }

    def _store(self, item: Json) -> None:
        self.work_items[item["id"]] = item
        self.comments.setdefault(item["id"], [])

    def _touch(self, item: Json, changes: Json) -> None:
        """Apply field changes as one new revision."""
        if "System.State" in changes and changes["System.State"] != item["fields"]["System.State"]:
            item["fields"]["System.Reason"] = _REASONS.get(changes["System.State"], "")
        item["fields"].update(changes)
        item["fields"]["System.ChangedDate"] = _now()
        item["rev"] += 1

    def _add_comment(self, item: Json, text: str) -> Json:
        return _add_comment(self, item, text)

    def _item(self, item_id: int) -> Json:
        item = self.work_items.get(item_id)
        if item is None:
            raise _not_found(item_id)
        return item

    def _canonical(self, name: str) -> str:
        """Field reference names are case-insensitive."""
        for known in (*self.fields, *READ_ONLY_FIELDS):
            if known.casefold() == name.casefold():
                return known
        raise AzureError(
            400,
            f"TF51535: Cannot find field {name}.",
            "WorkItemTrackingFieldDefinitionNotFoundException",
        )

    def _apply(self, item: Json, operations: Any, *, creating: bool) -> Json:
        """The field changes a JSON Patch document asks for, checked against the rules."""
        if not isinstance(operations, list) or not operations:
            raise AzureError(
                400,
                "You must pass a valid patch document in the body of the request.",
                "VssPropertyValidationException",
            )
        changes: Json = {}
        for operation in operations:
            op, path = str(operation.get("op", "")).lower(), str(operation.get("path", ""))
            if op == "test" and path == "/rev":
                if operation.get("value") != item["rev"]:
                    raise AzureError(
                        412,
                        "TF26071: This work item has been changed by someone else since you"
                        f" opened it (revision {operation.get('value')}, now {item['rev']}).",
                        "WorkItemRevisionMismatchException",
                    )
                continue
            if path == "/relations/-" and op == "add":
                self._relate(item, operation.get("value"))
                continue
            if not path.startswith("/fields/") or op not in ("add", "replace", "remove"):
                raise AzureError(
                    400,
                    f"The operation '{op}' on path '{path}' is not supported for a work item.",
                    "VssPropertyValidationException",
                )
            name = self._canonical(path.removeprefix("/fields/"))
            if name in READ_ONLY_FIELDS:
                raise AzureError(
                    400,
                    f"TF401326: Invalid field status 'ReadOnly' for field '{name}'.",
                    "RuleValidationException",
                )
            changes[name] = None if op == "remove" else operation.get("value")
        fields = {**item["fields"], **changes}
        if creating and not str(fields.get("System.Title") or "").strip():
            raise _rule_error("Title")
        for name, value in changes.items():
            changes[name] = self._check(item, name, value, fields)
        return changes

    def _relate(self, item: Json, value: Any) -> None:
        """A link to another work item, by its API URL (``.../_apis/wit/workItems/{id}``)."""
        rel = value.get("rel") if isinstance(value, dict) else None
        if rel not in LINK_TYPES:
            raise AzureError(400, f"TF201036: Link type {rel} is not valid.", "LinkTypeException")
        target = re.search(r"/_apis/wit/workItems/(\d+)$", str(value.get("url", "")), re.I)
        if target is None:
            raise AzureError(400, "VS402625: The link URL is not valid.", "LinkUrlException")
        self._item(int(target[1]))
        relation = {"rel": rel, "url": value["url"], "attributes": {"isLocked": False}}
        if relation not in item.setdefault("relations", []):
            item["relations"].append(relation)

    def _check(self, item: Json, name: str, value: Any, fields: Json) -> Any:
        """``value`` as stored, or the error Azure DevOps gives for it."""
        kind = self.fields[name]
        label = name.rsplit(".", 1)[-1]
        if kind == "string" and (not isinstance(value, str) or len(value) > TITLE_LIMIT):
            raise _rule_error(label)
        if (
            kind == "html"
            and value is not None
            and (not isinstance(value, str) or len(value) > LONG_TEXT_LIMIT)
        ):
            raise AzureError(
                400,
                f"VS403691: The value of field {name} is too long (at most 1 M characters).",
                "RuleValidationException",
            )
        if kind in ("area", "iteration") and str(value).casefold() not in (
            self.areas if kind == "area" else self.iterations
        ):
            field_name = "System.AreaPath" if kind == "area" else "System.IterationPath"
            item_id = item["id"] if item["rev"] else -1  # -1: not created yet
            raise AzureError(
                400,
                f"TF401347: Invalid tree name given for work item {item_id}, field '{field_name}'.",
                "WorkItemFieldInvalidTreeNameException",
            )
        if kind == "priority" and (type(value) is not int or not 1 <= value <= 4):
            raise _rule_error("Priority")
        if kind == "integer" and value is not None and type(value) is not int:
            raise _rule_error(label)
        if kind == "identity":
            if value not in self.identities:
                raise _rule_error("Assigned To")
            return {
                "displayName": str(value).split("@")[0].title(),
                "uniqueName": value,
                "id": f"id-{value}",
            }
        if kind == "tags":
            tags = _sorted_tags(str(value or ""))
            if len(tags.split("; ")) > TAGS_PER_ITEM:
                raise _rule_error("Tags")
            return tags
        if kind == "state":
            workflow = WORKFLOWS[fields["System.WorkItemType"]]
            current = item["fields"]["System.State"]
            if value not in workflow or (value != current and value not in workflow[current]):
                raise _rule_error("State")
        return value


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise AzureError(
            400, f"The api-version '{text}' is not valid.", "VssInvalidApiVersionException"
        ) from None


def _check_patch_type(method: str, content_type: str) -> None:
    if not content_type.startswith("application/json-patch+json"):
        raise AzureError(
            415,
            f'The request indicated a Content-Type of "{content_type}" for method type'
            f' "{method}" which is not supported. Valid content types for this method are:'
            " application/json-patch+json.",
            "VssRequestContentTypeNotSupportedException",
        )


def _view(item: Json, names: str, expand: str = "") -> Json:
    """The work item with only ``names`` among its fields; relations only when expanded."""
    if expand.casefold() not in ("relations", "all"):
        item = {k: v for k, v in item.items() if k != "relations"}
    if not names:
        return item
    if expand:
        raise AzureError(
            400,
            "The expand parameter can not be used with the fields parameter.",
            "ConflictingParametersException",
        )
    wanted = {n.strip().casefold() for n in names.split(",")}
    fields = {k: v for k, v in item["fields"].items() if k.casefold() in wanted}
    return {**item, "fields": fields}


# --- routes ---------------------------------------------------------------------------------

_WIT = r"(?P<project>[^/]+)/_apis/wit/"
# Azure DevOps routes are case-insensitive (``workItems`` and ``workitems`` alike).
_route: Routes[FakeAzure] = Routes(re.IGNORECASE)


def _project(call: Call) -> str:
    return unquote(call.match["project"])


@_route("POST", _WIT + r"workitems/\$(?P<type>[^/]+)")
def _create(fake: FakeAzure, call: Call) -> Response:
    item_type = call.match["type"]
    if item_type not in WORKFLOWS:
        raise AzureError(
            404,
            f"VS402323: Work item type {item_type} does not exist in project {_project(call)} or"
            " you do not have permission to access it.",
            "WorkItemTypeNotFoundException",
        )
    item = fake._new_item(_project(call), item_type)
    item["rev"] = 0
    changes = fake._apply(item, call.json(), creating=True)
    item["rev"] = 1
    item["fields"].update({k: v for k, v in changes.items() if v is not None})
    fake._store(item)
    return Response(200, item)


@_route("GET", _WIT + r"workitems/(?P<id>\d+)")
def _get(fake: FakeAzure, call: Call) -> Response:
    item = fake._item(int(call.match["id"]))
    return Response(200, _view(item, call.param("fields"), call.param("$expand")))


@_route("PATCH", _WIT + r"workitems/(?P<id>\d+)")
def _update(fake: FakeAzure, call: Call) -> Response:
    item = fake._item(int(call.match["id"]))
    changes = fake._apply(item, call.json(), creating=False)
    history = changes.pop("System.History", None)
    fake._touch(item, changes)
    if history:
        fake._add_comment(item, str(history))
    for name in [k for k, v in item["fields"].items() if v is None]:
        del item["fields"][name]
    return Response(200, item)


@_route("GET", _WIT + "workitems")
def _list(fake: FakeAzure, call: Call) -> Response:
    try:
        ids = [int(i) for i in call.param("ids").split(",") if i]
    except ValueError:
        raise AzureError(
            400, "The ids parameter must be a list of integers.", "ArgumentException"
        ) from None
    if not ids or len(ids) > MAX_IDS:
        raise AzureError(
            400,
            f"VS403474: The number of work items requested ({len(ids)}) must be between 1"
            f" and {MAX_IDS}.",
            "ArgumentException",
        )
    omit = call.param("errorPolicy", "fail").lower() == "omit"
    value: list[Json | None] = []
    for item_id in ids:
        item = fake.work_items.get(item_id)
        if item is None and not omit:
            raise _not_found(item_id)
        value.append(None if item is None else _view(item, call.param("fields")))
    return Response(200, {"count": len(value), "value": value})


@_route("POST", _WIT + "wiql")
def _wiql(fake: FakeAzure, call: Call) -> Response:
    data = call.json()
    query = parse_wiql(str((data or {}).get("query") or ""), _project(call))
    hits = [i for i in fake.work_items.values() if all(_matches(i, c) for c in query.clauses)]

    def order(item: Json) -> tuple[int, str]:
        text = _field_text(item, query.order_by)
        return (int(text), "") if query.order_by == "system.id" else (0, text.casefold())

    hits.sort(key=order, reverse=query.descending)
    top = int(call.param("$top", "20000"))
    return Response(
        200,
        {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": _now(),
            "columns": [{"referenceName": "System.Id", "name": "ID"}],
            "workItems": [{"id": i["id"], "url": i["url"]} for i in hits[:top]],
        },
    )


@_route("POST", _WIT + r"workitems/(?P<id>\d+)/comments", "preview")
def _comment_add(fake: FakeAzure, call: Call) -> Response:
    item = fake._item(int(call.match["id"]))
    text = (call.json() or {}).get("text")
    if not isinstance(text, str) or not text.strip():
        raise AzureError(400, "The comment text cannot be empty.", "ArgumentException")
    return Response(200, fake._add_comment(item, text))


def _add_comment(fake: FakeAzure, item: Json, text: str) -> Json:
    comments = fake.comments[item["id"]]
    comment_id = sum(len(c) for c in fake.comments.values()) + 1
    now = _now()
    comment = {
        "workItemId": item["id"],
        "commentId": comment_id,
        "version": 1,
        "text": text,
        "createdBy": {"displayName": "triagebot"},
        "createdDate": now,
        "modifiedBy": {"displayName": "triagebot"},
        "modifiedDate": now,
        "url": f"{item['url']}/comments/{comment_id}",
    }
    comments.append(comment)
    fake._touch(item, {"System.CommentCount": len(comments)})
    return comment


@_route("GET", _WIT + r"workitems/(?P<id>\d+)/comments", "preview")
def _comment_list(fake: FakeAzure, call: Call) -> Response:
    item = fake._item(int(call.match["id"]))
    order = call.param("order", "desc").lower()
    if order not in ("asc", "desc"):
        raise AzureError(400, f"The order '{order}' is not valid.", "ArgumentException")
    comments = list(fake.comments[item["id"]])
    if order == "desc":
        comments.reverse()
    page = comments[: int(call.param("$top", "200"))]
    return Response(200, {"totalCount": len(comments), "count": len(page), "comments": page})
