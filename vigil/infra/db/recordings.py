"""`RecordingIndex`: recorded segments, gaps and evidence holds, in the store's database.

The tables come with migration ``0003``; they are declared here (``recordings_metadata``)
rather than in `vigil.infra.db.tables` so this module can land without touching the store.
Segment paths are stored as given (absolute, or relative to the recording root).

A *hold* protects every segment of a camera overlapping its span (a case, an evidence
export, a legal hold): retention and disk pressure never delete held segments. A hold on camera
`ALL_CAMERAS` (``*``) protects every camera's segments over its span (a legal hold on a case).

An *event span* (migration ``0010``) is the minute around an alert: segments overlapping it are
kept at the event tier, including the segment still being written when the alert fired and
those of the 30 s after it, which are indexed later and take the tier as they are indexed.
The ``legal_holds`` table (same migration) is read and written by `vigil.infra.db.holds`.

A *remote* segment (migration ``0012``) was recorded by an edge node and announced on the bus
(`add_remote_segments`): its row names the node and the URL to fetch it from, and its ``path``
is where this node keeps the fetched copy. With a fetcher (`Store.segment_fetch`, set by the
central runtime), `segments` brings the copies of the remote segments it returns here first,
so a clip, a back-scan or a backtest over them reads local files like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from vigil.core.types import RecordedSegment
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
    sa.Column("node", sa.String(64), nullable=True),
    sa.Column("source_url", sa.String(1024), nullable=True),
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

legal_holds = sa.Table(
    "legal_holds",
    recordings_metadata,
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
    sa.Index("ix_legal_holds_case_id", "case_id"),
)

recording_event_spans = sa.Table(
    "recording_event_spans",
    recordings_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Index("ix_recording_event_spans_camera_id_start", "camera_id", "start"),
)

CONTINUOUS = "continuous"
EVENT = "event"
ALL_CAMERAS = "*"
"""The camera id of a hold over every camera (no configured camera id can be ``*``)."""

Span = tuple[float, float]
"""(start, end) in epoch seconds."""


class SegmentLike(Protocol):
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


class GapLike(Protocol):
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
    node: str | None = None
    """The edge node that recorded it; None for this node's own recording."""
    source_url: str | None = None
    """Where its file is fetched from (remote segments served by their node)."""


SegmentFetch = Callable[[Sequence[SegmentRecord]], None]
"""Brings the files of remote segments here (`vigil.infra.segment_server.EdgeSegmentFetcher`);
raises `vigil.core.errors.EdgeRecordingError` when one cannot be fetched."""


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
        fetch: Brings remote segments' files here before `segments` returns them (None: never;
            their rows are returned as they are).
    """

    def __init__(self, engine: sa.Engine, fetch: SegmentFetch | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._fetch = fetch

    @classmethod
    def for_store(cls, store: Store) -> RecordingIndex:
        """The index in an open store's database (same engine, same pool, its segment fetcher)."""
        return cls(store._engine, store.segment_fetch)  # noqa: SLF001 - the store owns the one engine

    # -- writes ------------------------------------------------------------------------------

    def add_segments(self, segments: Sequence[SegmentLike]) -> None:
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
        self._insert_rows(rows)

    def add_remote_segments(self, segments: Sequence[RecordedSegment], cache: Path) -> None:
        """Index segments edge nodes recorded (one transaction); one indexed already is left as it is.

        Args:
            segments: As announced on the ``segments`` topic.
            cache: Where fetched copies go: ``<cache>/<node>/<path on the node>``.
        """
        if not segments:
            return
        now = time.time()
        rows = [
            {
                "camera_id": s.camera_id, "path": str(cache / s.node / s.path), "start": s.start,
                "end": s.end, "size": s.size, "packets": s.packets, "tier": CONTINUOUS, "created_at": now,
                "node": s.node, "source_url": s.url,
            }
            for s in segments
        ]  # fmt: skip
        self._insert_rows(rows)

    def _insert_rows(self, rows: list[dict[str, Any]]) -> None:
        paths = [row["path"] for row in rows]

        def insert(conn: sa.Connection) -> sa.CursorResult[Any]:
            result = conn.execute(self._insert_new(), rows)
            # One transaction with the insert: an alert's `mark_event` lands before or after it, whole.
            conn.execute(
                recording_segments.update()
                .where(recording_segments.c.path.in_(paths), _overlaps_event_span())
                .values(tier=EVENT)
            )
            return result

        self._write(insert, "recording segments")

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

    def add_gaps(self, gaps: Sequence[GapLike]) -> None:
        """Record spans without recording; a gap already recorded (same camera and span) is skipped.

        The bus delivers at least once, so an edge node's gap can arrive twice.
        """
        if not gaps:
            return
        rows = [{"camera_id": g.camera_id, "start": g.start, "end": g.end, "reason": g.reason} for g in gaps]

        def insert() -> None:
            with self._writer.begin() as conn:
                _insert_new_gaps(conn, rows)

        retry_locked(insert, "recording gaps")

    def mark_event(self, camera_id: str, start: float, end: float) -> int:
        """Keep a camera's recording over an event's span at the event tier (longer retention).

        Segments indexed now move to the event tier; the span is kept too, so the segment still
        being written and those after it (up to `end`) take the event tier when `add_segments`
        indexes them. Returns how many indexed segments moved.
        """
        t = recording_segments.c

        def mark(conn: sa.Connection) -> sa.CursorResult[Any]:
            conn.execute(recording_event_spans.insert().values(camera_id=camera_id, start=start, end=end))
            return conn.execute(
                recording_segments.update()
                .where(t.camera_id == camera_id, t.start < end, t.end > start)
                .values(tier=EVENT)
            )

        return self._write(mark, "event span")

    def forget_event_spans(self, before: float) -> int:
        """Drop event spans that ended before `before` (their segments are long indexed). Returns how many."""
        query = recording_event_spans.delete().where(recording_event_spans.c.end < before)
        return self._write(lambda conn: conn.execute(query), "event span expiry")

    def add_hold(self, camera_id: str, start: float, end: float, reference: str) -> None:
        """Protect a camera's recording (`ALL_CAMERAS`: every camera's) over a span (a case, an export)."""
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

    def segments(
        self, camera_id: str, start: float, end: float, *, fetch: bool = True
    ) -> list[SegmentRecord]:
        """Segments of a camera overlapping [start, end), oldest first; remote ones fetched here.

        ``fetch=False`` returns the rows as they are (asking only what is recorded, not reading it).

        Raises:
            EdgeRecordingError: A remote segment's file is not here and cannot be fetched now.
        """
        t = recording_segments.c
        query = (
            sa.select(recording_segments)
            .where(t.camera_id == camera_id, t.start < end, t.end > start)
            .order_by(t.start)
        )
        with self._engine.connect() as conn:
            found = [_segment(row) for row in conn.execute(query).mappings()]
        if fetch and self._fetch is not None and any(s.node is not None for s in found):
            self._fetch(found)
        return found

    def held_remote(self, limit: int) -> list[SegmentRecord]:
        """Segments edge nodes hold that overlap a hold here (an export, a legal hold, a job), oldest first.

        Central keeps its own copy of these (`bring_here`): the hold is placed here, and the
        edge's own retention does not know of it.
        """
        s, h = recording_segments.c, recording_holds.c
        held = sa.exists().where(
            sa.or_(h.camera_id == s.camera_id, h.camera_id == ALL_CAMERAS), h.start < s.end, h.end > s.start
        )
        query = sa.select(recording_segments).where(s.node.is_not(None), held).order_by(s.start).limit(limit)
        with self._engine.connect() as conn:
            return [_segment(row) for row in conn.execute(query).mappings()]

    def bring_here(self, segments: Sequence[SegmentRecord]) -> None:
        """Fetch the files of remote segments not here yet (nothing without a fetcher).

        Raises:
            EdgeRecordingError: One cannot be fetched now.
        """
        if self._fetch is not None:
            self._fetch(segments)

    def segment_at(self, path: str | Path) -> SegmentRecord | None:
        """The indexed segment stored at `path` (exactly as stored), or None."""
        query = sa.select(recording_segments).where(recording_segments.c.path == str(path))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _segment(row)

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
        self,
        limit: int,
        *,
        before: float | None = None,
        tier: str | None = None,
        cameras: Sequence[str] | None = None,
        exclude_cameras: Sequence[str] = (),
        spared: Sequence[Span] = (),
        local_only: bool = False,
    ) -> list[SegmentRecord]:
        """The oldest segments not overlapping any hold of their camera (deletion candidates).

        Args:
            limit: At most this many.
            before: Only segments ending before this time.
            tier: Only this tier.
            cameras: Only these cameras (None: every camera).
            exclude_cameras: Not these cameras (they have a retention of their own).
            spared: Spans whose segments on every camera are left out too (open cases' windows).
            local_only: Only segments recorded here, not those edge nodes hold (deleting their
                rows would free no disk here).
        """
        s, h = recording_segments.c, recording_holds.c
        held = sa.exists().where(
            sa.or_(h.camera_id == s.camera_id, h.camera_id == ALL_CAMERAS), h.start < s.end, h.end > s.start
        )
        query = sa.select(recording_segments).where(~held, *_filters(before, tier, cameras, exclude_cameras))
        for start, end in spared:
            query = query.where(~sa.and_(s.start < end, s.end > start))
        if local_only:
            query = query.where(s.node.is_(None))
        query = query.order_by(s.start).limit(limit)
        with self._engine.connect() as conn:
            return [_segment(row) for row in conn.execute(query).mappings()]

    def count(
        self,
        *,
        before: float | None = None,
        tier: str | None = None,
        cameras: Sequence[str] | None = None,
        exclude_cameras: Sequence[str] = (),
    ) -> int:
        """Segments matching the filters of `unprotected_oldest`, held or not."""
        query = sa.select(sa.func.count()).select_from(recording_segments)
        query = query.where(*_filters(before, tier, cameras, exclude_cameras))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

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
        size=row["size"], packets=row["packets"], tier=row["tier"], node=row["node"],
        source_url=row["source_url"],
    )  # fmt: skip


def _filters(
    before: float | None, tier: str | None, cameras: Sequence[str] | None, exclude: Sequence[str]
) -> list[sa.ColumnElement[bool]]:
    s = recording_segments.c
    where: list[sa.ColumnElement[bool]] = []
    if before is not None:
        where.append(s.end < before)
    if tier is not None:
        where.append(s.tier == tier)
    if cameras is not None:
        where.append(s.camera_id.in_(list(cameras)))
    if exclude:
        where.append(s.camera_id.not_in(list(exclude)))
    return where


def _overlaps_event_span() -> sa.Exists:
    s, e = recording_segments.c, recording_event_spans.c
    return sa.exists().where(e.camera_id == s.camera_id, e.start < s.end, e.end > s.start)


def _insert_new_gaps(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the gap rows not yet in the table (same camera, start and end), each once."""
    t = recording_gaps.c
    fresh = list({(r["camera_id"], r["start"], r["end"]): r for r in rows}.values())
    seen = {
        tuple(key)
        for r in fresh
        for key in conn.execute(
            sa.select(t.camera_id, t.start, t.end).where(
                t.camera_id == r["camera_id"], t.start == r["start"], t.end == r["end"]
            )
        )
    }
    fresh = [r for r in fresh if (r["camera_id"], r["start"], r["end"]) not in seen]
    if fresh:
        conn.execute(recording_gaps.insert(), fresh)
