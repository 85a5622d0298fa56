"""Audit log hash chain: every row carries the previous row's hash and its own.

Adds ``prev_hash`` and ``row_hash`` to ``audit_log`` and chains the rows present at migration
time in id order, as found (``vigil.infra.db.audit``: nothing before this migration can be proven
untouched, the chain only proves nothing changed after it). Then appends one
``audit.chain_started`` row saying how many rows were chained, so the start of the chain is itself
on record. A unique index on ``prev_hash`` refuses two rows claiming the same predecessor (a fork).

Downgrade drops the two columns and the index; the ``audit.chain_started`` row stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigil.infra.db.audit import CHAIN_STARTED, GENESIS_HASH, append_audit, row_hash

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("at", sa.Float),
    sa.column("user", sa.String),
    sa.column("action", sa.String),
    sa.column("case_id", sa.String),
    sa.column("reason", sa.Text),
    sa.column("detail", sa.JSON),
    sa.column("prev_hash", sa.String),
    sa.column("row_hash", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    chained = _chain_existing(conn)
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("row_hash", existing_type=sa.String(64), nullable=False)
        batch.create_index("ux_audit_log_prev_hash", ["prev_hash"], unique=True)
    if chained:
        _record_start(conn, chained)


def _record_start(conn: sa.Connection, chained: int) -> None:
    append_audit(
        conn,
        at=time.time(),
        user="vigil",
        action=CHAIN_STARTED,
        case_id=None,
        reason="migration 0009: audit log hash chain",
        detail={"rows_chained": chained},
    )


def _chain_existing(conn: sa.Connection) -> int:
    """Hash every row present now, in id order; returns how many."""
    rows = conn.execute(sa.select(_BEFORE).order_by(_BEFORE.c.id)).mappings().all()
    previous = GENESIS_HASH
    for row in rows:
        digest = row_hash(row, previous)
        conn.execute(
            _BEFORE.update().where(_BEFORE.c.id == row["id"]).values(prev_hash=previous, row_hash=digest)
        )
        previous = digest
    return len(rows)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ux_audit_log_prev_hash")
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
