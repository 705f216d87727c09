"""``digest_runs`` in every database.

Release 0.1.0 created the table only when the digest module had been imported before the
store's tables were made, so some of its databases lack it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("digest_runs"):
        return
    op.create_table(
        "digest_runs",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("period_end", sa.DateTime, primary_key=True),
        sa.Column("period_start", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("message_id", sa.String(998)),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
