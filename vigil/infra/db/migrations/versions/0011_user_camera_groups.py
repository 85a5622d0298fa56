"""Camera scope: a user may be limited to some camera groups.

``users.camera_groups``: NULL (the default, every existing user) sees every camera; a JSON list
of group names (`config.models.CameraConfig.group`) limits the user to the cameras of those
groups on every API route. Admins are never limited.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("camera_groups", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("camera_groups")
