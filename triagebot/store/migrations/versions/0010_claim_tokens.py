"""Fencing tokens on the remaining claims: ``digest_runs.claim_token`` (a digest period) and
``notifications.lease_token`` (a candidate mail's reminder)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, column in (("digest_runs", "claim_token"), ("notifications", "lease_token")):
        op.add_column(table, sa.Column(column, sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    raise NotImplementedError("triagebot upgrades only: restore a backup to go back")
