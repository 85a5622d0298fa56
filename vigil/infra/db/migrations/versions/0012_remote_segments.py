"""Segments recorded on edge nodes, indexed centrally.

``recording_segments.node``: NULL for a segment recorded by this process's own ingest; the
edge node's name for one announced on the ``segments`` topic (`vigil.roles.CentralConsumer`).
``recording_segments.source_url``: where central fetches that segment from its edge node's
segment server (`vigil.infra.segment_server`); NULL when the node serves none. The ``path`` of
a remote segment is where central keeps its fetched copy.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.add_column(sa.Column("node", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source_url", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.drop_column("source_url")
        batch.drop_column("node")
