"""Retention that runs: legal holds, and event spans that cover segments not yet closed.

``legal_holds``: one row per legal hold on a case or on a span of cameras, with who placed it
and why, and once released who released it and why (rows are never deleted). The segments it
protects are rows of ``recording_holds`` with reference ``legal:<id>``; a case hold covers every
camera (camera ``*``).

``recording_event_spans``: the minute around each alert. A segment still being written when the
alert fires (and the ones of the 30 s after) is indexed later; it takes the event tier when it
is indexed if it overlaps a span (`vigil.infra.db.recordings.RecordingIndex.add_segments`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("cameras", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_by", sa.String(128), nullable=False),
        sa.Column("placed_at", sa.Float, nullable=False),
        sa.Column("released_at", sa.Float, nullable=True),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.Column("release_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_legal_holds_case_id", "legal_holds", ["case_id"])
    op.create_table(
        "recording_event_spans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_recording_event_spans_camera_id_start", "recording_event_spans", ["camera_id", "start"]
    )


def downgrade() -> None:
    op.drop_index("ix_recording_event_spans_camera_id_start", table_name="recording_event_spans")
    op.drop_table("recording_event_spans")
    op.drop_index("ix_legal_holds_case_id", table_name="legal_holds")
    op.drop_table("legal_holds")
