"""Factories the test modules share: reports, signatures and outcomes as the pipeline makes
them, store helpers that act as the helpdesk or the tracker would, a fake monotonic time,
and the digest set-up. Test modules import from here, never from each other."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from tests.fakejira import FakeJira
from tests.helpers import samples
from triagebot.config import Config, DigestConfig, Secret
from triagebot.digest import DigestRunner, RunResult
from triagebot.mail.report import Kind, Report
from triagebot.pipeline import Outcome, Pipeline
from triagebot.rules import Action, Decision, Fields
from triagebot.scheduler import DigestScheduler
from triagebot.smtp import Mailer
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.signature import Signature
from triagebot.store import (
    DefectState,
    EffectKind,
    HumanDecision,
    ReplyRecord,
    Store,
    digest_runs,
    messages,
    occurrences,
)
from triagebot.trackers.base import TrackerIssue
from triagebot.trackers.jira import JiraSettings

# --- reports, outcomes and the store -------------------------------------------------------


#: A report's own ``Date:``; occurrences count at the store's clock, not at this.
REPORT_DATE = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


SIG_A = "a" * 16


SIG_B = "b" * 16


def make_signature(
    value: str = SIG_A,
    version: str = "v1",
    *,
    untitled: bool = False,
    frames: tuple[str, ...] = ("Acme.Cases.CaseViewModel.Load", "Acme.Cases.Shell.Open"),
) -> Signature:
    """``untitled`` breaks the NOT NULL title column: a failure in the middle of a batch."""
    title = None if untitled else f"NullReferenceException in CaseViewModel.Load ({value[:4]})"
    return Signature(
        value=value,
        version=version,
        title=title,  # type: ignore[arg-type]
        language="dotnet",
        exception_types=("System.NullReferenceException",),
        in_app_frames=frames,
        top_in_app=frames[0],
        basis="app-frames",
    )


def make_report(
    message_id: str,
    *,
    at: datetime = REPORT_DATE,
    version: str = "4.2.0",
    environment: str = "prod",
    exc_type: str = "System.NullReferenceException",
    message: str = "Object reference not set to an instance of an object.",
    frames: tuple[str, ...] = ("Acme.Cases.CaseViewModel.Load",),
    headers: dict[str, str] | None = None,
    kind: Kind = Kind.ERROR_REPORT,
) -> Report:
    trace = Trace(
        "dotnet",
        (
            ExceptionInfo(
                exc_type,
                message,
                tuple(Frame(f.rsplit(".", 1)[0], f.rsplit(".", 1)[1]) for f in frames),
            ),
        ),
    )
    return Report(
        message_id=message_id,
        kind=kind,
        subject="Error report",
        date=at,
        text=f"{exc_type}: {message}\n   at {frames[0]}()",
        metadata={
            "application": "Acme.Cases.Client",
            "version": version,
            "environment": environment,
            "machine": "WS-0042",
        },
        headers=headers or {},
        trace=trace,
    )


def make_outcome(
    message_id: str,
    action: Action = Action.FILE,
    signature: Signature | None = None,
    previous: tuple[Signature, ...] = (),
    **report_args: object,
) -> Outcome:
    decision = Decision(action, f"test-{action}", Fields(priority="High", labels=("t",)))
    return Outcome(
        make_report(message_id, **report_args),  # type: ignore[arg-type]
        signature or make_signature(),
        decision,
        previous,
    )


def recorded(store: Store, message_ids: Iterable[str]) -> set[str]:
    """Which of these messages the store has recorded."""
    query = sa.select(messages.c.message_id).where(messages.c.message_id.in_(list(message_ids)))
    with store.read() as conn:
        return set(conn.execute(query).scalars())


def decide(store: Store, defect_id: int, state: DefectState, by: str | None = None) -> None:
    """A helpdesk decision, applied as a reply applies it (from any state)."""
    reply = ReplyRecord(
        f"<{state}-{time.perf_counter_ns()}@helpdesk>",
        defect_id,
        "h@x",
        str(state),
        {},
        store.clock(),
        "<t>",
    )
    store.apply_reply(reply, HumanDecision(state, frozenset(DefectState), by=by))


def resolve(store: Store, key: str, status: str = "Resolved") -> None:
    """What a status sync learns when someone resolved the issue in the tracker."""
    store.record_statuses({key: TrackerIssue(key, status, True)})


def pending(store: Store, kind: EffectKind) -> int:
    return sum(1 for k, state, _ in store.effects() if k == kind and state == "pending")


# --- time ----------------------------------------------------------------------------------


class FakeTime:
    """Injected sleep: records delays and moves the clock on instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._offset = 0.0
        self._start = time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._offset += seconds

    def clock(self) -> float:
        """Moves only by the sleeps: a deadline counts retries, never how busy the machine is."""
        return self._start + self._offset


# --- trackers ----------------------------------------------------------------------------
def jira_settings(fake: FakeJira, **overrides: object) -> JiraSettings:
    base: dict[str, object] = (
        {"username": "bot@example.com", "token": Secret("api-token"), "auth": "token"}
        if fake.deployment == "Cloud"
        else {"token": Secret("pat-secret"), "auth": "pat"}
    )
    return JiraSettings(url=fake.url, project="OPS", deadline=30.0, **{**base, **overrides})  # type: ignore[arg-type]


# --- digests -------------------------------------------------------------------------------


JIRA = "https://jira.example.test"


DEV = DigestConfig(
    name="dev-daily", recipients=("dev@example.test",), schedule="0 8 * * *", threshold=3
)


HELPDESK = DigestConfig(
    name="helpdesk-daily",
    audience="helpdesk",
    recipients=("helpdesk@example.test",),
    schedule="0 8 * * *",
)


FILE_RULES = [
    {
        "name": "file-invoice-totals",
        "description": "Invoice totals bugs block billing.",
        "exception_type": ["KeyError", "NullPointerException"],
        "action": "file",
    }
]


MON_8 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # a Monday; DEV fires daily at 08:00 UTC


_MESSAGE_ID = re.compile(rb"^Message-ID: .*$", re.MULTILINE)


_VERSION = re.compile(rb"^Version: .*$", re.MULTILINE)


def open_store(config: Config) -> Store:
    store = Store(config.store.url)
    store.migrate()
    return store


def scheduler_for(config: Config, store: Store) -> DigestScheduler:
    assert config.smtp is not None
    return DigestScheduler(DigestRunner(config, store, Mailer(config.smtp)))


def record(config: Config, store: Store, mails: list[tuple[str, bytes]], at: datetime) -> None:
    pipeline = Pipeline.from_config(config)
    store.record([pipeline.process(raw, store.count) for _, raw in mails], now=at)


def variant(raw: bytes, n: int, version: str | None = None) -> bytes:
    """The same report again, as a new mail (new Message-ID), optionally from another version."""
    raw = _MESSAGE_ID.sub(f"Message-ID: <variant-{n}@example.test>".encode(), raw, count=1)
    if version is not None:
        raw = _VERSION.sub(f"Version: {version}".encode(), raw, count=1)
    return raw


def by_group(prefix: str) -> list[tuple[str, bytes]]:
    return [(name, raw) for name, raw in samples() if name.startswith(prefix)]


def status(result: RunResult | None) -> str:
    return result.status if result is not None else "nothing due"


def row_counts(store: Store) -> dict[str, int]:
    """How many message and occurrence rows the store keeps (what retention removes)."""
    with store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
            for t in (messages, occurrences)
        }


def runs(store: Store) -> list[tuple[str, datetime, datetime, str]]:
    with store.read() as conn:
        rows = conn.execute(
            digest_runs.select().order_by(digest_runs.c.digest, digest_runs.c.period_end)
        ).all()
    return [(r.digest, r.period_start, r.period_end, r.state) for r in rows]


def wait_for_a_lock_wait(store: Store) -> None:
    """Until some session of ``store``'s database waits for a lock (another replica's)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("no session of the database waited for a lock")
