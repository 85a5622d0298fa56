"""Alert triage: each alert's state (new / acknowledged / resolved) and assignee, and its history.

An alert without a triage row is ``new``; nothing is backfilled (the old ``alerts.acknowledged``
flag was never set by any release, it is kept in step by the triage store from here on).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_triage",
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id"), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_alert_triage_state", "alert_triage", ["state"])
    op.create_index("ix_alert_triage_assignee", "alert_triage", ["assignee"])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_alert_history_alert_id_at", "alert_history", ["alert_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_alert_history_alert_id_at", table_name="alert_history")
    op.drop_table("alert_history")
    op.drop_index("ix_alert_triage_assignee", table_name="alert_triage")
    op.drop_index("ix_alert_triage_state", table_name="alert_triage")
    op.drop_table("alert_triage")
