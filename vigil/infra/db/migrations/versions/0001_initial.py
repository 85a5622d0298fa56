"""Initial schema: sightings, alerts, camera health and its history.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sightings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("tracker_id", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("best_box", sa.JSON, nullable=False),
        sa.Column("crop_path", sa.String(512), nullable=True),
        sa.Column("path", sa.JSON, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("short", sa.Boolean, nullable=False),
        sa.Column("descriptor", sa.JSON, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sightings_camera_id_start", "sightings", ["camera_id", "start"])
    op.create_index("ix_sightings_start", "sightings", ["start"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("tracker_id", sa.Integer, nullable=True),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("box", sa.JSON, nullable=True),
        sa.Column("acknowledged", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_alerts_timestamp", "alerts", ["timestamp"])

    op.create_table(
        "camera_health",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("last_frame_at", sa.Float, nullable=True),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("reconnects", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )

    op.create_table(
        "camera_health_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_camera_health_events_camera_id_at", "camera_health_events", ["camera_id", "at"])


def downgrade() -> None:
    op.drop_table("camera_health_events")
    op.drop_table("camera_health")
    op.drop_table("alerts")
    op.drop_table("sightings")
