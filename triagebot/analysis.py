"""Analysis in worker processes, on every core, under a time budget per mail.

The pure part of the pipeline (parse, classify, sign) runs in child processes, each with its
own ``Pipeline``; the store, the rules' counts and the acknowledgement stay in the service's
process. Children also bound each mail's cost: a regular expression cannot be interrupted from
another thread, so a mail whose analysis outlasts its budget is stopped by killing its child.
The mail becomes ``invalid`` with the reason ``analysis timeout`` (quarantined, recorded, never
retried in a loop), a new child takes over and the batch goes on; a mail that kills its child
is set aside the same way (``analysis crashed``). Stopping the service kills the children too,
so a long analysis never delays a shutdown; the batch is then not recorded and is read again.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Protocol

import structlog

from triagebot.collector import batch_friendly_gc, return_free_memory
from triagebot.config import Config
from triagebot.errors import RetryableError
from triagebot.mail.key import raw_id, unread_key
from triagebot.mail.report import Kind, Report
from triagebot.pipeline import Outcome, Pipeline
from triagebot.stack.model import ExceptionInfo, Trace

__all__ = [
    "DEFAULT_BUDGET",
    "Analyser",
    "AnalysisStopped",
    "InProcess",
    "WorkerPool",
    "set_aside",
]

log = structlog.get_logger(__name__)

DEFAULT_BUDGET = 5.0  # seconds per mail
_START_TIMEOUT = 60.0  # a child that is not ready by then (a broken installation) is an error
_CHUNK = 16  # mails handed to a child at once: few enough that the children share a batch
_KNOWN_LIMIT = 100_000  # signatures the children are told the store holds


class AnalysisStopped(RetryableError):
    """The service is stopping: the batch was not analysed and will be read again."""


class Analyser(Protocol):
    """Turns raw mails into analysed outcomes (no rules yet), in input order."""

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]: ...

    def start(self) -> None:
        """Get ready ahead of the first batch (the service calls it as it starts)."""

    def learn(self, signatures: Iterable[str]) -> None:
        """Signatures the store now holds: their mails need no older readings
        (``Pipeline.analyse``'s ``known``). Called from the thread that records."""

    def stop(self) -> None:
        """Abandon the analysis under way (from any thread); later calls raise
        ``AnalysisStopped``."""

    def close(self) -> None: ...


class Known:
    """The signatures the store is known to hold, in the order learnt; at most ``_KNOWN_LIMIT``
    (past it, mails are signed by the older algorithms too: slower, never wrong)."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.order: list[str] = []
        self._lock = threading.Lock()

    def add(self, signatures: Iterable[str]) -> None:
        with self._lock:
            for value in signatures:
                if value not in self.values and len(self.order) < _KNOWN_LIMIT:
                    self.values.add(value)
                    self.order.append(value)

    def since(self, count: int) -> list[str]:
        """The signatures learnt after the first ``count``."""
        with self._lock:
            return self.order[count:]


class InProcess:
    """The pipeline in this process: for tests and tools that need no time budget."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.known = Known()

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]:
        known = self.known.values
        return [self.pipeline.analyse(raw, known=known) for raw in raws]

    def start(self) -> None:
        pass

    def learn(self, signatures: Iterable[str]) -> None:
        self.known.add(signatures)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def set_aside(raw: bytes, reason: str) -> Outcome:
    """A mail the analysis could not finish: invalid (quarantined), identified by its bytes."""
    report = Report(message_id=raw_id(raw), kind=Kind.INVALID, reason=reason)
    return Outcome(report, key=unread_key(raw))


def without_frames(outcome: Outcome) -> Outcome:
    """``outcome`` as the service's process needs it: once a trace is signed, nothing there
    reads its frames (rules read exception types and messages, and the signature's in-app
    frames), and frames are half the cost of sending an outcome between processes."""
    trace = outcome.report.trace
    if trace is None or not trace.frame_count:
        return outcome
    exceptions = tuple(ExceptionInfo(exc.type, exc.message) for exc in trace.exceptions)
    kept = Trace(trace.language, exceptions, trace.dropped + trace.frame_count)
    return replace(outcome, report=replace(outcome.report, trace=kept))


def _stamp(index: int) -> int:
    """Which mail of its chunk a child is on and since when, in one 64-bit word (written and
    read whole, so the service never sees one half of a change): microseconds of the
    system-wide monotonic clock, then the index in the low byte."""
    return int(time.monotonic() * 1e6) << 8 | index


def _serve(conn: Connection, config: Config, progress: ctypes.c_longlong) -> None:
    """The child: build the pipeline once, then analyse each chunk it is sent and answer it
    in one message; ``progress`` says which mail it is on (``_stamp``), for the budget."""
    pipeline = Pipeline.from_config(config)
    known: set[str] = set()
    conn.send(None)  # ready
    with batch_friendly_gc():
        while True:
            try:
                raws, learnt = conn.recv()
            except EOFError:
                return
            known.update(learnt)
            outcomes = []
            for index, raw in enumerate(raws):
                progress.value = _stamp(index)
                outcomes.append(without_frames(pipeline.analyse(raw, known=known)))
            # plain ``pickle``: ``Connection.send`` pickles through a Python-level dispatch
            # table, three times slower for an outcome's many small objects
            conn.send_bytes(pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL))
            return_free_memory()


@dataclass(eq=False, slots=True)
class _Child:
    """One analysis process, the mails of the chunk it is on, and how much of what the
    service learnt it was told."""

    process: BaseProcess
    conn: Connection
    progress: ctypes.c_longlong
    chunk: list[int] = field(default_factory=list)
    told: int = 0
    handed: float = 0.0
    confirmed: bool = False

    def ready(self) -> None:
        """Wait for the child's pipeline (a broken installation fails here, not later)."""
        if self.confirmed:
            return
        try:
            if not self.conn.poll(_START_TIMEOUT):
                raise EOFError
            self.conn.recv()
            self.confirmed = True
        except (EOFError, OSError) as exc:
            self.process.kill()
            raise RuntimeError(
                f"the analysis process did not start (exit {self.process.exitcode})"
            ) from exc

    def hand(self, indices: list[int], raws: list[bytes], known: Known) -> None:
        learnt = known.since(self.told)
        self.progress.value = _stamp(0)
        self.handed = time.monotonic()
        self.conn.send((raws, learnt))
        self.told += len(learnt)
        self.chunk = indices

    def current(self) -> tuple[int, float]:
        """The position in its chunk of the mail the child is on, and since when (monotonic
        seconds; never before the chunk was handed over)."""
        stamp = self.progress.value
        return stamp & 0xFF, max(self.handed, (stamp >> 8) / 1e6)


@dataclass(slots=True)
class _Batch:
    """One ``analyse`` call: the mails, their outcomes so far, what is still to hand out and
    which children are at work on it."""

    raws: Sequence[bytes]
    chunk: int
    out: list[Outcome | None] = field(init=False)
    todo: deque[int] = field(init=False)
    busy: dict[Connection, _Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = [None] * len(self.raws)
        self.todo = deque(range(len(self.raws)))

    def next_chunk(self) -> list[int]:
        return [self.todo.popleft() for _ in range(min(self.chunk, len(self.todo)))]

    def set_aside(self, child: _Child, reason: str) -> None:
        """``child`` is lost: the mail it was on is set aside, the rest of its chunk (done
        but not answered, or not begun) goes back to be handed out again."""
        del self.busy[child.conn]
        position, _ = child.current()
        position = min(position, len(child.chunk) - 1)
        index = child.chunk[position]
        self.out[index] = set_aside(self.raws[index], reason)
        self.todo.extendleft(reversed([i for i in child.chunk if i != index]))

    def outcomes(self) -> list[Outcome]:
        done = [outcome for outcome in self.out if outcome is not None]
        assert len(done) == len(self.raws), "every mail is answered or set aside"
        return done


class WorkerPool:
    """``size`` analysis children sharing each batch; a child whose mail outlasts ``budget``
    seconds is killed and replaced, and the mails it had not answered go to the others.

    A batch is cut into chunks handed to whichever child is idle, so a slow mail delays only
    its own chunk; a child answers a chunk in one message (a message per mail cost the
    service as much as recording it), and says in shared memory which mail it is on and
    since when: each mail must be done within ``budget``. Outcomes come back in input order.
    """

    def __init__(self, config: Config, budget: float = DEFAULT_BUDGET, size: int = 1) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one process")
        self._config = config
        self.budget = budget
        self.size = size
        self._context = multiprocessing.get_context("spawn")  # no threads copied mid-state
        self._lock = threading.Lock()
        self._stopped = False
        self._children: list[_Child] = []
        self._known = Known()

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]:
        batch = _Batch(raws, chunk=max(1, min(_CHUNK, -(-len(raws) // (self.size * 4)))))
        try:
            while batch.todo or batch.busy:
                self._check_stopped()
                for child in self._idle(batch.busy):
                    if batch.todo:
                        self._hand(batch, child)
                if batch.busy:
                    self._collect(batch)
        except AnalysisStopped:
            self._kill(list(self._children))
            raise
        return batch.outcomes()

    def learn(self, signatures: Iterable[str]) -> None:
        self._known.add(signatures)

    def _hand(self, batch: _Batch, child: _Child) -> None:
        indices = batch.next_chunk()
        try:
            child.hand(indices, [batch.raws[i] for i in indices], self._known)
        except OSError:  # died while idle: its chunk goes to the next child
            self._check_stopped()
            batch.todo.extendleft(reversed(indices))
            self._kill([child])
            return
        batch.busy[child.conn] = child

    def _collect(self, batch: _Batch) -> None:
        """Take the answers that arrive before the first deadline; drop late children."""
        due = min(child.current()[1] for child in batch.busy.values()) + self.budget
        for conn in wait(list(batch.busy), max(0.0, due - time.monotonic())):
            child = batch.busy[conn]  # type: ignore[index]
            try:
                data = child.conn.recv_bytes()
            except (EOFError, OSError) as exc:  # killed by ``stop``, or crashed
                self._check_stopped()
                log.error("analysis.crashed", error=repr(exc), pid=child.process.pid)
                batch.set_aside(child, "analysis crashed")
                self._kill([child])
                continue
            outcomes: list[Outcome] = pickle.loads(data)  # noqa: S301 - our own child
            for index, outcome in zip(child.chunk, outcomes, strict=True):
                batch.out[index] = outcome
            del batch.busy[child.conn]
        now = time.monotonic()
        for child in [c for c in batch.busy.values() if c.current()[1] + self.budget <= now]:
            log.warning("analysis.timeout", budget=self.budget, pid=child.process.pid)
            batch.set_aside(child, f"analysis timeout (over {self.budget:g} s)")
            self._kill([child])

    def _check_stopped(self) -> None:
        if self._stopped:
            raise AnalysisStopped("the service is stopping")

    def start(self) -> None:
        """Start the missing children without waiting: they build their pipelines while the
        service opens its store and sources, and the first batch finds them ready."""
        missing = self.size - len(self._children)
        if missing > 0:
            started = [self._start() for _ in range(missing)]
            with self._lock:
                self._children.extend(started)

    def _idle(self, busy: dict[Connection, _Child]) -> list[_Child]:
        """The children not at work, after starting any that are missing."""
        self.start()
        try:
            for child in self._children:
                child.ready()
        except RuntimeError:
            self._check_stopped()  # killed by ``stop`` while starting
            raise
        return [child for child in self._children if child.conn not in busy]

    def _start(self) -> _Child:
        parent, end = self._context.Pipe()
        progress = self._context.RawValue(ctypes.c_longlong, 0)
        process = self._context.Process(
            target=_serve,
            args=(end, self._config, progress),
            name="triagebot-analysis",
            daemon=True,
        )
        process.start()
        end.close()
        log.debug("analysis.started", pid=process.pid)
        return _Child(process, parent, progress)

    def _kill(self, children: list[_Child]) -> None:
        with self._lock:
            self._children = [c for c in self._children if c not in children]
        for child in children:
            child.process.kill()
            child.process.join(5)
            child.conn.close()

    def stop(self) -> None:
        """Kill the children (from any thread): an analysis under way ends at once."""
        self._stopped = True
        with self._lock:
            children = list(self._children)
        for child in children:
            child.process.kill()

    def close(self) -> None:
        self._kill(list(self._children))
