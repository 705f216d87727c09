"""The outbox: effects (create/update/reopen/link/notify) waiting for the worker
(``triagebot.outbox``), leased, completed or failed.

One *pending* effect per ``pending_key`` at most (``update:<defect>``; a ``link`` per
signature), so N mails coalesce into one tracker call; ``notify`` effects are never coalesced.
``lease`` hands each due effect to one worker for ``EFFECT_LEASE``, so replicas never perform
one twice. Each lease raises the row's ``lease_token`` (a fencing token): ``renew``,
``complete`` and ``fail`` act only for the holder of the current token, so a worker that wakes
up after its lease ran out (a paused replica) can do nothing with the effect another worker
took over. The functions run inside the caller's write transaction (``Store.write``), so an
effect is queued in the same transaction as the change that causes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot import lifecycle
from triagebot.clock import Clock
from triagebot.lifecycle import DefectState, EffectKind
from triagebot.store.db import chunks, lock_defects
from triagebot.store.records import Effect, EffectResult
from triagebot.store.schema import defects, digest_runs, outbox
from triagebot.store.sync import resolved_values

__all__ = [
    "EFFECT_HEARTBEAT",
    "EFFECT_LEASE",
    "INSERT_EFFECT",
    "complete",
    "effect_row",
    "effects",
    "enqueue",
    "fail",
    "lease",
    "pending_by_kind",
    "pending_effects",
    "pending_key",
    "renew",
    "retry_failed",
]

log = structlog.get_logger(__name__)

#: How long ``lease`` hands an effect to one worker; the worker renews it every
#: ``EFFECT_HEARTBEAT`` while it performs the effect, so one that died or froze mid-effect
#: leaves it to another worker within a minute.
EFFECT_LEASE = timedelta(seconds=60)
EFFECT_HEARTBEAT = EFFECT_LEASE / 3  # two beats may be late before the lease runs out

_b = sa.bindparam
INSERT_EFFECT = sa.insert(outbox)
_COMPLETE_EFFECT = sa.update(outbox).values(state="done", pending_key=None, last_error=None)
_DEFECT_PROGRESS = sa.select(
    defects.c.state, defects.c.tracker_key, defects.c.occurrences, defects.c.occurrences_reported
).where(defects.c.id == _b("b_id"))


def pending_key(kind: EffectKind, defect_id: int, extra: str = "") -> str | None:
    """The key that keeps an effect to one pending row (None: never coalesced)."""
    if kind is EffectKind.NOTIFY:
        return None
    return f"{kind}:{defect_id}{':' + extra if extra else ''}"


def lease(
    conn: Connection, now: datetime, limit: int, kinds: Iterable[EffectKind] | None = None
) -> list[Effect]:
    """Pending effects whose time has come, oldest first (a create before its updates),
    leased to the caller for ``EFFECT_LEASE``: a concurrent worker (another replica) is not
    handed them, so no effect is performed twice. ``complete`` or ``fail`` ends the lease."""
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
    rows = conn.execute(query).all()
    tokens: dict[int, int] = {}
    for chunk in chunks([r.id for r in rows]):
        tokens.update(
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(chunk))
                .values(next_attempt_at=now + EFFECT_LEASE, lease_token=outbox.c.lease_token + 1)
                .returning(outbox.c.id, outbox.c.lease_token)
            ).all()
        )
    return [
        Effect(r.id, EffectKind(r.kind), r.defect_id, dict(r.payload), r.attempts, tokens[r.id])
        for r in rows
    ]


def _held(effect: Effect) -> sa.ColumnElement[bool]:
    """The effect's row, while ``effect``'s lease is the current one."""
    return sa.and_(
        outbox.c.id == effect.id,
        outbox.c.lease_token == effect.token,
        outbox.c.state == "pending",
    )


def _lost(effect: Effect, doing: str) -> None:
    log.warning(
        "outbox.lease_lost",
        effect=effect.id,
        kind=str(effect.kind),
        token=effect.token,
        doing=doing,
    )


def renew(conn: Connection, effect: Effect, until: datetime) -> bool:
    """Extend ``effect``'s lease to ``until``; False (logged) when it is no longer held: the
    lease ran out and another worker took the effect over, or finished it."""
    if conn.execute(sa.update(outbox).where(_held(effect)).values(next_attempt_at=until)).rowcount:
        return True
    _lost(effect, "renew")
    return False


def complete(
    conn: Connection,
    effect: Effect,
    result: EffectResult | None,
    clock: Clock,
    update_delay: timedelta,
) -> bool:
    """Mark an effect done and keep what it taught us; False (logged, nothing written) when
    ``effect``'s lease is no longer the current one: another worker took it over.

    When occurrences arrived while a create/update was in flight, a fresh ``update`` is
    queued (stamped ``clock()``, due after ``update_delay``) so they are not lost. Batches
    meanwhile merged their versions and environments into the in-flight update's row, after
    the worker had read it: the fresh update carries that row's payload
    (``lifecycle.follow_up``).
    """
    lock_defects(conn, defects.c.id == effect.defect_id)  # before its outbox row, as batches do
    done = conn.execute(
        _COMPLETE_EFFECT.where(_held(effect)).returning(
            outbox.c.defect_id, outbox.c.kind, outbox.c.payload
        )
    ).one_or_none()
    if done is None:
        _lost(effect, "complete")
        return False
    if result is not None:
        _apply_result(conn, done.defect_id, result)
    row = conn.execute(_DEFECT_PROGRESS, {"b_id": done.defect_id}).one()
    need = lifecycle.follow_up(
        EffectKind(done.kind),
        done.payload,
        state=DefectState(row.state),
        tracker_key=row.tracker_key,
        occurrences=row.occurrences,
        reported=row.occurrences_reported,
    )
    if need is not None:  # ``enqueue`` keeps it to one pending update
        enqueue(conn, need.kind, done.defect_id, need.payload, clock(), delay=update_delay)
    return True


def fail(
    conn: Connection,
    effect: Effect,
    error: str,
    retry_at: datetime | None,
    attempt: dict[str, Any] | None = None,
) -> bool:
    """Reschedule at ``retry_at``, or give up (``failed``) when it is None; False (logged,
    nothing written) when ``effect``'s lease is no longer the current one. ``attempt`` is
    what the next attempt must know (``lifecycle.ATTEMPT`` in the payload), set on the row's
    current payload: batches may have merged versions into it since the worker read it."""
    values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:2000]}
    if attempt is not None:
        payload = conn.execute(sa.select(outbox.c.payload).where(_held(effect))).scalar()
        if payload is None:
            _lost(effect, "fail")
            return False
        values["payload"] = {**payload, lifecycle.ATTEMPT: attempt}
    if retry_at is None:
        values.update(state="failed", pending_key=None)
    else:
        values["next_attempt_at"] = retry_at
    if conn.execute(sa.update(outbox).where(_held(effect)).values(**values)).rowcount:
        return True
    _lost(effect, "fail")
    return False


def retry_failed(conn: Connection, ids: Collection[int] | None, now: datetime) -> list[int]:
    """Queue failed effects again (``ids``, or every one), due at ``now``; returns those queued.

    A failed effect gave up its ``pending_key``: it takes it back, unless an effect with the
    same key is pending meanwhile, which then does the work (an ``update`` sends the total
    anyway) and the failed one is closed as superseded. Digest runs a release before this one
    left ``failed`` are made due again too.
    """
    query = sa.select(outbox.c.id, outbox.c.kind, outbox.c.defect_id, outbox.c.payload).where(
        outbox.c.state == "failed"
    )
    rows = [
        r
        for chunk in (chunks(sorted(ids)) if ids is not None else [None])
        for r in conn.execute(query if chunk is None else query.where(outbox.c.id.in_(chunk)))
    ]
    queued: list[int] = []
    for row in rows:
        kind = EffectKind(row.kind)
        extra = str(row.payload.get("signature", "")) if kind is EffectKind.LINK else ""
        key = pending_key(kind, row.defect_id, extra)
        taken = (
            key is not None
            and conn.execute(sa.select(outbox.c.id).where(outbox.c.pending_key == key)).first()
        )
        if taken:
            values: dict[str, Any] = {"state": "done", "last_error": "superseded by a pending one"}
        else:
            values = {"state": "pending", "pending_key": key, "next_attempt_at": now}
            queued.append(row.id)
        conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))
    if ids is None:
        conn.execute(
            sa.update(digest_runs)
            .where(digest_runs.c.state == "failed")
            .values(state="retry", next_attempt_at=now)
        )
    return queued


def effects(conn: Connection, defect_id: int | None = None) -> list[tuple[str, str, int]]:
    """``(kind, state, attempts)`` of every effect, for status output and tests."""
    query = sa.select(outbox.c.kind, outbox.c.state, outbox.c.attempts).order_by(outbox.c.id)
    if defect_id is not None:
        query = query.where(outbox.c.defect_id == defect_id)
    return [(r.kind, r.state, r.attempts) for r in conn.execute(query)]


def pending_by_kind(conn: Connection) -> dict[str, int]:
    """How many effects wait to be performed, by kind (failed ones wait for an operator)."""
    rows = conn.execute(
        sa.select(outbox.c.kind, sa.func.count())
        .where(outbox.c.state == "pending")
        .group_by(outbox.c.kind)
    )
    return {str(kind): count for kind, count in rows}


def pending_effects(conn: Connection, keys: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Pending effects by ``pending_key``: ``(id, payload)``."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for chunk in chunks(keys):
        rows = conn.execute(
            sa.select(outbox.c.pending_key, outbox.c.id, outbox.c.payload).where(
                outbox.c.pending_key.in_(chunk)
            )
        )
        found.update((r.pending_key, (r.id, dict(r.payload))) for r in rows)
    return found


def effect_row(
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
        "lease_token": 0,
    }


def enqueue(
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
    key = pending_key(kind, defect_id, extra)
    if (
        key is not None
        and conn.execute(sa.select(outbox.c.id).where(outbox.c.pending_key == key)).first()
    ):
        return
    conn.execute(INSERT_EFFECT, [effect_row(kind, defect_id, payload, now, key=key, delay=delay)])


def _apply_result(conn: Connection, defect_id: int, result: EffectResult) -> None:
    values: dict[str, Any] = {}
    if result.tracker_key is not None:
        values["tracker_key"] = result.tracker_key
    if result.tracker_status is not None:
        values["tracker_status"] = result.tracker_status
    if result.occurrences_reported is not None:
        values["occurrences_reported"] = result.occurrences_reported
    if result.resolved is not None:
        values.update(resolved_values(result.resolved))
    if values:
        conn.execute(sa.update(defects).where(defects.c.id == defect_id).values(**values))
