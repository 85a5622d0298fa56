"""Recordings: the segment index, recorded gaps and evidence holds.

Revision ID: 0003
Revises: 0002
Create Date: 2024-06-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, unique=True),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("packets", sa.Integer, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_recording_segments_camera_id_start", "recording_segments", ["camera_id", "start"])
    op.create_index("ix_recording_segments_start", "recording_segments", ["start"])
    op.create_table(
        "recording_gaps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_recording_gaps_camera_id_start", "recording_gaps", ["camera_id", "start"])
    op.create_table(
        "recording_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_recording_holds_camera_id_start", "recording_holds", ["camera_id", "start"])


def downgrade() -> None:
    op.drop_table("recording_holds")
    op.drop_table("recording_gaps")
    op.drop_table("recording_segments")
