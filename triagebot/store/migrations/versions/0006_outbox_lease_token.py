"""``outbox.lease_token``: the fencing token each lease of an effect raises."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("lease_token", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
