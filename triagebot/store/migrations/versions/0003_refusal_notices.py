"""``refusal_notices``: the one-line answers to refused replies of allowed senders."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusal_notices",
        sa.Column("message_id", sa.String(998), primary_key=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("answer", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
    )
    op.create_index("ix_refusal_notices_sender_at", "refusal_notices", ["sender", "at"])


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
