"""The exception tree; one base per boundary so callers catch by layer.

TriagebotError
├── ConfigError            bad or missing configuration (names the key)
├── RuleError              a rules/*.toml file is broken (names file, rule, key)
├── SourceError            mailbox could not be read or acknowledged
├── StoreError             the state database failed
│   └── StoreUnavailable   out of reach or busy for now; also a RetryableError
│       └── LeadershipLost another replica leads the intake now: this one stands by
├── TrackerError           the issue tracker refused or failed
├── NotifyError            mail could not be sent
└── RetryableError         mixin: the operation may succeed later (outbox retries it)
"""

from __future__ import annotations


class TriagebotError(Exception):
    """Root of every error triagebot raises on purpose."""


class RetryableError(TriagebotError):
    """A failure that is expected to pass (timeouts, 429/503, lost connections).

    ``retry_after``: seconds the other side asked us to wait (``Retry-After``), when it said;
    whoever schedules the next attempt waits at least that long.
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class ConfigError(TriagebotError):
    """Configuration is wrong; the message names the key path, e.g. ``[tracker].url``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class RuleError(TriagebotError):
    """A rule file is broken; the message names file, rule and key."""


class SourceError(TriagebotError):
    """The mailbox could not be read or a message could not be acknowledged."""


class SourceUnavailable(SourceError, RetryableError):
    """The mailbox server is unreachable for now; reconnect later."""


class StoreError(TriagebotError):
    """The state database failed."""


class StoreUnavailable(StoreError, RetryableError):
    """The state database is unreachable or busy; the same work may succeed later."""


class LeadershipLost(StoreUnavailable):
    """Work came under a fencing token that is no longer the current one: another replica
    took the intake (or a scheduled job) over while this one froze or lost its session.
    Nothing was written; a batch's mail stays where it is for the new leader."""


class TrackerError(TriagebotError):
    """The issue tracker refused a request."""


class TrackerUnavailable(TrackerError, RetryableError):
    """The issue tracker is down or throttling; the outbox retries later."""


class NotifyError(TriagebotError):
    """Mail could not be sent."""


class NotifyUnavailable(NotifyError, RetryableError):
    """A transient SMTP failure (4xx, timeout); retry later."""
