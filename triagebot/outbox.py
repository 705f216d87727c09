"""The outbox worker: performs the tracker effects the store queued, idempotently.

Each effect is re-runnable: ``create`` first looks the signature label up, so a create whose
response was lost is found rather than filed twice; ``update`` sends the coalesced count for a
defect as ONE call; ``reopen`` and ``link`` are idempotent on the tracker side. A retryable
failure (``RetryableError``) reschedules the effect with capped exponential backoff; any other
failure marks it ``failed`` and logs why. ``notify`` effects (candidate mails, answers to
replies) go to the confirmation loop's ``Notifier``; without one (no ``[helpdesk]`` or mail
disabled) they are completed as skipped.

``sync_statuses`` runs on the same thread, every ``[tracker] sync_interval``: it tells the
store which issues were resolved in the tracker, so a recurrence in a newer version queues the
``reopen`` (the regression check in ``Store.record``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from triagebot.backoff import backoff
from triagebot.errors import RetryableError
from triagebot.store import TRACKED_STATES, Defect, Effect, EffectKind, EffectResult, Store
from triagebot.trackers.base import DefectDraft, OccurrenceUpdate, Tracker, TrackerIssue

if TYPE_CHECKING:
    from triagebot.confirm.notify import Notifier

__all__ = [
    "TRACKER_EFFECTS",
    "file_defect",
    "run_effects",
    "run_notifications",
    "sync_statuses",
]

log = structlog.get_logger(__name__)

TRACKER_EFFECTS = (EffectKind.CREATE, EffectKind.UPDATE, EffectKind.REOPEN, EffectKind.LINK)


class _WaitingForCreate(RetryableError):
    """The defect is filed but its tracker key is not known yet; try again after the create."""


def run_effects(store: Store, tracker: Tracker, now: datetime, limit: int = 100) -> int:
    """Perform up to ``limit`` tracker effects due at ``now``; returns how many completed."""
    effects = store.due_effects(now, limit, TRACKER_EFFECTS)
    loaded = store.defects_by_id({e.defect_id for e in effects})  # one read for the round

    def perform(effect: Effect) -> EffectResult | None:
        # Each loaded row serves once: a later effect on the same defect (an update after its
        # create) must see what the earlier one changed, so it reads the defect afresh.
        defect = loaded.pop(effect.defect_id, None) or store.defect(effect.defect_id)
        return _perform(defect, effect, tracker)

    return _run(store, effects, now, perform)


def run_notifications(
    store: Store, notifier: Notifier | None, now: datetime, limit: int = 100
) -> int:
    """Perform up to ``limit`` ``notify`` effects due at ``now``, then send due reminders;
    returns how many effects completed (skipped ones included)."""
    effects = store.due_effects(now, limit, (EffectKind.NOTIFY,))
    if notifier is None:
        for effect in effects:
            store.complete_effect(effect.id)
        if effects:
            log.info("outbox.notify_skipped", effects=len(effects), reason="mail disabled")
        return len(effects)

    def perform(effect: Effect) -> None:
        notifier.perform(effect, now)

    completed = _run(store, effects, now, perform)
    notifier.remind(now)
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
) -> int:
    """Perform effects one by one: retry the retryable later, park the rest as failed."""
    completed = 0
    for effect in effects:
        context = {"effect": effect.id, "kind": str(effect.kind), "defect": effect.defect_id}
        try:
            result = perform(effect)
        except RetryableError as exc:
            retry_at = now + backoff(effect.attempts)
            log.warning("outbox.retry", **context, error=str(exc), retry_at=retry_at.isoformat())
            store.fail_effect(effect.id, str(exc), retry_at)
            continue
        except Exception as exc:  # a refusal or a bug: park it, keep the other effects going
            log.error("outbox.failed", **context, error=repr(exc), attempts=effect.attempts + 1)
            store.fail_effect(effect.id, repr(exc), None)
            continue
        store.complete_effect(effect.id, result)
        completed += 1
        log.info("outbox.done", **context)
    return completed


def _perform(defect: Defect, effect: Effect, tracker: Tracker) -> EffectResult | None:
    if defect.state not in TRACKED_STATES:
        return None  # rejected meanwhile: nothing to tell the tracker
    if effect.kind is EffectKind.CREATE:
        return _create(defect, tracker)
    key = defect.tracker_key
    if key is None:
        raise _WaitingForCreate(f"defect {defect.id} has no tracker key yet")
    if effect.kind is EffectKind.UPDATE:
        new = defect.occurrences - defect.occurrences_reported
        if new <= 0:
            return None
        update = OccurrenceUpdate(
            total=defect.occurrences,
            new=new,
            last_seen=defect.last_seen,
            versions=tuple(effect.payload.get("versions", ())),
            environments=tuple(effect.payload.get("environments", ())),
        )
        tracker.update_occurrences(key, update)
        return EffectResult(occurrences_reported=defect.occurrences)
    if effect.kind is EffectKind.REOPEN:
        version = effect.payload.get("version", "?")
        comment = (
            f"Recurred in version {version} after it was resolved ({defect.occurrences} "
            f"occurrences in total, last seen {defect.last_seen:%Y-%m-%d %H:%M} UTC)."
        )
        issue = tracker.reopen(key, comment)
        return EffectResult(tracker_status=issue.status, resolved=issue.resolved)
    tracker.link_signature(key, str(effect.payload["signature"]))
    return None


def file_defect(defect: Defect, tracker: Tracker) -> tuple[TrackerIssue, bool]:
    """The defect's issue in ``tracker``: found by its signature label, else created (with
    every occurrence so far), and labelled with its other signatures; True when created."""
    signature = defect.signatures[0]
    issue = tracker.find(signature)
    created = issue is None
    if issue is None:
        issue = tracker.create(_draft(defect))
    else:
        log.info("outbox.create_found", defect=defect.id, key=issue.key, signature=signature)
    for other in defect.signatures[1:]:
        tracker.link_signature(issue.key, other)
    return issue, created


def _create(defect: Defect, tracker: Tracker) -> EffectResult:
    if defect.tracker_key is not None:
        return EffectResult()
    issue, created = file_defect(defect, tracker)
    # found: what it shows is unknown, so the next update sends the total
    reported = defect.occurrences if created else None
    return EffectResult(
        tracker_key=issue.key,
        tracker_status=issue.status,
        resolved=issue.resolved,
        occurrences_reported=reported,
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
