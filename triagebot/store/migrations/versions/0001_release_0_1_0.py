"""The schema of release 0.1.0, where the history starts.

A database that release made (``meta.schema_version = "1"``, no ``alembic_version``) is stamped
at this revision and upgraded from here; a new database is built by running every revision.
``digest_runs`` is not here: 0.1.0 created it only when the digests were loaded (``0002``).
The tables are spelt out as they were, not imported from ``schema``, so later changes to the
current schema never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = 998  # Message-ID columns: RFC 5322's line limit


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(_ID), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16)),
        sa.Column("rule", sa.String(200)),
        sa.Column("signature", sa.String(64)),
        sa.Column("defect_id", sa.Integer),
        sa.Column("received_at", sa.DateTime),
        sa.Column("processed_at", sa.DateTime, nullable=False),
        sa.Column("source_ref", sa.String(200)),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "defects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("tracker_key", sa.String(64), index=True),
        sa.Column("tracker_status", sa.String(64)),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.Column("resolved_version", sa.String(64)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("exception_types", sa.JSON, nullable=False),
        sa.Column("top_frames", sa.JSON, nullable=False),
        sa.Column("sample_trace", sa.Text, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("occurrences_reported", sa.Integer, nullable=False),
        sa.Column("last_version", sa.String(64)),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("rule", sa.String(200)),
        sa.Column("confirmed_by", sa.String(320)),
    )
    op.create_table(
        "signatures",
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False, index=True),
    )
    op.create_table(
        "occurrences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
        sa.Column("message_id", sa.String(_ID), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("application", sa.String(200)),
        sa.Column("version", sa.String(64)),
        sa.Column("environment", sa.String(64)),
        sa.Column("machine", sa.String(200)),
        sa.Index("ix_occurrences_defect_at", "defect_id", "at"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("pending_key", sa.String(200), unique=True),
        sa.Index("ix_outbox_due", "state", "next_attempt_at"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "replies",
        sa.Column("message_id", sa.String(_ID), primary_key=True),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False, index=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("verb", sa.String(16), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("thread", sa.String(_ID), nullable=False),
        sa.Column("acked", sa.Boolean, nullable=False),
        sa.Index("ix_replies_thread_at", "thread", "at"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(_ID), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Index("ix_notifications_defect_kind", "defect_id", "kind"),
    )


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
