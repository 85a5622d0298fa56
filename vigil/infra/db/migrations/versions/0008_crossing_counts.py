"""Line counts: people across a line rule's line per direction, per counting interval.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crossing_counts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("line", sa.String(128), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("count_in", sa.Integer, nullable=False),
        sa.Column("count_out", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_crossing_counts_rule_start", "crossing_counts", ["rule", "start"])


def downgrade() -> None:
    op.drop_index("ix_crossing_counts_rule_start", table_name="crossing_counts")
    op.drop_table("crossing_counts")
