"""The GitHub Issues adapter (github.com, GHE.com and Enterprise Server) behind ``Tracker``.

PyGithub runs with its own retries and pacing off (``retry=None``, no ``seconds_between_*``) and
lazy (``get_repo`` and ``get_issue`` send nothing): every call goes through
``map_github_errors()`` (the one place foreign errors become ``TrackerError`` or
``TrackerUnavailable``) and ``_call()``, which retries 429/5xx/rate limits/timeouts under an
overall deadline, waiting as GitHub asks: ``Retry-After`` (secondary limits), else until
``X-RateLimit-Reset`` when ``X-RateLimit-Remaining`` is 0 (an epoch, read against the injected
wall clock), else capped exponential backoff. Creates and comments are re-sent only when GitHub
refused them unprocessed (429, 503, a rate-limited 403); after an ambiguous failure the outbox
retries later and ``find`` comes first, so nothing is filed twice.

The signature marker is the label ``errsig-<signature>``, created before use. ``find`` lists
``GET /repos/{o}/{r}/issues?labels=...&state=all&sort=created&direction=asc`` rather than
searching: the search index lags behind writes (a just-filed issue can be missing for a
while, exactly when the outbox looks for a create whose answer was lost), its order is less
certain and its limit is 30 requests a minute. The list is consistent and oldest first; it also
holds pull requests, which are skipped.

``statuses`` pages through the same list, newest first, filtered by the first of ``labels``
(on every issue triagebot files) and stops once every key is seen or the numbers fall below the
smallest key, so 100 tracked issues cost one request. Keys it did not meet (someone removed
the label) are fetched one by one, at most ``STATUS_FALLBACK`` per sync, taking turns.

Report text is escaped here (``escape_markdown``): it never becomes markup, a mention, a
reference or a link. A comment ends with its effect's mark as an HTML comment (GitHub renders
none), which a retry looks for on the last page of the issue's comments before posting again.
A duplicate is closed with ``duplicate_reason`` and a "Duplicate of #N" comment, which GitHub
shows as a link to the kept issue; an issue whose confirmation was undone is closed with
``undo_reason`` and its comment.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
import structlog
from github import Auth, Github
from github.GithubException import (
    BadAttributeException,
    GithubException,
    RateLimitExceededException,
)

from triagebot import __version__, templates
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
    HttpUnavailable,
    Retrier,
    RetryPolicy,
    comment_once,
    html_mark,
    html_marks,
    requests_error,
)

__all__ = [
    "BODY_LIMIT",
    "KIND",
    "GitHubSettings",
    "GitHubTracker",
    "HttpUnavailable",
    "code_fence",
    "escape_markdown",
    "issue_number",
    "map_github_errors",
    "rate_limit_wait",
    "web_url",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_LABELS = ("triagebot", "bug")
DEFAULT_REOPEN_COMMENT = "Reopened by triagebot: the error came back."
#: ``state_reason`` values a duplicate may be closed with (``duplicate`` is newest).
DUPLICATE_REASONS = ("duplicate", "not_planned", "completed")
DEFAULT_TEMPLATE = "defect_description.github.md.j2"
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
BODY_LIMIT = 65_536  # characters in an issue body or comment
TITLE_LIMIT = 256
LABEL_LIMIT = 50
SIGNATURE_LABEL_COLOR = "5319e7"
SIGNATURE_LABEL_DESCRIPTION = "triagebot error signature (how triagebot finds this issue)"
#: GitHub's advice for a secondary rate limit that names no wait: at least a minute.
SECONDARY_LIMIT_WAIT = 60.0
PAGE_SIZE = 100  # GitHub's maximum
#: Pages one list may take (``find``, ``statuses``): 1,000 issues.
MAX_PAGES = 10
#: Issues fetched one by one per status sync when the list did not show them.
STATUS_FALLBACK = 20
_MESSAGE_LIMIT = 4_000  # the exception message in the body; the trace holds the rest
#: Statuses of requests GitHub did not process: safe to send again, even a create.
_UNPROCESSED = frozenset({403, 429, 503})  # 403 only reaches _call as a rate limit
_KEY = re.compile(r"#?([1-9][0-9]*)")
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LOCALHOST = ("127.0.0.1", "localhost", "::1")
_AUTH_REQUIRED = (
    "required: a token (token_env or token_file) or a GitHub App"
    " (app_id, private_key_file, installation_id)"
)


@dataclass(frozen=True, slots=True)
class GitHubSettings:
    """``[tracker.github]``; a token (``token_env`` / ``token_file``) or a GitHub App
    (``app_id``, ``private_key_env`` / ``private_key_file``, ``installation_id``).

    ``base_url`` is the API root: ``https://HOST/api/v3`` on Enterprise Server. ``labels`` go on
    every issue; the first also marks triagebot's issues for the status sync. ``reopen_comment``
    is Markdown written by the operator (it may mention a team) and heads the reopen comment.
    ``timeout`` is whole seconds: PyGithub takes no fractions. ``duplicate_reason``: the
    ``state_reason`` a duplicate is closed with (``not_planned`` where ``duplicate`` is unknown);
    ``undo_reason``: the one an issue whose confirmation was undone is closed with.
    """

    base_url: str = DEFAULT_BASE_URL
    repository: str = ""
    token: Secret | None = None
    app_id: int = 0
    private_key: Secret | None = None
    installation_id: int = 0
    labels: tuple[str, ...] = DEFAULT_LABELS
    label_prefix: str = SIGNATURE_LABEL_PREFIX
    reopen_comment: str = DEFAULT_REOPEN_COMMENT
    duplicate_reason: str = DUPLICATE_REASONS[0]
    undo_reason: str = "not_planned"
    timeout: int = 30  # seconds per request
    deadline: float = 300.0  # seconds for a call with all its retries
    verify: bool = True
    ca_file: Path | None = None
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP

    def problems(self) -> Iterator[tuple[str, str]]:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield "base_url", "not a URL (the API root, e.g. https://ghe.example.com/api/v3)"
        elif parts.scheme != "https" and parts.hostname not in _LOCALHOST:
            yield "base_url", "must be https (TLS) unless the server is on localhost"
        if not _REPOSITORY.fullmatch(self.repository):
            yield "repository", "required: the repository issues are filed in, as owner/name"
        yield from self._auth_problems()
        if any(not n.strip() or "," in n or len(n) > LABEL_LIMIT for n in self.labels):
            yield "labels", f"label names must be 1-{LABEL_LIMIT} characters without commas"
        if not self.label_prefix or "," in self.label_prefix or len(self.label_prefix) > 30:
            yield "label_prefix", "must be 1-30 characters without commas"
        if self.duplicate_reason not in DUPLICATE_REASONS:
            yield "duplicate_reason", f"one of {', '.join(DUPLICATE_REASONS)}"
        if self.undo_reason not in DUPLICATE_REASONS:
            yield "undo_reason", f"one of {', '.join(DUPLICATE_REASONS)}"
        if self.timeout <= 0:
            yield "timeout", "must be at least 1 second"
        if self.deadline <= 0:
            yield "deadline", "must be more than 0 seconds"

    def _auth_problems(self) -> Iterator[tuple[str, str]]:
        app = bool(self.app_id or self.installation_id or self.private_key)
        if self.token is not None and app:
            yield "token_env", "give a token or a GitHub App (app_id ...), not both"
        elif self.token is None and not app:
            yield "token_env", _AUTH_REQUIRED
        elif app:
            if self.app_id <= 0:
                yield "app_id", "required with a GitHub App: its numeric App ID"
            if self.installation_id <= 0:
                yield "installation_id", "required with a GitHub App: the installation's id"
            if self.private_key is None:
                yield "private_key_file", "required with a GitHub App: its private key (PEM)"
            else:
                yield from _key_problems(self.private_key)


def _key_problems(key: Secret) -> Iterator[tuple[str, str]]:
    """A trial signature with the key, as the App's JWTs are signed (no I/O)."""
    try:
        jwt.encode({"iss": "check"}, key.reveal(), algorithm="RS256")
    except (jwt.PyJWTError, ValueError, TypeError):  # TypeError: a passphrase is needed
        where = "private_key_env" if key.source.startswith("env:") else "private_key_file"
        yield where, "not an unencrypted RSA private key in PEM form (as GitHub hands it out)"


def issue_number(key: str) -> int:
    """``#123`` or ``123`` as the issue number: every method that takes a key asks this first."""
    m = _KEY.fullmatch(key.strip())
    if m is None:
        raise TrackerError(f"{key!r} is not a GitHub issue key (#123 or 123)")
    return int(m[1])


def web_url(base_url: str) -> str:
    """The site of an API root: api.github.com → github.com, api.X.ghe.com → X.ghe.com,
    https://HOST/api/v3 (Enterprise Server) → https://HOST."""
    parts = urlsplit(base_url.rstrip("/"))
    host, path = parts.netloc, parts.path
    if path.endswith("/api/v3"):
        path = path.removesuffix("/api/v3")
    elif host.startswith("api."):
        host = host.removeprefix("api.")
    return urlunsplit((parts.scheme, host, path, "", ""))


def issue_url(settings: GitHubSettings, number: int) -> str:
    return f"{web_url(settings.base_url)}/{settings.repository}/issues/{number}"


# --- errors ---------------------------------------------------------------------------------


def rate_limit_wait(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds GitHub asks to wait: ``Retry-After`` (secondary limits, 503), else, when the
    primary limit is spent (``X-RateLimit-Remaining: 0``), until ``X-RateLimit-Reset`` (epoch
    seconds, counted from ``now``). Header names in lower case, as PyGithub keeps them."""
    retry_after = headers.get("retry-after", "").strip()
    if _NUMBER.fullmatch(retry_after):
        return float(retry_after)
    reset = headers.get("x-ratelimit-reset", "").strip()
    if headers.get("x-ratelimit-remaining", "").strip() == "0" and _NUMBER.fullmatch(reset):
        return max(0.0, float(reset) - now.timestamp())
    return None


def _describe(exc: GithubException) -> str:
    """GitHub's message and its validation errors; never request headers (the token)."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or data.get("data") or exc.message or "no message")
    details = [
        e if isinstance(e, str) else f"{e.get('field', '?')}: {e.get('message') or e.get('code')}"
        for e in data.get("errors") or ()
        if isinstance(e, str | dict)
    ]
    return message[:500] + (f" ({'; '.join(details)})" if details else "")


def _from_github_error(exc: GithubException, now: datetime) -> TrackerError:
    status = exc.status
    headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    text = f"GitHub answered {status}: {_describe(exc)}"
    wait = rate_limit_wait(headers, now)
    limited = status == 429 or (
        status == 403 and (wait is not None or isinstance(exc, RateLimitExceededException))
    )
    if limited:
        return HttpUnavailable(text, status, SECONDARY_LIMIT_WAIT if wait is None else wait)
    if status >= 500:
        return HttpUnavailable(text, status, wait)
    return TrackerError(text)


@contextmanager
def map_github_errors(clock: Clock = system_clock) -> Iterator[None]:
    """Turn PyGithub, ``requests`` and JWT errors into triagebot's tracker errors.

    429, a rate-limited 403 and 5xx, timeouts and lost connections are ``TrackerUnavailable``
    (retry later; ``HttpUnavailable`` carries the wait GitHub asked for, ``clock`` reads
    ``X-RateLimit-Reset``); other answers (401, 403, 404, 410, 422), malformed answers, bad TLS
    and an unusable App key are ``TrackerError``.
    """
    try:
        yield
    except GithubException as exc:
        raise _from_github_error(exc, clock()) from exc
    except requests.exceptions.RequestException as exc:
        raise requests_error(exc, "GitHub") from exc
    except (BadAttributeException, json.JSONDecodeError) as exc:
        raise TrackerError(f"GitHub answered something unexpected: {exc!r}") from exc
    except jwt.PyJWTError as exc:
        raise TrackerError(f"GitHub App: cannot sign a JWT with the private key: {exc}") from exc


# --- rendering ------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n]+")
_CARRIAGE_RETURNS = re.compile(r"\r\n?")
_WHITESPACE = re.compile(r"\s+")
#: Words GitHub links after rendering: ``www.`` (autolinks) and ``GH-123`` (references).
_LINKED_WORDS = re.compile(r"(?i)\b(?:www(?=\.)|gh(?=-[0-9]))")
#: Any ASCII punctuation (CommonMark lets a backslash escape each); a colon before a letter or
#: a slash (``https://``, ``:emoji:``) is caught by the first group.
_PUNCTUATION = re.compile(r"(:)(?=[A-Za-z/])|[!-/:-@\[-`{-~]")
_BACKTICKS = re.compile(r"`+")
_ZWSP = "\u200b"  # zero width space: breaks a mention or a link, invisible when read


def _escape_char(m: re.Match[str]) -> str:
    char = m.group()
    return "\\" + char + (_ZWSP if m.group(1) or char in "@#" else "")


def escape_markdown(text: object) -> str:
    """``text`` as one line of inert GitHub Markdown.

    Every ASCII punctuation character is backslash-escaped, so nothing becomes emphasis, a
    link, HTML, a table cell or a heading. GitHub finds mentions (``@team``), references
    (``#12``, ``GH-12``) and bare links (``https://``, ``www.``) in the rendered text, where
    the backslashes are gone: a zero width space after ``@``, ``#``, such a colon, ``www`` and
    ``GH`` breaks them. Line breaks become spaces (a value sits in a table cell or a sentence).
    """
    one_line = _LINE_BREAKS.sub(" ", str(text))
    return _PUNCTUATION.sub(_escape_char, _LINKED_WORDS.sub("\\g<0>" + _ZWSP, one_line))


def code_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``: it cannot close early."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def _title(title: str) -> str:
    line = _WHITESPACE.sub(" ", title).strip() or "Error report"
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1] + "…"


def _label(text: str) -> str:
    return text.strip()[:LABEL_LIMIT]


_FILTERS: templates.Filters = (("md", escape_markdown),)


class _Renderer:
    """Renders the issue body, shortening the trace in its middle to fit GitHub's limit (the
    head holds the exception on .NET and Java, the tail on Python)."""

    def __init__(self, template_dir: Path | None) -> None:
        env = templates.environment(template_dir, trim_blocks=False, filters=_FILTERS)
        self._template = env.get_template(DEFAULT_TEMPLATE)

    def _render(self, draft: DefectDraft, trace: str, fence: str, omitted: int) -> str:
        return self._template.render(
            draft=draft,
            message=draft.message[:_MESSAGE_LIMIT],
            trace=trace,
            fence=fence,
            omitted=omitted,
            limit=BODY_LIMIT,
        )

    def render(self, draft: DefectDraft) -> str:
        trace = _CARRIAGE_RETURNS.sub("\n", draft.trace_text).rstrip()
        fence = code_fence(trace)  # a fence fit for the whole trace fits any part of it
        text = self._render(draft, trace, fence, 0)
        if len(text) <= BODY_LIMIT:
            return text
        gap = f"\n[… {len(trace)} characters left out …]\n"
        # Rendered with the largest count: the real one never takes more digits.
        budget = BODY_LIMIT - len(self._render(draft, gap, fence, len(trace)))
        if budget <= 0:
            raise TrackerError("the issue body exceeds GitHub's limit without its trace")
        head = trace[: budget * 2 // 3]
        head = head[: head.rfind("\n")] if head.rfind("\n") > len(head) // 2 else head
        tail = trace[len(trace) - (budget - len(head)) :]
        tail = tail[tail.find("\n") + 1 :] if 0 <= tail.find("\n") < len(tail) // 2 else tail
        omitted = len(trace) - len(head) - len(tail)
        gap = f"\n[… {omitted} characters left out …]\n"
        return self._render(draft, head + gap + tail, fence, omitted)


# --- the tracker ----------------------------------------------------------------------------


def _auth(settings: GitHubSettings) -> Auth.Auth:
    """A token, or the App's installation token (minted and renewed by PyGithub)."""
    if settings.token is not None:
        return Auth.Token(settings.token.reveal())
    if settings.private_key is None:
        raise TrackerError("GitHub: neither a token nor a GitHub App private key is configured")
    app = Auth.AppAuth(settings.app_id, settings.private_key.reveal())
    return app.get_installation_auth(settings.installation_id)


def _next_link(headers: Mapping[str, Any]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    links = requests.utils.parse_header_links(str(headers.get("link", "")))
    return next((link["url"] for link in links if link.get("rel") == "next"), None)


def _already_exists(exc: GithubException) -> bool:
    errors = exc.data.get("errors") if isinstance(exc.data, dict) else None
    return exc.status == 422 and any(
        isinstance(e, dict) and e.get("code") == "already_exists" for e in errors or ()
    )


class GitHubTracker:
    """Files and updates defects as GitHub issues; see the module docstring for the rules."""

    name = "github"

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        template_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Clock = system_clock,
    ) -> None:
        """``template_dir`` overrides shipped templates; ``clock`` times the retries;
        ``wall_clock`` reads ``X-RateLimit-Reset``."""
        self.settings = settings
        self.settle_time = timedelta(seconds=settings.deadline)
        policy = RetryPolicy(settings.deadline, settings.backoff_base, settings.backoff_cap)
        errors = partial(map_github_errors, wall_clock)
        self._retrier = Retrier("GitHub", policy, errors, _UNPROCESSED, sleep=sleep, clock=clock)
        self._renderer = _Renderer(template_dir)
        self._github = Github(
            auth=_auth(settings),
            base_url=settings.base_url.rstrip("/"),
            timeout=settings.timeout,
            user_agent=f"triagebot/{__version__}",
            per_page=PAGE_SIZE,
            verify=str(settings.ca_file) if settings.ca_file else settings.verify,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        self._repo = self._github.get_repo(settings.repository)  # lazy: no request
        self._fallback_turn = 0

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, op: str, fn: Callable[[], T], *, replay_safe: bool = True) -> T:
        return self._retrier.call(op, fn, replay_safe=replay_safe)

    def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        """One GET through PyGithub's requester, answered as JSON: PyGithub's listed objects
        would each be fetched again when asked for a key they lack (``pull_request``)."""
        return self._github.requester.requestJsonAndCheck("GET", url, parameters=params)

    def _page(
        self, url: str, params: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of issues and the URL of the next (``Link: rel="next"``), if any."""
        headers, data = self._get(url, params)
        if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
            raise TrackerError(f"GitHub answered something that is not a list: {data!r:.200}")
        return data, _next_link(headers)

    def _pages(self, op: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Up to ``MAX_PAGES`` pages of the repository's issue list, each fetched (and
        retried) only when the caller asks for it."""
        url: str | None = f"{self._repo.url}/issues"
        query: dict[str, Any] | None = {**params, "per_page": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page, url = self._call(op, partial(self._page, url, query))
            query = None  # the next URL carries the query
            yield page

    def _issue(self, raw: Any) -> TrackerIssue:
        """An issue from its JSON. Resolved means closed, whatever the reason (completed, not
        planned); the reason shows in the status: ``closed (not planned)``, ``open (reopened)``."""
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("number"), int)
            and raw.get("state") in ("open", "closed")
        ):
            raise TrackerError(f"GitHub answered something that is not an issue: {raw!r:.200}")
        state, reason = raw["state"], raw.get("state_reason")
        status = (
            f"{state} ({str(reason).replace('_', ' ')})"
            if reason not in (None, "completed")
            else state
        )
        return TrackerIssue(
            key=str(raw["number"]),
            status=status,
            resolved=state == "closed",
            url=issue_url(self.settings, raw["number"]),
        )

    def _get_issue(self, number: int) -> TrackerIssue:
        return self._call(
            "get", lambda: self._issue(self._get(f"{self._repo.url}/issues/{number}")[1])
        )

    def _ensure_label(self, name: str) -> None:
        """Create the label; one that exists already (422 ``already_exists``) is fine."""

        def create() -> bool:
            try:
                self._repo.create_label(name, SIGNATURE_LABEL_COLOR, SIGNATURE_LABEL_DESCRIPTION)
            except GithubException as exc:
                if _already_exists(exc):
                    return False
                raise
            return True

        if self._call("label", create):
            log.info("github.label_created", label=name)

    def _comment(self, number: int, body: str, mark: CommentMark | None = None) -> bool:
        """One comment per ``mark``. Not re-sent within the call after an ambiguous failure:
        it may have landed; a retry of the effect looks for the mark."""
        text = body + (f"\n\n{html_mark(mark)}" if mark is not None else "")
        return comment_once(
            "github",
            mark,
            lambda: self._call("comments", partial(self._marks, number)),
            lambda: self._call(
                "comment",
                lambda: self._repo.get_issue(number).create_comment(text),
                replay_safe=False,
            ),
        )

    def _marks(self, number: int) -> set[int]:
        """The marks on the last page of the issue's comments (oldest first, so the newest
        are there): the first page tells where the last one is."""
        url = f"{self._repo.url}/issues/{number}/comments"
        headers, page = self._get(url, {"per_page": PAGE_SIZE})
        links = requests.utils.parse_header_links(str(headers.get("link", "")))
        last = next((link["url"] for link in links if link.get("rel") == "last"), None)
        if last is not None:
            page = self._get(last)[1]
        return html_marks(str(c.get("body") or "") for c in page if isinstance(c, dict))

    def label(self, signature: str) -> str:
        return signature_label(signature, self.settings.label_prefix)

    # -- Tracker protocol -------------------------------------------------------------------
    def find(self, signature: str) -> TrackerIssue | None:
        """The oldest issue (not pull request) carrying the signature label, open or closed."""
        found = self.find_all(signature)
        return found[0] if found else None

    def find_all(self, signature: str) -> list[TrackerIssue]:
        """The issues (not pull requests) carrying the signature label, oldest first: the
        first page that holds any."""
        params = {
            "labels": self.label(signature),
            "state": "all",
            "sort": "created",
            "direction": "asc",
        }
        for page in self._pages("find", params):
            found = [self._issue(raw) for raw in page if "pull_request" not in raw]
            if found:
                return found
        return []

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """The repository's issue list, newest first, then the keys it did not show."""
        wanted: dict[int, list[str]] = {}
        for key in keys:
            wanted.setdefault(issue_number(key), []).append(key)
        if not wanted:
            return {}
        found: dict[int, TrackerIssue] = {}
        lowest = min(wanted)
        params: dict[str, Any] = {"state": "all", "sort": "created", "direction": "desc"}
        if self.settings.labels:
            params["labels"] = self.settings.labels[0]
        for page in self._pages("statuses", params):
            for raw in page:
                if raw.get("number") in wanted and "pull_request" not in raw:
                    issue = self._issue(raw)
                    found[int(issue.key)] = issue
            if len(found) == len(wanted) or not page or page[-1].get("number", 0) <= lowest:
                break
        missing = sorted(set(wanted) - set(found))
        for number in self._fallback(missing):
            try:
                found[number] = self._get_issue(number)
            except TrackerUnavailable:
                raise
            except TrackerError as exc:  # deleted (410), gone (404): left out
                log.info("github.issue_missing", key=number, error=str(exc))
        log.info("github.statuses", keys=len(wanted), found=len(found), unlisted=len(missing))
        return {key: issue for number, issue in found.items() for key in wanted[number]}

    def _fallback(self, missing: list[int]) -> list[int]:
        """At most ``STATUS_FALLBACK`` of ``missing``, starting where the previous sync
        stopped, so each is fetched within a few syncs."""
        if len(missing) <= STATUS_FALLBACK:
            return missing
        start = self._fallback_turn % len(missing)
        self._fallback_turn = start + STATUS_FALLBACK
        log.warning("github.statuses_deferred", keys=len(missing) - STATUS_FALLBACK)
        return (missing + missing)[start : start + STATUS_FALLBACK]

    def get(self, key: str) -> TrackerIssue:
        return self._get_issue(issue_number(key))

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """Ensure the signature label, then file the issue. Only a request GitHub refused
        unprocessed is re-sent here; after an ambiguous failure (timeout, lost connection)
        ``TrackerUnavailable`` hands the retry to the outbox, whose ``find`` comes first.
        GitHub issues have no priority, components, project or type: the first two show in
        the body, the repository is the setting's."""
        label = self.label(draft.signature)
        self._ensure_label(label)
        extra = [*self.settings.labels, *filter(None, map(_label, draft.labels))]
        fields: dict[str, Any] = {
            "title": _title(draft.title),
            "body": self._renderer.render(draft),
            "labels": list(dict.fromkeys([label, *extra])),
        }
        if draft.assignee:
            fields["assignees"] = [draft.assignee]
        created = self._call(
            "create",
            lambda: self._issue(self._repo.create_issue(**fields).raw_data),
            replay_safe=False,
        )
        log.info("github.created", key=created.key, signature=draft.signature)
        return created

    def update_occurrences(
        self, key: str, update: OccurrenceUpdate, mark: CommentMark | None = None
    ) -> bool:
        """One comment with the counts: GitHub issues have no fields to set."""
        number = issue_number(key)
        posted = self._comment(number, occurrence_comment(update, escape_markdown), mark)
        log.info(
            "github.occurrences", key=number, new=update.new, total=update.total, posted=posted
        )
        return posted

    def reopen(self, key: str, comment: str, mark: CommentMark | None = None) -> TrackerIssue:
        """Set the state open (safe to repeat), then one comment: ``reopen_comment`` and the
        outbox's sentence, escaped (it carries a version from a report)."""
        number = issue_number(key)

        def reopen_once() -> TrackerIssue:
            issue = self._repo.get_issue(number)
            issue.edit(state="open")  # the PATCH answer holds the issue as it is now
            return self._issue(
                {"number": issue.number, "state": issue.state, "state_reason": issue.state_reason}
            )

        reopened = self._call("reopen", reopen_once)
        heading = f"{self.settings.reopen_comment}\n\n" if self.settings.reopen_comment else ""
        self._comment(number, heading + escape_markdown(comment), mark)
        log.info("github.reopened", key=number)
        return reopened

    def close_duplicate(self, key: str, original: str) -> None:
        """Close with ``duplicate_reason`` and the "Duplicate of #N" comment (``_close``)."""
        number, kept = issue_number(key), issue_number(original)
        self._close(number, self.settings.duplicate_reason, duplicate_comment(f"#{kept}"))
        log.info("github.duplicate_closed", key=number, original=kept)

    def close(self, key: str, comment: str) -> TrackerIssue:
        """Close with ``undo_reason`` and the comment, escaped (``_close``)."""
        number = issue_number(key)
        issue = self._close(number, self.settings.undo_reason, escape_markdown(comment))
        log.info("github.closed", key=number, reason=self.settings.undo_reason)
        return issue

    def _close(self, number: int, reason: str, comment: str) -> TrackerIssue:
        """Close with ``reason`` unless closed already (safe to repeat), then, when this call
        closed it, the comment."""

        def close_once() -> tuple[bool, TrackerIssue]:
            issue = self._repo.get_issue(number)
            found = self._issue(self._get(issue.url)[1])
            if found.resolved:
                return False, found
            issue.edit(state="closed", state_reason=reason)  # the answer holds the issue now
            raw = {"number": issue.number, "state": issue.state, "state_reason": issue.state_reason}
            return True, self._issue(raw)

        closed, issue = self._call("close", close_once)
        if closed:
            self._comment(number, comment)
        return issue

    def link_signature(self, key: str, signature: str) -> None:
        """Add the label (adding one already there changes nothing, so it is safe to repeat)."""
        number, label = issue_number(key), self.label(signature)
        self._ensure_label(label)
        self._call("link", lambda: self._repo.get_issue(number).add_to_labels(label))
        log.info("github.linked", key=number, signature=signature)


def _build(settings: GitHubSettings, context: TrackerContext) -> GitHubTracker:
    return GitHubTracker(settings, template_dir=context.template_dir, wall_clock=context.clock)


def _describe_settings(s: GitHubSettings) -> str:
    auth = (
        "token"
        if s.token is not None
        else f"GitHub App {s.app_id}, installation {s.installation_id}"
    )
    return f"github: {web_url(s.base_url)}/{s.repository} ({auth})"


def _web_page(settings: GitHubSettings, key: str) -> str:
    """The issue's page; "" for a key of another tracker (defects not yet moved here)."""
    m = _KEY.fullmatch(key.strip())
    return issue_url(settings, int(m[1])) if m else ""


KIND = TrackerKind(
    name="github",
    settings=GitHubSettings,
    build=_build,
    key_pattern=_KEY.pattern,
    # the bare number, as ``create`` hands it out: ``#123`` and ``123`` are one issue
    normalize=lambda key: str(issue_number(key)),
    url=_web_page,
    describe=_describe_settings,
)
