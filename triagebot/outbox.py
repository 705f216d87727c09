"""The outbox worker: performs the tracker effects the store queued, idempotently.

Each effect is re-runnable: ``create`` first looks the signature label up, so a create whose
response was lost is found rather than filed twice; ``update`` sends the coalesced count for a
defect as ONE call; ``reopen`` and ``link`` are idempotent on the tracker side. A retryable
failure (``RetryableError``) reschedules the effect with capped exponential backoff; any other
failure marks it ``failed`` and logs why. ``notify`` effects (candidate mails, answers to
replies) go to the confirmation loop's ``Notifier`` in a lane of their own (``MAIL_EFFECTS``),
so an SMTP outage never delays filing and a slow tracker never delays mail. A mail effect is
never given up: while mail is disabled it waits (without ``[helpdesk]`` it is skipped), and a
refusal (a 5xx after a configuration mistake) is retried on the back-off schedule, so once
mail works everything queued goes out; ``triagebot status`` shows what waits and why.

What a tracker may do late is waited out. A create that failed after it was sent (a timeout,
a lost answer) may still land, or be missing from the search index, until the tracker's
``settle_time`` has passed: until then the effect only searches, and creates again only when a
search after that time finds nothing (the time is kept in the payload, ``lifecycle.ATTEMPT``).
A search that finds several issues for a signature keeps the oldest and closes the others as
its duplicates; the defect's reported count is reset, so the kept issue's next update carries
the whole total. Comments carry their effect's id (``CommentMark``) and a retry looks for it
before posting; an update keeps the total it first tried to post, so a comment found on retry
is counted as what it said, and the occurrences since go in the next update.

A ``close`` (a confirmation undone) closes the defect's issue with a comment, unless the defect
was filed again meanwhile; a defect with no key has nothing to close: its ``create``, queued
before the ``close`` and so performed first, found it no longer filed and did nothing. A
``reopen`` a new confirmation queued says who confirmed it again.

Each effect is leased (``Store.due_effects``) under a fencing token: just before performing it
the worker renews the lease once ``EFFECT_HEARTBEAT`` has passed since the round leased it
(by the store's clock),
skipping an effect another replica took over while this one was paused, and a heartbeat
renews it every ``EFFECT_HEARTBEAT`` while the call runs, so a dead worker's effects are taken
over within ``EFFECT_LEASE`` and a live one's never are.

``sync_statuses`` runs on the same thread, every ``[tracker] sync_interval``: it tells the
store which issues were resolved in the tracker, so a recurrence in a newer version queues the
``reopen`` (the regression check in ``Store.record``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from triagebot.backoff import backoff
from triagebot.clock import Clock
from triagebot.errors import RetryableError, StoreError, TrackerUnavailable
from triagebot.lifecycle import ATTEMPT, OTHERS, tally
from triagebot.store import (
    EFFECT_HEARTBEAT,
    TRACKED_STATES,
    Defect,
    DefectState,
    Effect,
    EffectKind,
    EffectResult,
    Store,
)
from triagebot.trackers.base import (
    CommentMark,
    DefectDraft,
    OccurrenceUpdate,
    Tracker,
    TrackerIssue,
    undo_comment,
)

if TYPE_CHECKING:
    from triagebot.confirm.notify import Notifier

__all__ = [
    "MAIL_EFFECTS",
    "TRACKER_EFFECTS",
    "Heartbeat",
    "file_defect",
    "run_effects",
    "run_notifications",
    "sync_statuses",
]

log = structlog.get_logger(__name__)

TRACKER_EFFECTS = (
    EffectKind.CREATE,
    EffectKind.UPDATE,
    EffectKind.REOPEN,
    EffectKind.LINK,
    EffectKind.CLOSE,
    EffectKind.JOIN,
)
MAIL_EFFECTS = (EffectKind.NOTIFY,)
MAX_RETRY_AFTER = timedelta(days=1)  # a server's Retry-After beyond this is a mistake


#: ``ATTEMPT`` keys: until when an uncertain create may land; the total an update posts.
UNCERTAIN_UNTIL, TOTAL = "uncertain_until", "total"


class _WaitingForCreate(RetryableError):
    """The defect is filed but its tracker key is not known yet; try again after the create."""


class _CreateUncertain(TrackerUnavailable):
    """A create failed after it was sent: the issue may exist, or appear later."""


class _Unsettled(TrackerUnavailable):
    """Nothing found, but an earlier create may still land: search again, do not create."""


class _Retry(RetryableError):
    """A retryable failure, with what the next attempt must know (``attempt``, kept in the
    payload) and the time before which trying again is pointless (``not_before``)."""

    def __init__(
        self, cause: RetryableError, attempt: dict[str, Any], not_before: datetime | None = None
    ) -> None:
        super().__init__(str(cause), retry_after=cause.retry_after)
        self.attempt = attempt
        self.not_before = not_before


def run_effects(
    store: Store,
    tracker: Tracker,
    now: datetime,
    limit: int = 100,
    *,
    failed: Callable[[Effect], object] = lambda _: None,
) -> int:
    """Perform up to ``limit`` tracker effects due at ``now``; returns how many completed.
    ``failed`` hears of each attempt that failed (to be retried or parked)."""
    effects = store.due_effects(now, limit, TRACKER_EFFECTS)
    loaded = store.defects_by_id({e.defect_id for e in effects})  # one read for the round

    def perform(effect: Effect) -> EffectResult | None:
        # Each loaded row serves once: a later effect on the same defect (an update after its
        # create) must see what the earlier one changed, so it reads the defect afresh.
        defect = loaded.pop(effect.defect_id, None) or store.defect(effect.defect_id)
        return _perform(defect, effect, tracker, now, store.clock)

    return _run(store, effects, now, perform, failed=failed)


def run_notifications(
    store: Store,
    notifier: Notifier | None,
    now: datetime,
    limit: int = 100,
    *,
    helpdesk: bool = True,
    failed: Callable[[Effect], object] = lambda _: None,
) -> int:
    """Perform up to ``limit`` ``notify`` effects due at ``now``, then send due reminders and
    answers to refused replies; returns how many effects completed. Without a ``notifier``
    (mail is off) nothing is touched: the effects wait until mail works. Without a
    ``helpdesk`` section the loop is not in use at all, and its effects are completed as
    skipped."""
    if not helpdesk:
        effects = store.due_effects(now, limit, MAIL_EFFECTS)
        for effect in effects:
            store.complete_effect(effect)
        if effects:
            log.info("outbox.notify_skipped", effects=len(effects), reason="no [helpdesk]")
        return len(effects)
    if notifier is None:
        return 0
    effects = store.due_effects(now, limit, MAIL_EFFECTS)

    def perform(effect: Effect) -> None:
        notifier.perform(effect, now)

    completed = _run(store, effects, now, perform, give_up=False, failed=failed)
    notifier.send_due(now)
    return completed


def sync_statuses(store: Store, tracker: Tracker) -> int:
    """Ask the tracker for every tracked issue's status and record it; returns how many
    defects changed. Tracker errors propagate: the caller logs them and tries next interval."""
    keys = store.tracked_keys()
    if not keys:
        return 0
    issues = tracker.statuses(keys)
    changed = store.record_statuses(issues)
    log.info(
        "tracker.synced", tracker=tracker.name, keys=len(keys), found=len(issues), changed=changed
    )
    return changed


def _run(
    store: Store,
    effects: list[Effect],
    now: datetime,
    perform: Callable[[Effect], EffectResult | None],
    *,
    give_up: bool = True,
    failed: Callable[[Effect], object],
) -> int:
    """Perform effects one by one: retry the retryable later, and park the rest as failed
    (``give_up``) or retry them later too (mail: a refusal is a setting to fix)."""
    completed = 0
    with Heartbeat(store, EFFECT_HEARTBEAT.total_seconds()) as beat:
        for effect in effects:
            # ``effects`` were leased at ``now``: within a beat of that the lease holds
            if store.clock() - now >= EFFECT_HEARTBEAT and not store.renew_effect(effect):
                continue  # taken over while this worker was paused: the new holder does it
            with beat.on(effect):
                completed += _attempt(store, effect, now, perform, give_up=give_up, failed=failed)
    return completed


def _attempt(
    store: Store,
    effect: Effect,
    now: datetime,
    perform: Callable[[Effect], EffectResult | None],
    *,
    give_up: bool,
    failed: Callable[[Effect], object],
) -> int:
    """Perform one effect and record how it went; 1 when it completed."""
    context = {"effect": effect.id, "kind": str(effect.kind), "defect": effect.defect_id}
    try:
        result = perform(effect)
    except Exception as exc:
        failed(effect)
        if give_up and not isinstance(exc, RetryableError):
            # a refusal or a bug: park it, keep the other effects going
            log.error("outbox.failed", **context, error=repr(exc), attempts=effect.attempts + 1)
            store.fail_effect(effect, repr(exc), None)
            return 0
        retry_at = now + _retry_delay(exc, effect.attempts)
        attempt = None
        if isinstance(exc, _Retry):
            attempt = exc.attempt
            retry_at = max(retry_at, exc.not_before or retry_at)
        log.warning("outbox.retry", **context, error=str(exc), retry_at=retry_at.isoformat())
        store.fail_effect(effect, str(exc), retry_at, attempt)
        return 0
    if not store.complete_effect(effect, result):
        return 0
    log.info("outbox.done", **context)
    return 1


class Heartbeat:
    """Renews the lease of the effect being performed every ``every`` seconds, so a long call
    (a tracker's retries) keeps it and only a dead or frozen worker loses it; one thread for
    a whole round of effects (a thread per effect cost more than a local tracker's create).

    A beat the store misses is logged and tried again at the next one; a lost lease ends the
    beats for that effect. A beat never renews an effect whose ``on`` has ended: its lease may
    be over (completed), and the renewal would report it lost.
    """

    def __init__(self, store: Store, every: float) -> None:
        self.store = store
        self.every = every
        self._current: Effect | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def on(self, effect: Effect) -> Iterator[None]:
        """Beat for ``effect`` while the body performs it."""
        with self._lock:
            self._current = effect
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                effect = self._current
                if effect is None:
                    continue
                try:
                    if not self.store.renew_effect(effect):
                        self._current = None
                except StoreError as exc:
                    log.warning("outbox.heartbeat_failed", effect=effect.id, error=str(exc))


def _listed(counts: Mapping[str, int] | Sequence[str]) -> tuple[str, ...]:
    """An update payload's names, most frequent first, as the comment shows them: ``4.2 (12)``,
    then how many occurrences the other names had (``lifecycle.tally``)."""
    tallied = tally(counts)
    others = tallied.pop(OTHERS, 0)
    shown = tuple(f"{name} ({n})" for name, n in tallied.items())
    return (*shown, f"{others} more elsewhere") if others else shown


def _retry_delay(exc: Exception, attempts: int) -> timedelta:
    """The back-off schedule, or longer when the server asked for it (a 429's Retry-After),
    up to ``MAX_RETRY_AFTER``."""
    delay = backoff(attempts)
    asked = exc.retry_after if isinstance(exc, RetryableError) else None
    if asked is not None and asked > 0:
        delay = max(delay, min(timedelta(seconds=asked), MAX_RETRY_AFTER))
    return delay


def _perform(
    defect: Defect, effect: Effect, tracker: Tracker, now: datetime, clock: Clock
) -> EffectResult | None:
    if effect.kind is EffectKind.CLOSE:
        return _close(defect, effect, tracker)
    if defect.state not in TRACKED_STATES:
        return None  # rejected meanwhile: nothing to tell the tracker
    if effect.kind is EffectKind.CREATE:
        return _create(defect, effect, tracker, now, clock)
    key = defect.tracker_key
    if key is None:
        raise _WaitingForCreate(f"defect {defect.id} has no tracker key yet")
    mark = CommentMark(effect.id, retry=effect.attempts > 0)
    if effect.kind is EffectKind.UPDATE:
        return _update(defect, effect, tracker, key, mark)
    if effect.kind is EffectKind.JOIN:
        tracker.close_duplicate(str(effect.payload["key"]), key)
        return None
    if effect.kind is EffectKind.REOPEN:
        seen = (
            f"{defect.occurrences} occurrences in total, last seen "
            f"{defect.last_seen:%Y-%m-%d %H:%M} UTC"
        )
        comment = (
            f"Confirmed again ({effect.payload['by']}; {seen})."
            if "by" in effect.payload
            else f"Recurred in version {effect.payload.get('version', '?')} after it was "
            f"resolved ({seen})."
        )
        issue = tracker.reopen(key, comment, mark)
        return EffectResult(tracker_status=issue.status, resolved=issue.resolved)
    tracker.link_signature(key, str(effect.payload["signature"]))
    return None


def _close(defect: Defect, effect: Effect, tracker: Tracker) -> EffectResult | None:
    """Close the issue of an undone confirmation, unless the defect was filed again."""
    if defect.state is DefectState.FILED or defect.tracker_key is None:
        log.info("outbox.close_skipped", defect=defect.id, state=str(defect.state))
        return None
    issue = tracker.close(defect.tracker_key, undo_comment(str(effect.payload.get("by", "?"))))
    return EffectResult(tracker_status=issue.status, resolved=issue.resolved)


def _update(
    defect: Defect, effect: Effect, tracker: Tracker, key: str, mark: CommentMark
) -> EffectResult | None:
    """One comment with the count. Every attempt of an effect posts the total the first one
    tried, so a comment an earlier attempt left (found by its mark) says what is reported."""
    total = int(effect.payload.get(ATTEMPT, {}).get(TOTAL, defect.occurrences))
    new = total - defect.occurrences_reported
    if new <= 0:
        return None
    update = OccurrenceUpdate(
        total=total,
        new=new,
        last_seen=defect.last_seen,
        versions=_listed(effect.payload.get("versions", {})),
        environments=_listed(effect.payload.get("environments", {})),
    )
    try:
        tracker.update_occurrences(key, update, mark)
    except RetryableError as exc:
        raise _Retry(exc, {TOTAL: total}) from exc
    return EffectResult(occurrences_reported=total)


def file_defect(
    defect: Defect, tracker: Tracker, *, may_create: bool = True
) -> tuple[TrackerIssue, bool]:
    """The defect's issue in ``tracker``: found by its signature label (the oldest, when a
    create landed twice: the others are closed as its duplicates), else created (with every
    occurrence so far), and labelled with its other signatures; True when created.
    ``may_create`` False: an earlier create may still land, so finding nothing is
    ``_Unsettled``; a create that fails after it was sent is ``_CreateUncertain``."""
    signature = defect.signatures[0]
    found = tracker.find_all(signature)
    if found:
        issue, *duplicates = found
        created = False
        log.info("outbox.create_found", defect=defect.id, key=issue.key, signature=signature)
        for duplicate in duplicates:
            tracker.close_duplicate(duplicate.key, issue.key)
            log.warning(
                "outbox.duplicate_closed",
                defect=defect.id,
                key=duplicate.key,
                kept=issue.key,
                signature=signature,
            )
    elif not may_create:
        raise _Unsettled(f"no issue for {signature} yet, and an earlier create may still land")
    else:
        try:
            issue = tracker.create(_draft(defect))
        except RetryableError as exc:
            raise _CreateUncertain(str(exc), retry_after=exc.retry_after) from exc
        created = True
    for other in defect.signatures[1:]:
        tracker.link_signature(issue.key, other)
    return issue, created


def _create(
    defect: Defect, effect: Effect, tracker: Tracker, now: datetime, clock: Clock
) -> EffectResult:
    if defect.tracker_key is not None or defect.state is DefectState.DUPLICATE:
        return EffectResult()  # filed, or joined into another defect (``store.joins``)
    noted = effect.payload.get(ATTEMPT, {}).get(UNCERTAIN_UNTIL)
    until = datetime.fromisoformat(noted) if noted else None
    try:
        issue, created = file_defect(defect, tracker, may_create=until is None or now >= until)
    except _Unsettled as exc:
        raise _Retry(exc, {UNCERTAIN_UNTIL: noted}, not_before=until) from exc
    except _CreateUncertain as exc:
        # It may land up to the call's deadline after the call ended, which is about now.
        until = max(now, clock()) + tracker.settle_time
        log.warning("outbox.create_uncertain", defect=defect.id, until=until.isoformat())
        raise _Retry(exc, {UNCERTAIN_UNTIL: until.isoformat()}) from exc
    # found: what it shows is unknown (a duplicate closed may have held counts), so the next
    # update sends the whole total
    return EffectResult(
        tracker_key=issue.key,
        tracker_status=issue.status,
        resolved=issue.resolved,
        occurrences_reported=defect.occurrences if created else 0,
    )


def _draft(defect: Defect) -> DefectDraft:
    fields = defect.fields
    return DefectDraft(
        signature=defect.signatures[0],
        title=defect.title,
        language=defect.language,
        exception_chain=defect.exception_types,
        message=defect.message,
        top_frames=defect.top_frames,
        trace_text=defect.sample_trace,
        metadata=defect.metadata,
        first_seen=defect.first_seen,
        occurrences=defect.occurrences,
        rule=defect.rule,
        project=fields.project,
        issue_type=fields.issue_type,
        priority=fields.priority,
        components=fields.components,
        labels=fields.labels,
        assignee=fields.assignee,
        confirmed_by=defect.confirmed_by,
    )
