"""What the HTTP trackers (Jira, Azure DevOps, GitHub) share: the retry hint a server gives,
the map of ``requests`` failures, and one retry loop.

Every adapter maps its client's errors in its own ``map_*_errors()``; retryable answers
become ``HttpUnavailable`` carrying the status and the wait the server asked for. ``Retrier``
runs a call with capped exponential backoff honouring that wait, under an overall deadline.
A host name that does not resolve (``HostNotFound``) is not retried within the call: a DNS
answer does not change in seconds, and the outbox tries again on its own schedule.
A call that is not safe to repeat (create, comment) is re-sent only when the server said it
did not process it (``resend_statuses``, e.g. 429/503); after an uncertain failure the outbox
retries later and looks the signature up first, so nothing is filed twice. A comment is
posted once per ``CommentMark``: ``comment_once`` looks for the mark among the issue's recent
comments when an earlier attempt failed; Azure DevOps and GitHub hide it as an HTML comment
(``html_mark``), Jira as a comment property.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import requests
import structlog
from urllib3.exceptions import NameResolutionError

from triagebot.errors import TrackerError, TrackerUnavailable
from triagebot.trackers.base import CommentMark

__all__ = [
    "RECENT_COMMENTS",
    "REQUESTS_ERRORS",
    "HostNotFound",
    "HttpUnavailable",
    "Retrier",
    "RetryPolicy",
    "comment_once",
    "html_mark",
    "html_marks",
    "parse_retry_after",
    "requests_error",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")


class HostNotFound(TrackerUnavailable):
    """The tracker's host name did not resolve; the outbox retries later, a call does not."""


class HttpUnavailable(TrackerUnavailable):
    """A retryable answer; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110),
    which counts from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


#: Comments a retry reads, newest first, looking for its mark: far more than can arrive
#: between two attempts.
RECENT_COMMENTS = 50
_HTML_MARK = re.compile(r"<!-- triagebot:effect=([0-9]+) -->")


def html_mark(mark: CommentMark) -> str:
    """The mark as an HTML comment: rendered by nobody, kept in the comment's text."""
    return f"<!-- triagebot:effect={mark.effect} -->"


def html_marks(texts: Iterable[str]) -> set[int]:
    """The effect ids marked in comment texts."""
    return {int(m[1]) for text in texts for m in _HTML_MARK.finditer(text)}


def comment_once(
    service: str,
    mark: CommentMark | None,
    posted: Callable[[], Collection[int]],
    post: Callable[[], object],
) -> bool:
    """Post a comment, unless this is a retry and ``posted()`` (the effect ids marked in the
    issue's recent comments) shows an earlier attempt's; True when posted now."""
    if mark is not None and mark.retry and mark.effect in posted():
        log.info(f"{service}.comment_found", effect=mark.effect)
        return False
    post()
    return True


# Ordered: the first matching class wins (SSLError is a ConnectionError but is not transient).
REQUESTS_ERRORS: tuple[tuple[type[Exception], type[TrackerError]], ...] = (
    (requests.exceptions.SSLError, TrackerError),
    (requests.exceptions.Timeout, TrackerUnavailable),
    (requests.exceptions.ConnectionError, TrackerUnavailable),
    (requests.exceptions.ChunkedEncodingError, TrackerUnavailable),
    (requests.exceptions.RequestException, TrackerError),
)


def requests_error(exc: requests.exceptions.RequestException, service: str) -> TrackerError:
    """A failure below HTTP (TLS, timeout, lost connection, bad URL) as a tracker error."""
    ours = next(mapped for foreign, mapped in REQUESTS_ERRORS if isinstance(exc, foreign))
    if ours is TrackerUnavailable and _unresolved(exc):
        ours = HostNotFound
    return ours(f"{service} request failed: {type(exc).__name__}: {exc}")


def _unresolved(exc: BaseException) -> bool:
    """Whether a DNS failure is among the causes (requests wraps urllib3's in ``args``)."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        cause = todo.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, NameResolutionError | socket.gaierror):
            return True
        nested = [getattr(cause, "reason", None), cause.__cause__, cause.__context__, *cause.args]
        todo += [n for n in nested if isinstance(n, BaseException)]
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Seconds: the whole call with its retries, and the backoff's first step and cap."""

    deadline: float
    backoff_base: float
    backoff_cap: float


class Retrier:
    """Runs one tracker call with retries (see the module docstring)."""

    def __init__(
        self,
        service: str,
        policy: RetryPolicy,
        map_errors: Callable[[], AbstractContextManager[None]],
        resend_statuses: frozenset[int],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``service`` as people write it ("Azure DevOps"; log events: ``azure_devops.retry``);
        ``clock`` is monotonic."""
        self.service = service
        self.events = service.lower().replace(" ", "_")
        self.policy = policy
        self._map_errors = map_errors
        self._resend = resend_statuses
        self._sleep = sleep
        self._clock = clock

    def call(self, op: str, fn: Callable[[], T], *, replay_safe: bool = True) -> T:
        """Run ``fn`` with retries under the deadline; give up with ``TrackerUnavailable``."""
        name, policy = self.events, self.policy
        deadline = self._clock() + policy.deadline
        attempt = 0
        while True:
            try:
                with self._map_errors():
                    return fn()
            except HostNotFound as exc:
                log.warning(f"{name}.host_not_found", op=op, error=str(exc))
                raise
            except TrackerUnavailable as exc:
                status = exc.status if isinstance(exc, HttpUnavailable) else None
                if not replay_safe and status not in self._resend:
                    log.warning(f"{name}.uncertain", op=op, status=status, error=str(exc))
                    raise
                hint = exc.retry_after
                backoff = min(policy.backoff_cap, policy.backoff_base * 2**attempt)
                delay = backoff if hint is None else hint
                if delay >= deadline - self._clock():
                    log.warning(f"{name}.gave_up", op=op, attempts=attempt + 1, status=status)
                    raise TrackerUnavailable(  # the outbox waits as long as it was asked
                        f"{self.service} {op}: still failing after {attempt + 1} attempts: {exc}",
                        retry_after=hint,
                    ) from exc
                attempt += 1
                log.info(
                    f"{name}.retry", op=op, attempt=attempt, delay=round(delay, 3), status=status
                )
                self._sleep(delay)
            except TrackerError as exc:
                log.warning(f"{name}.refused", op=op, error=str(exc))
                raise
