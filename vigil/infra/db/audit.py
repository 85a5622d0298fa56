"""The audit log as a hash chain: every row carries the hash of the row before it.

A row's hash is SHA-256 over a canonical encoding of the row (`canonical_row`: id, time, user,
action, case, reason, detail, previous hash) and the previous row's hash is stored with it, so
editing, deleting or inserting a row breaks the chain at that row. `append_audit` is the one
way a row is written: inside a write transaction that first takes the database's write lock
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE``), reads the head, and writes the next id
and hash, so two writers never fork the chain; a unique index on ``prev_hash`` refuses a fork at
the database too. `verify_chain` walks the rows in id order and names the first broken one.

What a chain cannot prove by itself: that the newest rows were not cut off, or that someone with
write access did not recompute every hash after theirs. Both are caught against a head recorded
elsewhere (`verify_chain(expect_head=...)`): `vigil audit verify` prints the head, and every
signed evidence manifest carries the head at export time.

Rows that existed before the chain (migration ``0009``) were chained as found at migration
time, followed by an ``audit.chain_started`` row when there were any. Gaps in the ids of those
old rows are not breaks: only a row whose link or hash does not match is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

audit_metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log",
    audit_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("user", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_case_id_at", "case_id", "at"),
    sa.Index("ux_audit_log_prev_hash", "prev_hash", unique=True),
)

GENESIS_HASH = "0" * 64
"""The previous hash of the first row."""

CHAIN_STARTED = "audit.chain_started"
"""The action of the row migration ``0009`` appends after chaining the rows it found."""

_RENUMBER_PROBE = 16
"""How many deleted-and-renumbered rows the verifier tries to recognise before saying 'edited'."""


@dataclass(frozen=True)
class ChainHead:
    """The newest row of the chain: its id and hash (``id`` 0 and the genesis hash when empty)."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read ``ID:HASH`` as `__str__` writes it.

        Raises:
            ValueError: Not ``<integer>:<64 hex digits>``.
        """
        ident, _, digest = text.partition(":")
        if not ident.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"audit head: expected ID:SHA256 (e.g. 42:{GENESIS_HASH[:8]}...), got {text!r}")
        return cls(int(ident), digest)


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain is broken: the row it names, what kind of change, and why."""

    row_id: int
    kind: str
    """``edited``, ``deleted``, ``inserted`` or ``truncated``."""
    message: str


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found: rows checked, the head, and the first problem if any."""

    rows: int
    head: ChainHead
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def canonical_row(row: Mapping[Any, Any], prev_hash: str) -> bytes:
    """The bytes a row's hash is taken over: a compact JSON array, keys sorted, UTF-8.

    Args:
        row: ``id``, ``at``, ``user``, ``action``, ``case_id``, ``reason``, ``detail``.
        prev_hash: The previous row's hash (hex).
    """
    fields = [
        int(row["id"]),
        float(row["at"]),
        row["user"],
        row["action"],
        row["case_id"],
        row["reason"],
        row["detail"],
        prev_hash,
    ]
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def row_hash(row: Mapping[Any, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of `canonical_row`."""
    return hashlib.sha256(canonical_row(row, prev_hash)).hexdigest()


def chain_head(conn: sa.Connection) -> ChainHead:
    """The newest row's id and hash, read on `conn` (inside the caller's transaction)."""
    row = conn.execute(
        sa.select(audit_log.c.id, audit_log.c.row_hash).order_by(audit_log.c.id.desc()).limit(1)
    ).first()
    return ChainHead(0, GENESIS_HASH) if row is None else ChainHead(int(row[0]), str(row[1]))


def append_audit(
    conn: sa.Connection,
    *,
    at: float,
    user: str,
    action: str,
    case_id: str | None,
    reason: str,
    detail: Mapping[str, Any],
) -> ChainHead:
    """Append one row to the chain on `conn`, which must be inside a write transaction.

    On SQLite the caller's transaction must have begun ``IMMEDIATE`` (the store's writer
    engine does) so the head read here cannot change before the insert; on PostgreSQL the
    table is locked here. Either way a concurrent fork fails the unique ``prev_hash`` index.

    Returns:
        The new head.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    head = chain_head(conn)
    # Stored as JSON and read back: hash what a reader will see (tuples become lists, etc.).
    values = {
        "id": head.id + 1,
        "at": float(at),
        "user": user,
        "action": action,
        "case_id": case_id,
        "reason": reason,
        "detail": json.loads(json.dumps(dict(detail))),
    }
    digest = row_hash(values, head.hash)
    conn.execute(audit_log.insert().values(**values, prev_hash=head.hash, row_hash=digest))
    return ChainHead(head.id + 1, digest)


def verify_chain(engine: sa.Engine, *, expect_head: ChainHead | None = None) -> ChainReport:
    """Walk the audit log in id order and report the first edited, deleted or inserted row.

    Args:
        engine: The site database.
        expect_head: A head recorded earlier (printed by a previous verify, or in a signed
            evidence manifest): that row must still be there with that hash, which catches a
            cut-off tail and a chain recomputed from scratch.
    """
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()
        report = walk_chain(rows)
    if report.problem is None and expect_head is not None:
        problem = _check_expected_head(engine, expect_head, report.head)
        report = ChainReport(report.rows, report.head, problem)
    return report


def walk_chain(rows: Iterable[Mapping[Any, Any]]) -> ChainReport:
    """`verify_chain` over rows already read (id order)."""
    before: list[Mapping[Any, Any]] = []  # the last two rows, oldest first
    count = 0
    for row in rows:
        count += 1
        problem = _check_row(row, before)
        if problem is not None:
            return ChainReport(count, _head(before), problem)
        before = [*before[-1:], row]
    return ChainReport(count, _head(before), None)


def _head(before: list[Mapping[Any, Any]]) -> ChainHead:
    if not before:
        return ChainHead(0, GENESIS_HASH)
    return ChainHead(int(before[-1]["id"]), str(before[-1]["row_hash"]))


def _check_row(row: Mapping[Any, Any], before: list[Mapping[Any, Any]]) -> ChainProblem | None:
    ident = int(row["id"])
    previous = before[-1] if before else None
    linked_to = GENESIS_HASH if previous is None else str(previous["row_hash"])
    if row["prev_hash"] == linked_to:
        if row_hash(row, str(row["prev_hash"])) != row["row_hash"]:
            return ChainProblem(
                ident, "edited", f"row {ident} was edited: its content no longer matches its hash"
            )
        return None
    return _broken_link(row, before)


def _broken_link(row: Mapping[Any, Any], before: list[Mapping[Any, Any]]) -> ChainProblem:
    """Name what a row that does not point at its predecessor tells us."""
    ident = int(row["id"])
    previous = before[-1] if before else None
    prev_id = 0 if previous is None else int(previous["id"])
    two_back = GENESIS_HASH if len(before) < 2 else str(before[0]["row_hash"])
    if ident > prev_id + 1:
        missing = str(prev_id + 1) if ident == prev_id + 2 else f"{prev_id + 1}..{ident - 1}"
        return ChainProblem(
            prev_id + 1, "deleted", f"row {missing} was deleted: row {ident} points at a row that is gone"
        )
    if previous is not None and row["prev_hash"] == two_back:
        return ChainProblem(
            prev_id, "inserted", f"row {prev_id} was inserted: row {ident} points at the row before it"
        )
    own_hash_ok = row_hash(row, str(row["prev_hash"])) == row["row_hash"]
    if previous is not None and own_hash_ok:
        return ChainProblem(
            prev_id,
            "edited",
            f"row {prev_id} was edited and its hash rewritten: row {ident} still holds the original hash",
        )
    for shift in range(1, _RENUMBER_PROBE + 1):
        if row_hash({**row, "id": ident + shift}, str(row["prev_hash"])) == row["row_hash"]:
            return ChainProblem(
                ident,
                "deleted",
                f"{shift} row(s) before row {ident} were deleted and the later rows renumbered",
            )
    return ChainProblem(
        ident, "inserted", f"row {ident} was inserted or rewritten: neither its link nor its hash matches"
    )


def _check_expected_head(engine: sa.Engine, expected: ChainHead, head: ChainHead) -> ChainProblem | None:
    if expected.id > head.id:
        return ChainProblem(
            head.id + 1,
            "truncated",
            f"rows {head.id + 1}..{expected.id} were deleted: the log ends at row {head.id}, "
            f"but it reached row {expected.id} when the head was recorded",
        )
    if expected.id == 0:  # recorded when the log was empty: nothing to have kept
        stored: str | None = GENESIS_HASH
    else:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(audit_log.c.row_hash).where(audit_log.c.id == expected.id)
            ).scalar()
    if stored != expected.hash:
        return ChainProblem(
            expected.id,
            "edited",
            f"row {expected.id} does not hold the recorded head hash: the chain up to it was rewritten",
        )
    return None
