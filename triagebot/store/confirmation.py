"""The confirmation loop's side of the store: replies applied once, the human decisions they
carry, the mails sent about a defect (candidates, reminders, acknowledgements), and the
answers to refused replies.

A reply is applied once by its Message-ID, its decision and its acknowledgement in the same
transaction; a decision applies only from the states it names (``triagebot.lifecycle``), and
the effects it causes are queued with it (``triagebot.store.queue``). A reply that changed the
defect keeps what it changed (``previous``), which is what an ``undo`` puts back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot import lifecycle
from triagebot.lifecycle import Before, DefectState, EffectKind, HumanDecision, UndoRefusal
from triagebot.rules import Fields
from triagebot.store.db import chunks
from triagebot.store.queries import signatures_of
from triagebot.store.queue import enqueue
from triagebot.store.records import Reminder, ReplyRecord
from triagebot.store.schema import (
    defects,
    notifications,
    occurrence_days,
    occurrences,
    refusal_notices,
    replies,
)

__all__ = [
    "UNDO",
    "apply_reply",
    "apply_undo",
    "candidates_mailed",
    "claim_reminders",
    "complete_reminder",
    "decide",
    "notified",
    "queue_refusal_notice",
    "record_notification",
    "refusal_notice_sent",
    "refusal_notices_due",
    "renew_reminder",
    "replies_of",
    "seen_on",
    "summaries_due",
]

log = structlog.get_logger(__name__)

#: The verb an undo is recorded with; the verbs of the commands it may reverse.
UNDO = "undo"
_UNDOABLE = ("confirm", "reject", "ignore", "duplicate")
#: What a decision or an undo reads of a defect first (``lifecycle.Before``).
_BEFORE = sa.select(
    defects.c.state,
    defects.c.tracker_key,
    defects.c.fields,
    defects.c.confirmed_by,
    defects.c.occurrences_reported,
)


def apply_reply(
    conn: Connection,
    reply: ReplyRecord,
    decision: HumanDecision | None,
    ack: dict[str, Any] | None,
    ack_interval: timedelta,
) -> bool | None:
    """Record a reply and apply its decision; None when that Message-ID was applied before
    (a re-sent or re-delivered reply changes nothing), else whether it is acknowledged.

    ``ack`` is the payload of a ``notify`` effect answering the reply; it is queued unless
    the same thread was answered within ``ack_interval``.
    """
    if _applied(conn, reply.message_id):
        return None
    before = decide(conn, reply.defect_id, decision, reply.at) if decision is not None else None
    return _record(conn, reply, before, ack, ack_interval)


def apply_undo(
    conn: Connection,
    reply: ReplyRecord,
    window: timedelta,
    answer: Callable[[ReplyRecord | None, UndoRefusal | None], dict[str, Any] | None],
) -> tuple[ReplyRecord | None, UndoRefusal | None] | None:
    """Record an ``undo`` and reverse the sender's last command on the defect when it may be
    (``lifecycle.undo_refusal``); None when that Message-ID was applied before, else the
    command found (or None) and why nothing changed (None: it was reversed).

    ``answer`` makes the acknowledgement from the outcome; it is always queued (an undo is
    worth an answer even right after the command's own).
    """
    if _applied(conn, reply.message_id):
        return None
    mine = conn.execute(
        sa.select(replies)
        .where(
            replies.c.defect_id == reply.defect_id,
            replies.c.sender == reply.sender,
            replies.c.verb.in_([*_UNDOABLE, UNDO]),
        )
        .order_by(replies.c.at.desc())
        .limit(1)
    ).first()
    row = conn.execute(_BEFORE.where(defects.c.id == reply.defect_id)).one()
    last = _reply_record(mine) if mine is not None else None
    before = Before.from_dict(mine.previous) if mine is not None and mine.previous else None
    changed_since = mine is not None and (
        conn.execute(
            sa.select(replies.c.message_id).where(
                replies.c.defect_id == reply.defect_id,
                replies.c.at > mine.at,
                replies.c.previous.is_not(None),
            )
        ).first()
        is not None
    )
    why = lifecycle.undo_refusal(
        last_was_undo=None if mine is None else mine.verb == UNDO,
        before=before,
        age=reply.at - mine.at if mine is not None else timedelta(0),
        window=window,
        changed_since=changed_since,
        state=DefectState(row.state),
    )
    undone = None
    if why is None and last is not None and before is not None:
        undone = Before(
            state=DefectState(row.state),
            decided=before.state,
            fields=dict(row.fields),
            confirmed_by=row.confirmed_by,
            tracker_key=row.tracker_key,
            occurrences_reported=row.occurrences_reported,
        )
        values = lifecycle.undo_values(before, row.tracker_key, row.occurrences_reported)
        conn.execute(sa.update(defects).where(defects.c.id == reply.defect_id).values(**values))
        for need in lifecycle.undo_effects(before, reply.sender):
            enqueue(conn, need.kind, reply.defect_id, need.payload, reply.at)
        log.info(
            "store.undone",
            defect=reply.defect_id,
            undone=last.message_id,
            verb=last.verb,
            old=row.state,
            new=str(before.state),
        )
    args = {**reply.args, "undoes": last.message_id} if undone is not None and last else reply.args
    _record(
        conn,
        ReplyRecord(
            reply.message_id,
            reply.defect_id,
            reply.sender,
            reply.verb,
            args,
            reply.at,
            reply.thread,
        ),
        undone,
        answer(last, why),
        timedelta(0),
    )
    return last, why


def _applied(conn: Connection, message_id: str) -> bool:
    query = sa.select(replies.c.message_id).where(replies.c.message_id == message_id)
    return conn.execute(query).first() is not None


def _record(
    conn: Connection,
    reply: ReplyRecord,
    before: Before | None,
    ack: dict[str, Any] | None,
    ack_interval: timedelta,
) -> bool:
    """Insert the reply's row (``before``: what it changed) and queue its acknowledgement
    unless its thread was answered within ``ack_interval``; returns whether it is."""
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
            previous=before.as_dict() if before is not None else None,
        )
    )
    if acked and ack is not None:
        enqueue(conn, EffectKind.NOTIFY, reply.defect_id, ack, reply.at)
    return acked


def decide(
    conn: Connection, defect_id: int, decision: HumanDecision, now: datetime
) -> Before | None:
    """Apply a human decision when the defect is still in one of its ``from_states``, and
    queue what it causes; returns the defect as it found it (None: it did not apply)."""
    row = conn.execute(_BEFORE.where(defects.c.id == defect_id)).one()
    if not lifecycle.decision_applies(decision, DefectState(row.state)):
        log.info("store.decision_skipped", defect=defect_id, state=row.state)
        return None
    values: dict[str, Any] = {"state": decision.state}
    if decision.by:
        values["confirmed_by"] = decision.by
    if decision.fields is not None:
        values["fields"] = Fields.from_dict(row.fields).merge(decision.fields).as_dict()
    if decision.tracker_key is not None:
        values["tracker_key"] = decision.tracker_key
        values["occurrences_reported"] = 0  # the issue has not heard of these yet
    conn.execute(sa.update(defects).where(defects.c.id == defect_id).values(**values))
    sigs = (
        signatures_of(conn, [defect_id]).get(defect_id, []) if lifecycle.relinks(decision) else []
    )
    for need in lifecycle.decision_effects(decision, row.tracker_key, sigs):
        enqueue(conn, need.kind, defect_id, need.payload, now, extra=need.extra)
    log.info("store.state_changed", defect=defect_id, old=row.state, new=str(decision.state))
    return Before(
        state=DefectState(row.state),
        decided=decision.state,
        fields=dict(row.fields),
        confirmed_by=row.confirmed_by,
        tracker_key=row.tracker_key,
        occurrences_reported=row.occurrences_reported,
    )


def replies_of(conn: Connection, defect_id: int) -> list[ReplyRecord]:
    """Every reply applied to a defect, oldest first."""
    query = sa.select(replies).where(replies.c.defect_id == defect_id).order_by(replies.c.at)
    return [_reply_record(r) for r in conn.execute(query)]


def _reply_record(row: sa.Row[Any]) -> ReplyRecord:
    return ReplyRecord(
        row.message_id, row.defect_id, row.sender, row.verb, dict(row.args), row.at, row.thread
    )


def notified(conn: Connection, defect_id: int, kind: str) -> dict[str, str]:
    """Recipients a ``kind`` mail about this defect went to already, with its Message-ID."""
    query = sa.select(notifications.c.recipient, notifications.c.message_id).where(
        notifications.c.defect_id == defect_id, notifications.c.kind == kind
    )
    return {r.recipient: r.message_id for r in conn.execute(query)}


def candidates_mailed(conn: Connection, since: datetime) -> int:
    """How many candidates got their candidate mail since ``since``."""
    query = sa.select(sa.func.count(sa.distinct(notifications.c.defect_id))).where(
        notifications.c.kind == "candidate", notifications.c.sent_at >= since
    )
    return int(conn.execute(query).scalar_one())


def summaries_due(conn: Connection, recipient: str) -> list[int]:
    """Candidates held back from their own mail (``held``) that ``recipient`` has not seen in
    a summary yet, oldest first."""
    held, summary = notifications.alias("held"), notifications.alias("summary")
    summarised = sa.select(summary.c.id).where(
        summary.c.kind == "summary",
        summary.c.defect_id == held.c.defect_id,
        summary.c.recipient == recipient,
    )
    query = (
        sa.select(held.c.defect_id)
        .join(defects, defects.c.id == held.c.defect_id)
        .where(
            held.c.kind == "held", defects.c.state == DefectState.CANDIDATE, ~sa.exists(summarised)
        )
        .order_by(held.c.defect_id)
    )
    return list(conn.execute(query).scalars())


def seen_on(conn: Connection, defect_id: int, limit: int) -> dict[str, list[str]]:
    """The ``machine`` and ``version`` values of a defect's occurrences, most frequent first
    (at most ``limit`` each), counting those folded into per-day rows by retention."""
    out: dict[str, list[str]] = {}
    for name in ("machine", "version"):
        live, folded = occurrences.c[name], occurrence_days.c[name]
        seen = sa.union_all(
            sa.select(live.label("value"), sa.literal(1).label("n")).where(
                occurrences.c.defect_id == defect_id, live.is_not(None)
            ),
            sa.select(folded.label("value"), occurrence_days.c.count.label("n")).where(
                occurrence_days.c.defect_id == defect_id, folded.is_not(None)
            ),
        ).subquery()
        query = (
            sa.select(seen.c.value)
            .group_by(seen.c.value)
            .order_by(sa.func.sum(seen.c.n).desc(), seen.c.value)
            .limit(limit)
        )
        out[name] = [str(v) for v in conn.execute(query).scalars()]
    return out


def record_notification(
    conn: Connection, defect_id: int, kind: str, recipient: str, *, message_id: str, at: datetime
) -> None:
    conn.execute(
        sa.insert(notifications).values(
            defect_id=defect_id,
            kind=kind,
            recipient=recipient,
            message_id=message_id,
            sent_at=at,
        )
    )


def claim_reminders(
    conn: Connection, sent_before: datetime, now: datetime, until: datetime
) -> list[Reminder]:
    """The reminders due for candidate mails sent before ``sent_before`` that are still
    unanswered candidates, were not reminded yet, and no one else claimed (until a claim's
    ``leased_until`` has passed); claimed for the caller until ``until``, each under a new
    fencing token. Replicas asking at once skip each other's rows (PostgreSQL: ``SKIP
    LOCKED``), so their sets are disjoint and each reminder goes out once; a claimer that died
    leaves its reminders to the next one."""
    sent, reminder = notifications.alias("sent"), notifications.alias("reminder")
    reminded = sa.select(reminder.c.id).where(
        reminder.c.kind == "reminder",
        reminder.c.defect_id == sent.c.defect_id,
        reminder.c.recipient == sent.c.recipient,
    )
    query = (
        sa.select(sent.c.id, sent.c.defect_id, sent.c.recipient)
        .join(defects, defects.c.id == sent.c.defect_id)
        .where(
            sent.c.kind == "candidate",
            sent.c.sent_at <= sent_before,
            defects.c.state == DefectState.CANDIDATE,
            sa.or_(sent.c.leased_until.is_(None), sent.c.leased_until <= now),
            ~sa.exists(reminded),
        )
        .order_by(sent.c.defect_id, sent.c.recipient)
        .with_for_update(of=sent, skip_locked=True)
    )
    rows = conn.execute(query).all()
    tokens: dict[int, int] = {}
    for chunk in chunks([r.id for r in rows]):
        tokens.update(
            conn.execute(
                sa.update(notifications)
                .where(notifications.c.id.in_(chunk))
                .values(leased_until=until, lease_token=notifications.c.lease_token + 1)
                .returning(notifications.c.id, notifications.c.lease_token)
            ).all()
        )
    return [Reminder(r.id, r.defect_id, r.recipient, tokens[r.id]) for r in rows]


def renew_reminder(conn: Connection, claim: Reminder, until: datetime) -> bool:
    """Extend ``claim`` to ``until`` (just before its mail is sent); False when it is not the
    current claim any more: another replica took the reminder over."""
    done = conn.execute(sa.update(notifications).where(_held(claim)).values(leased_until=until))
    return bool(done.rowcount)


def complete_reminder(conn: Connection, claim: Reminder, message_id: str, at: datetime) -> bool:
    """Record the reminder ``claim`` sent, and end the claim; False (nothing written) when it
    is not the current claim any more."""
    done = conn.execute(sa.update(notifications).where(_held(claim)).values(leased_until=None))
    if not done.rowcount:
        return False
    record_notification(
        conn, claim.defect_id, "reminder", claim.recipient, message_id=message_id, at=at
    )
    return True


def _held(claim: Reminder) -> sa.ColumnElement[bool]:
    """The candidate mail's row while ``claim`` is its reminder's current claim."""
    return sa.and_(
        notifications.c.id == claim.id,
        notifications.c.lease_token == claim.token,
        notifications.c.leased_until.is_not(None),
    )


def queue_refusal_notice(
    conn: Connection,
    message_id: str,
    sender: str,
    answer: dict[str, Any],
    *,
    at: datetime,
    per: timedelta,
) -> bool:
    """Queue the answer to a refused reply, unless that reply was answered before or
    ``sender`` got one within ``per`` of ``at``; returns whether it was queued."""
    earlier = sa.select(refusal_notices.c.message_id).where(
        (refusal_notices.c.message_id == message_id)
        | ((refusal_notices.c.sender == sender) & (refusal_notices.c.at > at - per))
    )
    if conn.execute(earlier).first():
        return False
    conn.execute(
        sa.insert(refusal_notices).values(
            message_id=message_id, sender=sender, answer=answer, at=at
        )
    )
    return True


def refusal_notices_due(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
    """``(message_id, answer)`` of the answers to refused replies not sent yet, oldest first."""
    query = (
        sa.select(refusal_notices.c.message_id, refusal_notices.c.answer)
        .where(refusal_notices.c.sent_at.is_(None))
        .order_by(refusal_notices.c.at)
    )
    return [(r.message_id, dict(r.answer)) for r in conn.execute(query)]


def refusal_notice_sent(conn: Connection, message_id: str, at: datetime) -> None:
    conn.execute(
        sa.update(refusal_notices)
        .where(refusal_notices.c.message_id == message_id)
        .values(sent_at=at)
    )
