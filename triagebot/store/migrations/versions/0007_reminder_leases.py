"""``notifications.leased_until``: a candidate mail's reminder is claimed by one replica."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("leased_until", sa.DateTime))


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
