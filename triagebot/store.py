"""State: processed messages, signatures, defects, occurrences and the outbox of tracker effects.

Written with SQLAlchemy Core and portable SQL, so PostgreSQL is a URL change; SQLite files run
in WAL mode with ``synchronous=NORMAL`` and a busy timeout. ``Store.record`` stores a whole
batch of outcomes and the effects they need in ONE transaction: a message already recorded is
skipped, so re-processing after a crash never counts twice, and the source acknowledges the
batch only after the commit. Effects (create/update/reopen/link/notify) wait in ``outbox``
until the worker (``triagebot.outbox``) performs them; one *pending* ``update`` per defect at
most, so N mails coalesce into one tracker call. Replicas sharing a PostgreSQL store stay
exactly-once: they take turns recording batches (an advisory lock, as SQLite's single writer
does), a batch that still loses a race is retried, and ``due_effects`` leases each effect to
one worker. Values from outside are cut to their column widths (``Bounded``), occurrences
count at processing time, and a signature from an upgraded algorithm joins the defect its
report's older-version signature points to. Driver errors surface as ``StoreError``
(``StoreUnavailable`` when they may pass).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from triagebot.clock import Clock, system_clock
from triagebot.errors import StoreError, StoreUnavailable
from triagebot.rules import Action, Fields, parse_version

if TYPE_CHECKING:
    from triagebot.pipeline import Outcome
    from triagebot.trackers.base import TrackerIssue

__all__ = [
    "EFFECT_LEASE",
    "SCHEMA_VERSION",
    "Defect",
    "DefectState",
    "DefectSummary",
    "Effect",
    "EffectKind",
    "EffectResult",
    "HumanDecision",
    "ReplyRecord",
    "Store",
    "defect_summaries",
    "signatures_of",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = "1"
SQLITE_BUSY_TIMEOUT_MS = 10_000
IN_CHUNK = 500  # values per ``IN (...)``: far below every backend's parameter limit
SAMPLE_TRACE_CHARS = 65_536  # the tracker adapter truncates further; the store keeps a sample
#: How long ``due_effects`` hands an effect to one worker; a worker that died mid-effect
#: leaves it due again after this (far above any tracker timeout, so a live worker keeps it).
EFFECT_LEASE = timedelta(minutes=10)
#: A batch that still lost a race with another writer (PostgreSQL: unique violation,
#: serialization failure, deadlock) is retried from the start; the retry sees the winner's rows.
RECORD_ATTEMPTS = 5
_CONFLICTS = frozenset({"23505", "40001", "40P01"})
# PostgreSQL advisory lock ids (transaction-scoped): replicas take turns creating tables and
# recording batches, as SQLite's BEGIN IMMEDIATE makes every writer do.
_SCHEMA_LOCK = 0x7472_6961_6765
_RECORD_LOCK = _SCHEMA_LOCK + 1


class DefectState(StrEnum):
    CANDIDATE = "candidate"  # waits for the helpdesk to confirm
    FILED = "filed"  # in the tracker (or its create is pending)
    REJECTED = "rejected"  # the helpdesk said no; only an ``override_rejection`` rule lifts it
    IGNORED = "ignored"  # an ignore rule decided; recorded, never filed
    DUPLICATE = "duplicate"  # merged into another defect by a human


class EffectKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REOPEN = "reopen"
    LINK = "link"
    NOTIFY = "notify"


_STATE_OF_ACTION = {
    Action.FILE: DefectState.FILED,
    Action.IGNORE: DefectState.IGNORED,
    Action.CANDIDATE: DefectState.CANDIDATE,
}
# Rules may move a defect up this ladder, never down; human states are off the ladder.
_RANK = {DefectState.IGNORED: 0, DefectState.CANDIDATE: 1, DefectState.FILED: 2}
#: States whose occurrences go to a tracker issue (a duplicate updates the issue it points to).
TRACKED_STATES = frozenset({DefectState.FILED, DefectState.DUPLICATE})
_TRACKED_NAMES = sorted(str(s) for s in TRACKED_STATES)
#: States an ``override_rejection`` rule may move a rejected defect to.
_LIFTS_TO = frozenset({DefectState.FILED, DefectState.CANDIDATE})


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out, stored naive-UTC on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Bounded(sa.types.TypeDecorator[str]):
    """``VARCHAR(n)`` that cuts longer values to ``n`` characters on the way in.

    Header metadata, Message-IDs and tracker statuses come from outside: a value one character
    too long must not fail a batch (PostgreSQL) or be kept whole on one backend only (SQLite).
    Look-ups are cut the same way, so they find what was stored.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is not None and len(value) > self.length:
            return value[: self.length]
        return value


metadata = sa.MetaData()
_MESSAGE_ID_WIDTH = 998  # RFC 5322's line limit; longer ones (folded headers) are cut

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("message_id", Bounded(_MESSAGE_ID_WIDTH), primary_key=True),
    sa.Column("kind", Bounded(16), nullable=False),
    sa.Column("action", Bounded(16)),
    sa.Column("rule", Bounded(200)),
    sa.Column("signature", Bounded(64)),
    sa.Column("defect_id", sa.Integer),
    sa.Column("received_at", UTCDateTime),
    sa.Column("processed_at", UTCDateTime, nullable=False),
    sa.Column("source_ref", Bounded(200)),
    sa.Column("reason", sa.Text),
)

defects = sa.Table(
    "defects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", Bounded(16), nullable=False),
    sa.Column("signature", Bounded(64), nullable=False),  # the one that created it
    sa.Column("tracker_key", Bounded(64), index=True),
    sa.Column("tracker_status", Bounded(64)),
    sa.Column("resolved", sa.Boolean, nullable=False, default=False),
    sa.Column("resolved_version", Bounded(64)),  # highest version seen when it was resolved
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("language", Bounded(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("exception_types", sa.JSON, nullable=False),
    sa.Column("top_frames", sa.JSON, nullable=False),
    sa.Column("sample_trace", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False, default=0),
    sa.Column("occurrences_reported", sa.Integer, nullable=False, default=0),
    sa.Column("last_version", Bounded(64)),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("rule", Bounded(200)),
    sa.Column("confirmed_by", Bounded(320)),
)

signatures = sa.Table(
    "signatures",
    metadata,
    sa.Column("signature", Bounded(64), primary_key=True),
    sa.Column("version", Bounded(16), primary_key=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False, index=True),
)

occurrences = sa.Table(
    "occurrences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
    sa.Column("message_id", Bounded(_MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("application", Bounded(200)),
    sa.Column("version", Bounded(64)),
    sa.Column("environment", Bounded(64)),
    sa.Column("machine", Bounded(200)),
    sa.Index("ix_occurrences_defect_at", "defect_id", "at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", Bounded(16), nullable=False),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", Bounded(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Set while pending, NULL after: the unique constraint allows one pending effect per key
    # (``update:<defect>``) and any number of finished ones (NULLs never collide).
    sa.Column("pending_key", Bounded(200), unique=True),
    sa.Index("ix_outbox_due", "state", "next_attempt_at"),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", Bounded(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Replies applied (apply-once by Message-ID) and mails sent, for the confirmation loop.
replies = sa.Table(
    "replies",
    metadata,
    sa.Column("message_id", Bounded(_MESSAGE_ID_WIDTH), primary_key=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False, index=True),
    sa.Column("sender", Bounded(320), nullable=False),
    sa.Column("verb", Bounded(16), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("thread", Bounded(_MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("acked", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_replies_thread_at", "thread", "at"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
    sa.Column("kind", Bounded(16), nullable=False),  # candidate, reminder, ack, help
    sa.Column("recipient", Bounded(320), nullable=False),
    sa.Column("message_id", Bounded(_MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Index("ix_notifications_defect_kind", "defect_id", "kind"),
)


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """One reply command as applied: who, when, which message, in which thread."""

    message_id: str
    defect_id: int
    sender: str
    verb: str
    args: dict[str, Any]
    at: datetime
    thread: str  # acknowledgements are rate-limited per thread


@dataclass(frozen=True, slots=True)
class HumanDecision:
    """A state change a reply asks for, applied only from one of ``from_states``."""

    state: DefectState
    from_states: frozenset[DefectState]
    by: str | None = None  # "confirmed by alice@example.com by e-mail"
    fields: Fields | None = None  # merged over the fields the rules set
    tracker_key: str | None = None  # duplicate: the existing issue


@dataclass(frozen=True, slots=True)
class Effect:
    """One outbox row the worker must perform."""

    id: int
    kind: EffectKind
    defect_id: int
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class EffectResult:
    """What a performed effect taught us about the tracker side; None = unchanged."""

    tracker_key: str | None = None
    tracker_status: str | None = None
    resolved: bool | None = None
    occurrences_reported: int | None = None


@dataclass(frozen=True, slots=True)
class Defect:
    """A defect row as the outbox worker and the CLI need it."""

    id: int
    state: DefectState
    signatures: tuple[str, ...]  # the creating signature first
    tracker_key: str | None
    tracker_status: str | None
    resolved: bool
    title: str
    language: str
    message: str
    exception_types: tuple[str, ...]
    top_frames: tuple[str, ...]
    sample_trace: str
    metadata: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    occurrences_reported: int
    last_version: str | None
    fields: Fields
    rule: str | None
    confirmed_by: str | None


@dataclass(frozen=True, slots=True)
class DefectSummary:
    """One line of ``triagebot defects --json``."""

    id: int
    key: str | None
    state: str
    signatures: list[str]
    title: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "state": self.state,
            "signatures": self.signatures,
            "title": self.title,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


@dataclass(slots=True)
class _Touched:
    """A defect's row as loaded, plus what this batch does to it."""

    id: int
    state: DefectState
    tracker_key: str | None
    resolved: bool
    resolved_version: str | None
    last_version: str | None
    last_seen: datetime
    new: int = 0
    state_changed: bool = False
    versions: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    reopen_version: str | None = None


def _newer(a: str | None, b: str | None) -> bool:
    """Is version ``a`` strictly newer than ``b``? (unknown ``b``: any known ``a`` is newer)."""
    va = parse_version(a)
    if va is None:
        return False
    vb = parse_version(b)
    return vb is None or va > vb


def _pending_key(kind: EffectKind, defect_id: int, extra: str = "") -> str | None:
    if kind is EffectKind.NOTIFY:
        return None
    return f"{kind}:{defect_id}{':' + extra if extra else ''}"


class Store:
    """The state database behind one SQLAlchemy engine."""

    def __init__(
        self, url: str, *, clock: Clock = system_clock, update_delay: timedelta = timedelta(0)
    ) -> None:
        """``clock`` stamps what is recorded; ``update_delay``: how long occurrence updates
        coalesce before the tracker hears of them, so a busy signature costs one tracker call
        per interval, not one per batch."""
        self.clock = clock
        self.update_delay = update_delay
        parsed = sa.make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self._local = threading.local()
        self._held: list[Connection] = []  # per-thread reader connections, closed by close()
        self._held_lock = threading.Lock()

    def close(self) -> None:
        with self._held_lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------------

    def create_all(self, tables: sa.MetaData) -> None:
        """Create the missing ``tables`` (also for modules with their own, like the local
        tracker); replicas starting together on PostgreSQL take turns."""
        with self.write() as conn:
            _take_turns(conn, _SCHEMA_LOCK)
            tables.create_all(conn)

    def migrate(self) -> None:
        """Create missing tables; refuse a database written by another schema version."""
        with self.write() as conn:
            _take_turns(conn, _SCHEMA_LOCK)
            metadata.create_all(conn)
            found = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar()
            if found is None:
                conn.execute(sa.insert(meta).values(key="schema_version", value=SCHEMA_VERSION))
            elif found != SCHEMA_VERSION:
                raise StoreError(
                    f"store schema version {found}, this triagebot needs {SCHEMA_VERSION}"
                )
        log.info("store.migrated", backend=self.engine.dialect.name, schema=SCHEMA_VERSION)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, so read-then-write never deadlocks).

        Also for modules that keep their own tables in this database (the local tracker).
        """
        with _mapped("write"), self.engine.connect() as plain:
            conn = plain.execution_options(triagebot_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with _mapped("read"), self.engine.connect() as conn, conn.begin():
            yield conn

    # --- messages -------------------------------------------------------------------------

    def record(
        self,
        outcomes: Sequence[Outcome],
        *,
        refs: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Store a batch of outcomes and their effects in one transaction.

        ``refs`` (parallel to ``outcomes``) are the sources' handles, kept for tracing.
        Returns how many messages were new; the others were recorded before and change nothing.
        """
        now = now or self.clock()
        batch: dict[str, tuple[Outcome, str | None]] = {}
        for i, outcome in enumerate(outcomes):
            batch.setdefault(outcome.report.message_id, (outcome, refs[i] if refs else None))
        attempt = 1
        while True:
            try:
                new = self._record(dict(batch), now)
            except StoreError as exc:
                code = _conflict_code(exc)
                if code is None or attempt == RECORD_ATTEMPTS:
                    raise
                log.info("store.record_retry", attempt=attempt, sqlstate=code)
                attempt += 1
                continue
            if new:
                log.debug("store.recorded", messages=new)
            return new

    def _record(self, batch: dict[str, tuple[Outcome, str | None]], now: datetime) -> int:
        """One attempt: skip what is known, record the rest; returns how many were new."""
        with self.write() as conn:
            _take_turns(conn, _RECORD_LOCK)  # so ``_known`` cannot miss a replica's batch
            for message_id in _known(conn, list(batch)):
                del batch[message_id]
            if batch:
                _Batch(conn, now, self.update_delay).record(batch.values())
        return len(batch)

    # --- occurrence counts ---------------------------------------------------------------

    def count(self, signature: str, since: datetime) -> int:
        """Occurrences recorded at or after ``since`` for the defect of ``signature``.

        Rules may call it for every report that reaches an ``occurrences`` condition (the
        daemon asks ``counts`` once per batch instead), so it reuses one connection per
        thread: a pool checkout per call would cost 10x the query.
        """
        with self._snapshot() as conn:
            return int(conn.execute(_COUNT, {"sig": signature, "since": since}).scalar_one())

    def counts(self, signatures: Collection[str], since: datetime) -> dict[str, int]:
        """``count`` for many signatures with one query (signatures without any: absent)."""
        found: dict[str, int] = {}
        with self._snapshot() as conn:
            for chunk in _chunks(sorted(signatures)):
                found.update((sig, int(n)) for sig, n in conn.execute(_counts_query(chunk, since)))
        return found

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """This thread's own reader connection, its snapshot ended afterwards so the next
        call sees new commits."""
        with _mapped("read"):
            conn: Connection | None = getattr(self._local, "conn", None)
            if conn is None or conn.closed:
                conn = self._local.conn = self.engine.connect()
                with self._held_lock:
                    self._held.append(conn)
            try:
                yield conn
            finally:
                conn.rollback()

    # --- defects --------------------------------------------------------------------------

    def defect(self, defect_id: int) -> Defect:
        found = self.defects_by_id([defect_id])
        if defect_id not in found:
            raise StoreError(f"no defect {defect_id}")
        return found[defect_id]

    def defects_by_id(self, ids: Collection[int]) -> dict[int, Defect]:
        """The defects with these ids (unknown ids are left out), from one snapshot."""
        found: dict[int, Defect] = {}
        with self.read() as conn:
            for chunk in _chunks(sorted(ids)):
                rows = conn.execute(sa.select(defects).where(defects.c.id.in_(chunk))).all()
                sigs = signatures_of(conn, chunk)
                found.update((row.id, _defect(row, sigs.get(row.id, []))) for row in rows)
        return found

    def defects(self) -> list[DefectSummary]:
        """Every defect and candidate, oldest first."""
        with self.read() as conn:
            return defect_summaries(conn)

    # --- status sync ----------------------------------------------------------------------

    def tracked_keys(self) -> list[str]:
        """The tracker keys whose status matters (filed defects and duplicates), each once."""
        query = (
            sa.select(defects.c.tracker_key)
            .where(defects.c.tracker_key.is_not(None), defects.c.state.in_(_TRACKED_NAMES))
            .distinct()
            .order_by(defects.c.tracker_key)
        )
        with self.read() as conn:
            return [key for key in conn.execute(query).scalars() if key is not None]

    def record_statuses(self, issues: Mapping[str, TrackerIssue]) -> int:
        """What the status sync learnt, in one transaction; returns how many defects changed.

        One statement per distinct (status, resolved) pair, not per defect. A defect that
        becomes resolved remembers the version it was resolved after, as a ``reopen``'s result
        does; one whose ``reopen`` is still pending keeps its state (the tracker has not heard
        of the regression yet, and the reopen's result will tell).
        """
        groups: defaultdict[tuple[str, bool], list[str]] = defaultdict(list)
        for key, issue in issues.items():
            groups[issue.status, issue.resolved].append(key)
        changed = 0
        with self.write() as conn:
            for (status, resolved), keys in groups.items():
                values = {"tracker_status": status, **_resolved_values(resolved)}
                for chunk in _chunks(sorted(keys)):
                    query = (
                        sa.update(defects)
                        .where(
                            defects.c.tracker_key.in_(chunk),
                            defects.c.state.in_(_TRACKED_NAMES),
                            sa.or_(
                                defects.c.tracker_status.is_distinct_from(status),
                                defects.c.resolved != resolved,
                            ),
                            ~_REOPEN_PENDING,
                        )
                        .values(**values)
                    )
                    changed += conn.execute(query).rowcount
        return changed

    # --- confirmation by reply ------------------------------------------------------------

    def apply_reply(
        self,
        reply: ReplyRecord,
        decision: HumanDecision | None = None,
        ack: dict[str, Any] | None = None,
        ack_interval: timedelta = timedelta(0),
    ) -> bool:
        """Record a reply and apply its decision in one transaction; False when that
        Message-ID was applied before (a re-sent or re-delivered reply changes nothing).

        ``ack`` is the payload of a ``notify`` effect answering the reply; it is queued
        unless the same thread was answered within ``ack_interval``.
        """
        with self.write() as conn:
            if conn.execute(
                sa.select(replies.c.message_id).where(replies.c.message_id == reply.message_id)
            ).first():
                return False
            acked = (
                ack is not None
                and not conn.execute(
                    sa.select(replies.c.message_id).where(
                        replies.c.thread == reply.thread,
                        replies.c.acked,
                        replies.c.at > reply.at - ack_interval,
                    )
                ).first()
            )
            conn.execute(
                sa.insert(replies).values(
                    message_id=reply.message_id,
                    defect_id=reply.defect_id,
                    sender=reply.sender,
                    verb=reply.verb,
                    args=reply.args,
                    at=reply.at,
                    thread=reply.thread,
                    acked=acked,
                )
            )
            if decision is not None:
                _decide(conn, reply.defect_id, decision, reply.at)
            if acked and ack is not None:
                _enqueue(conn, EffectKind.NOTIFY, reply.defect_id, ack, reply.at)
        log.info("store.reply_applied", defect=reply.defect_id, verb=reply.verb, acknowledged=acked)
        return True

    def replies(self, defect_id: int) -> list[ReplyRecord]:
        """Every reply applied to a defect, oldest first."""
        query = sa.select(replies).where(replies.c.defect_id == defect_id).order_by(replies.c.at)
        with self.read() as conn:
            return [
                ReplyRecord(
                    r.message_id, r.defect_id, r.sender, r.verb, dict(r.args), r.at, r.thread
                )
                for r in conn.execute(query)
            ]

    def notified(self, defect_id: int, kind: str) -> set[str]:
        """Recipients a ``kind`` mail about this defect went to already."""
        query = sa.select(notifications.c.recipient).where(
            notifications.c.defect_id == defect_id, notifications.c.kind == kind
        )
        with self.read() as conn:
            return set(conn.execute(query).scalars())

    def record_notification(
        self, defect_id: int, kind: str, recipient: str, message_id: str, at: datetime
    ) -> None:
        with self.write() as conn:
            conn.execute(
                sa.insert(notifications).values(
                    defect_id=defect_id,
                    kind=kind,
                    recipient=recipient,
                    message_id=message_id,
                    sent_at=at,
                )
            )

    def reminders_due(self, sent_before: datetime) -> list[tuple[int, str]]:
        """``(defect, recipient)`` of candidate mails sent before ``sent_before`` that are
        still unanswered candidates and were not reminded yet."""
        sent, reminder = notifications.alias("sent"), notifications.alias("reminder")
        reminded = sa.select(reminder.c.id).where(
            reminder.c.kind == "reminder",
            reminder.c.defect_id == sent.c.defect_id,
            reminder.c.recipient == sent.c.recipient,
        )
        query = (
            sa.select(sent.c.defect_id, sent.c.recipient)
            .join(defects, defects.c.id == sent.c.defect_id)
            .where(
                sent.c.kind == "candidate",
                sent.c.sent_at <= sent_before,
                defects.c.state == DefectState.CANDIDATE,
                ~sa.exists(reminded),
            )
            .order_by(sent.c.defect_id, sent.c.recipient)
        )
        with self.read() as conn:
            return [(r.defect_id, r.recipient) for r in conn.execute(query)]

    # --- outbox ---------------------------------------------------------------------------

    def due_effects(
        self, now: datetime, limit: int, kinds: Iterable[EffectKind] | None = None
    ) -> list[Effect]:
        """Pending effects whose time has come, oldest first (a create before its updates),
        leased to the caller for ``EFFECT_LEASE``: a concurrent worker (another replica) is
        not handed them, so no effect is performed twice. ``complete_effect`` or
        ``fail_effect`` ends the lease."""
        query = (
            sa.select(
                outbox.c.id, outbox.c.kind, outbox.c.defect_id, outbox.c.payload, outbox.c.attempts
            )
            .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
        )
        if kinds is not None:
            query = query.where(outbox.c.kind.in_([str(k) for k in kinds]))
        with self.write() as conn:
            rows = conn.execute(query).all()
            for chunk in _chunks([r.id for r in rows]):
                conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_(chunk))
                    .values(next_attempt_at=now + EFFECT_LEASE)
                )
        return [
            Effect(r.id, EffectKind(r.kind), r.defect_id, dict(r.payload), r.attempts) for r in rows
        ]

    def complete_effect(self, effect_id: int, result: EffectResult | None = None) -> None:
        """Mark an effect done and keep what it taught us, in one transaction.

        When occurrences arrived while a create/update was in flight, a fresh ``update`` is
        queued so they are not lost. Batches meanwhile merged their versions and environments
        into the in-flight update's row, after the worker had read it: the fresh update
        carries that row's payload (with what was sent already: a version named twice is
        harmless, one left out is lost).
        """
        with self.write() as conn:
            done = conn.execute(_COMPLETE_EFFECT, {"b_id": effect_id}).one()
            if result is not None:
                _apply_result(conn, done.defect_id, result)
            row = conn.execute(_DEFECT_PROGRESS, {"b_id": done.defect_id}).one()
            if (
                row.state in TRACKED_STATES
                and row.tracker_key is not None
                and row.occurrences > row.occurrences_reported
            ):  # ``_enqueue`` keeps it to one pending update
                payload = dict(done.payload) if done.kind == EffectKind.UPDATE else {}
                _enqueue(
                    conn,
                    EffectKind.UPDATE,
                    done.defect_id,
                    payload,
                    self.clock(),
                    delay=self.update_delay,
                )

    def fail_effect(self, effect_id: int, error: str, retry_at: datetime | None) -> None:
        """Reschedule at ``retry_at``, or give up (``failed``) when it is None."""
        values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:2000]}
        if retry_at is None:
            values.update(state="failed", pending_key=None)
        else:
            values["next_attempt_at"] = retry_at
        with self.write() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.id == effect_id).values(**values))

    def effects(self, defect_id: int | None = None) -> list[tuple[str, str, int]]:
        """``(kind, state, attempts)`` of every effect, for status output and tests."""
        query = sa.select(outbox.c.kind, outbox.c.state, outbox.c.attempts).order_by(outbox.c.id)
        if defect_id is not None:
            query = query.where(outbox.c.defect_id == defect_id)
        with self.read() as conn:
            return [(r.kind, r.state, r.attempts) for r in conn.execute(query)]


# --- the batch writer ---------------------------------------------------------------------


class _Batch:
    """The work of one ``record`` call inside its transaction, set-based: a fixed number of
    statements per batch, however many messages and known defects it touches (new defects:
    one multi-row insert on PostgreSQL; SQLite inserts them one by one to learn their ids)."""

    def __init__(self, conn: Connection, now: datetime, update_delay: timedelta) -> None:
        self.conn = conn
        self.now = now
        self.update_delay = update_delay

    def record(self, items: Iterable[tuple[Outcome, str | None]]) -> None:
        """Occurrences are recorded at processing time (``now``), not at the report's own
        ``Date:``: a sender's clock in the future must not pin ``last_seen``, and a backlog
        must count in the rule windows as the batch counter counted it."""
        items = list(items)
        keys = {(o.signature.value, o.signature.version) for o, _ in items if o.signature}
        older = {(p.value, p.version) for o, _ in items if o.signature for p in o.previous}
        mapping = self._mapping(keys | older)
        links = self._link(items, mapping)
        touched = self._load({mapping[k] for k in keys if k in mapping})
        created = self._create(items, mapping, touched)
        message_rows: list[dict[str, Any]] = []
        occurrence_rows: list[dict[str, Any]] = []
        for outcome, ref in items:
            report, sig, decision = outcome.report, outcome.signature, outcome.decision
            defect_id = None
            if sig is not None:
                wanted = _STATE_OF_ACTION[decision.action] if decision else DefectState.CANDIDATE
                lift = decision is not None and decision.override_rejection
                defect_id = mapping[sig.value, sig.version]
                self._occur(touched[defect_id], wanted, report.metadata, self.now, lift)
                occurrence_rows.append(
                    _occurrence_row(defect_id, report.message_id, self.now, report.metadata)
                )
            message_rows.append(
                {
                    "message_id": report.message_id,
                    "kind": str(report.kind),
                    "action": decision.action.value if decision else None,
                    "rule": decision.rule if decision else None,
                    "signature": sig.value if sig else None,
                    "defect_id": defect_id,
                    "received_at": report.date,
                    "processed_at": self.now,
                    "source_ref": ref,
                    "reason": report.reason or None,
                }
            )
        self.conn.execute(_INSERT_MESSAGE, message_rows)
        if occurrence_rows:
            self.conn.execute(_INSERT_OCCURRENCE, occurrence_rows)
        self._update_defects(touched.values())
        self._effects(touched.values(), {t.id for t in created})
        for (value, _version), defect_id in links.items():
            if touched[defect_id].state in TRACKED_STATES:  # the tracker learns the new label
                _enqueue(
                    self.conn,
                    EffectKind.LINK,
                    defect_id,
                    {"signature": value},
                    self.now,
                    extra=value,
                )

    def _mapping(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for chunk in _chunks(sorted({k[0] for k in keys})):
            rows = self.conn.execute(
                sa.select(
                    signatures.c.signature, signatures.c.version, signatures.c.defect_id
                ).where(signatures.c.signature.in_(chunk))
            )
            found.update(((r.signature, r.version), r.defect_id) for r in rows)
        return found

    def _link(
        self, items: list[tuple[Outcome, str | None]], mapping: dict[tuple[str, str], int]
    ) -> dict[tuple[str, str], int]:
        """Point each unknown signature at the defect an older-version signature of the same
        report belongs to, so an upgraded algorithm files no known bug again (added to
        ``mapping``; returned: the new links)."""
        links: dict[tuple[str, str], int] = {}
        for outcome, _ref in items:
            sig = outcome.signature
            if sig is None or (sig.value, sig.version) in mapping:
                continue
            for old in outcome.previous:
                defect_id = mapping.get((old.value, old.version))
                if defect_id is not None:
                    mapping[sig.value, sig.version] = links[sig.value, sig.version] = defect_id
                    log.info(
                        "store.signature_linked", defect=defect_id, old=old.value, new=sig.value
                    )
                    break
        if links:
            self.conn.execute(
                _INSERT_SIGNATURE,
                [
                    {"signature": value, "version": version, "defect_id": defect_id}
                    for (value, version), defect_id in links.items()
                ],
            )
        return links

    def _load(self, ids: set[int]) -> dict[int, _Touched]:
        loaded: dict[int, _Touched] = {}
        for chunk in _chunks(sorted(ids)):
            rows = self.conn.execute(
                sa.select(
                    defects.c.id,
                    defects.c.state,
                    defects.c.tracker_key,
                    defects.c.resolved,
                    defects.c.resolved_version,
                    defects.c.last_version,
                    defects.c.last_seen,
                )
                .where(defects.c.id.in_(chunk))
                .order_by(defects.c.id)
                .with_for_update()  # PostgreSQL: a replica's batch on these defects waits
            )
            for r in rows:
                loaded[r.id] = _Touched(
                    r.id,
                    DefectState(r.state),
                    r.tracker_key,
                    r.resolved,
                    r.resolved_version,
                    r.last_version,
                    r.last_seen,
                )
        return loaded

    def _create(
        self,
        items: list[tuple[Outcome, str | None]],
        mapping: dict[tuple[str, str], int],
        touched: dict[int, _Touched],
    ) -> list[_Touched]:
        """One defect per signature not seen before, from its first report in the batch; the
        ids come back in row order."""
        first: dict[tuple[str, str], Outcome] = {}
        for outcome, _ref in items:
            sig = outcome.signature
            if sig is not None and (sig.value, sig.version) not in mapping:
                first.setdefault((sig.value, sig.version), outcome)
        if not first:
            return []
        rows = [self._defect_row(outcome) for outcome in first.values()]
        ids = self.conn.execute(_INSERT_DEFECT, rows).scalars().all()
        self.conn.execute(
            _INSERT_SIGNATURE,
            [
                {"signature": value, "version": version, "defect_id": defect_id}
                for (value, version), defect_id in zip(first, ids, strict=True)
            ],
        )
        created: list[_Touched] = []
        for key, row, defect_id in zip(first, rows, ids, strict=True):
            mapping[key] = defect_id
            state, at = row["state"], row["first_seen"]
            touched[defect_id] = t = _Touched(defect_id, state, None, False, None, None, at)
            created.append(t)
            log.info("store.defect_created", defect=defect_id, signature=key[0], state=str(state))
        return created

    def _defect_row(self, outcome: Outcome) -> dict[str, Any]:
        sig, report, decision = outcome.signature, outcome.report, outcome.decision
        assert sig is not None
        first = report.trace.exceptions[0] if report.trace and report.trace.exceptions else None
        return {
            "state": _STATE_OF_ACTION[decision.action] if decision else DefectState.CANDIDATE,
            "signature": sig.value,
            "title": sig.title,
            "language": sig.language,
            "message": first.message if first else "",
            "exception_types": list(sig.exception_types),
            "top_frames": list(sig.in_app_frames),
            "sample_trace": report.text[:SAMPLE_TRACE_CHARS],
            "metadata": dict(report.metadata),
            "first_seen": self.now,
            "last_seen": self.now,
            "occurrences": 0,
            "occurrences_reported": 0,
            "fields": decision.fields.as_dict() if decision else {},
            "rule": decision.rule if decision else None,
            "resolved": False,
        }

    @staticmethod
    def _occur(
        t: _Touched, wanted: DefectState, meta_: dict[str, str], at: datetime, lift: bool
    ) -> None:
        """Count one occurrence; ``lift``: the deciding rule may lift a rejection."""
        if t.state in _RANK:
            if _RANK[wanted] > _RANK[t.state]:
                t.state, t.state_changed = wanted, True
        elif lift and t.state is DefectState.REJECTED and wanted in _LIFTS_TO:
            t.state, t.state_changed = wanted, True
            log.info("store.rejection_lifted", defect=t.id, state=str(wanted))
        t.new += 1
        t.last_seen = max(t.last_seen, at)
        version = meta_.get("version")
        if version:
            t.versions.add(version)
            if _newer(version, t.last_version):
                t.last_version = version
            if t.resolved and t.tracker_key is not None and _newer(version, t.resolved_version):
                t.resolved, t.reopen_version = False, version
        environment = meta_.get("environment")
        if environment:
            t.environments.add(environment)

    def _update_defects(self, touched: Iterable[_Touched]) -> None:
        rows = [
            {
                "b_id": t.id,
                "b_new": t.new,
                "b_last_seen": t.last_seen,
                "b_last_version": t.last_version,
                "b_state": str(t.state),
                "b_resolved": t.resolved,
            }
            for t in touched
        ]
        if rows:
            self.conn.execute(_UPDATE_DEFECT, rows)

    def _effects(self, touched: Iterable[_Touched], new_ids: set[int]) -> None:
        """Queue what the touched defects need: one look-up of the pending effects they
        already have, then one multi-row insert and one multi-row payload update."""
        wanted: list[tuple[EffectKind, _Touched, dict[str, Any]]] = []
        for t in touched:
            if t.reopen_version is not None:
                wanted.append((EffectKind.REOPEN, t, {"version": t.reopen_version}))
            if (
                t.state is DefectState.FILED
                and t.tracker_key is None
                and (t.id in new_ids or t.state_changed)
            ):
                wanted.append((EffectKind.CREATE, t, {}))
            elif t.state in TRACKED_STATES and t.tracker_key is not None:
                versions, environments = sorted(t.versions), sorted(t.environments)
                wanted.append(
                    (EffectKind.UPDATE, t, {"versions": versions, "environments": environments})
                )
            if t.state is DefectState.CANDIDATE and (t.id in new_ids or t.state_changed):
                wanted.append((EffectKind.NOTIFY, t, {"reason": "candidate"}))
        if not wanted:
            return
        pending = _pending_effects(
            self.conn, [k for kind, t, _ in wanted if (k := _pending_key(kind, t.id))]
        )
        inserts: list[dict[str, Any]] = []
        merges: list[dict[str, Any]] = []
        for kind, t, payload in wanted:
            key = _pending_key(kind, t.id)
            found = pending.get(key) if key is not None else None
            if found is None:
                delay = self.update_delay if kind is EffectKind.UPDATE else timedelta(0)
                inserts.append(_effect_row(kind, t.id, payload, self.now, key=key, delay=delay))
            elif kind is EffectKind.UPDATE:  # coalesce into the update already waiting
                effect_id, old = found
                merged = {k: sorted(set(old.get(k, [])) | set(payload[k])) for k in payload}
                if merged != old:
                    merges.append({"b_id": effect_id, "b_payload": merged})
        if inserts:
            self.conn.execute(_INSERT_EFFECT, inserts)
        if merges:
            self.conn.execute(_UPDATE_PAYLOAD, merges)


# --- helpers shared by Store and _Batch ---------------------------------------------------


_COUNT = (
    sa.select(sa.func.count())
    .select_from(occurrences)
    .where(
        occurrences.c.defect_id.in_(
            sa.select(signatures.c.defect_id).where(signatures.c.signature == sa.bindparam("sig"))
        ),
        occurrences.c.at >= sa.bindparam("since", type_=UTCDateTime),
    )
)


def _counts_query(chunk: Sequence[str], since: datetime) -> sa.Select[str, int]:
    """``_COUNT`` for many signatures: each (signature, defect) pair once, as ``IN`` does."""
    pairs = (
        sa.select(signatures.c.signature, signatures.c.defect_id)
        .where(signatures.c.signature.in_(chunk))
        .distinct()
        .subquery()
    )
    return (
        sa.select(pairs.c.signature, sa.func.count())
        .join_from(pairs, occurrences, occurrences.c.defect_id == pairs.c.defect_id)
        .where(occurrences.c.at >= since)
        .group_by(pairs.c.signature)
    )


# Statements of the batch writer, built once (SQLAlchemy caches their compiled form).
_b = sa.bindparam
_INSERT_MESSAGE = sa.insert(messages)
_INSERT_OCCURRENCE = sa.insert(occurrences)
_INSERT_SIGNATURE = sa.insert(signatures)
_INSERT_EFFECT = sa.insert(outbox)
_INSERT_DEFECT = sa.insert(defects).returning(defects.c.id, sort_by_parameter_order=True)
_UPDATE_DEFECT = (
    sa.update(defects)
    .where(defects.c.id == _b("b_id"))
    .values(
        occurrences=defects.c.occurrences + _b("b_new"),
        last_seen=_b("b_last_seen", type_=UTCDateTime),
        last_version=_b("b_last_version"),
        state=_b("b_state"),
        resolved=_b("b_resolved"),
    )
)
_COMPLETE_EFFECT = (
    sa.update(outbox)
    .where(outbox.c.id == _b("b_id"))
    .values(state="done", pending_key=None, last_error=None)
    .returning(outbox.c.defect_id, outbox.c.kind, outbox.c.payload)
)
_DEFECT_PROGRESS = sa.select(
    defects.c.state, defects.c.tracker_key, defects.c.occurrences, defects.c.occurrences_reported
).where(defects.c.id == _b("b_id"))
_UPDATE_PAYLOAD = (
    sa.update(outbox)
    .where(outbox.c.id == _b("b_id"))
    .values(payload=_b("b_payload", type_=sa.JSON))
)


#: Driver errors that say the database is out of reach or busy, not that the data is wrong:
#: the same work may succeed later, so callers retry it instead of setting mail aside.
_TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError)


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Database errors as ``StoreError`` (``StoreUnavailable`` when they may pass): the one
    place driver exceptions are translated, for every read and write."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        transient = exc.connection_invalidated or isinstance(exc, _TRANSIENT)
        error = StoreUnavailable if transient else StoreError
        raise error(f"store {what} failed: {exc.orig}") from exc


def _take_turns(conn: Connection, lock: int) -> None:
    """PostgreSQL: wait for the transaction-scoped advisory ``lock`` (SQLite: already one
    writer at a time)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


def _conflict_code(exc: StoreError) -> str | None:
    """The SQLSTATE of a lost race between replicas, or None for any other failure."""
    cause = exc.__cause__
    code = getattr(getattr(cause, "orig", None), "sqlstate", None)
    return code if code in _CONFLICTS else None


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """Slices small enough for an ``IN (...)`` on every backend's parameter limit."""
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def _known(conn: Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are recorded (as given: an over-long one is stored cut)."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            conn.execute(
                sa.select(messages.c.message_id).where(messages.c.message_id.in_(chunk))
            ).scalars()
        )
    if not found:
        return found
    return {i for i in ids if i[:_MESSAGE_ID_WIDTH] in found}


def _by_ids(
    query: sa.Select[Any], column: sa.Column[int], ids: Collection[int] | None
) -> Iterator[sa.Select[Any]]:
    """``query`` for every row (``ids`` None), or once per chunk of ``ids``."""
    if ids is None:
        yield query
        return
    for chunk in _chunks(sorted(ids)):
        yield query.where(column.in_(chunk))


def signatures_of(conn: Connection, ids: Collection[int] | None = None) -> dict[int, list[str]]:
    """Each defect's signatures by algorithm version (of every defect when ``ids`` is None)."""
    query = sa.select(signatures.c.defect_id, signatures.c.signature).order_by(
        signatures.c.defect_id, signatures.c.version
    )
    out: dict[int, list[str]] = {}
    for chunked in _by_ids(query, signatures.c.defect_id, ids):
        for row in conn.execute(chunked):
            sigs = out.setdefault(row.defect_id, [])
            if row.signature not in sigs:
                sigs.append(row.signature)
    return out


_SUMMARY_COLUMNS = (
    defects.c.id,
    defects.c.tracker_key,
    defects.c.state,
    defects.c.title,
    defects.c.occurrences,
    defects.c.first_seen,
    defects.c.last_seen,
)


def defect_summaries(conn: Connection, ids: Collection[int] | None = None) -> list[DefectSummary]:
    """The defects with these ids (every defect when None), oldest first, from ``conn``'s
    snapshot: for ``triagebot defects`` and the digests."""
    sigs = signatures_of(conn, ids)
    query = sa.select(*_SUMMARY_COLUMNS).order_by(defects.c.id)
    # Chunks come in ascending id order, so their rows concatenate in order.
    rows = [r for q in _by_ids(query, defects.c.id, ids) for r in conn.execute(q)]
    return [
        DefectSummary(
            r.id,
            r.tracker_key,
            r.state,
            sigs.get(r.id, []),
            r.title,
            r.occurrences,
            r.first_seen,
            r.last_seen,
        )
        for r in rows
    ]


def _defect(row: sa.Row[Any], sigs: list[str]) -> Defect:
    """A ``defects`` row as a ``Defect``; its creating signature first."""
    ordered = [row.signature, *(s for s in sigs if s != row.signature)]
    return Defect(
        id=row.id,
        state=DefectState(row.state),
        signatures=tuple(ordered),
        tracker_key=row.tracker_key,
        tracker_status=row.tracker_status,
        resolved=row.resolved,
        title=row.title,
        language=row.language,
        message=row.message,
        exception_types=tuple(row.exception_types),
        top_frames=tuple(row.top_frames),
        sample_trace=row.sample_trace,
        metadata=dict(row.metadata),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        occurrences=row.occurrences,
        occurrences_reported=row.occurrences_reported,
        last_version=row.last_version,
        fields=Fields.from_dict(row.fields),
        rule=row.rule,
        confirmed_by=row.confirmed_by,
    )


def _occurrence_row(
    defect_id: int, message_id: str, at: datetime, meta_: dict[str, str]
) -> dict[str, Any]:
    return {
        "defect_id": defect_id,
        "message_id": message_id,
        "at": at,
        "application": meta_.get("application"),
        "version": meta_.get("version"),
        "environment": meta_.get("environment"),
        "machine": meta_.get("machine"),
    }


def _pending_effects(conn: Connection, keys: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Pending effects by ``pending_key``: ``(id, payload)``."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for chunk in _chunks(keys):
        rows = conn.execute(
            sa.select(outbox.c.pending_key, outbox.c.id, outbox.c.payload).where(
                outbox.c.pending_key.in_(chunk)
            )
        )
        found.update((r.pending_key, (r.id, dict(r.payload))) for r in rows)
    return found


def _effect_row(
    kind: EffectKind,
    defect_id: int,
    payload: dict[str, Any],
    now: datetime,
    *,
    key: str | None,
    delay: timedelta,
) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "defect_id": defect_id,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now + delay,
        "last_error": None,
        "created_at": now,
        "pending_key": key,
    }


def _enqueue(
    conn: Connection,
    kind: EffectKind,
    defect_id: int,
    payload: dict[str, Any],
    now: datetime,
    *,
    extra: str = "",
    delay: timedelta = timedelta(0),
) -> None:
    """Queue an effect (due after ``delay``) unless the same one is already pending."""
    key = _pending_key(kind, defect_id, extra)
    if (
        key is not None
        and conn.execute(sa.select(outbox.c.id).where(outbox.c.pending_key == key)).first()
    ):
        return
    conn.execute(_INSERT_EFFECT, [_effect_row(kind, defect_id, payload, now, key=key, delay=delay)])


def _decide(conn: Connection, defect_id: int, decision: HumanDecision, now: datetime) -> None:
    """Apply a human decision when the defect is still in one of its ``from_states``."""
    row = conn.execute(
        sa.select(defects.c.state, defects.c.tracker_key, defects.c.fields).where(
            defects.c.id == defect_id
        )
    ).one()
    if DefectState(row.state) not in decision.from_states:
        log.info("store.decision_skipped", defect=defect_id, state=row.state)
        return
    values: dict[str, Any] = {"state": decision.state}
    if decision.by:
        values["confirmed_by"] = decision.by
    if decision.fields is not None:
        values["fields"] = Fields.from_dict(row.fields).merge(decision.fields).as_dict()
    key = decision.tracker_key or row.tracker_key
    if decision.tracker_key is not None:
        values["tracker_key"] = decision.tracker_key
        values["occurrences_reported"] = 0  # the issue has not heard of these yet
    conn.execute(sa.update(defects).where(defects.c.id == defect_id).values(**values))
    if decision.state is DefectState.FILED and key is None:
        _enqueue(conn, EffectKind.CREATE, defect_id, {}, now)
    if decision.state is DefectState.DUPLICATE and decision.tracker_key is not None:
        for sig in signatures_of(conn, [defect_id]).get(defect_id, []):
            _enqueue(conn, EffectKind.LINK, defect_id, {"signature": sig}, now, extra=sig)
        _enqueue(conn, EffectKind.UPDATE, defect_id, {}, now)
    log.info("store.state_changed", defect=defect_id, old=row.state, new=str(decision.state))


def _apply_result(conn: Connection, defect_id: int, result: EffectResult) -> None:
    values: dict[str, Any] = {}
    if result.tracker_key is not None:
        values["tracker_key"] = result.tracker_key
    if result.tracker_status is not None:
        values["tracker_status"] = result.tracker_status
    if result.occurrences_reported is not None:
        values["occurrences_reported"] = result.occurrences_reported
    if result.resolved is not None:
        values.update(_resolved_values(result.resolved))
    if values:
        conn.execute(sa.update(defects).where(defects.c.id == defect_id).values(**values))


def _resolved_values(resolved: bool) -> dict[str, Any]:
    """``resolved``, and on becoming resolved the version it was fixed after (the highest seen
    so far), which the regression check compares recurrences with."""
    if not resolved:
        return {"resolved": False}
    return {
        "resolved": True,
        "resolved_version": sa.case(
            (defects.c.resolved, defects.c.resolved_version), else_=defects.c.last_version
        ),
    }


#: Correlated: the defect's ``reopen`` has not reached the tracker yet.
_REOPEN_PENDING = sa.exists().where(
    outbox.c.defect_id == defects.c.id,
    outbox.c.kind == str(EffectKind.REOPEN),
    outbox.c.state == "pending",
)


def _tune_sqlite(engine: Engine) -> None:
    """WAL + NORMAL sync + busy timeout, and explicit BEGINs so transactions mean what they say."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("triagebot_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
