"""The confirmation loop's side of the store: replies applied once, the human decisions they
carry, and the mails sent about a defect (candidates, reminders, acknowledgements).

A reply is applied once by its Message-ID, its decision and its acknowledgement in the same
transaction; a decision applies only from the states it names (``triagebot.lifecycle``), and
the effects it causes are queued with it (``triagebot.store.queue``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot import lifecycle
from triagebot.lifecycle import DefectState, EffectKind, HumanDecision
from triagebot.rules import Fields
from triagebot.store.queries import signatures_of
from triagebot.store.queue import enqueue
from triagebot.store.records import ReplyRecord
from triagebot.store.schema import defects, notifications, replies

__all__ = [
    "apply_reply",
    "decide",
    "notified",
    "record_notification",
    "reminders_due",
    "replies_of",
]

log = structlog.get_logger(__name__)


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
    if conn.execute(
        sa.select(replies.c.message_id).where(replies.c.message_id == reply.message_id)
    ).first():
        return None
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
        decide(conn, reply.defect_id, decision, reply.at)
    if acked and ack is not None:
        enqueue(conn, EffectKind.NOTIFY, reply.defect_id, ack, reply.at)
    return acked


def decide(conn: Connection, defect_id: int, decision: HumanDecision, now: datetime) -> None:
    """Apply a human decision when the defect is still in one of its ``from_states``, and
    queue what it causes."""
    row = conn.execute(
        sa.select(defects.c.state, defects.c.tracker_key, defects.c.fields).where(
            defects.c.id == defect_id
        )
    ).one()
    if not lifecycle.decision_applies(decision, DefectState(row.state)):
        log.info("store.decision_skipped", defect=defect_id, state=row.state)
        return
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


def replies_of(conn: Connection, defect_id: int) -> list[ReplyRecord]:
    """Every reply applied to a defect, oldest first."""
    query = sa.select(replies).where(replies.c.defect_id == defect_id).order_by(replies.c.at)
    return [
        ReplyRecord(r.message_id, r.defect_id, r.sender, r.verb, dict(r.args), r.at, r.thread)
        for r in conn.execute(query)
    ]


def notified(conn: Connection, defect_id: int, kind: str) -> set[str]:
    """Recipients a ``kind`` mail about this defect went to already."""
    query = sa.select(notifications.c.recipient).where(
        notifications.c.defect_id == defect_id, notifications.c.kind == kind
    )
    return set(conn.execute(query).scalars())


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


def reminders_due(conn: Connection, sent_before: datetime) -> list[tuple[int, str]]:
    """``(defect, recipient)`` of candidate mails sent before ``sent_before`` that are still
    unanswered candidates and were not reminded yet."""
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
    return [(r.defect_id, r.recipient) for r in conn.execute(query)]
