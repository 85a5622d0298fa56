"""`RecordingIndex`: recorded segments, gaps and evidence holds, in the store's database.

The tables come with migration ``0003``; they are declared here (``recordings_metadata``)
rather than in `vigil.infra.db.tables` so this module can land without touching the store.
Segment paths are stored as given (absolute, or relative to the recording root).

A *hold* protects every segment of a camera overlapping its span (a case, an evidence
export): retention and disk pressure never delete held segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from vigil.infra.db.store import _BEGIN_OPTION, Store, retry_locked

recordings_metadata = sa.MetaData()

recording_segments = sa.Table(
    "recording_segments",
    recordings_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("path", sa.String(512), nullable=False, unique=True),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("packets", sa.Integer, nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_recording_segments_camera_id_start", "camera_id", "start"),
    sa.Index("ix_recording_segments_start", "start"),
)

recording_gaps = sa.Table(
    "recording_gaps",
    recordings_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_recording_gaps_camera_id_start", "camera_id", "start"),
)

recording_holds = sa.Table(
    "recording_holds",
    recordings_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("reference", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_recording_holds_camera_id_start", "camera_id", "start"),
)

CONTINUOUS = "continuous"
EVENT = "event"


class _SegmentLike(Protocol):
    @property
    def camera_id(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def size(self) -> int: ...
    @property
    def packets(self) -> int: ...


class _GapLike(Protocol):
    @property
    def camera_id(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class SegmentRecord:
    """One indexed segment file."""

    id: int
    camera_id: str
    path: Path
    start: float
    end: float
    size: int
    packets: int
    tier: str


@dataclass(frozen=True)
class GapRecord:
    """A span a camera was not recorded, and why."""

    camera_id: str
    start: float
    end: float
    reason: str


class RecordingIndex:
    """Segments, gaps and holds by camera and time. Thread-safe like `Store`.

    Args:
        engine: The store's engine (`RecordingIndex.for_store`), migrated to 0003 or later.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> RecordingIndex:
        """The index in an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    # -- writes ------------------------------------------------------------------------------

    def add_segments(self, segments: Sequence[_SegmentLike]) -> None:
        """Index closed segments (one transaction); a path already indexed is left as it is.

        Recovery after a crash may offer a segment again; that must not fail its batch.
        """
        if not segments:
            return
        now = time.time()
        rows = [
            {
                "camera_id": s.camera_id, "path": str(s.path), "start": s.start, "end": s.end,
                "size": s.size, "packets": s.packets, "tier": CONTINUOUS, "created_at": now,
            }
            for s in segments
        ]  # fmt: skip
        self._write(lambda conn: conn.execute(self._insert_new(), rows), "recording segments")

    def _insert_new(self) -> sa.Insert:
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(recording_segments).on_conflict_do_nothing(index_elements=["path"])
        return sqlite.insert(recording_segments).on_conflict_do_nothing(index_elements=["path"])

    def _write(self, statement: Callable[[sa.Connection], sa.CursorResult[Any]], what: str) -> int:
        """One write transaction, retried while another process holds the database locked."""

        def write() -> int:
            with self._writer.begin() as conn:
                return int(statement(conn).rowcount or 0)

        return retry_locked(write, what)

    def add_gaps(self, gaps: Sequence[_GapLike]) -> None:
        """Record spans without recording."""
        if not gaps:
            return
        rows = [{"camera_id": g.camera_id, "start": g.start, "end": g.end, "reason": g.reason} for g in gaps]
        self._write(lambda conn: conn.execute(recording_gaps.insert(), rows), "recording gaps")

    def mark_event(self, camera_id: str, start: float, end: float) -> int:
        """Move segments overlapping an event to the event tier (longer retention). Returns how many."""
        t = recording_segments.c
        with self._writer.begin() as conn:
            result = conn.execute(
                recording_segments.update()
                .where(t.camera_id == camera_id, t.start < end, t.end > start)
                .values(tier=EVENT)
            )
        return int(result.rowcount or 0)

    def add_hold(self, camera_id: str, start: float, end: float, reference: str) -> None:
        """Protect a camera's recording over a span (a case id, an evidence export id)."""
        if end <= start:
            raise ValueError(f"hold: expected start < end, got {start} .. {end}")
        with self._writer.begin() as conn:
            conn.execute(
                recording_holds.insert().values(
                    camera_id=camera_id, start=start, end=end, reference=reference, created_at=time.time()
                )
            )

    def release_holds(self, reference: str) -> int:
        """Drop every hold with this reference; returns how many."""
        with self._writer.begin() as conn:
            result = conn.execute(recording_holds.delete().where(recording_holds.c.reference == reference))
        return int(result.rowcount or 0)

    def delete_segments(self, ids: Sequence[int]) -> None:
        """Remove index rows (the caller deletes the files)."""
        if ids:
            query = recording_segments.delete().where(recording_segments.c.id.in_(list(ids)))
            self._write(lambda conn: conn.execute(query), "segment deletions")

    # -- reads -------------------------------------------------------------------------------

    def segments(self, camera_id: str, start: float, end: float) -> list[SegmentRecord]:
        """Segments of a camera overlapping [start, end), oldest first."""
        t = recording_segments.c
        query = (
            sa.select(recording_segments)
            .where(t.camera_id == camera_id, t.start < end, t.end > start)
            .order_by(t.start)
        )
        with self._engine.connect() as conn:
            return [_segment(row) for row in conn.execute(query).mappings()]

    def gaps(self, camera_id: str, start: float, end: float) -> list[GapRecord]:
        """Recorded gaps of a camera overlapping [start, end), oldest first."""
        t = recording_gaps.c
        query = (
            sa.select(recording_gaps)
            .where(t.camera_id == camera_id, t.start < end, t.end > start)
            .order_by(t.start)
        )
        with self._engine.connect() as conn:
            return [
                GapRecord(r["camera_id"], r["start"], r["end"], r["reason"])
                for r in conn.execute(query).mappings()
            ]

    def extent(self, camera_id: str) -> tuple[float, float] | None:
        """(first start, last end) of a camera's recording, or None if it has none."""
        t = recording_segments.c
        query = sa.select(sa.func.min(t.start), sa.func.max(t.end)).where(t.camera_id == camera_id)
        with self._engine.connect() as conn:
            first, last = conn.execute(query).one()
        return None if first is None else (float(first), float(last))

    def unprotected_oldest(
        self, limit: int, *, before: float | None = None, tier: str | None = None
    ) -> list[SegmentRecord]:
        """The oldest segments not overlapping any hold of their camera (deletion candidates).

        Args:
            limit: At most this many.
            before: Only segments ending before this time.
            tier: Only this tier.
        """
        s, h = recording_segments.c, recording_holds.c
        held = sa.exists().where(h.camera_id == s.camera_id, h.start < s.end, h.end > s.start)
        query = sa.select(recording_segments).where(~held)
        if before is not None:
            query = query.where(s.end < before)
        if tier is not None:
            query = query.where(s.tier == tier)
        query = query.order_by(s.start).limit(limit)
        with self._engine.connect() as conn:
            return [_segment(row) for row in conn.execute(query).mappings()]

    def total_size(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(recording_segments.c.size), 0))
                ).scalar_one()
            )


def _segment(row: sa.RowMapping) -> SegmentRecord:
    return SegmentRecord(
        id=row["id"], camera_id=row["camera_id"], path=Path(row["path"]), start=row["start"], end=row["end"],
        size=row["size"], packets=row["packets"], tier=row["tier"],
    )  # fmt: skip
