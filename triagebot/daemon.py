"""The service: sources → pipeline → store (one transaction per batch) → acknowledge → outbox.

Mail is acknowledged only after its batch is committed, and effects reach the tracker only
through the outbox, so a crash at any point re-processes (the store skips what it already
recorded) and never drops or double-files. Each source has one I/O thread, which fetches the
next batch while the last one is parsed and committed on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from triagebot.analysis import Analyser, AnalysisStopped, InProcess, WorkerPool
from triagebot.clock import Clock, system_clock
from triagebot.collector import batch_friendly_gc, few_arenas, release_batch
from triagebot.config import Config
from triagebot.confirm import Notifier, ReplyHandler
from triagebot.errors import (
    LeadershipLost,
    RetryableError,
    StoreError,
    StoreUnavailable,
    TriagebotError,
)
from triagebot.housekeeping import retention_loop
from triagebot.mail.key import ReusedIds
from triagebot.mail.report import Kind
from triagebot.mail.smtp_listener import start_listener
from triagebot.mail.source import Folder, Incoming, Source
from triagebot.metrics import Metrics, serve
from triagebot.outbox import (
    MAIL_EFFECTS,
    TRACKER_EFFECTS,
    run_effects,
    run_notifications,
    sync_statuses,
)
from triagebot.pipeline import Outcome, Pipeline
from triagebot.progress import Progress
from triagebot.regroup import regroup
from triagebot.scheduler import start_digests
from triagebot.services import (
    build_sources,
    build_tracker,
    listener_settings,
    listener_spool,
    open_store,
)
from triagebot.smtp import Mailer, mail_enabled
from triagebot.store import Effect, Leadership, Store, replica_name
from triagebot.systemd import LoopWatch, notify, watchdog_interval
from triagebot.tracker_move import kind_warning
from triagebot.trackers import tracker_kind
from triagebot.trackers.base import Tracker

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # level checks only; lines go through ``log``
T = TypeVar("T")

WAIT_SLICE = 2.0  # seconds a source waits for mail before checking for shutdown
OUTBOX_INTERVAL = 10.0  # seconds between outbox rounds when nothing wakes it
OUTBOX_LIMIT = 100
TRACKER_LANE, MAIL_LANE = "outbox-tracker", "outbox-mail"
LANE_EFFECTS = {TRACKER_LANE: TRACKER_EFFECTS, MAIL_LANE: MAIL_EFFECTS}
LANES = tuple(LANE_EFFECTS)
_INSTANT = timedelta(microseconds=1)  # ``[start, now]`` as the half-open ``[start, now + 1µs)``
RETRY_INITIAL, RETRY_MAX = 1.0, 60.0  # back-off after a source or store failure
SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE = 5.0  # seconds an orderly stop may take after a signal (``exit_after_signal``)

FOLDER_OF: dict[Kind, Folder] = {Kind.INVALID: Folder.QUARANTINE}
#: A message's outcome in metrics and summaries: its folder when it was set aside, else the
#: action taken (``file``, ``candidate``, ``ignore``, ...).
_OUTCOME_OF = {Folder.QUARANTINE: "quarantined", Folder.REVIEW: "review"}


class DaemonCrashed(TriagebotError):
    """A source's loop or the outbox died of an unexpected error; the daemon stopped."""


class DaemonStopped(TriagebotError):
    """Asked to stop (SIGTERM/SIGINT) before the service was up, while it waited for the store."""


def wait_for_store(store: Store, stop: threading.Event) -> None:
    """Migrate the store, waiting with back-off while it is out of reach.

    A replica started while PostgreSQL is down, restarting or failing over waits for it (one
    warning per attempt) instead of exiting: its supervisor would only restart it into the
    same wait. Raises ``DaemonStopped`` when ``stop`` is set meanwhile; any other store error
    (a schema from a newer release, a wrong password) is raised at once."""
    delay, attempt = RETRY_INITIAL, 1
    while True:
        try:
            store.migrate()
            return
        except StoreUnavailable as exc:
            log.warning("store.waiting", attempt=attempt, error=str(exc), retry_in=delay)
        if stop.wait(delay):
            log.info("store.wait_stopped", attempts=attempt)
            raise DaemonStopped("stopped while waiting for the store")
        delay, attempt = min(delay * 2, RETRY_MAX), attempt + 1


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while the body runs: the service's start-up, before its
    event loop takes the signals over (main thread only; elsewhere signals are not ours)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True, slots=True)
class Processed:
    """A committed batch: which refs go to which folder; how many mails were new; how many
    of each (kind, outcome); the reasons of those quarantined."""

    moves: dict[Folder, list[str]]
    new: int
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    quarantined: tuple[str, ...] = ()
    #: The signatures the store holds now (``Analyser.learn``).
    signed: frozenset[str] = frozenset()


class BatchCounter:
    """Occurrence counts for the rules during one batch.

    The store is asked once per rule window for every signature of the batch (the rules see
    one clock, ``now``, per batch), up to the largest count a rule asks over that window (a
    bug seen all day is not counted again in full for each batch of a backlog), plus the
    reports of the same batch seen so far, which the store cannot see before the batch
    commits.
    """

    def __init__(
        self,
        store: Store,
        signatures: Collection[str],
        now: datetime,
        windows: Mapping[timedelta, int],
    ) -> None:
        self._store = store
        wanted = windows.items() if signatures else ()
        self._stored = {now - w: store.counts(signatures, now - w, cap) for w, cap in wanted}
        self._pending: Counter[str] = Counter()

    def __call__(self, signature: str, since: datetime) -> int:
        stored = self._stored.get(since)
        found = (
            stored.get(signature, 0) if stored is not None else self._store.count(signature, since)
        )
        return found + self._pending[signature]

    def add(self, signature: str) -> None:
        self._pending[signature] += 1


def handle_batch(
    pipeline: Pipeline,
    store: Store,
    source: str,
    batch: Sequence[Incoming],
    *,
    replies: ReplyHandler | None = None,
    analysis: InProcess | None = None,
) -> Processed:
    """Analyse one batch in this process, then ``record_batch`` it (tests and tools).
    ``analysis``: one kept across batches, which learns the signatures the store holds (as
    the service's analysis processes do), so a known report is not signed by the older
    versions again."""
    analysis = analysis or InProcess(pipeline)
    analysed = analysis.analyse([incoming.raw for incoming in batch])
    refs = [incoming.ref for incoming in batch]
    done = record_batch(pipeline, store, source, refs, analysed, replies=replies)
    analysis.learn(done.signed)
    return done


def record_batch(
    pipeline: Pipeline,
    store: Store,
    source: str,
    refs: Sequence[str],
    analysed: Sequence[Outcome],
    *,
    replies: ReplyHandler | None = None,
    reused: ReusedIds | None = None,
    lead: int | None = None,
) -> Processed:
    """Decide and commit one analysed batch; returns where each message goes once
    acknowledged. ``reused`` notices Message-IDs that come back with other content;
    ``lead``: the intake's fencing token the batch was read under (``Store.record``).

    ``analysed``: the outcomes of the mails ``refs`` names, in order; the raw mails are not
    needed any more, so the service lets them go before the batch is recorded. Replies to
    candidate mails are applied after the commit (``replies``; each at most once). A message
    the store refuses for good goes to Quarantine; the others are committed. The batch's time
    is the store's clock: the rules' windows and the recorded occurrences agree.
    """
    now = store.clock()
    signatures = {o.signature.value for o in analysed if o.signature is not None}
    counter = BatchCounter(store, signatures, now, pipeline.rules.windows)
    outcomes: list[Outcome] = []
    for item in analysed:
        if reused is not None and item.key:
            reused.seen(item.report.message_id, item.key, item.report.sender)
        outcome = pipeline.decide(item, counter, now)
        if outcome.signature is not None:
            counter.add(outcome.signature.value)
        outcomes.append(outcome)
    new, refused = _record(store, source, outcomes, refs, now, lead=lead)
    moves: dict[Folder, list[str]] = defaultdict(list)
    tally: Counter[tuple[str, str]] = Counter()
    quarantined: list[str] = []
    verbose = _stdlib_log.isEnabledFor(logging.DEBUG)  # build no log fields nobody will see
    for index, (ref, outcome) in enumerate(zip(refs, outcomes, strict=True)):
        folder = FOLDER_OF.get(outcome.report.kind, Folder.PROCESSED)
        reason = outcome.report.reason
        if index in refused:
            folder, reason = Folder.QUARANTINE, refused[index]
            _record_refused(store, outcome.store_key, ref, reason, now)
        elif outcome.report.kind is Kind.REPLY and replies is not None:
            folder = replies.handle(outcome.report, now)
        moves[folder].append(ref)
        tally[str(outcome.report.kind), _OUTCOME_OF.get(folder, outcome.action)] += 1
        if folder is Folder.QUARANTINE:
            quarantined.append(reason)
            log.warning("message.quarantined", **_log_fields(source, ref, outcome), reason=reason)
        elif verbose:
            log.debug("message.processed", **_log_fields(source, ref, outcome))
    signed = frozenset(
        o.signature.value for i, o in enumerate(outcomes) if o.signature and i not in refused
    )
    return Processed(dict(moves), new, tally, tuple(quarantined), signed)


def _record(
    store: Store,
    source: str,
    outcomes: Sequence[Outcome],
    refs: Sequence[str],
    now: datetime,
    *,
    lead: int | None,
) -> tuple[int, dict[int, str]]:
    """Record the batch in one transaction; returns how many were new, and the messages the
    store refused for good (index → reason).

    A failure that may pass (``RetryableError``: the database is away) propagates, so the
    batch is fetched again later. Any other failure would recur on every fetch and block the
    mail behind it, so the messages are recorded one by one and only those that still fail
    are refused.
    """
    try:
        return store.record(outcomes, refs=refs, now=now, lead=lead), {}
    except RetryableError:
        raise
    except Exception as exc:  # deterministic: find the message(s) to blame
        log.warning(
            "store.batch_refused",
            source=source,
            messages=len(refs),
            error=repr(exc),
            exc_info=not isinstance(exc, TriagebotError),  # a bug: show where
        )
    new = 0
    refused: dict[int, str] = {}
    for index, (outcome, ref) in enumerate(zip(outcomes, refs, strict=True)):
        try:
            new += store.record([outcome], refs=[ref], now=now, lead=lead)
        except RetryableError:
            raise
        except Exception as exc:  # this message is the poison
            refused[index] = f"store refused it: {exc!r}"
    return new, refused


def _record_refused(store: Store, key: str, ref: str, reason: str, now: datetime) -> None:
    """Keep the reason for a mail the store would not take, when it takes that much: a copy
    delivered again is then recognised (``triagebot quarantine`` shows it)."""
    try:
        store.record_refused(key, ref, reason, now)
    except Exception as exc:  # the reason is logged with the quarantine either way
        log.warning("store.refused_unrecorded", ref=ref, error=repr(exc))


def _log_fields(source: str, ref: str, outcome: Outcome) -> dict[str, Any]:
    """The context of a message's one log line."""
    fields: dict[str, Any] = {
        "source": source,
        "ref": ref,
        "message_id": outcome.report.message_id,
        "kind": str(outcome.report.kind),
        "action": outcome.action,
    }
    sig = outcome.signature
    if sig is not None:
        fields["signature"] = sig.value
        fields["title"] = sig.title
    if outcome.decision is not None:
        fields["rule"] = outcome.decision.rule
    return fields


class Daemon:
    """Runs every configured source, the listener and the outbox until stopped."""

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        store: Store,
        tracker: Tracker,
        sources: Sequence[Source],
        *,
        mailer: Mailer | None = None,
        analyser: Analyser | None = None,
        metrics: Metrics | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """``analyser``: where mails are analysed (default: in this process, no budget);
        ``metrics``: what ``/metrics`` serves (``from_config`` counts the tracker's calls);
        ``leadership``: the election among replicas for reading the mailbox (the first
        source; a listener's spool is this replica's own), None: read it without one."""
        self.config = config
        self.metrics = metrics or Metrics(store.clock)
        self.progress = Progress(store.clock)
        self._tally: Counter[str] = Counter()  # outcome → mails, for the ``run --once`` summary
        self.watch = LoopWatch()  # what systemd's watchdog is fed by
        self._open: set[str] = set()  # sources opened at least once (READY=1 when all are)
        self.analyser = analyser or InProcess(pipeline)
        #: Seconds after SIGTERM/SIGINT at which the process exits even if a call still hangs
        #: (a Jira or SMTP request, an IMAP reconnect): everything is committed before it is
        #: acknowledged, so a hard exit loses nothing. None: no hard exit (tests, embedding).
        self.exit_after_signal: float | None = None
        self.mailer = mailer  # None: every mail feature is off (mail_enabled said why)
        self.pipeline = pipeline
        self.store = store
        self.tracker = tracker
        self.sources = list(sources)
        self.leadership = leadership
        #: This replica among the others, for the leases of the jobs it runs.
        self.holder = leadership.holder if leadership is not None else replica_name()
        self.stopping = asyncio.Event()
        # the outbox's two lanes, each on its own thread: a slow or unreachable tracker never
        # holds up intake or mail, and an SMTP outage never holds up filing
        self._lanes = {lane: ThreadPoolExecutor(1, thread_name_prefix=lane) for lane in LANES}
        self._due = {lane: asyncio.Event() for lane in LANES}
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="pipeline")
        self._reused = ReusedIds()  # read and written on ``_worker`` only
        self._regrouped = False
        # one thread hands batches to the analysis processes, one batch ahead of ``_worker``
        self._analysis = ThreadPoolExecutor(1, thread_name_prefix="analysis")
        self.replies = ReplyHandler.from_config(
            config, store, tracker_kind(config.tracker.kind).key
        )
        self.notifier = Notifier.from_config(config, store, mailer)

    @classmethod
    def from_config(
        cls, config: Config, clock: Clock = system_clock, *, stop: threading.Event | None = None
    ) -> Daemon:
        """The service ``config`` describes, once its store answers (``wait_for_store``;
        ``stop`` ends the wait with ``DaemonStopped``); ``clock`` is its time (tests fix it)."""
        store = open_store(config, timedelta(seconds=config.tracker.update_interval), clock)
        try:
            wait_for_store(store, stop or threading.Event())
        except BaseException:
            store.close()
            raise
        mismatch = kind_warning(store, config.tracker.kind)
        if mismatch is not None:
            log.warning("tracker.kind_changed", detail=mismatch)
        for section, error in config.broken:
            if section != "smtp":  # ``mail_enabled`` says it, naming the mail features
                log.warning("config.section_disabled", section=section, error=error)
        env = config.environment
        log.info(
            "config.environment",
            environment=env.name if env else None,
            source=env.source if env else None,
            tables=list(env.tables) if env else [],
            installation=config.installation,
        )
        pipeline = Pipeline.from_config(config)
        service = config.service
        size = service.processes
        analyser = WorkerPool(config, service.analysis_timeout, size) if size else None
        metrics = Metrics(store.clock)
        return cls(
            config,
            pipeline,
            store,
            metrics.count_requests(build_tracker(config, store)),
            build_sources(config),
            mailer=mail_enabled(config),
            analyser=analyser,
            metrics=metrics,
            leadership=store.leadership(replica_name(), timedelta(seconds=service.failover)),
        )

    def serving(self) -> contextlib.AbstractContextManager[None]:
        """Serve ``/metrics`` and ``/healthz`` while the block runs (``[metrics]``; off
        without it)."""
        if self.config.metrics is None:
            return contextlib.nullcontext()
        return serve(self.config.metrics.address, self.metrics, self.problems)

    def problems(self) -> list[tuple[str, str]]:
        """What ``/healthz`` reports: each source whose last attempt failed, and the store
        when it does not answer now."""
        found = self.metrics.source_problems()
        try:
            self.store.ping()
        except Exception as exc:  # any failure is the store's problem to report
            found.append(("store", str(exc)))
        return found

    def _on_signal(self) -> None:
        self.stop()
        grace = self.exit_after_signal
        if grace is not None:
            timer = threading.Timer(grace, _exit_now, args=(grace,))
            timer.daemon = True
            timer.start()

    def stop(self) -> None:
        """Ask every loop to finish its current step and return (signal-safe); an analysis
        under way is abandoned (its batch is read again next time)."""
        self.stopping.set()
        self.analyser.stop()
        self._wake_outbox()

    async def run(self, once: bool = False) -> None:
        """Serve until ``stop`` (or, with ``once``, until every source is drained)."""
        few_arenas()
        with batch_friendly_gc():
            await self._run(once)

    async def _run(self, once: bool) -> None:
        loop = asyncio.get_running_loop()
        listener: Any = None
        digests = None
        tasks: list[asyncio.Task[None]] = []
        watchdog: asyncio.Task[None] | None = None
        try:  # everything started below is stopped in ``finally``, even if a later start fails
            for sig in SIGNALS:
                loop.add_signal_handler(sig, self._on_signal)
            listener = self._start_listener()
            digests = None if once else start_digests(self.config, self.store, self.mailer)
            log.info(
                "daemon.started",
                sources=[s.name for s in self.sources],
                once=once,
                tracker=self.tracker.name,
            )
            started = self.store.clock()
            if once:
                # Effects wait until every batch is recorded: one tracker call per defect and
                # run, so updates need no coalescing delay (and retries keep their schedule).
                self.store.update_delay = timedelta(0)
                await self._sync_statuses()  # before any mail: a regression is reopened
            tasks = [
                asyncio.create_task(self._drain(s, once), name=f"source {s.name}")
                for s in self.sources
            ]
            interval = watchdog_interval()
            if interval is not None:
                watchdog = asyncio.create_task(self._watchdog(interval), name="watchdog")
            if not once:
                tasks += [asyncio.create_task(self._outbox(lane), name=lane) for lane in LANES]
                days = self.config.store.retention_days
                retention = retention_loop(self.store, days, self.stopping, self.holder)
                tasks.append(asyncio.create_task(retention, name="retention"))
            await _until_done_or_crashed(tasks)
            if once:
                if self._leads():
                    await asyncio.gather(*(self._run_effects(lane) for lane in LANES))
                await asyncio.to_thread(self._summary, started)
        finally:
            notify("STOPPING=1")
            self.stop()
            await _cancel([*tasks, *([watchdog] if watchdog else [])])  # before the store closes
            if listener is not None:
                listener.stop()
            if digests is not None:
                await asyncio.to_thread(digests.stop)
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)
            self._worker.shutdown(wait=True)
            self._analysis.shutdown(wait=True)
            self.analyser.close()
            for executor in self._lanes.values():
                executor.shutdown(wait=True)
            if self.leadership is not None:
                self.leadership.release()
            self.store.close()
            log.info("daemon.stopped", analysed=self.metrics.analysed_total())

    def _start_listener(self) -> Any:
        spool = listener_spool(self.config)
        if self.config.listener is None or spool is None:
            log.info("listener.disabled", reason="no [listener] section")
            return None
        controller = start_listener(listener_settings(self.config.listener), spool)
        log.info("listener.started", host=self.config.listener.host, port=self.config.listener.port)
        return controller

    async def _drain(self, source: Source, once: bool) -> None:
        """Fetch → process → commit → acknowledge, one batch ahead, until stopped.

        The source's thread fetches the next batch while this one is processed, and
        acknowledges a committed batch while the next one is processed (an IMAP MOVE waits
        for the server); both run in order on that one thread.
        """
        io = ThreadPoolExecutor(1, thread_name_prefix=f"source-{source.name}")
        limit = self.config.mailbox.batch_size
        delay = RETRY_INITIAL
        acks = _Acknowledgement()
        loop = f"source {source.name}"
        led = self.leadership if source is self.sources[0] else None
        try:
            while not self.stopping.is_set():
                if led is not None and not await self._lead(io, led, source.name, once):
                    return
                self.analyser.start()  # ready by the time the first batch is fetched
                if source is self.sources[0]:
                    await _on(io, self._regroup)
                try:
                    self.watch.progress(loop)
                    await _on(io, source.open)
                    self.metrics.source_state(source.name, None)
                    self._opened(source.name)
                    pending = self._analysed(io, source, limit)
                    while not self.stopping.is_set():
                        self.watch.progress(loop)
                        lead = None if led is None else await _on(io, led.hold)
                        if led is not None and lead is None:
                            raise LeadershipLost("another replica reads the mailbox now")
                        fetched = await _holding(led, pending)
                        refs, analysed = fetched.refs, fetched.analysed
                        if not refs:
                            if once and not await _on(io, source.delivering):
                                await acks.settle()
                                return
                            self.watch.idle(loop)
                            await _on(io, source.wait, WAIT_SLICE)
                            pending = self._analysed(io, source, limit)
                            continue
                        # overlaps with recording; its mails were fetched during this analysis
                        pending = self._analysed(io, source, limit, fetched.following)
                        started = time.monotonic()
                        done = await _holding(
                            led,
                            _on(self._worker, self._handle, source.name, refs, analysed, lead),
                        )
                        fetched.seconds += time.monotonic() - started
                        self._recorded(source.name, done, fetched)
                        await acks.replace(_on(io, _acknowledge, source, done.moves))
                        if done.new:
                            self._wake_outbox()
                        delay = RETRY_INITIAL
                    pending.cancel()
                    await acks.settle()
                except AnalysisStopped:
                    await acks.settle_quietly(source.name)  # stopping: the batch waits
                    return
                except TriagebotError as exc:
                    level = log.warning if isinstance(exc, RetryableError) else log.error
                    level("source.failed", source=source.name, error=str(exc), retry_in=delay)
                    if not isinstance(exc, StoreError):  # the store's health is its own
                        self.metrics.source_state(source.name, str(exc))
                    await acks.settle_quietly(source.name)
                    await _on(io, source.close)
                    self.watch.idle(loop)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    delay = min(delay * 2, RETRY_MAX)
        finally:
            self.watch.idle(loop)
            await _on(io, source.close)
            io.shutdown(wait=False)

    async def _lead(self, io: ThreadPoolExecutor, led: Leadership, loop: str, once: bool) -> bool:
        """Stand by until this replica leads the intake; False when stopping (``once``: when
        another replica leads, as it reads the mail). Standing by is waiting, not being stuck
        (the watchdog's ``loop`` is idle meanwhile)."""
        announced = False
        while not self.stopping.is_set():
            leads = await _on(io, led.hold) is not None
            self.metrics.leading.set(int(leads))
            if leads:
                return True
            self.watch.idle(loop)
            if once or not announced:
                log.info("intake.standby", holder=led.holder, once=once)
                announced = True
            if once:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), led.poll)
        return False

    def _regroup(self) -> None:
        """Once per process, before the intake's first batch: join the defects an upgraded
        signature version shows to be one bug (``triagebot.regroup``). A failure is logged
        and leaves them apart; the next start tries again."""
        if self._regrouped:
            return
        self._regrouped = True
        try:
            regroup(self.store, self.pipeline)
        except Exception:
            log.exception("regroup.failed")

    def _analysed(
        self,
        io: ThreadPoolExecutor,
        source: Source,
        limit: int,
        ahead: asyncio.Future[list[Incoming]] | None = None,
    ) -> asyncio.Task[_Fetched]:
        """The next batch (``ahead``, when already being fetched), analysed, under way while
        the batch before is recorded (the analysis processes are never idle while the store
        works). Once it is fetched, the batch after it is fetched during its analysis: an
        IMAP fetch costs a third of an analysis, and in line it held up every batch. The raw
        mails are let go once analysed: only the capped outcomes wait for the store."""

        async def fetch_and_analyse() -> _Fetched:
            batch = await (ahead if ahead is not None else _on(io, source.fetch, limit))
            refs = [incoming.ref for incoming in batch]
            behind = source.backlog()  # read now: the batch fetched next is still waiting
            if not refs:
                return _Fetched(refs, [], behind)
            following = _on(io, source.fetch, limit)
            following.add_done_callback(_retrieved)  # abandoned at a stop or a failure
            raws = [incoming.raw for incoming in batch]
            self.metrics.analysed.inc(len(raws))
            started = time.monotonic()
            try:
                analysed = await _on(self._analysis, self.analyser.analyse, raws)
            except BaseException:
                following.cancel()
                raise
            return _Fetched(refs, analysed, behind, time.monotonic() - started, following)

        task = asyncio.ensure_future(fetch_and_analyse())
        task.add_done_callback(_retrieved)  # a batch abandoned at a stop or a failure
        return task

    def _handle(
        self, source: str, refs: Sequence[str], analysed: Sequence[Outcome], lead: int | None
    ) -> Processed:
        done = record_batch(
            self.pipeline,
            self.store,
            source,
            refs,
            analysed,
            replies=self.replies,
            reused=self._reused,
            lead=lead,
        )
        self.analyser.learn(done.signed)
        release_batch()
        return done

    def _recorded(self, source: str, done: Processed, fetched: _Fetched) -> None:
        """A batch is committed: metrics, progress through a backlog, the batch's line."""
        remaining = fetched.behind
        self.metrics.recorded(done.outcomes, done.quarantined, fetched.seconds)
        self.metrics.backlog.labels(source).set(remaining)
        outcomes = Counter[str]()
        for (_, outcome), count in done.outcomes.items():
            outcomes[outcome] += count
        self._tally.update(outcomes)
        messages = outcomes.total()
        backlog = self.progress.advance(source, messages, remaining)
        level = log.debug if backlog else log.info
        level("batch.recorded", source=source, messages=messages, new=done.new, **outcomes)

    def _summary(self, started: datetime) -> None:
        """``run --once``'s last word: mails by outcome, defects new and updated, and the
        effects still waiting (a tracker that is away, mail that is off)."""
        activity = self.store.period_activity(started, self.store.clock() + _INSTANT)
        pending = self._pending_by_lane()
        log.info(
            "run.summary",
            messages=sum(self._tally.values()),
            outcomes=dict(self._tally),
            defects_new=len(activity.new),
            defects_updated=len(activity.counts.keys() - activity.new),
            effects_pending=pending,
        )

    def _pending_by_lane(self) -> dict[str, int]:
        waiting = self.store.pending_by_kind()
        return {
            lane: sum(waiting.get(str(k), 0) for k in kinds) for lane, kinds in LANE_EFFECTS.items()
        }

    def _opened(self, source: str) -> None:
        """Tell systemd the service is ready once every source has opened (once)."""
        if source in self._open:
            return
        self._open.add(source)
        if len(self._open) == len(self.sources):
            notify("READY=1", f"STATUS=reading {', '.join(sorted(self._open))}")

    async def _watchdog(self, interval: float) -> None:
        """Feed systemd's watchdog twice per ``interval`` while no loop is stuck in a step;
        a stuck loop starves it, and systemd restarts the service."""
        while True:
            stuck = self.watch.stuck(interval)
            if stuck:
                log.warning("watchdog.starved", stuck={k: round(v, 1) for k, v in stuck.items()})
            else:
                notify("WATCHDOG=1")
            await asyncio.sleep(interval / 2)

    def _wake_outbox(self) -> None:
        for due in self._due.values():
            due.set()

    def _leads(self) -> bool:
        """Whether this replica leads the intake (as far as it knows: no database call), or
        runs without an election."""
        return self.leadership is None or self.leadership.token is not None

    async def _outbox(self, lane: str) -> None:
        """Perform one lane's effects whenever a batch committed, every few seconds, and once
        more on the way out; the tracker lane syncs statuses first when ``sync_interval`` has
        passed (at start, then on its own clock: never per batch).

        Only the intake leader does: a standby's rounds would take effects on the defects the
        leader's batches are writing, and each of its completions would wait for a batch's
        row locks or hold one up, and the status sync would ask the tracker once per replica.
        A standby that takes the lead over runs its first round within ``OUTBOX_INTERVAL``."""
        next_sync = time.monotonic()
        due = self._due[lane]
        while True:
            self.watch.idle(lane)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), OUTBOX_INTERVAL)
            self.watch.progress(lane)
            due.clear()
            final = self.stopping.is_set()
            if not self._leads():  # a standby's round would only contend with the leader's
                if final:
                    return
                continue
            if lane == TRACKER_LANE and not final and time.monotonic() >= next_sync:
                next_sync = time.monotonic() + self.config.tracker.sync_interval
                await self._sync_statuses()
            await self._run_effects(lane)
            if final:
                return

    async def _sync_statuses(self) -> None:
        """One status sync on the outbox thread; a failure is logged and waits for the next
        interval (mail intake goes on meanwhile). ``sync_interval = 0`` turns it off."""
        if self.config.tracker.sync_interval <= 0:
            return
        try:
            await _on(self._lanes[TRACKER_LANE], sync_statuses, self.store, self.tracker)
            self.metrics.succeeded("sync")
        except Exception as exc:  # any failure waits for the next interval
            level = log.warning if isinstance(exc, RetryableError) else log.error
            level(
                "tracker.sync_failed",
                tracker=self.tracker.name,
                error=repr(exc),
                retry_in=self.config.tracker.sync_interval,
                exc_info=not isinstance(exc, TriagebotError),
            )

    async def _run_effects(self, lane: str) -> None:
        """One lane's effects due now, ``OUTBOX_LIMIT`` at a time, until a round finds none or
        we stop.

        A completed effect may queue another that is due at once (the occurrence update after
        a create that found its issue): rounds go on until one completes nothing, so
        ``run --once`` leaves no due update behind."""
        while True:
            self.watch.progress(lane)  # each round is a step of its own
            try:
                done = await _on(self._lanes[lane], self._round, lane)
            except Exception as exc:  # the outbox outlives any one round
                log.error(
                    "outbox.round_failed",
                    lane=lane,
                    error=repr(exc),
                    retry_in=OUTBOX_INTERVAL,
                    exc_info=not isinstance(exc, TriagebotError),
                )
                return
            if done == 0 or self.stopping.is_set():
                return

    def _round(self, lane: str) -> int:
        now = self.store.clock()
        failed: list[Effect] = []
        if lane == TRACKER_LANE:
            done = run_effects(self.store, self.tracker, now, OUTBOX_LIMIT, failed=failed.append)
        else:
            done = run_notifications(
                self.store,
                self.notifier,
                now,
                OUTBOX_LIMIT,
                # a broken [helpdesk] is a loop to fix, not one left out: its mails wait
                helpdesk=self.config.helpdesk is not None
                or any(section == "helpdesk" for section, _ in self.config.broken),
                failed=failed.append,
            )
        self.metrics.outbox_round(lane, len(failed), self._pending_by_lane()[lane])
        return done


@dataclass(slots=True)
class _Fetched:
    """A batch fetched and analysed: its refs and outcomes, how many mails waited behind it
    when it was fetched, the seconds spent on it (analysis, then recording), and the fetch
    of the next batch."""

    refs: list[str]
    analysed: list[Outcome]
    behind: int
    seconds: float = 0.0
    #: The fetch of the batch after this one, under way (None: nothing was fetched).
    following: asyncio.Future[list[Incoming]] | None = None


class _Acknowledgement:
    """The one acknowledgement (the moves of a committed batch) still running on a source's
    thread while the next batch is processed."""

    def __init__(self) -> None:
        self._running: asyncio.Future[None] | None = None

    async def replace(self, running: asyncio.Future[None]) -> None:
        """Wait for the previous one, then remember ``running``."""
        await self.settle()
        self._running = running

    async def settle(self) -> None:
        """Wait for it; its failure (a ``SourceError``) is raised here, once."""
        running, self._running = self._running, None
        if running is not None:
            await running

    async def settle_quietly(self, source: str) -> None:
        """Wait for it while another failure is being handled: log its own failure only.

        Unacknowledged mail stays in the inbox; the store skips it when it comes again.
        """
        try:
            await self.settle()
        except TriagebotError as exc:
            log.warning("source.acknowledge_failed", source=source, error=str(exc))


async def _until_done_or_crashed(tasks: list[asyncio.Task[None]]) -> None:
    """Wait until every task returned; the first one that crashed stops the daemon.

    The sources and the outbox catch their expected failures themselves, so anything that
    escapes is a bug or a broken store: serving on without that loop would silently stop
    intake or effects, so the daemon stops loudly and its supervisor restarts it.
    """
    if not tasks:
        return
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        exc = task.exception()
        if exc is not None:
            log.error("daemon.crashed", task=task.get_name(), error=repr(exc), exc_info=exc)
            raise DaemonCrashed(f"{task.get_name()} crashed: {exc!r}") from exc


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel what is still running and wait until each task has run its clean-up."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _exit_now(grace: float) -> None:
    """The orderly stop did not finish within ``grace`` seconds: leave now."""
    log.warning("daemon.stop_forced", after=grace)
    sys.stderr.flush()
    os._exit(0)


async def _holding(led: Leadership | None, work: Awaitable[T]) -> T:
    """Await a step of the leader's intake (a batch analysed in the worker processes, or
    recorded), renewing the lead meanwhile: a batch that takes longer than the failover time
    (the worker processes starting, a loaded host) is progress, not a freeze, and losing the
    lead over it would hand the same mail to the next leader to parse again. A frozen
    process renews nothing; a step that hangs is cut short by its own limits (the analysis
    budget, the store's statement timeout)."""
    if led is None:
        return await work
    step = asyncio.ensure_future(work)
    try:
        while not (await asyncio.wait({step}, timeout=led.renewal))[0]:
            await asyncio.to_thread(led.hold)
    except asyncio.CancelledError:
        step.cancel()  # as ``await step`` would have
        raise
    return step.result()


def _acknowledge(source: Source, moves: dict[Folder, list[str]]) -> None:
    for folder, refs in moves.items():
        source.move(refs, folder)


def _retrieved(step: asyncio.Future[Any]) -> None:
    """Mark an abandoned step's outcome as seen (its batch is read again next time)."""
    if not step.cancelled():
        step.exception()


def _on(executor: ThreadPoolExecutor, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call on a given thread, as an awaitable future."""
    return asyncio.get_running_loop().run_in_executor(executor, func, *args)
