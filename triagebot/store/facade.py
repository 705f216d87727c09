"""``Store``: the one object the rest of triagebot holds to reach the state database.

It owns the engine, the transactions and the per-thread reader connections, and exposes each
concern's operations as methods; the work itself lives in one module per concern (``batch``,
``queue``, ``queries``, ``confirmation``, ``sync``, ``runs``), each running inside the transaction
the facade opens. Callers never see SQL: they get the values of ``records`` and
``triagebot.lifecycle``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from triagebot.clock import Clock, system_clock
from triagebot.errors import StoreError
from triagebot.lifecycle import EffectKind, HumanDecision, UndoRefusal
from triagebot.store import (
    confirmation,
    jobs,
    joins,
    leader,
    quarantine,
    queries,
    queue,
    runs,
    sync,
)
from triagebot.store.batch import Batch, known
from triagebot.store.db import (
    RECORD_LOCK,
    RETRY_AGAIN,
    SCHEMA_LOCK,
    SessionLimits,
    chunks,
    conflict_code,
    mapped,
    sqlstate,
    take_turns,
    tune_postgresql,
    tune_sqlite,
)
from triagebot.store.migrate import Migration, head, pending, upgrade
from triagebot.store.records import (
    Defect,
    DefectSummary,
    Effect,
    EffectResult,
    Reminder,
    ReplyRecord,
)
from triagebot.store.retention import (
    Retained,
    cutoff,
    fold_occurrences,
    prune_bounces,
    prune_messages,
)

if TYPE_CHECKING:
    from triagebot.pipeline import Outcome
    from triagebot.trackers.base import TrackerIssue

__all__ = ["RECORD_ATTEMPTS", "Store"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: A batch that still lost a race with another writer (PostgreSQL: unique violation,
#: serialization failure, deadlock, a lock wait cut short) is retried from the start; the
#: retry sees the winner's rows. Other writes retry the same way, except a unique violation.
RECORD_ATTEMPTS = 5
#: Rows a retention run folds or deletes per transaction.
RETENTION_CHUNK = 5_000


class Store:
    """The state database behind one SQLAlchemy engine."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = system_clock,
        update_delay: timedelta = timedelta(0),
        limits: SessionLimits | None = None,
    ) -> None:
        """``clock`` stamps what is recorded; ``update_delay``: how long occurrence updates
        coalesce before the tracker hears of them, so a busy signature costs one tracker call
        per interval, not one per batch; ``limits``: every PostgreSQL session's timeouts."""
        self.clock = clock
        self.update_delay = update_delay
        parsed = sa.make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        postgresql = parsed.get_backend_name() == "postgresql"
        # PostgreSQL: a pooled session the server ended (a restart, a timeout) is replaced
        # before use instead of failing the next transaction
        self.engine: Engine = sa.create_engine(url, pool_pre_ping=postgresql)
        if self.is_sqlite:
            tune_sqlite(self.engine)
        elif postgresql:
            tune_postgresql(self.engine, limits or SessionLimits())
        self._local = threading.local()
        self._held: list[Connection] = []  # per-thread reader connections, closed by close()
        self._held_lock = threading.Lock()

    def close(self) -> None:
        with self._held_lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self.engine.dispose()

    def ping(self) -> None:
        """One round trip to the database; raises (``StoreError``) when it does not answer."""
        with self.read() as conn:
            conn.execute(sa.select(1))

    # --- schema ---------------------------------------------------------------------------

    def create_all(self, tables: sa.MetaData) -> None:
        """Create the missing ``tables`` (also for modules with their own, like the local
        tracker); replicas starting together on PostgreSQL take turns."""
        with self.write() as conn:
            take_turns(conn, SCHEMA_LOCK)
            tables.create_all(conn)

    def migrate(self) -> None:
        """Create or upgrade the schema in place (``migrate.upgrade``); replicas starting
        together on PostgreSQL take turns, and one upgrades while the others wait."""
        with self.write() as conn:
            take_turns(conn, SCHEMA_LOCK)
            upgrade(conn)
        log.info("store.migrated", backend=self.engine.dialect.name, schema=head())

    def pending_migrations(self) -> list[Migration]:
        """What ``migrate`` would apply, oldest first; changes nothing."""
        with self.read() as conn:
            return pending(conn)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, so read-then-write never deadlocks).

        Also for modules that keep their own tables in this database (the local tracker).
        """
        with mapped("write"), self.engine.connect() as plain:
            conn = plain.execution_options(triagebot_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with mapped("read"), self.engine.connect() as conn, conn.begin():
            yield conn

    # --- retention ------------------------------------------------------------------------

    def apply_retention(
        self, days: int, limit: int = RETENTION_CHUNK, *, lease: jobs.JobLease | None = None
    ) -> Retained:
        """Fold occurrences and delete message records and bounces older than ``days``,
        ``limit`` rows per transaction; defects' totals do not change. ``lease``: the
        ``retention`` job's (``claim_job``), checked and renewed by each transaction, so a
        replica whose lease ran out stops (``LeadershipLost``) with nothing more written."""
        before = cutoff(self.clock(), days)
        folded = self._in_chunks(fold_occurrences, before, limit, lease)
        pruned = self._in_chunks(prune_messages, before, limit, lease)
        gone = self._in_chunks(prune_bounces, before, limit, lease)
        return Retained(before, folded, pruned, gone)

    def _in_chunks(
        self,
        step: Callable[[Connection, datetime, int], int],
        before: datetime,
        limit: int,
        lease: jobs.JobLease | None,
    ) -> int:
        """Run ``step`` one write transaction at a time until it does less than ``limit``."""
        total = 0
        while True:
            with self.write() as conn:
                if lease is not None:
                    jobs.check(conn, lease, self.clock())
                done = step(conn, before, limit)
            total += done
            if done < limit:
                return total

    # --- scheduled jobs -------------------------------------------------------------------

    def claim_job(self, job: str, holder: str, every: timedelta) -> jobs.JobLease | None:
        """Take ``job`` for replica ``holder`` under a new fencing token (``store.jobs``);
        None while another replica runs it, or when its last run finished within ``every``."""
        now = self.clock()
        return self._retried(lambda conn: jobs.claim(conn, job, holder, now, every), unique=True)

    def renew_job(self, lease: jobs.JobLease) -> None:
        """Renew ``lease`` before a step of its job that cannot be undone (a mail sent);
        ``LeadershipLost`` when it is not the job's current lease any more."""
        with self.write() as conn:
            jobs.check(conn, lease, self.clock())

    def finish_job(self, lease: jobs.JobLease) -> bool:
        """The run is done: free the job (False: the lease ran out meanwhile)."""
        with self.write() as conn:
            return jobs.finish(conn, lease, self.clock())

    # --- messages -------------------------------------------------------------------------

    def record(
        self,
        outcomes: Sequence[Outcome],
        *,
        refs: Sequence[str] | None = None,
        now: datetime | None = None,
        lead: int | None = None,
    ) -> int:
        """Store a batch of outcomes and their effects in one transaction.

        ``refs`` (parallel to ``outcomes``) are the sources' handles, kept for tracing.
        ``lead``: the intake's fencing token the batch was read under (``leadership``); a
        newer one refuses it (``LeadershipLost``), as another replica reads the mail now.
        Returns how many messages were new; the others were recorded before and change nothing.
        """
        now = now or self.clock()
        batch: dict[str, tuple[Outcome, str | None]] = {}
        for i, outcome in enumerate(outcomes):
            batch.setdefault(outcome.store_key, (outcome, refs[i] if refs else None))
        new = self._retried(lambda conn: self._record(conn, dict(batch), now, lead), unique=True)
        if new:
            log.debug("store.recorded", messages=new)
        return new

    def _record(
        self,
        conn: Connection,
        batch: dict[str, tuple[Outcome, str | None]],
        now: datetime,
        lead: int | None,
    ) -> int:
        """One attempt: skip what is known, record the rest; returns how many were new."""
        take_turns(conn, RECORD_LOCK)  # so ``known`` cannot miss a replica's batch
        if lead is not None:
            leader.check(conn, leader.INTAKE, lead)
        for message_id in known(conn, list(batch)):
            del batch[message_id]
        if batch:
            Batch(conn, now, self.update_delay).record(batch.values())
        return len(batch)

    def _retried(self, work: Callable[[Connection], T], *, unique: bool = False) -> T:
        """``work`` in a write transaction, run again (up to ``RECORD_ATTEMPTS`` times) when
        PostgreSQL aborted it for a lost race: a serialization failure, a deadlock, a lock
        wait cut short by ``lock_timeout``, and with ``unique`` a unique violation. Only the
        transaction is repeated: what the caller did before (a tracker call) is not."""
        attempt = 1
        while True:
            try:
                with self.write() as conn:
                    return work(conn)
            except StoreError as exc:
                code = conflict_code(exc) if unique else None
                code = code or (found if (found := sqlstate(exc)) in RETRY_AGAIN else None)
                if code is None or attempt == RECORD_ATTEMPTS:
                    raise
                log.info("store.write_retry", attempt=attempt, sqlstate=code)
                attempt += 1

    def leadership(self, holder: str, failover: timedelta) -> leader.Leadership:
        """This replica's claim to lead the intake (``store.leader``); ``holder`` names the
        replica, ``failover``: how soon a standby takes over from a leader that froze."""
        return leader.Leadership(self.engine, self.clock, holder, failover)

    # --- occurrence counts ---------------------------------------------------------------

    def count(self, signature: str, since: datetime) -> int:
        """Occurrences recorded at or after ``since`` for the defect of ``signature``.

        Rules may call it for every report that reaches an ``occurrences`` condition (the
        daemon asks ``counts`` once per batch instead), so it reuses one connection per
        thread: a pool checkout per call would cost 10x the query.
        """
        with self._snapshot() as conn:
            return queries.count(conn, signature, since)

    def counts(
        self, signatures: Collection[str], since: datetime, cap: int | None = None
    ) -> dict[str, int]:
        """``count`` for many signatures with one query (signatures without any: absent),
        each counted up to ``cap`` at most when given."""
        with self._snapshot() as conn:
            return queries.counts(conn, signatures, since, cap)

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """This thread's own reader connection, its snapshot ended afterwards so the next
        call sees new commits."""
        with mapped("read"):
            conn: Connection | None = getattr(self._local, "conn", None)
            if conn is None or conn.closed:
                conn = self._local.conn = self.engine.connect()
                with self._held_lock:
                    self._held.append(conn)
            try:
                yield conn
            finally:
                conn.rollback()

    # --- regrouping -----------------------------------------------------------------------

    def unsigned(self, version: str, after: int = 0, limit: int = 500) -> list[joins.Sample]:
        """Defects no signature of ``version`` points to yet, with their sample traces
        (``store.joins``), by id from ``after`` on."""
        with self.read() as conn:
            return joins.unsigned(conn, version, after, limit)

    def settle_signatures(
        self, version: str, groups: Mapping[str, Collection[int]], *, dry_run: bool = False
    ) -> list[joins.Join]:
        """Give each signature of ``version`` in ``groups`` to one of its defects, joining
        the others and its present holder into it (``store.joins``; ``dry_run``: only say
        which joins); one transaction per chunk of signatures."""
        now = self.clock()
        done: list[joins.Join] = []
        for chunk in chunks(sorted(groups)):
            part = {signature: groups[signature] for signature in chunk}
            if dry_run:
                with self.read() as conn:
                    done += joins.settle(conn, version, part, now, dry_run=True)
            else:
                settle = partial(joins.settle, version=version, groups=part, now=now)
                done += self._retried(settle, unique=True)
        return done

    # --- defects --------------------------------------------------------------------------

    def defect(self, defect_id: int) -> Defect:
        found = self.defects_by_id([defect_id])
        if defect_id not in found:
            raise StoreError(f"no defect {defect_id}")
        return found[defect_id]

    def defects_by_id(self, ids: Collection[int]) -> dict[int, Defect]:
        """The defects with these ids (unknown ids are left out), from one snapshot."""
        with self.read() as conn:
            return queries.defects_by_id(conn, ids)

    def defects(
        self, states: Collection[str] = (), since: datetime | None = None
    ) -> list[DefectSummary]:
        """Every defect and candidate, oldest first; only those in ``states`` and last seen
        at or after ``since`` when given."""
        with self.read() as conn:
            return queries.defect_summaries(conn, states=states, since=since)

    def traces(
        self, *, key: str | None = None, message_id: str | None = None
    ) -> list[queries.MessageTrace]:
        """``triagebot trace``: the mail recorded under store ``key``, or every mail recorded
        with ``message_id`` (one Message-ID may carry several contents)."""
        with self.read() as conn:
            return queries.message_traces(conn, key, message_id)

    def status(self, now: datetime) -> dict[str, Any]:
        """``triagebot status``: intake, defects, the outbox's backlog and the digests' latest
        runs, from one read snapshot (``queries.status``)."""
        with self.read() as conn:
            return queries.status(conn, now)

    # --- status sync ----------------------------------------------------------------------

    def tracked_keys(self) -> list[str]:
        """The tracker keys whose status matters (filed defects and duplicates), each once."""
        with self.read() as conn:
            return sync.tracked_keys(conn)

    def record_statuses(self, issues: Mapping[str, TrackerIssue]) -> int:
        """What the status sync learnt, in one transaction; returns how many defects changed
        (``sync.record_statuses``)."""
        with self.write() as conn:
            return sync.record_statuses(conn, issues)

    def tracker_kind(self) -> str | None:
        """The tracker kind the stored keys belong to (None: none recorded yet)."""
        with self.read() as conn:
            return sync.tracker_kind(conn)

    def set_tracker_kind(self, kind: str) -> None:
        with self.write() as conn:
            sync.set_tracker_kind(conn, kind)

    def move_issue(self, old_key: str, issue: TrackerIssue | None) -> int:
        """The defects on ``old_key`` now update ``issue`` (``sync.move_issue``), or keep no
        key when it is None (``sync.forget_issue``); returns how many changed."""
        with self.write() as conn:
            if issue is None:
                return sync.forget_issue(conn, old_key)
            return sync.move_issue(conn, old_key, issue)

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
            acked = confirmation.apply_reply(conn, reply, decision, ack, ack_interval)
        if acked is None:
            return False
        log.info("store.reply_applied", defect=reply.defect_id, verb=reply.verb, acknowledged=acked)
        return True

    def apply_undo(
        self,
        reply: ReplyRecord,
        window: timedelta,
        answer: Callable[[ReplyRecord | None, UndoRefusal | None], dict[str, Any] | None],
    ) -> tuple[ReplyRecord | None, UndoRefusal | None] | None:
        """Record an ``undo`` and reverse the sender's last command on the defect when it is
        at most ``window`` old and nothing changed the defect since, in one transaction;
        None when that Message-ID was applied before, else the command found and why nothing
        changed (None: it was reversed). ``answer`` makes the acknowledgement, always queued.
        """
        with self.write() as conn:
            outcome = confirmation.apply_undo(conn, reply, window, answer)
        if outcome is not None:
            refused = str(outcome[1]) if outcome[1] is not None else None
            log.info("store.undo_applied", defect=reply.defect_id, refused=refused)
        return outcome

    def replies(self, defect_id: int) -> list[ReplyRecord]:
        """Every reply applied to a defect, oldest first."""
        with self.read() as conn:
            return confirmation.replies_of(conn, defect_id)

    def notified(self, defect_id: int, kind: str) -> dict[str, str]:
        """Recipients a ``kind`` mail about this defect went to already, with its Message-ID."""
        with self.read() as conn:
            return confirmation.notified(conn, defect_id, kind)

    def candidates_mailed(self, since: datetime) -> int:
        """How many candidates got their candidate mail since ``since``."""
        with self.read() as conn:
            return confirmation.candidates_mailed(conn, since)

    def summaries_due(self, recipient: str) -> list[int]:
        """Candidates held back from their own mail that ``recipient`` has not seen in a
        summary yet."""
        with self.read() as conn:
            return confirmation.summaries_due(conn, recipient)

    def seen_on(self, defect_id: int, limit: int = 5) -> dict[str, list[str]]:
        """A defect's most frequent ``machine`` and ``version`` values."""
        with self.read() as conn:
            return confirmation.seen_on(conn, defect_id, limit)

    def record_notification(
        self,
        defect_id: int,
        kind: str,
        recipient: str,
        message_id: str,
        at: datetime,
        *,
        lease: jobs.JobLease | None = None,
    ) -> None:
        """Record a mail sent about a defect; ``lease``: the job's that sent it, which must
        still be current (else ``LeadershipLost``, nothing written)."""
        with self.write() as conn:
            if lease is not None:
                jobs.check(conn, lease, self.clock())
            confirmation.record_notification(
                conn, defect_id, kind, recipient, message_id=message_id, at=at
            )

    def claim_reminders(self, sent_before: datetime) -> list[Reminder]:
        """The reminders of candidate mails sent before ``sent_before`` that are still
        unanswered candidates and were not reminded yet, claimed for ``EFFECT_LEASE`` under a
        fencing token like effects: a replica asking at the same time gets the others
        (``confirmation.claim_reminders``)."""
        now = self.clock()
        until = now + queue.EFFECT_LEASE
        return self._retried(
            lambda conn: confirmation.claim_reminders(conn, sent_before, now, until)
        )

    def renew_reminder(self, claim: Reminder) -> bool:
        """Extend ``claim`` to ``EFFECT_LEASE`` from now, just before its mail is sent; False
        when another replica took the reminder over meanwhile (this one was paused)."""
        until = self.clock() + queue.EFFECT_LEASE
        return self._retried(lambda conn: confirmation.renew_reminder(conn, claim, until))

    def complete_reminder(self, claim: Reminder, message_id: str, at: datetime) -> bool:
        """Record the reminder sent under ``claim``; False (nothing written) when the claim
        is not the current one any more."""
        return self._retried(
            lambda conn: confirmation.complete_reminder(conn, claim, message_id, at)
        )

    def queue_refusal_notice(
        self, message_id: str, sender: str, answer: dict[str, Any], *, at: datetime, per: timedelta
    ) -> bool:
        """Queue the answer to a refused reply, unless that reply was answered before or
        ``sender`` got one within ``per``; returns whether it was queued."""
        with self.write() as conn:
            return confirmation.queue_refusal_notice(
                conn, message_id, sender, answer, at=at, per=per
            )

    def refusal_notices_due(self) -> list[tuple[str, dict[str, Any]]]:
        """``(message_id, answer)`` of the answers to refused replies not sent yet."""
        with self.read() as conn:
            return confirmation.refusal_notices_due(conn)

    def refusal_notice_sent(
        self, message_id: str, at: datetime, *, lease: jobs.JobLease | None = None
    ) -> None:
        """Mark an answer sent; ``lease`` as for ``record_notification``."""
        with self.write() as conn:
            if lease is not None:
                jobs.check(conn, lease, self.clock())
            confirmation.refusal_notice_sent(conn, message_id, at)

    # --- outbox ---------------------------------------------------------------------------

    def due_effects(
        self, now: datetime, limit: int, kinds: Iterable[EffectKind] | None = None
    ) -> list[Effect]:
        """Pending effects whose time has come, oldest first (a create before its updates),
        leased to the caller for ``EFFECT_LEASE`` under a new fencing token: a concurrent
        worker (another replica) is not handed them, so no effect is performed twice.
        ``complete_effect`` or ``fail_effect`` ends the lease, ``renew_effect`` extends it."""
        with self.write() as conn:
            return queue.lease(conn, now, limit, kinds)

    def pending_by_kind(self) -> dict[str, int]:
        """Effects waiting to be performed, by kind (``/metrics``, the ``run --once`` summary)."""
        with self.read() as conn:
            return queue.pending_by_kind(conn)

    def renew_effect(self, effect: Effect) -> bool:
        """Extend ``effect``'s lease to ``EFFECT_LEASE`` from now (the heartbeat of the worker
        performing it); False when another worker took it over meanwhile."""
        until = self.clock() + queue.EFFECT_LEASE
        return self._retried(lambda conn: queue.renew(conn, effect, until))

    def complete_effect(self, effect: Effect, result: EffectResult | None = None) -> bool:
        """Mark an effect done and keep what it taught us, in one transaction; occurrences
        that arrived while it was in flight get a fresh ``update`` (``queue.complete``).
        False: the lease was lost (another worker took the effect over), nothing written."""
        return self._retried(
            lambda conn: queue.complete(conn, effect, result, self.clock, self.update_delay)
        )

    def fail_effect(
        self,
        effect: Effect,
        error: str,
        retry_at: datetime | None,
        attempt: dict[str, Any] | None = None,
    ) -> bool:
        """Reschedule at ``retry_at``, or give up (``failed``) when it is None; ``attempt``
        goes in the payload for the next attempt (``queue.fail``). False: the lease was lost,
        nothing written."""
        return self._retried(lambda conn: queue.fail(conn, effect, error, retry_at, attempt))

    # --- quarantine -------------------------------------------------------------------------

    def verdicts(self, keys: Collection[str]) -> dict[str, quarantine.Verdict]:
        """How each of ``keys`` was recorded (absent: never)."""
        with self.read() as conn:
            return quarantine.verdicts(conn, keys)

    def forget_invalid(self, keys: Collection[str]) -> int:
        """Forget the invalid verdicts of ``keys``, so those mails are read afresh."""
        with self.write() as conn:
            return quarantine.forget(conn, keys)

    def record_refused(self, key: str, ref: str, reason: str, now: datetime) -> None:
        """Record a mail the store refused for good as invalid, with the reason."""
        with self.write() as conn:
            quarantine.record_refused(conn, key, ref, reason, now)

    def retry_failed(self, ids: Collection[int] | None = None) -> list[int]:
        """Queue failed effects again (``ids``, or all), due now (``queue.retry_failed``)."""
        with self.write() as conn:
            return queue.retry_failed(conn, ids, self.clock())

    def effects(self, defect_id: int | None = None) -> list[tuple[str, str, int]]:
        """``(kind, state, attempts)`` of every effect, for status output and tests."""
        with self.read() as conn:
            return queue.effects(conn, defect_id)

    # --- digests --------------------------------------------------------------------------

    def period_activity(
        self, start: datetime, end: datetime, *, candidates: bool = False
    ) -> queries.PeriodActivity:
        """What a digest of ``[start, end)`` is made of, from one read snapshot
        (``candidates``: a helpdesk digest's candidates awaiting confirmation)."""
        with self.read() as conn:
            return queries.period_activity(conn, start, end, candidates=candidates)

    def digest_activity(
        self,
        start: datetime,
        end: datetime,
        *,
        candidates: bool,
        window_start: datetime,
        zone: tzinfo,
    ) -> tuple[queries.PeriodActivity, queries.Trends]:
        """``period_activity`` and its ``Trends`` (days local to ``zone``), from one read
        snapshot."""
        with self.read() as conn:
            activity = queries.period_activity(conn, start, end, candidates=candidates)
            trends = queries.period_trends(
                conn, start, end, activity.defects, window_start=window_start, zone=zone
            )
            return activity, trends

    def last_digest_end(self, name: str) -> datetime | None:
        """Where the next period of digest ``name`` starts (None before its first run)."""
        with self.read() as conn:
            return runs.last_end(conn, name)

    def claim_digest(
        self, name: str, end: datetime, now: datetime, since: datetime
    ) -> tuple[datetime, int] | None:
        """Claim the period of ``name`` ending at ``end`` in one write transaction; returns its
        start and the claim's fencing token, or None when another run (or replica) covers it."""
        try:
            with self.write() as conn:
                return runs.claim(conn, name, end, now, since)
        except StoreError as exc:  # a replica inserted the same period first (PostgreSQL)
            if runs.lost_claim(exc):
                return None
            raise

    def digest_retries_due(
        self, now: datetime, names: Collection[str]
    ) -> list[tuple[str, datetime, datetime]]:
        """``(digest, start, end)`` of the runs of ``names`` to send again: failed
        transiently, or left claimed by a crashed owner."""
        with self.read() as conn:
            return runs.due_retries(conn, now, names)

    def reclaim_digest(self, name: str, end: datetime, now: datetime) -> int | None:
        """Take a retryable period over: its new claim's token, or None when a replica was
        quicker."""
        with self.write() as conn:
            return runs.reclaim(conn, name, end, now)

    def hold_digest(self, name: str, end: datetime, token: int, now: datetime) -> bool:
        """Renew claim ``token`` just before sending; False: another replica took it over."""
        with self.write() as conn:
            return runs.hold(conn, name, end, token, now)

    def digest_attempts(self, name: str, end: datetime) -> int:
        with self.read() as conn:
            return runs.attempts(conn, name, end)

    def finish_digest(
        self,
        name: str,
        end: datetime,
        token: int,
        state: str,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
        message_id: str | None = None,
    ) -> bool:
        """End claim ``token``'s attempt: ``sent``, ``empty``, ``failed``, or ``retry`` at
        ``retry_at``; False (nothing written) when another replica took the period over."""
        with self.write() as conn:
            return runs.finish(
                conn, name, end, token, state, error=error, retry_at=retry_at, message_id=message_id
            )
