"""What the HTTP trackers share (``triagebot.trackers.http``), tested once: the Retry-After
parser, the table of ``requests`` failures and the ``Retrier`` loop, with an injected sleep and
clock. Each adapter's own module proves it wires these to its client against its fake server
(a 429 honoured, a lost create answer filed exactly once, which calls are not resent)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from structlog.testing import capture_logs
from urllib3.exceptions import MaxRetryError, NameResolutionError

from tests.clocks import ManualClock
from tests.factories import FakeTime
from triagebot.errors import RetryableError, TrackerError, TrackerUnavailable
from triagebot.trackers.azure_devops import map_azure_devops_errors
from triagebot.trackers.github import map_github_errors
from triagebot.trackers.http import (
    REQUESTS_ERRORS,
    HostNotFound,
    HttpUnavailable,
    Retrier,
    RetryPolicy,
    parse_retry_after,
    requests_error,
)
from triagebot.trackers.jira import map_jira_errors

RESEND = frozenset({429, 503})


def _subclasses(cls: type[Exception]) -> list[type[Exception]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def _instance(cls: type[Exception]) -> Exception:
    """An instance of any ``requests`` exception (the JSON ones are also ``ValueError``\\s)."""
    return cls("bad json", "", 0) if issubclass(cls, ValueError) else cls()


REQUESTS_CLASSES = _subclasses(requests.exceptions.RequestException)


class TestParseRetryAfter:
    def test_delta_seconds(self) -> None:
        """Delta-seconds are taken as they are, around spaces."""
        now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        assert parse_retry_after("7", now) == 7.0
        assert parse_retry_after(" 120 ", now) == 120.0
        assert parse_retry_after("0", now) == 0.0

    def test_http_date_counts_from_now(self, clock: ManualClock) -> None:
        """An HTTP date is the wait from ``now`` to it, at every hard date."""
        now = clock.now.replace(microsecond=0)  # HTTP dates have whole seconds
        later = format_datetime(now + timedelta(seconds=90), usegmt=True)
        assert parse_retry_after(later, now) == 90.0

    def test_past_date_waits_nothing(self) -> None:
        """A date already gone (a slow proxy, a skewed clock) means no wait, never a negative."""
        now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        past = format_datetime(now - timedelta(hours=1), usegmt=True)
        assert parse_retry_after(past, now) == 0.0

    def test_date_without_zone_is_utc(self) -> None:
        """``-0000`` (no zone information) is read as UTC."""
        now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        assert parse_retry_after("Sat, 01 Mar 2025 12:01:30 -0000", now) == 90.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Someday, 32 Foo 2025"])
    def test_nonsense_is_no_hint(self, value: str | None) -> None:
        """Anything else gives no hint: the loop's own backoff applies."""
        assert parse_retry_after(value, datetime(2025, 3, 1, tzinfo=UTC)) is None


class TestRequestsErrors:
    @pytest.mark.parametrize(
        ("foreign", "ours"),
        [
            (requests.exceptions.ConnectTimeout(), TrackerUnavailable),
            (requests.exceptions.ReadTimeout(), TrackerUnavailable),
            (requests.exceptions.ConnectionError(), TrackerUnavailable),
            (requests.exceptions.ChunkedEncodingError(), TrackerUnavailable),
            (requests.exceptions.SSLError(), TrackerError),
            (requests.exceptions.InvalidURL(), TrackerError),
            (requests.exceptions.TooManyRedirects(), TrackerError),
            (requests.exceptions.HTTPError(), TrackerError),
        ],
    )
    def test_mapping_table(
        self, foreign: requests.exceptions.RequestException, ours: type[TrackerError]
    ) -> None:
        """Lost connections and timeouts are worth retrying; bad TLS (although a
        ``ConnectionError``), malformed URLs and redirect loops are not."""
        error = requests_error(foreign, "Azure DevOps")
        assert type(error) is ours
        assert isinstance(error, RetryableError) == (ours is not TrackerError)
        assert str(error).startswith(f"Azure DevOps request failed: {type(foreign).__name__}")

    def test_table_puts_subclasses_first(self) -> None:
        """The first matching row wins, so no row is hidden behind a base class above it."""
        foreign = [row[0] for row in REQUESTS_ERRORS]
        for i, cls in enumerate(foreign):
            assert not any(issubclass(cls, earlier) for earlier in foreign[:i])

    @pytest.mark.parametrize(
        "boundary",
        [map_jira_errors, map_azure_devops_errors, map_github_errors],
        ids=["jira", "azure_devops", "github"],
    )
    @pytest.mark.parametrize("cls", REQUESTS_CLASSES, ids=lambda cls: cls.__name__)
    def test_every_requests_error_is_mapped_at_every_boundary(
        self,
        boundary: Callable[[], AbstractContextManager[None]],
        cls: type[Exception],
    ) -> None:
        """No subclass of ``RequestException`` escapes an adapter's ``map_*_errors`` unmapped,
        and each becomes the class the shared table gives it, chained."""
        foreign = _instance(cls)
        with pytest.raises(TrackerError) as err, boundary():
            raise foreign
        assert isinstance(foreign, requests.exceptions.RequestException)
        assert type(err.value) is type(requests_error(foreign, "any"))
        assert err.value.__cause__ is foreign


# --- the retry loop ------------------------------------------------------------------------


class Script:
    """A tracker call that fails with ``errors`` in turn, then answers ``"done"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def busy(status: int = 503, retry_after: float | None = None) -> HttpUnavailable:
    return HttpUnavailable(f"answered {status}", status, retry_after)


@contextmanager
def _map_requests() -> Iterator[None]:
    """What an adapter's ``map_*_errors`` does with ``requests`` failures."""
    try:
        yield
    except requests.exceptions.RequestException as exc:
        raise requests_error(exc, "Fake") from exc


def retrier(
    fake_time: FakeTime,
    *,
    deadline: float = 30.0,
    base: float = 0.5,
    cap: float = 30.0,
    service: str = "Fake",
) -> Retrier:
    return Retrier(
        service,
        RetryPolicy(deadline, base, cap),
        _map_requests,
        RESEND,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )


class TestRetrier:
    def test_backoff_doubles_from_the_base(self, fake_time: FakeTime) -> None:
        """Without a hint the waits double from ``backoff_base``; the answer comes back."""
        call = Script(busy(), busy(), busy())
        assert retrier(fake_time).call("find", call) == "done"
        assert fake_time.sleeps == [0.5, 1.0, 2.0]
        assert call.calls == 4

    def test_backoff_is_capped(self, fake_time: FakeTime) -> None:
        """The doubling stops at ``backoff_cap``."""
        call = Script(*(busy(502) for _ in range(4)))
        assert retrier(fake_time, cap=1.5).call("find", call) == "done"
        assert fake_time.sleeps == [0.5, 1.0, 1.5, 1.5]

    def test_retry_after_replaces_the_backoff(self, fake_time: FakeTime) -> None:
        """The server's wait is taken as it is, shorter or longer than the backoff."""
        call = Script(busy(429, 3.0), busy(429, 0.0), busy(503))
        assert retrier(fake_time).call("find", call) == "done"
        assert fake_time.sleeps == [3.0, 0.0, 2.0]

    def test_deadline_exceeded_is_unavailable(self, fake_time: FakeTime) -> None:
        """Retries stop before a wait would pass the deadline: ``TrackerUnavailable`` for
        the outbox, naming the attempts and chained to the last failure."""
        call = Script(*(busy() for _ in range(100)))
        with pytest.raises(TrackerUnavailable, match=r"^Fake find: still failing after 6 ") as err:
            retrier(fake_time).call("find", call)
        assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]  # the next 16 s would pass 30 s
        assert call.calls == 6
        assert isinstance(err.value.__cause__, HttpUnavailable)

    def test_retry_after_beyond_the_deadline_gives_up_at_once(self, fake_time: FakeTime) -> None:
        """A wait longer than what is left is not started: the outbox retries later."""
        call = Script(busy(429, 3_600.0))
        with pytest.raises(TrackerUnavailable, match="after 1 attempts"):
            retrier(fake_time).call("find", call)
        assert fake_time.sleeps == []
        assert call.calls == 1

    def test_refusal_is_not_retried(self, fake_time: FakeTime) -> None:
        """A ``TrackerError`` (400, 401, 404) leaves at once, as it is."""
        refusal = TrackerError("answered 400")
        with pytest.raises(TrackerError) as err:
            retrier(fake_time).call("create", Script(refusal), replay_safe=False)
        assert err.value is refusal
        assert fake_time.sleeps == []

    def test_lost_connection_is_mapped_then_retried(self, fake_time: FakeTime) -> None:
        """The call runs inside ``map_errors``: a lost connection becomes
        ``TrackerUnavailable`` and a safe call is sent again; bad TLS is refused."""
        call = Script(requests.exceptions.ConnectionError(), requests.exceptions.ReadTimeout())
        assert retrier(fake_time).call("find", call) == "done"
        assert fake_time.sleeps == [0.5, 1.0]
        with pytest.raises(TrackerError, match="SSLError"):
            retrier(fake_time).call("find", Script(requests.exceptions.SSLError()))

    def test_unknown_host_is_not_retried(self, fake_time: FakeTime) -> None:
        """A name that does not resolve fails the call at once, still as ``TrackerUnavailable``
        (the outbox tries again later); a refused connection is retried as before."""
        unresolved = requests.exceptions.ConnectionError(
            MaxRetryError(None, "/rest", NameResolutionError("jira.invalid", None, OSError()))
        )
        call = Script(unresolved)
        with pytest.raises(HostNotFound, match="ConnectionError"):
            retrier(fake_time).call("find", call)
        assert fake_time.sleeps == []
        assert call.calls == 1
        gaierror = requests.exceptions.ConnectionError()
        gaierror.__context__ = socket.gaierror(-2, "Name or service not known")
        with pytest.raises(HostNotFound):
            retrier(fake_time).call("find", Script(gaierror))
        refused = Script(requests.exceptions.ConnectionError(ConnectionRefusedError()))
        assert retrier(fake_time).call("find", refused) == "done"

    @pytest.mark.parametrize("status", sorted(RESEND))
    def test_unsafe_call_is_resent_when_the_server_processed_nothing(
        self, fake_time: FakeTime, status: int
    ) -> None:
        """A create or comment refused with a ``resend_statuses`` status was not applied:
        sending it again is safe."""
        call = Script(busy(status))
        assert retrier(fake_time).call("create", call, replay_safe=False) == "done"
        assert call.calls == 2

    @pytest.mark.parametrize(
        "failure",
        [busy(502), busy(500), requests.exceptions.ReadTimeout(), TrackerUnavailable("lost")],
        ids=["502", "500", "timeout", "lost-answer"],
    )
    def test_unsafe_call_is_not_resent_after_an_uncertain_failure(
        self, fake_time: FakeTime, failure: Exception
    ) -> None:
        """A gateway error, a timeout or a lost answer may come after the create landed:
        the failure goes to the outbox (which looks the signature up first) unretried."""
        call = Script(failure)
        with pytest.raises(TrackerUnavailable) as err:
            retrier(fake_time).call("create", call, replay_safe=False)
        assert err.value is failure or err.value.__cause__ is failure
        assert call.calls == 1
        assert fake_time.sleeps == []

    def test_log_events_name_the_service(self, fake_time: FakeTime) -> None:
        """Events are ``<service>.retry``, ``.gave_up``, ``.uncertain`` and ``.refused``, the
        service in snake case."""
        loop = retrier(fake_time, deadline=2.0, service="Azure DevOps")
        with capture_logs() as logs:
            loop.call("find", Script(busy(503)))
            with pytest.raises(TrackerUnavailable):
                loop.call("find", Script(*(busy() for _ in range(10))))
            with pytest.raises(TrackerUnavailable):
                loop.call("create", Script(busy(502)), replay_safe=False)
            with pytest.raises(TrackerError):
                loop.call("find", Script(TrackerError("no")))
        events = [(e["event"], e["op"]) for e in logs]
        assert events == [
            ("azure_devops.retry", "find"),
            ("azure_devops.retry", "find"),
            ("azure_devops.retry", "find"),
            ("azure_devops.gave_up", "find"),
            ("azure_devops.uncertain", "create"),
            ("azure_devops.refused", "find"),
        ]
        assert (logs[0]["attempt"], logs[0]["delay"], logs[0]["status"]) == (1, 0.5, 503)
