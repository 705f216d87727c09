"""Prometheus metrics and ``/healthz`` for the running service (``[metrics] listen``).

Each ``Daemon`` owns one ``Metrics`` with its own registry (never the global one), fed at the
few places where things happen: a batch committed, a source opened or lost, an outbox round,
a tracker call. Label values come from small fixed sets (message kinds and actions, outbox
lanes, tracker operations, quarantine reason classes), so a flood of odd mails never grows
the series. ``serve`` answers ``/metrics`` and ``/healthz`` on a thread of its own.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from triagebot.clock import Clock
from triagebot.errors import RetryableError
from triagebot.trackers.base import Tracker

__all__ = ["TRACKER_OPS", "CountedTracker", "Metrics", "quarantine_reason", "serve"]

log = structlog.get_logger(__name__)

#: The Tracker protocol's calls, the values of ``triagebot_tracker_requests_total{op}``.
TRACKER_OPS = frozenset(
    {
        "find",
        "find_all",
        "create",
        "get",
        "update_occurrences",
        "reopen",
        "close_duplicate",
        "close",
        "link_signature",
        "statuses",
    }
)

#: Where a quarantine reason starts → its class in ``triagebot_quarantined_total{reason}``.
_REASON_CLASSES = (
    ("analysis", "analysis"),  # timeout or crash of the analysis process
    ("store refused", "store_refused"),
    ("parser error", "parser_error"),
    ("internal error", "parser_error"),
)


def quarantine_reason(reason: str) -> str:
    """A quarantine reason's class: ``analysis``, ``store_refused``, ``parser_error`` or
    ``invalid`` (not a mail: no headers, empty, ...)."""
    return next((cls for prefix, cls in _REASON_CLASSES if reason.startswith(prefix)), "invalid")


class Metrics:
    """The service's metrics, and the source states ``/healthz`` reports."""

    def __init__(self, clock: Clock) -> None:
        """``clock`` stamps ``triagebot_last_success_timestamp_seconds``."""
        self._clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "triagebot_messages",
            "Mails recorded, by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.analysed = Counter(
            "triagebot_analysed_messages",
            "Mails this replica fetched and analysed (a standby's stays 0)",
            registry=r,
        )
        self.leading = Gauge(
            "triagebot_intake_leading",
            "1 while this replica leads the intake (reads the shared mailbox)",
            registry=r,
        )
        self.backlog = Gauge(
            "triagebot_backlog_messages",
            "Mails waiting behind the last batch",
            ["source"],
            registry=r,
        )
        self.processing = Histogram(
            "triagebot_processing_seconds", "Seconds to analyse and record one batch", registry=r
        )
        self.outbox_pending = Gauge(
            "triagebot_outbox_pending", "Effects waiting in each outbox lane", ["lane"], registry=r
        )
        self.effects_failed = Counter(
            "triagebot_effects_failed", "Effect attempts that failed", ["lane"], registry=r
        )
        self.tracker_requests = Counter(
            "triagebot_tracker_requests",
            "Tracker calls, by operation and status",
            ["op", "status"],
            registry=r,
        )
        self.quarantined = Counter(
            "triagebot_quarantined", "Mails set aside, by reason class", ["reason"], registry=r
        )
        self.source_connected = Gauge(
            "triagebot_source_connected",
            "1 while the source's mailbox is open",
            ["source"],
            registry=r,
        )
        self.last_success = Gauge(
            "triagebot_last_success_timestamp_seconds",
            "When each component last did its job (Unix time)",
            ["component"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._source_errors: dict[str, str] = {}

    def recorded(
        self,
        outcomes: Mapping[tuple[str, str], int],
        quarantined: Sequence[str],
        seconds: float,
    ) -> None:
        """A committed batch: (kind, outcome) counts, quarantine reasons, its duration."""
        for (kind, outcome), count in outcomes.items():
            self.messages.labels(kind, outcome).inc(count)
        for reason in quarantined:
            self.quarantined.labels(quarantine_reason(reason)).inc()
        self.processing.observe(seconds)
        self.succeeded("intake")

    def analysed_total(self) -> int:
        """How many mails this replica analysed since it started."""
        return int(self.registry.get_sample_value("triagebot_analysed_messages_total") or 0)

    def source_state(self, source: str, error: str | None, backlog: int = 0) -> None:
        """A source opened or fetched (``error`` None), or failed with ``error``."""
        self.source_connected.labels(source).set(0 if error else 1)
        self.backlog.labels(source).set(backlog)
        with self._lock:
            if error:
                self._source_errors[source] = error
            else:
                self._source_errors.pop(source, None)

    def source_problems(self) -> list[tuple[str, str]]:
        """(part, problem) of each source whose last attempt failed."""
        with self._lock:
            return [(f"source {name}", error) for name, error in self._source_errors.items()]

    def outbox_round(self, lane: str, failed: int, pending: int) -> None:
        """An outbox round of ``lane``: how many effects failed, how many still wait."""
        if failed:
            self.effects_failed.labels(lane).inc(failed)
        self.outbox_pending.labels(lane).set(pending)
        if not failed:
            self.succeeded(lane)

    def succeeded(self, component: str) -> None:
        self.last_success.labels(component).set(self._clock().timestamp())

    def count_requests(self, tracker: Tracker) -> Tracker:
        """``tracker`` with each call counted in ``triagebot_tracker_requests_total``."""
        return cast(Tracker, CountedTracker(tracker, self.tracker_requests))


class CountedTracker:
    """A tracker whose protocol calls are counted by operation and status (``ok``,
    ``unavailable``: may pass, ``error``); everything else passes straight through."""

    def __init__(self, tracker: Tracker, counter: Counter) -> None:
        self._tracker = tracker
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._tracker, name)
        if name not in TRACKER_OPS:
            return attr
        counter = self._counter

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except Exception as exc:
                status = "unavailable" if isinstance(exc, RetryableError) else "error"
                counter.labels(name, status).inc()
                raise
            counter.labels(name, "ok").inc()
            return result

        return counted


Problems = Callable[[], list[tuple[str, str]]]


@contextmanager
def serve(address: tuple[str, int], metrics: Metrics, problems: Problems) -> Iterator[None]:
    """Serve ``/metrics`` and ``/healthz`` at ``address`` until the block ends.

    ``/healthz`` answers 200 ``ok`` when ``problems()`` is empty, else 503 with one
    ``part: problem`` line each. An address that cannot be bound switches metrics off with
    one warning: the service itself runs on.
    """
    handler = type("Handler", (_Handler,), {"metrics": metrics, "problems": staticmethod(problems)})
    host, port = address
    server_class = _Server6 if ":" in host or not host else ThreadingHTTPServer
    try:
        server = server_class((host or "::", port), handler)
    except OSError as exc:
        log.warning("metrics.disabled", listen=f"{host}:{port}", error=str(exc))
        yield
        return
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("metrics.started", listen=f"{host}:{server.server_address[1]}")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Server6(ThreadingHTTPServer):
    """IPv6, or every interface (``:9464``: both address families on a dual-stack host)."""

    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics
    problems: Problems

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/metrics":
            self._answer(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            found = self.problems()
            body = "".join(f"{part}: {problem}\n" for part, problem in found) or "ok\n"
            self._answer(503 if found else 200, body.encode(), "text/plain; charset=utf-8")
        else:
            self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics.request", client=self.client_address[0], line=format % args)
