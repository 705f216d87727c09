"""The Jira adapter (Cloud and Data Center) behind the ``Tracker`` protocol.

The ``jira`` client runs with ``max_retries=0``: its own retries sleep for tens of seconds, re-send
creates and choke on an HTTP-date Retry-After. Here every call goes through ``map_jira_errors()``
(the one place foreign errors become ``TrackerError``/``TrackerUnavailable``) and ``_call()``,
which retries 429/503/timeouts with capped exponential backoff honouring Retry-After, under an
overall deadline. Calls that are not safe to repeat (create, comment, attachment) are only
re-sent when Jira said it did not process them (429/503); after a lost create response the
outbox retries later and looks the signature label up first, so it never files twice.
Comments are plain text and escaped here, so report values never become markup; each one
carries its effect's id as the comment property ``triagebot`` (set with the comment, in one
request), which a retry looks for before posting again. A duplicate is linked with the
``Duplicate`` link type and closed through ``duplicate_transition``, the comment riding on
the transition; an issue whose confirmation was undone is closed the same way through
``undo_transition``.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
import structlog
from jira import JIRA, JIRAError

from triagebot import templates
from triagebot.clock import Clock, system_clock
from triagebot.config import Secret
from triagebot.errors import TrackerError, TrackerUnavailable
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
    parse_retry_after,
    requests_error,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "JiraSettings",
    "JiraTracker",
    "escape_markup",
    "map_jira_errors",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

DESCRIPTION_LIMIT = 32_767  # Jira's limit for text fields
SUMMARY_LIMIT = 255
ATTACHMENT_NAME = "trace.txt"
DEFAULT_TEMPLATE = "defect_description.jira.j2"
DEFAULT_RESOLVED_STATUSES = ("Resolved", "Closed", "Done")
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
_MESSAGE_LIMIT = 4_000  # the exception message in the description; the trace holds the rest
_TRUNCATION_MARK = "\n… (truncated)"
_RETRY_STATUSES = frozenset({429, 503})  # Jira did not process the request
#: Keys per status search: the JQL stays far below URL limits and fits one page on Cloud.
STATUS_CHUNK = 100
#: Issues per page: Cloud's ``search/jql`` returns at most 100 when fields are asked for.
STATUS_PAGE = 100
_STATUS_FIELDS = ("status", "resolution")
#: Issues a label search reads: the oldest is kept, the others are closed as duplicates.
FIND_LIMIT = 10
DUPLICATE_LINK = "Duplicate"  # a link type every Jira has: "duplicates" / "is duplicated by"
#: The comment property holding the effect id (``{"effect": 123}``).
MARK_PROPERTY = "triagebot"


@dataclass(frozen=True, slots=True)
class JiraSettings:
    """``[tracker.jira]``; ``token`` comes from ``token_env`` / ``token_file``.

    ``auth``: ``token`` = Cloud e-mail + API token (basic), ``pat`` = Data Center personal access
    token (bearer). ``deployment``: ``auto`` asks serverInfo. ``occurrences_field``: a custom
    field id (``customfield_10050``) set to the total count on each update, if given.
    ``duplicate_transition``: how a duplicate is closed (a Cloud workflow may call it ``Done``);
    ``undo_transition``: how an issue whose confirmation was undone is closed.
    """

    url: str = ""
    project: str = ""
    username: str = ""
    token: Secret | None = None
    auth: Literal["token", "pat"] = "token"
    issue_type: str = "Bug"
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    reopen_transition: str = "Reopen"
    duplicate_transition: str = "Close Issue"
    undo_transition: str = "Close Issue"
    resolved_statuses: tuple[str, ...] = DEFAULT_RESOLVED_STATUSES
    label_prefix: str = SIGNATURE_LABEL_PREFIX
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
            yield "url", "not a URL" if self.url else "required: the Jira site's address"
        elif parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
            yield "url", "must be https (TLS) unless the server is on localhost"
        if not self.project:
            yield "project", "required: the key of the project defects are filed in"
        if self.token is None or not self.token.reveal():
            yield "token_env", "required: the API token or PAT (or token_file)"
        if self.auth == "token" and not self.username:
            yield "username", "required with auth = 'token' (the Atlassian account e-mail)"
        if self.timeout <= 0 or self.deadline <= 0:
            yield "deadline", "timeouts must be more than 0 seconds"
        if not self.duplicate_transition:
            yield "duplicate_transition", "required: the transition that closes a duplicate"
        if not self.undo_transition:
            yield "undo_transition", "required: the transition that closes an undone issue"

    @property
    def secret(self) -> str:
        return self.token.reveal() if self.token is not None else ""


# --- errors ---------------------------------------------------------------------------------


def _from_jira_error(exc: JIRAError, now: datetime) -> TrackerError:
    status = exc.status_code
    text = f"Jira answered {status} for {exc.url}: {exc.text}" if status else f"Jira: {exc.text}"
    if status is not None and (status == 429 or status >= 500):
        headers = exc.response.headers if exc.response is not None else {}
        hint = parse_retry_after(headers.get("Retry-After"), now)
        return HttpUnavailable(text, status, hint)
    return TrackerError(text)


@contextmanager
def map_jira_errors(clock: Clock = system_clock) -> Iterator[None]:
    """Turn ``JIRAError`` and ``requests`` errors into triagebot's tracker errors.

    429 and 5xx, timeouts and lost connections are ``TrackerUnavailable`` (retry later); other
    answers (4xx, bad TLS, malformed URLs) are ``TrackerError``. Messages carry status, URL and
    Jira's error text, never request headers.
    """
    try:
        yield
    except JIRAError as exc:
        raise _from_jira_error(exc, clock()) from exc
    except requests.exceptions.RequestException as exc:
        raise requests_error(exc, "Jira") from exc


# --- rendering ------------------------------------------------------------------------------

_INLINE = re.compile(r"[\\{}\[\]*_|!^+~?]")
# Indentation within the line ("\s*" ran over every following blank line from each line start).
_LINE_START = re.compile(r"^([^\S\n]*)([-#]|h[1-6]\.|bq\.)", re.MULTILINE)
_NOFORMAT = re.compile(r"\{(noformat)", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def _escape_char(m: re.Match[str]) -> str:
    char = m.group()
    return "&#92;" if char == "\\" else "\\" + char


def escape_markup(text: object) -> str:
    """Escape Jira wiki markup so report text shows literally (backslash becomes ``&#92;``)."""
    escaped = _INLINE.sub(_escape_char, str(text).replace("\r\n", "\n"))
    return _LINE_START.sub(r"\1\\\2", escaped)


def _noformat(text: str) -> str:
    """Keep a ``{noformat}`` inside the trace from closing the block (a zero-width space)."""
    return _NOFORMAT.sub("{\u200b\\1", text.replace("\r\n", "\n"))


def _summary(title: str) -> str:
    line = _WHITESPACE.sub(" ", title).strip() or "Error report"
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def _jql_string(text: str) -> str:
    """``text`` as a quoted JQL string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(text: str) -> str:
    """Jira labels may not contain whitespace."""
    return _WHITESPACE.sub("_", text.strip())[:255]


_FILTERS: templates.Filters = (("jira", escape_markup), ("noformat", _noformat))


@dataclass(frozen=True, slots=True)
class _Description:
    text: str
    full_trace: str | None  # set when the trace was truncated and must be attached


class _Renderer:
    """Renders the description template, truncating the trace to fit Jira's limit."""

    def __init__(self, template_dir: Path | None) -> None:
        # Wiki markup is not HTML: report text is escaped by |jira, and the template spells
        # out its own whitespace, so blocks are not trimmed.
        env = templates.environment(template_dir, trim_blocks=False, filters=_FILTERS)
        self._template = env.get_template(DEFAULT_TEMPLATE)

    def _render(self, draft: DefectDraft, trace: str, truncated: bool) -> str:
        return self._template.render(
            draft=draft,
            message=draft.message[:_MESSAGE_LIMIT],
            trace=trace,
            truncated=truncated,
            attachment_name=ATTACHMENT_NAME,
        )

    def render(self, draft: DefectDraft) -> _Description:
        text = self._render(draft, draft.trace_text, truncated=False)
        if len(text) <= DESCRIPTION_LIMIT:
            return _Description(text, None)
        overhead = len(self._render(draft, "", truncated=True))
        # _noformat may lengthen the trace by one character per {noformat}; leave room for it.
        budget = DESCRIPTION_LIMIT - overhead - len(_TRUNCATION_MARK) - 64
        if budget <= 0:
            raise TrackerError("the defect description exceeds Jira's limit without its trace")
        cut = draft.trace_text[:budget]
        newline = cut.rfind("\n")
        if newline > budget // 2:
            cut = cut[:newline]
        text = self._render(draft, cut + _TRUNCATION_MARK, truncated=True)
        return _Description(text, draft.trace_text)


# --- the tracker ----------------------------------------------------------------------------


class JiraTracker:
    """Files and updates defects in Jira; see the module docstring for the retry rules."""

    name = "jira"

    def __init__(
        self,
        settings: JiraSettings,
        *,
        template_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Clock = system_clock,
    ) -> None:
        """``template_dir`` overrides shipped templates; ``clock`` times the retries;
        ``wall_clock`` reads Retry-After dates."""
        self.settings = settings
        policy = RetryPolicy(settings.deadline, settings.backoff_base, settings.backoff_cap)
        errors = partial(map_jira_errors, wall_clock)
        self._retrier = Retrier("Jira", policy, errors, _RETRY_STATUSES, sleep=sleep, clock=clock)
        self._renderer = _Renderer(template_dir)
        self._client: JIRA | None = None
        self._client_lock = threading.Lock()
        self._base = settings.url.rstrip("/")
        self.settle_time = timedelta(seconds=settings.deadline)

    # -- plumbing ---------------------------------------------------------------------------
    def _jira(self) -> JIRA:
        """The client, connected on first use (its constructor already calls serverInfo)."""
        with self._client_lock:
            if self._client is None:
                s = self.settings
                auth: dict[str, Any] = (
                    {"basic_auth": (s.username, s.secret)}
                    if s.auth == "token"
                    else {"token_auth": s.secret}
                )
                client = JIRA(
                    s.url,
                    options={"verify": str(s.ca_file) if s.ca_file else s.verify},
                    timeout=s.timeout,
                    max_retries=0,
                    **auth,
                )
                if s.deployment != "auto":
                    client.deploymentType = "Cloud" if s.deployment == "cloud" else "Server"
                log.info("jira.connected", url=s.url, deployment=client.deploymentType)
                self._client = client
            return self._client

    def _is_cloud(self) -> bool:
        return bool(self._call("connect", lambda: self._jira().deploymentType == "Cloud"))

    def _call(self, op: str, fn: Callable[[], T], *, replay_safe: bool = True) -> T:
        return self._retrier.call(op, fn, replay_safe=replay_safe)

    def _issue(self, raw: dict[str, Any]) -> TrackerIssue:
        """An issue from its JSON; a resolution (when it was asked for) also means resolved,
        for workflows whose done statuses are not in ``resolved_statuses``."""
        fields = raw.get("fields") or {}
        status = str((fields.get("status") or {}).get("name", ""))
        key = str(raw["key"])
        return TrackerIssue(
            key=key,
            status=status,
            resolved=status in self.settings.resolved_statuses or bool(fields.get("resolution")),
            url=f"{self._base}/browse/{key}",
        )

    def _edit(self, key: str, body: dict[str, Any]) -> None:
        """One ``PUT issue/KEY``; ``Issue.update`` would GET the issue before and after."""
        client = self._jira()
        client._session.put(client._get_url(f"issue/{key}"), data=json.dumps(body))

    def _comment(self, key: str, text: str, mark: CommentMark | None) -> bool:
        """Post plain text as a comment (escaped, so report values cannot inject markup),
        once per ``mark``; True when posted now."""
        body: dict[str, Any] = {"body": escape_markup(text)}
        if mark is not None:
            body["properties"] = [{"key": MARK_PROPERTY, "value": {"effect": mark.effect}}]

        def post() -> None:
            client = self._jira()
            client._session.post(client._get_url(f"issue/{key}/comment"), data=json.dumps(body))

        return comment_once(
            "jira",
            mark,
            lambda: self._call("comments", partial(self._marks, key)),
            lambda: self._call("comment", post, replay_safe=False),
        )

    def _marks(self, key: str) -> set[int]:
        """The effect ids in the properties of the issue's recent comments."""
        client = self._jira()
        page = client._session.get(
            client._get_url(f"issue/{key}/comment"),
            params={
                "orderBy": "-created",
                "maxResults": str(RECENT_COMMENTS),
                "expand": "properties",
            },
        ).json()
        return {
            int(prop["value"]["effect"])
            for comment in page.get("comments") or ()
            for prop in comment.get("properties") or ()
            if prop.get("key") == MARK_PROPERTY and isinstance(prop.get("value"), dict)
        }

    def _transition(self, key: str, name: str, comment: str | None = None) -> bool:
        """Make the transition called ``name`` (with a comment, escaped), when offered."""
        client = self._jira()
        ids = [t["id"] for t in client.transitions(key) if t["name"].lower() == name.lower()]
        if not ids:
            return False
        body = None if comment is None else escape_markup(comment)
        client.transition_issue(key, str(ids[0]), comment=body)
        return True

    def label(self, signature: str) -> str:
        return _label(signature_label(signature, self.settings.label_prefix))

    # -- Tracker protocol -------------------------------------------------------------------
    def find(self, signature: str) -> TrackerIssue | None:
        found = self._call("find", partial(self._find_once, signature, 1))
        return found[0] if found else None

    def find_all(self, signature: str) -> list[TrackerIssue]:
        return self._call("find", partial(self._find_once, signature, FIND_LIMIT))

    def _find_once(self, signature: str, limit: int) -> list[TrackerIssue]:
        result = self._jira().search_issues(
            f"labels = {_jql_string(self.label(signature))} ORDER BY created ASC",
            maxResults=limit,
            fields="status,resolution",
            json_result=True,
        )
        return [self._issue(raw) for raw in result.get("issues") or ()]

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """One JQL search (``key in (...)``) per ``STATUS_CHUNK`` keys, paged."""
        unique = sorted(set(keys))
        found: dict[str, TrackerIssue] = {}
        for i in range(0, len(unique), STATUS_CHUNK):
            chunk = unique[i : i + STATUS_CHUNK]
            try:
                found.update(self._call("statuses", partial(self._statuses_once, chunk)))
            except TrackerUnavailable:
                raise
            except TrackerError as exc:  # e.g. Cloud refuses a ``key in`` naming a deleted issue
                log.warning("jira.statuses_refused", keys=len(chunk), error=str(exc))
                found.update(self._one_by_one(chunk))
        log.info("jira.statuses", keys=len(unique), found=len(found))
        return found

    def _one_by_one(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """Statuses of a chunk whose search was refused; issues that are gone are skipped."""
        found: dict[str, TrackerIssue] = {}
        for key in keys:
            try:
                found[key] = self.get(key)
            except TrackerUnavailable:
                raise
            except TrackerError as exc:
                log.info("jira.issue_missing", key=key, error=str(exc))
        return found

    def _statuses_once(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """Every page of one chunk's search: ``nextPageToken`` on Cloud, ``startAt`` on DC
        (where ``validate_query=False`` lets a deleted key drop out instead of failing)."""
        client = self._jira()
        cloud = client.deploymentType == "Cloud"
        jql = f"key in ({', '.join(map(_jql_string, keys))}) ORDER BY key ASC"
        found: dict[str, TrackerIssue] = {}
        token: str | None = None
        while True:
            if cloud:
                page = client.enhanced_search_issues(
                    jql,
                    nextPageToken=token,
                    maxResults=STATUS_PAGE,
                    fields=list(_STATUS_FIELDS),
                    json_result=True,
                )
            else:
                page = client.search_issues(
                    jql,
                    startAt=len(found),
                    maxResults=STATUS_PAGE,
                    validate_query=False,
                    fields=list(_STATUS_FIELDS),
                    json_result=True,
                )
            issues = page.get("issues") or []
            found.update((issue.key, issue) for issue in map(self._issue, issues))
            if cloud:
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return found
            elif not issues or len(found) >= int(page.get("total", 0)):
                return found

    def get(self, key: str) -> TrackerIssue:
        return self._call("get", lambda: self._issue(self._jira().issue(key, fields="status").raw))

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """File the draft. Only a 429/503 (Jira processed nothing) is retried here; after an
        ambiguous failure (timeout, lost connection) the issue may exist but Cloud's search is
        eventually consistent, so ``TrackerUnavailable`` hands the retry to the outbox, whose
        ``find`` runs a back-off (30 s+) later."""
        description = self._renderer.render(draft)
        fields = self._fields(draft, description.text)

        def create_once() -> TrackerIssue:
            raw = self._jira().create_issue(fields=fields, prefetch=False).raw
            return TrackerIssue(str(raw["key"]), "", False, f"{self._base}/browse/{raw['key']}")

        created = self._call("create", create_once, replay_safe=False)
        log.info("jira.created", key=created.key, signature=draft.signature)
        if description.full_trace is not None:
            self._attach(created.key, description.full_trace)
        return self.get(created.key)

    def _fields(self, draft: DefectDraft, description: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": draft.project or self.settings.project},
            "issuetype": {"name": draft.issue_type or self.settings.issue_type},
            "summary": _summary(draft.title),
            "description": description,
            "labels": list(
                dict.fromkeys([self.label(draft.signature), *map(_label, draft.labels)])
            ),
        }
        if draft.priority:
            fields["priority"] = {"name": draft.priority}
        if draft.components:
            fields["components"] = [{"name": c} for c in draft.components]
        if draft.assignee:
            fields["assignee"] = (
                {"accountId": draft.assignee} if self._is_cloud() else {"name": draft.assignee}
            )
        if self.settings.occurrences_field:
            fields[self.settings.occurrences_field] = draft.occurrences
        return fields

    def _attach(self, key: str, trace: str) -> None:
        """Attach the full trace; a failure is logged, not raised: the defect is already filed."""
        data = trace.encode("utf-8")
        try:
            self._call(
                "attach",
                lambda: self._jira().add_attachment(key, io.BytesIO(data), ATTACHMENT_NAME),
                replay_safe=False,
            )
        except TrackerError as exc:
            log.warning("jira.attach_failed", key=key, error=str(exc))

    def update_occurrences(
        self, key: str, update: OccurrenceUpdate, mark: CommentMark | None = None
    ) -> bool:
        if self.settings.occurrences_field:
            body = {"fields": {self.settings.occurrences_field: update.total}}
            self._call("count", lambda: self._edit(key, body))
        posted = self._comment(key, occurrence_comment(update), mark)
        log.info("jira.occurrences", key=key, new=update.new, total=update.total, posted=posted)
        return posted

    def reopen(self, key: str, comment: str, mark: CommentMark | None = None) -> TrackerIssue:
        name = self.settings.reopen_transition

        def transition() -> None:
            if (
                not self._transition(key, name)
                and self._issue(self._jira().issue(key, fields="status").raw).resolved
            ):
                raise TrackerError(f"{key}: no transition named {name!r} available")

        # Safe to repeat: a transition already made is no longer offered and the issue is open.
        self._call("reopen", transition)
        self._comment(key, comment, mark)
        log.info("jira.reopened", key=key)
        return self.get(key)

    def close_duplicate(self, key: str, original: str) -> None:
        """Link (unless linked), then close with the comment (unless resolved): each step
        reads first, so a retry after a lost answer repeats nothing."""
        name = self.settings.duplicate_transition

        def link() -> None:
            client = self._jira()
            links = client.issue(key, fields="issuelinks").raw["fields"].get("issuelinks") or ()
            if not any(
                (lk.get("type") or {}).get("name") == DUPLICATE_LINK
                and (lk.get("outwardIssue") or {}).get("key") == original
                for lk in links
            ):  # the inward issue "duplicates" the outward one
                body = {
                    "type": {"name": DUPLICATE_LINK},
                    "inwardIssue": {"key": key},
                    "outwardIssue": {"key": original},
                }
                client._session.post(client._get_url("issueLink"), data=json.dumps(body))

        self._call("duplicate", link)
        self._call("close", partial(self._close, key, name, duplicate_comment(original)))
        log.info("jira.duplicate_closed", key=key, original=original)

    def close(self, key: str, comment: str) -> TrackerIssue:
        name = self.settings.undo_transition
        self._call("close", partial(self._close, key, name, comment))
        log.info("jira.closed", key=key, transition=name)
        return self.get(key)

    def _close(self, key: str, name: str, comment: str) -> None:
        """The transition ``name`` with the comment riding on it, unless resolved already
        (read first, so a retry after a lost answer repeats nothing)."""
        if self._issue(self._jira().issue(key, fields="status,resolution").raw).resolved:
            return
        if not self._transition(key, name, comment):
            raise TrackerError(f"{key}: no transition named {name!r} available")

    def link_signature(self, key: str, signature: str) -> None:
        body = {"update": {"labels": [{"add": self.label(signature)}]}}
        self._call("link", lambda: self._edit(key, body))
        log.info("jira.linked", key=key, signature=signature)


def _build(settings: JiraSettings, context: TrackerContext) -> JiraTracker:
    return JiraTracker(settings, template_dir=context.template_dir, wall_clock=context.clock)


KIND = TrackerKind(
    name="jira",
    settings=JiraSettings,
    build=_build,
    key_pattern=r"(?i)[A-Z][A-Z0-9_]+-[0-9]+",
    normalize=str.upper,
    url=lambda s, key: f"{s.url.rstrip('/')}/browse/{key}",
    describe=lambda s: f"jira: {s.url} project {s.project}",
)
