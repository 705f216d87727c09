"""Analysis in a worker process, under a time budget per mail.

The pure part of the pipeline (parse, classify, sign) runs in a child process with its own
``Pipeline``. A regular expression cannot be interrupted from another thread, so a mail whose
analysis outlasts its budget is stopped by killing the child: the mail becomes ``invalid``
with the reason ``analysis timeout`` (quarantined, recorded, never retried in a loop), a new
child takes over and the batch goes on. Stopping the service kills the child too, so a long
analysis never delays a shutdown; the batch is then not recorded and is read again next time.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

import structlog

from triagebot.config import Config
from triagebot.errors import RetryableError
from triagebot.mail.report import Kind, Report
from triagebot.pipeline import Outcome, Pipeline

__all__ = ["DEFAULT_BUDGET", "Analyser", "AnalysisStopped", "InProcess", "WorkerProcess"]

log = structlog.get_logger(__name__)

DEFAULT_BUDGET = 5.0  # seconds per mail
_START_TIMEOUT = 60.0  # a child that is not ready by then (a broken installation) is an error


class AnalysisStopped(RetryableError):
    """The service is stopping: the batch was not analysed and will be read again."""


class Analyser(Protocol):
    """Turns raw mails into analysed outcomes (no rules yet), in input order."""

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]: ...

    def stop(self) -> None:
        """Abandon the analysis under way (from any thread); later calls raise
        ``AnalysisStopped``."""

    def close(self) -> None: ...


class InProcess:
    """The pipeline in this process: for tests and tools that need no time budget."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]:
        return [self.pipeline.analyse(raw) for raw in raws]

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def set_aside(raw: bytes, reason: str) -> Outcome:
    """A mail the analysis could not finish: invalid (quarantined), identified by its bytes."""
    message_id = "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    return Outcome(Report(message_id=message_id, kind=Kind.INVALID, reason=reason))


def _serve(conn: Connection, config: Config) -> None:
    """The child: build the pipeline once, then analyse each mail it is sent."""
    pipeline = Pipeline.from_config(config)
    conn.send(None)  # ready
    while True:
        try:
            raw = conn.recv_bytes()
        except EOFError:
            return
        conn.send(pipeline.analyse(raw))


class WorkerProcess:
    """One analysis child, replaced whenever a mail outlasts ``budget`` seconds."""

    def __init__(self, config: Config, budget: float = DEFAULT_BUDGET) -> None:
        self._config = config
        self.budget = budget
        self._context = multiprocessing.get_context("spawn")  # no threads copied mid-state
        self._lock = threading.Lock()
        self._stopped = False
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._config), name="triagebot-analysis", daemon=True
        )
        process.start()
        child.close()
        try:
            if not parent.poll(_START_TIMEOUT):
                raise EOFError
            parent.recv()
        except (EOFError, OSError) as exc:
            process.kill()
            raise RuntimeError(
                f"the analysis process did not start (exit {process.exitcode})"
            ) from exc
        with self._lock:
            self._process, self._conn = process, parent
        log.debug("analysis.started", pid=process.pid)
        return parent

    def _kill(self) -> None:
        with self._lock:
            process, conn, self._process, self._conn = self._process, self._conn, None, None
        if process is not None:
            process.kill()
            process.join(5)
        if conn is not None:
            conn.close()

    def analyse(self, raws: Sequence[bytes]) -> list[Outcome]:
        out: list[Outcome] = []
        for raw in raws:
            if self._stopped:
                raise AnalysisStopped("the service is stopping")
            conn = self._conn or self._start()
            try:
                conn.send_bytes(raw)
                ready = conn.poll(self.budget)
                outcome: Outcome | None = conn.recv() if ready else None
            except (EOFError, OSError) as exc:  # killed by ``stop``, or crashed
                if self._stopped:
                    raise AnalysisStopped("the service is stopping") from exc
                log.error("analysis.crashed", error=repr(exc), size=len(raw))
                self._kill()
                outcome = set_aside(raw, "analysis crashed")
            if outcome is None:
                log.warning("analysis.timeout", budget=self.budget, size=len(raw))
                self._kill()
                outcome = set_aside(raw, f"analysis timeout (over {self.budget:g} s)")
            out.append(outcome)
        return out

    def stop(self) -> None:
        self._stopped = True
        self._kill()

    def close(self) -> None:
        self._kill()
