"""Every table of triagebot's store in one ``metadata``, and the column types they share.

One home for the schema, so ``Store.migrate`` creates every table (the digests' ``digest_runs``
too, whichever module was imported first) and a new table or column is seen in one place.
Values from outside are cut to their column widths (``Bounded``); datetimes are aware UTC in
and out (``UTCDateTime``). The local tracker keeps its own two tables next to its code
(``triagebot.trackers.local``), created through ``Store.create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = [
    "MESSAGE_ID_WIDTH",
    "Bounded",
    "UTCDateTime",
    "bounces",
    "defects",
    "digest_runs",
    "leases",
    "messages",
    "meta",
    "metadata",
    "notifications",
    "occurrence_days",
    "occurrences",
    "outbox",
    "refusal_notices",
    "replies",
    "signatures",
]

MESSAGE_ID_WIDTH = 998  # RFC 5322's line limit; longer ones (folded headers) are cut


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

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), primary_key=True),
    sa.Column("kind", Bounded(16), nullable=False),
    sa.Column("action", Bounded(16)),
    sa.Column("rule", Bounded(200)),
    sa.Column("signature", Bounded(64)),
    sa.Column("defect_id", sa.Integer),
    sa.Column("received_at", UTCDateTime),
    sa.Column("processed_at", UTCDateTime, nullable=False),
    sa.Column("source_ref", Bounded(200)),
    sa.Column("reason", sa.Text),
    sa.Index("ix_messages_processed_at", "processed_at"),
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
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("application", Bounded(200)),
    sa.Column("version", Bounded(64)),
    sa.Column("environment", Bounded(64)),
    sa.Column("machine", Bounded(200)),
    sa.Index("ix_occurrences_defect_at", "defect_id", "at"),
)

#: Occurrences past ``[store] retention_days``, folded into one row per defect, UTC day and
#: report origin: what digests and candidate mails tell of old reports stays, the per-mail
#: rows go (``store.retention``).
occurrence_days = sa.Table(
    "occurrence_days",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("application", Bounded(200)),
    sa.Column("version", Bounded(64)),
    sa.Column("environment", Bounded(64)),
    sa.Column("machine", Bounded(200)),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Index("ix_occurrence_days_defect_day", "defect_id", "day"),
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
    # Raised by each lease: only the worker holding the current one completes the effect.
    sa.Column("lease_token", sa.Integer, nullable=False, default=0, server_default="0"),
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
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), primary_key=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False, index=True),
    sa.Column("sender", Bounded(320), nullable=False),
    sa.Column("verb", Bounded(16), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("thread", Bounded(MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("acked", sa.Boolean, nullable=False, default=False),
    # What the reply changed (``lifecycle.Before``), which an ``undo`` puts back; NULL when it
    # changed nothing.
    sa.Column("previous", sa.JSON),
    sa.Index("ix_replies_thread_at", "thread", "at"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
    sa.Column("kind", Bounded(16), nullable=False),  # candidate, reminder, ack, help
    sa.Column("recipient", Bounded(320), nullable=False),
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    # A candidate mail's reminder is claimed by one replica until then (``claim_reminders``).
    sa.Column("leased_until", UTCDateTime),
    # Raised by each claim: only the replica holding the current one sends the reminder.
    sa.Column("lease_token", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Index("ix_notifications_defect_kind", "defect_id", "kind"),
)

# The one-line answers to refused replies of allowed senders (``answer``: what to send), at
# most one per sender per hour; a refused reply is answered once by its Message-ID.
refusal_notices = sa.Table(
    "refusal_notices",
    metadata,
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), primary_key=True),
    sa.Column("sender", Bounded(320), nullable=False),
    sa.Column("answer", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Index("ix_refusal_notices_sender_at", "sender", "at"),
)

# One row per digest period, keyed ``(digest, period_end)``: a run claims its period by
# inserting it, so two replicas never both send (``triagebot.digest``).
digest_runs = sa.Table(
    "digest_runs",
    metadata,
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Column("period_end", UTCDateTime, primary_key=True),
    sa.Column("period_start", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # claimed, retry, sent, empty, failed
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("message_id", sa.String(998)),
    sa.Column("error", sa.Text),
    # Raised by each claim of the period: only its current claimer finishes the run.
    sa.Column("claim_token", sa.Integer, nullable=False, default=0, server_default="0"),
)

# Who leads a shared job (``intake``: reading the mailbox) under which fencing token, each
# replica seen (``replica:<holder>``, token 0), for ``triagebot status`` (``store.leader``), and
# the scheduled jobs one replica runs at a time (``job:<name>``; holder "" once finished,
# ``store.jobs``).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", Bounded(250), primary_key=True),
    sa.Column("holder", Bounded(200), nullable=False),
    sa.Column("token", sa.Integer, nullable=False, default=0),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("renewed_at", UTCDateTime, nullable=False),
)

# Late delivery failures of mail triagebot sent: one row per failed recipient of a bounce,
# with what the returned mail was (``kind``: candidate, reminder, ack, ... or digest; its
# defect or digest and when it was sent, as ``notifications`` and ``digest_runs`` recorded it)
# and the server's answer (``store.bounces``).
bounces = sa.Table(
    "bounces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", Bounded(MESSAGE_ID_WIDTH), nullable=False),  # the bounce's store key
    sa.Column("original_id", Bounded(MESSAGE_ID_WIDTH), nullable=False),  # the returned mail's
    sa.Column("kind", Bounded(16)),
    sa.Column("defect_id", sa.Integer),
    sa.Column("digest", Bounded(200)),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("recipient", Bounded(320), nullable=False),
    sa.Column("status", Bounded(16), nullable=False),
    sa.Column("diagnostic", sa.Text, nullable=False),
    sa.Column("reporter", Bounded(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_bounces_at", "at"),
)
