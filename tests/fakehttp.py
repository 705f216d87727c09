"""What the fake tracker servers (``fakejira``, ``fakeazure``, ``fakegithub``) share: a
threaded HTTP server on 127.0.0.1, the request log, scripted faults and the route table.

A fake subclasses ``FakeServer`` and keeps only what is its product's: its state, its routes
(functions registered on a ``Routes`` table by decorating them), its authentication and its
error JSON. The base serves every request the same way:

1. the path below the API root is logged as a ``Request``;
2. the first scripted ``Fault`` matching the method and path is taken: it may wait
   (``slow``), run an action (``before``), or answer a status instead of handling the request
   (``fail``, in the product's error JSON from ``fault_response``, with Retry-After in
   seconds or as an HTTP date);
3. otherwise ``dispatch`` finds the route (its method, and its regex matching the whole
   path), ``serve`` runs it under the fake's lock after the fake's checks, and
   ``bad_request`` / ``not_found`` answer malformed input and unknown paths;
4. a ``drop`` fault closes the connection after the request was applied, unanswered.

Tests script faults and read ``requests`` (or ``count``) directly.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Call",
    "FakeServer",
    "Fault",
    "Json",
    "Request",
    "Response",
    "Route",
    "Routes",
    "Serve",
]

Json = dict[str, Any]
F = TypeVar("F", bound="FakeServer")
#: What serves a route: the fake and the call in, the answer out.
Serve = Callable[[F, "Call"], "Response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as received: the path below the API root, the first value of each query
    parameter, and when it came (``time.monotonic``)."""

    method: str
    path: str
    query: dict[str, str]
    at: float


@dataclass(slots=True)
class Fault:
    """Applies to the next ``times`` requests whose method and API path match."""

    pattern: re.Pattern[str]
    method: str | None
    times: int
    status: int | None = None  # answer this instead of handling the request
    headers: dict[str, str] = field(default_factory=dict)  # sent with ``status``
    delay: float = 0.0  # sleep before handling
    drop: bool = False  # handle the request, then close the socket without a response
    before: Callable[[], None] | None = None  # run just before handling


@dataclass(slots=True)
class Response:
    """An answer: ``body`` as JSON, or ``text`` as it is (a sign-in page, a 401)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    content_type: str | None = None  # the fake's JSON content type unless set


@dataclass(slots=True)
class Call:
    """A request a route serves: ``match`` is the route's match of ``path``."""

    method: str
    path: str
    match: re.Match[str]
    query: dict[str, list[str]]
    body: bytes
    headers: Message

    def json(self) -> Any:
        """The body as JSON (``None`` when empty); malformed JSON raises ``ValueError``."""
        return json.loads(self.body) if self.body else None

    def param(self, name: str, default: str = "") -> str:
        """The first value of a query parameter."""
        return self.query.get(name, [default])[0]


@dataclass(frozen=True, slots=True)
class Route(Generic[F]):
    """``fn`` serves ``method`` on paths ``pattern`` matches in full; ``tag`` is what the
    fake makes of it (public, preview, the kind of authentication)."""

    method: str
    pattern: re.Pattern[str]
    fn: Serve[F]
    tag: str = ""


class Routes(Generic[F]):
    """A fake's route table, filled by decorating the functions that serve each route;
    the first route whose method matches and whose regex matches the whole path wins."""

    def __init__(self, flags: int = 0) -> None:
        self._routes: list[Route[F]] = []
        self._flags = flags

    def __call__(self, method: str, pattern: str, tag: str = "") -> Callable[[Serve[F]], Serve[F]]:
        """Register the decorated function for ``method`` on ``pattern``."""

        def register(fn: Serve[F]) -> Serve[F]:
            self._routes.append(Route(method, re.compile(pattern, self._flags), fn, tag))
            return fn

        return register

    def __iter__(self) -> Iterator[Route[F]]:
        return iter(self._routes)


def _retry_after(
    seconds: int | None, *, as_date: bool = False, at: datetime | None = None
) -> dict[str, str]:
    """Retry-After as delta-seconds, as the HTTP date ``seconds`` from now, or as ``at``."""
    if seconds is not None and as_date:
        at = datetime.now(UTC) + timedelta(seconds=seconds)
    elif seconds is not None:
        return {"Retry-After": str(seconds)}
    return {"Retry-After": format_datetime(at, usegmt=True)} if at is not None else {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.fake.handle(self, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def send(self, response: Response, content_type: str) -> None:
        if response.text is not None:
            payload = response.text.encode()
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, val in response.headers.items():
            self.send_header(name, val)
        if payload:
            self.send_header("Content-Type", response.content_type or content_type)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests): nothing left to answer


class FakeServer:
    """A fake REST server on 127.0.0.1; ``root`` is the path prefix of its API.

    Subclasses set ``content_type`` and answer in their product's words through
    ``fault_response``, ``bad_request`` and ``not_found``; ``serve`` is where they check
    authentication before a route runs, and ``finish`` adds headers to every answer.
    """

    content_type = "application/json; charset=utf-8"

    def __init__(self, root: str, routes: Iterable[Route[Any]]) -> None:
        self.root = root
        self.routes = routes
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        #: ``http://127.0.0.1:<port>``, without the API root.
        self.origin = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection -----------------------------------------------------------
    def fail(
        self,
        path: str,
        status: int = 429,
        *,
        times: int = 1,
        method: str | None = None,
        retry_after: int | None = None,
        as_date: bool = False,
        retry_at: datetime | None = None,
    ) -> None:
        """The next ``times`` requests matching ``path`` (a regex) answer ``status``, with
        Retry-After in seconds (``retry_after``), as an HTTP date that many seconds ahead
        (``as_date``), or as the date ``retry_at``."""
        headers = _retry_after(retry_after, as_date=as_date, at=retry_at)
        self._add(Fault(re.compile(path), method, times, status, headers))

    def slow(self, path: str, seconds: float, *, times: int = 1, method: str | None = None) -> None:
        """The next ``times`` matching requests wait ``seconds`` before being handled."""
        self._add(Fault(re.compile(path), method, times, delay=seconds))

    def drop(self, path: str, *, times: int = 1, method: str | None = None) -> None:
        """The next matching requests are applied, then the connection closes unanswered."""
        self._add(Fault(re.compile(path), method, times, drop=True))

    def before(self, path: str, action: Callable[[], None], *, method: str | None = None) -> None:
        """Run ``action`` just before the next matching request is handled."""
        self._add(Fault(re.compile(path), method, 1, before=action))

    def clear_faults(self) -> None:
        """The server is healthy again: drop every scripted fault not yet served."""
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen so far with this method and API path (a regex matched in full)."""
        pattern = re.compile(path) if path is not None else None
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method)
                and (pattern is None or pattern.fullmatch(r.path))
            )

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method) and fault.pattern.fullmatch(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- hooks ------------------------------------------------------------------------------
    def api_path(self, path: str) -> str:
        """The URL path below the API root (the whole path when outside it)."""
        return path.removeprefix(self.root)

    def fault_response(self, fault: Fault) -> Response:
        """The answer a ``fail`` fault gives, before its headers are added."""
        return Response(fault.status or 500, {"message": f"Fault {fault.status} injected."})

    def serve(self, route: Route[Any], call: Call) -> Response:
        """Run the route (under the lock); subclasses check authentication first."""
        return route.fn(self, call)

    def bad_request(self, exc: Exception) -> Response:
        """A route failed on malformed input (``ValueError``, ``KeyError``...)."""
        return Response(400, {"message": f"Bad request: {exc}"})

    def not_found(self, method: str, path: str) -> Response:
        """No route serves this method and path."""
        return Response(404, {"message": f"No route for {method} {path}."})

    def finish(self, response: Response) -> Response:
        """Every answer passes here just before it is sent."""
        return response

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, handler: _Handler, body: bytes) -> None:
        url = urlsplit(handler.path)
        method, path, query = handler.command, self.api_path(url.path), parse_qs(url.query)
        with self._lock:
            first = {name: values[0] for name, values in query.items()}
            self.requests.append(Request(method, path, first, time.monotonic()))
        fault = self._take_fault(method, path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.before:
            fault.before()
        if fault and fault.status:
            response = self.fault_response(fault)
            response.headers.update(fault.headers)
            handler.send(self.finish(response), self.content_type)
            return
        response = self.finish(self.dispatch(method, path, query, body, handler.headers))
        if fault and fault.drop:
            handler.close_connection = True
            return
        handler.send(response, self.content_type)

    def dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Message
    ) -> Response:
        """The first route for this method whose pattern matches the whole path serves it."""
        for route in self.routes:
            match = route.pattern.fullmatch(path) if route.method == method else None
            if match is None:
                continue
            with self._lock:
                try:
                    return self.serve(route, Call(method, path, match, query, body, headers))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    return self.bad_request(exc)
        return self.not_found(method, path)
