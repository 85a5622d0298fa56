"""Sighting search index: named top colours and size cues per sighting, and its vectors apart.

Filled by the search service as sightings arrive; sightings stored before this revision are
indexed by the service on its first searches (`vigil.services.sighting_search`), since
reading their descriptors needs the descriptor format, which the database layer does not know.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sighting_search",
        sa.Column("sighting_id", sa.String(64), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("upper", sa.String(128), nullable=False),
        sa.Column("lower", sa.String(128), nullable=False),
        sa.Column("height_px", sa.Float, nullable=True),
        sa.Column("foot_y", sa.Float, nullable=True),
    )
    op.create_index("ix_sighting_search_start_id", "sighting_search", ["start", "sighting_id"])
    op.create_index("ix_sighting_search_camera_id_start", "sighting_search", ["camera_id", "start"])
    op.create_table(
        "sighting_vectors",
        sa.Column("sighting_id", sa.String(64), primary_key=True),
        sa.Column("appearance", sa.LargeBinary, nullable=False),
        sa.Column("colours", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sighting_vectors")
    op.drop_index("ix_sighting_search_camera_id_start", table_name="sighting_search")
    op.drop_index("ix_sighting_search_start_id", table_name="sighting_search")
    op.drop_table("sighting_search")
