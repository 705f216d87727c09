"""Bounces of the mail triagebot sent: matched to what was sent, recorded, listed by ``status``.

A bounce names the returned mail by its Message-ID; ``notifications`` (candidates, reminders,
answers, summaries) and ``digest_runs`` recorded the Message-ID of every mail triagebot sent,
so a bounce is matched there and recorded with what the mail was, to whom it failed and the
server's answer. A bounce for mail triagebot did not send (another sender's, in a shared
mailbox) is not recorded. Written in the batch's transaction, so a bounce is recorded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot.identity import MESSAGE_ID_PREFIX
from triagebot.mail.bounce import Bounce
from triagebot.store.db import chunks
from triagebot.store.schema import bounces, digest_runs, notifications

__all__ = ["BOUNCES_SHOWN", "BOUNCE_WINDOW", "recent", "record"]

log = structlog.get_logger(__name__)

BOUNCES_SHOWN = 10  # the most recent bounces ``status`` lists
BOUNCE_WINDOW = timedelta(days=30)  # how far back ``status`` counts them


def _sent(conn: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``<id>`` → what was sent under that Message-ID (one row per recipient or defect)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks(ids):
        mails = sa.select(
            notifications.c.message_id,
            notifications.c.kind,
            notifications.c.defect_id,
            notifications.c.recipient,
            notifications.c.sent_at,
        ).where(notifications.c.message_id.in_(chunk))
        for row in conn.execute(mails):
            found.setdefault(row.message_id, []).append({**row._asdict(), "digest": None})
        runs = sa.select(
            digest_runs.c.message_id, digest_runs.c.digest, digest_runs.c.claimed_at
        ).where(digest_runs.c.message_id.in_(chunk))
        for run in conn.execute(runs):
            found.setdefault(run.message_id, []).append(
                {
                    "kind": "digest",
                    "defect_id": None,
                    "recipient": "",
                    "sent_at": run.claimed_at,
                    "digest": run.digest,
                }
            )
    return found


def record(conn: Connection, items: Sequence[tuple[str, Bounce]], now: datetime) -> int:
    """Record each failed recipient of the bounces (``(store key, bounce)``) that return a
    mail of triagebot's; returns how many rows were written."""
    sent = _sent(conn, sorted({f"<{i}>" for _, b in items for i in b.original_ids}))
    rows: list[dict[str, Any]] = []
    for key, bounce in items:
        original = next((f"<{i}>" for i in bounce.original_ids if f"<{i}>" in sent), None)
        if original is None:  # not on record: a test mail of triagebot's, or not its own
            original = next(
                (f"<{i}>" for i in bounce.original_ids if i.startswith(MESSAGE_ID_PREFIX)), None
            )
        if original is None or not bounce.failures:
            log.info("store.bounce_unmatched", message_id=key, returned=bounce.original_ids[:3])
            continue
        mails = sent.get(original, [])
        for failure in bounce.failures:
            mail = next((m for m in mails if m["recipient"] == failure.recipient), None)
            mail = mail or (mails[0] if mails else {})
            rows.append(
                {
                    "message_id": key,
                    "original_id": original,
                    "kind": mail.get("kind"),
                    "defect_id": mail.get("defect_id"),
                    "digest": mail.get("digest"),
                    "sent_at": mail.get("sent_at"),
                    "recipient": failure.recipient,
                    "status": failure.status,
                    "diagnostic": failure.diagnostic,
                    "reporter": bounce.reporter,
                    "at": now,
                }
            )
            log.info(
                "store.bounce_recorded",
                kind=mail.get("kind"),
                defect=mail.get("defect_id"),
                digest=mail.get("digest"),
                recipient=failure.recipient,
                status=failure.status,
            )
    if rows:
        conn.execute(sa.insert(bounces), rows)
    return len(rows)


def recent(conn: Connection, now: datetime, shown: int = BOUNCES_SHOWN) -> dict[str, Any]:
    """What ``status`` shows: how many bounces came in ``BOUNCE_WINDOW``, and the ``shown``
    most recent of them, newest first."""
    since = now - BOUNCE_WINDOW
    count = conn.execute(sa.select(sa.func.count()).where(bounces.c.at >= since)).scalar_one()
    rows = conn.execute(
        sa.select(bounces)
        .where(bounces.c.at >= since)
        .order_by(bounces.c.at.desc(), bounces.c.id.desc())
        .limit(shown)
    )
    return {
        "count": count,
        "days": BOUNCE_WINDOW.days,
        "recent": [
            {
                "at": r.at.isoformat(),
                "kind": r.kind,
                "defect": r.defect_id,
                "digest": r.digest,
                "message_id": r.original_id,
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "recipient": r.recipient,
                "status": r.status,
                "diagnostic": r.diagnostic,
                "reporter": r.reporter,
            }
            for r in rows
        ],
    }
