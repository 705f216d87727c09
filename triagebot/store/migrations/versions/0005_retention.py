"""``occurrence_days``: old occurrences folded into per-day counts; messages by age."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "occurrence_days",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("defect_id", sa.Integer, sa.ForeignKey("defects.id"), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("application", sa.String(200)),
        sa.Column("version", sa.String(64)),
        sa.Column("environment", sa.String(64)),
        sa.Column("machine", sa.String(200)),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_occurrence_days_defect_day", "occurrence_days", ["defect_id", "day"])
    op.create_index("ix_messages_processed_at", "messages", ["processed_at"])


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
