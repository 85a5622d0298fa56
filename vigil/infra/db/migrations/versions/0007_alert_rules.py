"""Risk-flag rules: an alert's severity, crossing direction, measured value, phase and group.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("severity", sa.String(16), nullable=False, server_default="warning"))
        batch.add_column(sa.Column("direction", sa.String(8), nullable=True))
        batch.add_column(sa.Column("value", sa.Float, nullable=True))
        batch.add_column(sa.Column("phase", sa.String(8), nullable=True))
        batch.add_column(sa.Column("group_id", sa.String(64), nullable=True))
    op.create_index("ix_alerts_group_id", "alerts", ["group_id"])
    op.execute("UPDATE alerts SET kind = 'dwell' WHERE kind = 'loitering'")


def downgrade() -> None:
    op.drop_index("ix_alerts_group_id", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        for name in ("group_id", "phase", "value", "direction", "severity"):
            batch.drop_column(name)
