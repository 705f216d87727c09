"""The Azure DevOps Boards adapter (Services and Server) behind the ``Tracker`` protocol.

A thin client on ``requests`` speaks the REST API directly (the official Python package is a
stale beta). Every HTTP call goes through ``map_azure_devops_errors()`` (the one place foreign
errors become ``TrackerError``/``TrackerUnavailable``) and ``_call()``, which retries 429, 5xx,
timeouts and 412 (a ``test /rev`` that saw the work item change) with capped exponential
backoff honouring Retry-After, under an overall deadline. Calls that are not safe to repeat
(create, comment) are only re-sent when Azure DevOps said it did not process them (429/503);
after a lost create response the outbox retries later and looks the signature tag up first,
so it never files twice.

Keys are work item numbers as text (``"123"``); what people write (``AB#123``, the GitHub
integration's form, or ``123``) is normalised by ``work_item_id`` wherever a key comes in.
Descriptions and comments are HTML: every report value is escaped, never markup; a comment
ends with its effect's mark as an HTML comment, which a retry looks for in the work item's
recent comments before posting again. A duplicate gets a "Duplicate Of" link to the kept work
item and moves to ``duplicate_state`` with its comment in ``System.History``, all in one
revision; a work item whose confirmation was undone moves to ``undo_state`` the same way.
Comments use the comments API, which is still a preview on every version (``-preview.3``,
``-preview.4`` on 7.1), so it needs Azure DevOps Server 2019 Update 1 (API 5.1) or later.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
import structlog
from markupsafe import escape

from triagebot import templates
from triagebot.clock import Clock, system_clock
from triagebot.config import Secret
from triagebot.errors import TrackerError
from triagebot.trackers.base import (
    SIGNATURE_LABEL_PREFIX,
    CommentMark,
    DefectDraft,
    OccurrenceUpdate,
    TrackerContext,
    TrackerIssue,
    TrackerKind,
    duplicate_comment,
    occurrence_comment,
    signature_label,
)
from triagebot.trackers.http import (
    RECENT_COMMENTS,
    HttpUnavailable,
    Retrier,
    RetryPolicy,
    comment_once,
    html_mark,
    html_marks,
    parse_retry_after,
    requests_error,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "KEY_PATTERN",
    "STATUS_CHUNK",
    "AzureDevOpsSettings",
    "AzureDevOpsTracker",
    "map_azure_devops_errors",
    "work_item_id",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_TEMPLATE = "defect_description.azure_devops.html.j2"
DEFAULT_RESOLVED_STATES = ("Resolved", "Closed", "Done", "Removed")
#: Rule priority (lower case, as the config reader keys tables) → Microsoft.VSTS.Common.Priority.
DEFAULT_PRIORITIES = {"highest": "1", "high": "2", "medium": "3", "low": "4", "lowest": "4"}
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
DESCRIPTION_LIMIT = 1_000_000  # "long text field: 1 M characters"
TITLE_LIMIT = 255
TAG_LIMIT = 400
#: Ids per ``GET workitems?ids=``: the API's maximum.
STATUS_CHUNK = 200
#: Candidates a ``find`` looks at: WIQL ``CONTAINS`` may match a tag that merely contains ours.
FIND_CANDIDATES = 50
#: ``AB#123`` (GitHub integration) or ``123``; group 1 is the work item number.
KEY_PATTERN = r"(?:[Aa][Bb]#)?([1-9][0-9]{0,9})"
_KEY = re.compile(KEY_PATTERN)
_MESSAGE_LIMIT = 4_000  # the exception message in the description; the trace holds the rest
_TRUNCATION_MARK = "\n… (truncated)"
_RESEND_STATUSES = frozenset({429, 503})  # Azure DevOps did not process the request
#: Retryable answers: throttled, down, or (412) a ``test /rev`` saw the item change meanwhile.
_RETRY_STATUSES = frozenset({412, 429})
_PATCH_TYPE = "application/json-patch+json"
_WHITESPACE = re.compile(r"\s+")
_VERSION = re.compile(r"^([0-9]+)\.([0-9]+)")  # "^": used with fullmatch
_PRIORITY_VALUES = frozenset({"1", "2", "3", "4"})
_STATE, _TAGS, _PRIORITY = "System.State", "System.Tags", "Microsoft.VSTS.Common.Priority"
_HISTORY = "System.History"  # set in an update: a comment in the same revision
_DUPLICATE_OF = "System.LinkTypes.Duplicate-Reverse"  # "Duplicate Of", seen from the duplicate


@dataclass(frozen=True, slots=True)
class AzureDevOpsSettings:
    """``[tracker.azure_devops]``; ``token`` (a PAT) comes from ``token_env`` / ``token_file``.

    ``url`` is the organisation (``https://dev.azure.com/acme``) or the Server collection
    (``https://tfs.acme.local/DefaultCollection``). ``api_version``: 7.1 on Services, 6.0 on
    Server 2020. ``priorities`` maps rule priorities to Microsoft.VSTS.Common.Priority (1-4;
    strings, as the config reader reads tables of strings). ``occurrences_field``: a custom
    integer field's reference name (``Custom.Occurrences``) set to the total count, if given.
    ``description_field``: Bug forms of the Agile/Scrum/CMMI processes show
    ``Microsoft.VSTS.TCM.ReproSteps`` rather than ``System.Description``. ``duplicate_state``:
    where a duplicate goes (Scrum: ``Removed``; Basic: ``Done``); ``undo_state``: where a work
    item whose confirmation was undone goes.
    """

    url: str = ""
    project: str = ""
    token: Secret | None = None
    work_item_type: str = "Bug"
    area_path: str = ""
    iteration_path: str = ""
    description_field: str = "System.Description"
    api_version: str = "7.1"
    reopen_state: str = "Active"
    duplicate_state: str = "Closed"
    undo_state: str = "Closed"
    resolved_states: tuple[str, ...] = DEFAULT_RESOLVED_STATES
    tag_prefix: str = SIGNATURE_LABEL_PREFIX
    priorities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    occurrences_field: str = ""
    timeout: float = 30.0  # seconds per request
    deadline: float = 300.0  # seconds for a call with all its retries
    verify: bool = True
    ca_file: Path | None = None
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP

    def problems(self) -> Iterator[tuple[str, str]]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield "url", "not a URL" if self.url else "required: the organisation or collection URL"
        elif parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
            yield "url", "must be https (TLS) unless the server is on localhost"
        if not self.project:
            yield "project", "required: the project work items are filed in"
        if self.token is None or not self.token.reveal():
            yield "token_env", "required: a personal access token with Work Items read & write"
        version = _VERSION.fullmatch(self.api_version)
        if version is None or (int(version[1]), int(version[2])) < (5, 1):
            yield "api_version", "a version like '7.1' or '6.0'; at least 5.1 (comments API)"
        if not self.work_item_type:
            yield "work_item_type", "required: the type filed, e.g. 'Bug'"
        if not self.reopen_state:
            yield "reopen_state", "required: the state a regression moves to, e.g. 'Active'"
        if not self.duplicate_state:
            yield "duplicate_state", "required: the state a duplicate moves to, e.g. 'Closed'"
        if not self.undo_state:
            yield "undo_state", "required: the state an undone work item moves to, e.g. 'Closed'"
        if not self.tag_prefix or _tag(self.tag_prefix) != self.tag_prefix:
            yield "tag_prefix", "a tag prefix without ';' or ',' or outer spaces"
        for name, value in self.priorities.items():
            if value not in _PRIORITY_VALUES:
                yield "priorities", f"{name} = {value!r}: Azure Boards priorities are 1 to 4"
        if self.timeout <= 0 or self.deadline <= 0:
            yield "deadline", "timeouts must be more than 0 seconds"

    @property
    def secret(self) -> str:
        return self.token.reveal() if self.token is not None else ""

    @property
    def comments_api_version(self) -> str:
        """The comments API is a preview everywhere; resource version 4 came with 7.1."""
        return f"{self.api_version}-preview.{4 if self.api_version == '7.1' else 3}"


def work_item_id(key: str) -> str:
    """The bare work item number of ``key`` as people write it (``AB#123`` or ``123``)."""
    match = _KEY.fullmatch(key.strip())
    if match is None:
        raise TrackerError(f"{key!r} is not an Azure Boards work item number (123 or AB#123)")
    return match[1]


def _web_url(settings: AzureDevOpsSettings, key: str) -> str:
    """The work item's page; "" for a key that is no work item number (another tracker's)."""
    match = _KEY.fullmatch(key.strip())
    if match is None:
        return ""
    return f"{settings.url.rstrip('/')}/{quote(settings.project)}/_workitems/edit/{match[1]}"


# --- errors ---------------------------------------------------------------------------------


def _error_text(response: requests.Response) -> str:
    """Azure DevOps' own message (``message`` and ``typeKey`` of its error JSON), else the
    start of the body: a 401 comes as an HTML page."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        kind = f" ({data['typeKey']})" if data.get("typeKey") else ""
        return f"{data['message']}{kind}"
    return _WHITESPACE.sub(" ", response.text or "").strip()[:300] or response.reason or ""


def _from_http_error(exc: requests.HTTPError, now: datetime) -> TrackerError:
    response = exc.response
    if response is None:
        return TrackerError(f"Azure DevOps request failed: {exc}")
    status = response.status_code
    path = urlsplit(response.url or "").path
    text = f"Azure DevOps answered {status} for {path}: {_error_text(response)}"
    if status in _RETRY_STATUSES or status >= 500:
        hint = parse_retry_after(response.headers.get("Retry-After"), now)
        return HttpUnavailable(text, status, hint)
    return TrackerError(text)


@contextmanager
def map_azure_devops_errors(clock: Clock = system_clock) -> Iterator[None]:
    """Turn ``requests`` errors into triagebot's tracker errors.

    429, 412 and 5xx answers, timeouts and lost connections are ``TrackerUnavailable`` (retry
    later); other answers (400 bad field, 401 bad PAT, 404), bad TLS and malformed URLs are
    ``TrackerError``. Messages carry status, path and Azure DevOps' error text, never headers.
    """
    try:
        yield
    except requests.HTTPError as exc:
        raise _from_http_error(exc, clock()) from exc
    except requests.exceptions.RequestException as exc:
        raise requests_error(exc, "Azure DevOps") from exc


# --- rendering ------------------------------------------------------------------------------


def _title(title: str) -> str:
    line = _WHITESPACE.sub(" ", title).strip() or "Error report"
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1] + "…"


def _tag(text: str) -> str:
    """Tags are kept in one ``;``-separated field: no separators inside a tag."""
    return re.sub(r"[;,]", "_", text).strip()[:TAG_LIMIT]


def _tags(raw: object) -> list[str]:
    return [t.strip() for t in str(raw or "").split(";") if t.strip()]


def _wiql_string(text: str) -> str:
    """``text`` as a WIQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


class _Renderer:
    """Renders the HTML description (autoescaped), cutting the trace to fit the field."""

    def __init__(self, template_dir: Path | None) -> None:
        self._template = templates.environment(template_dir).get_template(DEFAULT_TEMPLATE)

    def _render(self, draft: DefectDraft, trace: str, truncated: bool) -> str:
        return self._template.render(
            draft=draft, message=draft.message[:_MESSAGE_LIMIT], trace=trace, truncated=truncated
        )

    def render(self, draft: DefectDraft) -> str:
        text = self._render(draft, draft.trace_text, truncated=False)
        if len(text) <= DESCRIPTION_LIMIT:
            return text
        budget = DESCRIPTION_LIMIT - len(self._render(draft, _TRUNCATION_MARK, truncated=True))
        if budget <= 0:
            raise TrackerError(
                "the defect description exceeds Azure Boards' limit without its trace"
            )
        cut = draft.trace_text[:budget]
        while (size := len(escape(cut))) > budget:  # escaping lengthens: shrink until it fits
            cut = cut[: len(cut) * budget // size]
        newline = cut.rfind("\n")
        if newline > len(cut) // 2:
            cut = cut[:newline]
        return self._render(draft, cut + _TRUNCATION_MARK, truncated=True)


# --- the tracker ----------------------------------------------------------------------------


class AzureDevOpsTracker:
    """Files and updates work items in Azure Boards; see the module docstring for retries."""

    name = "azure_devops"

    def __init__(
        self,
        settings: AzureDevOpsSettings,
        *,
        template_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Clock = system_clock,
    ) -> None:
        """``template_dir`` overrides shipped templates; ``clock`` times the retries;
        ``wall_clock`` reads Retry-After dates."""
        self.settings = settings
        self.settle_time = timedelta(seconds=settings.deadline)
        self._clock = clock
        policy = RetryPolicy(settings.deadline, settings.backoff_base, settings.backoff_cap)
        self._retrier = Retrier(
            "Azure DevOps",
            policy,
            partial(map_azure_devops_errors, wall_clock),
            _RESEND_STATUSES,
            sleep=sleep,
            clock=clock,
        )
        self._renderer = _Renderer(template_dir)
        self._base = settings.url.rstrip("/")
        self._project = quote(settings.project, safe="")
        self._resolved = frozenset(s.casefold() for s in settings.resolved_states)
        session = requests.Session()
        session.auth = ("", settings.secret)  # a PAT is basic auth with an empty user name
        session.verify = str(settings.ca_file) if settings.ca_file else settings.verify
        # Without this header Services answers a bad PAT with 203 and a sign-in page.
        session.headers.update({"Accept": "application/json", "X-TFS-FedAuthRedirect": "Suppress"})
        self._session = session

    # -- plumbing ---------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
        version: str | None = None,
    ) -> Any:
        """One HTTP call to ``{url}/{path}``; failures stay ``requests`` errors for the map."""
        query = {**(params or {}), "api-version": version or self.settings.api_version}
        started = self._clock()
        response = self._session.request(
            method,
            f"{self._base}/{path}",
            params=query,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type} if body is not None else None,
            timeout=self.settings.timeout,
        )
        log.debug(
            "azure_devops.http",
            method=method,
            path=path,
            status=response.status_code,
            seconds=round(self._clock() - started, 3),
        )
        response.raise_for_status()
        kind = response.headers.get("Content-Type", "")
        if "json" not in kind:
            raise TrackerError(
                f"Azure DevOps answered {response.status_code} for {path} with "
                f"{kind or 'no content type'}, not JSON (a sign-in page? check the token)"
            )
        return response.json()

    def _call(self, op: str, fn: Callable[[], T], *, replay_safe: bool = True) -> T:
        return self._retrier.call(op, fn, replay_safe=replay_safe)

    def _item_path(self, key: str) -> str:
        return f"{self._project}/_apis/wit/workitems/{work_item_id(key)}"

    def _issue(self, raw: dict[str, Any]) -> TrackerIssue:
        key = str(raw["id"])
        state = str((raw.get("fields") or {}).get(_STATE, ""))
        url = f"{self._base}/{self._project}/_workitems/edit/{key}"
        return TrackerIssue(key, state, state.casefold() in self._resolved, url)

    def _read(self, key: str, *names: str) -> dict[str, Any]:
        """One work item with only ``names`` among its fields (and ``rev``)."""
        raw: dict[str, Any] = self._request(
            "GET", self._item_path(key), params={"fields": ",".join(names)}
        )
        return raw

    def _closing(self, raw: dict[str, Any], state: str, comment: str) -> list[dict[str, Any]]:
        """The operations that move a work item read as ``raw`` to ``state`` with
        ``comment`` (escaped) in the same revision; none when it is resolved already."""
        if self._issue(raw).resolved:
            return []
        return [
            {"op": "add", "path": f"/fields/{_STATE}", "value": state},
            {"op": "add", "path": f"/fields/{_HISTORY}", "value": html.escape(comment)},
        ]

    def _patch(self, key: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        raw: dict[str, Any] = self._request(
            "PATCH", self._item_path(key), body=operations, content_type=_PATCH_TYPE
        )
        return raw

    def _list(self, ids: Sequence[str], *names: str) -> list[dict[str, Any]]:
        """Up to ``STATUS_CHUNK`` work items in one call; ids that are gone are left out."""
        params = {"ids": ",".join(ids), "fields": ",".join(names), "errorPolicy": "omit"}
        page = self._request("GET", f"{self._project}/_apis/wit/workitems", params=params)
        return [raw for raw in page.get("value") or () if raw]

    def _comment(self, key: str, text: str, mark: CommentMark | None) -> bool:
        """Post ``text`` as an HTML comment, escaped so report values cannot become markup,
        once per ``mark``. Never re-sent within the call after an ambiguous failure: it may
        have landed; a retry of the effect looks for the mark."""
        path = f"{self._item_path(key)}/comments"
        body = {"text": html.escape(text) + (html_mark(mark) if mark is not None else "")}
        version = self.settings.comments_api_version
        recent = {"$top": str(RECENT_COMMENTS), "order": "desc"}

        def posted() -> set[int]:
            page = self._request("GET", path, params=recent, version=version)
            return html_marks(str(c.get("text") or "") for c in page.get("comments") or ())

        return comment_once(
            "azure_devops",
            mark,
            lambda: self._call("comments", posted),
            lambda: self._call(
                "comment",
                lambda: self._request("POST", path, body=body, version=version),
                replay_safe=False,
            ),
        )

    def tag(self, signature: str) -> str:
        return _tag(signature_label(signature, self.settings.tag_prefix))

    # -- Tracker protocol -------------------------------------------------------------------
    def find(self, signature: str) -> TrackerIssue | None:
        """The oldest work item tagged with the signature (see ``find_all``)."""
        found = self.find_all(signature)
        return found[0] if found else None

    def find_all(self, signature: str) -> list[TrackerIssue]:
        """The work items tagged with the signature, oldest first: WIQL for candidates, then
        one read of their tags, since ``CONTAINS`` may also match a longer tag."""
        found = self._call("find", lambda: self._find_once(self.tag(signature)))
        log.info("azure_devops.found", signature=signature, keys=[i.key for i in found])
        return found

    def _find_once(self, tag: str) -> list[TrackerIssue]:
        # WIQL, not SQL: the one value is an escaped string literal.
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"  # noqa: S608
            f" AND [System.Tags] CONTAINS {_wiql_string(tag)} ORDER BY [System.Id] ASC"
        )
        result = self._request(
            "POST",
            f"{self._project}/_apis/wit/wiql",
            params={"$top": str(FIND_CANDIDATES)},
            body={"query": query},
        )
        ids = [str(item["id"]) for item in result.get("workItems") or ()]
        if not ids:
            return []
        wanted = tag.casefold()
        items = sorted(self._list(ids, _STATE, _TAGS), key=lambda raw: int(raw["id"]))
        return [
            self._issue(raw)
            for raw in items
            if wanted in (t.casefold() for t in _tags(raw["fields"].get(_TAGS)))
        ]

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """File the draft in one POST. Only a 429/503 (nothing filed) is retried here; after an
        ambiguous failure (timeout, lost connection) ``TrackerUnavailable`` hands the retry to
        the outbox, whose ``find`` comes first."""
        operations = [
            {"op": "add", "path": f"/fields/{name}", "value": value}
            for name, value in self._create_fields(draft).items()
        ]
        work_item_type = quote(draft.issue_type or self.settings.work_item_type)
        path = f"{self._project}/_apis/wit/workitems/${work_item_type}"
        raw = self._call(
            "create",
            lambda: self._request("POST", path, body=operations, content_type=_PATCH_TYPE),
            replay_safe=False,
        )
        created = self._issue(raw)
        log.info("azure_devops.created", key=created.key, signature=draft.signature)
        return created

    def _create_fields(self, draft: DefectDraft) -> dict[str, Any]:
        """The draft as work item fields. A rule's ``project`` is not used: work items go to
        the configured project, the one ``find`` searches. Its ``components`` become tags:
        area paths are an administered tree, and one wrong name would refuse every create."""
        tags = dict.fromkeys(
            t for t in (self.tag(draft.signature), *map(_tag, draft.labels + draft.components)) if t
        )
        s = self.settings
        fields: dict[str, Any] = {
            "System.Title": _title(draft.title),
            s.description_field: self._renderer.render(draft),
            _TAGS: "; ".join(tags),
        }
        if s.area_path:
            fields["System.AreaPath"] = s.area_path
        if s.iteration_path:
            fields["System.IterationPath"] = s.iteration_path
        if draft.priority:
            priority = draft.priority.strip()
            value = priority if priority in _PRIORITY_VALUES else s.priorities.get(priority.lower())
            if value is None:
                log.warning("azure_devops.priority_unmapped", priority=priority)
            else:
                fields[_PRIORITY] = int(value)
        if draft.assignee:
            fields["System.AssignedTo"] = draft.assignee
        if s.occurrences_field:
            fields[s.occurrences_field] = draft.occurrences
        return fields

    def get(self, key: str) -> TrackerIssue:
        return self._call("get", lambda: self._issue(self._read(key, _STATE)))

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """One ``GET workitems?ids=`` per ``STATUS_CHUNK`` work items, keyed by the keys as
        given; keys that are no work item number (another tracker's) are left out."""
        wanted: dict[str, list[str]] = {}
        foreign = 0
        for key in keys:
            match = _KEY.fullmatch(key.strip())
            if match is None:
                foreign += 1
                continue
            wanted.setdefault(match[1], []).append(key)
        if foreign:
            log.info("azure_devops.foreign_keys", keys=foreign)
        ids = sorted(wanted, key=int)
        found: dict[str, TrackerIssue] = {}
        for i in range(0, len(ids), STATUS_CHUNK):
            chunk = ids[i : i + STATUS_CHUNK]
            for raw in self._call("statuses", partial(self._list, chunk, _STATE)):
                issue = self._issue(raw)
                found.update((key, issue) for key in wanted.get(issue.key, ()))
        log.info("azure_devops.statuses", keys=len(ids), found=len(found))
        return found

    def update_occurrences(
        self, key: str, update: OccurrenceUpdate, mark: CommentMark | None = None
    ) -> bool:
        """At most one field edit (the total, if configured) and one comment per ``mark``."""
        field_name = self.settings.occurrences_field
        if field_name:
            operations = [{"op": "add", "path": f"/fields/{field_name}", "value": update.total}]
            self._call("count", lambda: self._patch(key, operations))
        posted = self._comment(key, occurrence_comment(update), mark)
        log.info(
            "azure_devops.occurrences", key=key, new=update.new, total=update.total, posted=posted
        )
        return posted

    def reopen(self, key: str, comment: str, mark: CommentMark | None = None) -> TrackerIssue:
        """Move a resolved work item to ``reopen_state``, then comment; an open one only gets
        the comment. Safe to repeat: the state is read before it is set."""

        def transition() -> TrackerIssue:
            issue = self._issue(self._read(key, _STATE))
            if not issue.resolved:
                return issue
            state = self.settings.reopen_state
            return self._issue(
                self._patch(key, [{"op": "add", "path": f"/fields/{_STATE}", "value": state}])
            )

        issue = self._call("reopen", transition)
        self._comment(key, comment, mark)
        log.info("azure_devops.reopened", key=key, state=issue.status)
        return issue

    def close_duplicate(self, key: str, original: str) -> None:
        """One revision under a ``test /rev``: the "Duplicate Of" link (unless there), and
        unless resolved already, ``duplicate_state`` with the comment. Read first, so a retry
        after a lost answer repeats nothing."""
        number = work_item_id(original)

        def close() -> None:
            raw = self._request("GET", self._item_path(key), params={"$expand": "relations"})
            operations: list[dict[str, Any]] = []
            if not any(
                r.get("rel") == _DUPLICATE_OF and str(r.get("url", "")).endswith(f"/{number}")
                for r in raw.get("relations") or ()
            ):
                url = f"{self._base}/_apis/wit/workItems/{number}"
                link = {"rel": _DUPLICATE_OF, "url": url}
                operations.append({"op": "add", "path": "/relations/-", "value": link})
            comment = duplicate_comment(f"#{number}")
            operations += self._closing(raw, self.settings.duplicate_state, comment)
            if operations:
                self._patch(key, [{"op": "test", "path": "/rev", "value": raw["rev"]}, *operations])

        self._call("duplicate", close)
        log.info("azure_devops.duplicate_closed", key=key, original=number)

    def close(self, key: str, comment: str) -> TrackerIssue:
        """``undo_state`` with the comment in one revision under a ``test /rev``, unless
        resolved already."""

        def close_once() -> TrackerIssue:
            raw = self._read(key, _STATE)
            operations = self._closing(raw, self.settings.undo_state, comment)
            if not operations:
                return self._issue(raw)
            test = {"op": "test", "path": "/rev", "value": raw["rev"]}
            return self._issue(self._patch(key, [test, *operations]))

        issue = self._call("close", close_once)
        log.info("azure_devops.closed", key=key, state=issue.status)
        return issue

    def link_signature(self, key: str, signature: str) -> None:
        """Add the signature's tag once. Tags are one field, so it is read, extended and
        written back under a ``test /rev``: a tag someone added meanwhile makes the write
        fail (412) and the whole step is retried, never lost."""
        tag = self.tag(signature)

        def add_tag() -> None:
            raw = self._read(key, _TAGS)
            tags = _tags(raw.get("fields", {}).get(_TAGS))
            if tag.casefold() in (t.casefold() for t in tags):
                return
            self._patch(
                key,
                [
                    {"op": "test", "path": "/rev", "value": raw["rev"]},
                    {"op": "add", "path": f"/fields/{_TAGS}", "value": "; ".join([*tags, tag])},
                ],
            )

        self._call("link", add_tag)
        log.info("azure_devops.linked", key=key, signature=signature)


def _build(settings: AzureDevOpsSettings, context: TrackerContext) -> AzureDevOpsTracker:
    return AzureDevOpsTracker(settings, template_dir=context.template_dir, wall_clock=context.clock)


KIND = TrackerKind(
    name="azure_devops",
    settings=AzureDevOpsSettings,
    build=_build,
    key_pattern=KEY_PATTERN,
    # the bare number, so ``duplicate AB#123`` and ``duplicate 123`` store the same key
    normalize=work_item_id,
    url=_web_url,
    describe=lambda s: f"azure_devops: {s.url} project {s.project} ({s.work_item_type})",
)
