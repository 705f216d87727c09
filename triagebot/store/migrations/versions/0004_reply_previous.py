"""``replies.previous``: what a reply's decision changed, which an ``undo`` puts back."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("previous", sa.JSON))


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
