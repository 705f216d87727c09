"""``bounces``: late delivery failures of the mail triagebot sent, per failed recipient."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("original_id", sa.String(998), nullable=False),
        sa.Column("kind", sa.String(16)),
        sa.Column("defect_id", sa.Integer),
        sa.Column("digest", sa.String(200)),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("diagnostic", sa.Text, nullable=False),
        sa.Column("reporter", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_bounces_at", "bounces", ["at"])


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
