"""`SearchIndex`: one narrow row per sighting, so colour, size and similarity searches stay fast.

A sighting's descriptor is a JSON list of about 850 floats; reading 100,000 of them back to
filter by a clothing colour takes minutes. The index keeps what searches read, per sighting:
its named top colours as text (``",red,blue,"``) and the box height and foot row its size
is judged by (``sighting_search``, about 100 bytes a row, so a filter scan stays short), and
apart from those its appearance vector and colour fractions as float16 bytes
(``sighting_vectors``, read only by "similar"). Rows are filled by the search service
(`vigil.services.sighting_search`), which knows the descriptor format; this module stores
plain values only.

The tables come with migration ``0006``; like `vigil.infra.db.cases` they are declared here
(``search_metadata``). They have no foreign key: a row may be written before or after its
sighting, and `SearchIndex.unindexed` finds the sightings that have none yet.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigil.core.types import Sighting
from vigil.infra.db import tables
from vigil.infra.db.store import _BEGIN_OPTION, RECORD_ROWS, Store, retry_locked

search_metadata = sa.MetaData()

sighting_search = sa.Table(
    "sighting_search",
    search_metadata,
    sa.Column("sighting_id", sa.String(64), primary_key=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    # Named top colours between commas (",red,blue,"), "" when none or no descriptor.
    sa.Column("upper", sa.String(128), nullable=False),
    sa.Column("lower", sa.String(128), nullable=False),
    sa.Column("height_px", sa.Float, nullable=True),
    sa.Column("foot_y", sa.Float, nullable=True),
    # (start, sighting_id) is the searches' order: walked backwards, no sort, early stop.
    sa.Index("ix_sighting_search_start_id", "start", "sighting_id"),
    sa.Index("ix_sighting_search_camera_id_start", "camera_id", "start"),
)

# Vectors apart from the filter columns: a filter scan then reads ~100 bytes a row, not ~2 KB.
sighting_vectors = sa.Table(
    "sighting_vectors",
    search_metadata,
    sa.Column("sighting_id", sa.String(64), primary_key=True),
    # float16 bytes: the appearance vector, and the upper then lower colour fractions.
    sa.Column("appearance", sa.LargeBinary, nullable=False),
    sa.Column("colours", sa.LargeBinary, nullable=False),
)

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SearchRow:
    """What searches read of one sighting.

    Attributes:
        sighting_id / camera_id / start / end: As in the sighting.
        upper / lower: Named top colours of torso and legs, strongest first.
        height_px / foot_y: Box height and bottom row in pixels; None without a descriptor.
        appearance: Appearance vector (D,), or None without a descriptor.
        colours: Upper then lower colour fractions (2C,), or None without a descriptor.
    """

    sighting_id: str
    camera_id: str
    start: float
    end: float
    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    height_px: float | None = None
    foot_y: float | None = None
    appearance: Floats | None = None
    colours: Floats | None = None


@dataclass(frozen=True)
class VectorBlock:
    """Vectors of many sightings, row i of each matrix being sighting i.

    Attributes:
        sighting_ids / camera_ids: Per row.
        appearance: (N, D) float32.
        colours: (N, 2C) float32, upper then lower colour fractions.
    """

    sighting_ids: list[str]
    camera_ids: list[str]
    appearance: Floats
    colours: Floats

    def __len__(self) -> int:
        return len(self.sighting_ids)


@dataclass(frozen=True)
class SizeRow:
    """One sighting's size cues, for fitting and applying a camera's size model."""

    sighting_id: str
    camera_id: str
    height_px: float
    foot_y: float


@dataclass(frozen=True)
class HeightLine:
    """The usual person height on one camera at foot row y: ``max(1, a + b * y)`` pixels."""

    camera_id: str
    a: float
    b: float


@dataclass(frozen=True)
class SizeFilter:
    """Rows shorter (or not shorter) than `ratio` times the usual height at their foot row.

    Rows of cameras without a line, or without size cues, never match.

    Attributes:
        lines: One height line per camera.
        ratio: Threshold on height over usual height.
        below: True keeps the rows below the ratio, False those at or above it.
    """

    lines: tuple[HeightLine, ...]
    ratio: float
    below: bool


class SearchIndex:
    """The search rows on the store's engine. Thread-safe like `Store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> SearchIndex:
        """The search index of an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    def add(self, rows: Sequence[SearchRow]) -> int:
        """Store rows, skipping sightings already indexed; returns how many went in."""
        if not rows:
            return 0
        filters = [_to_db(row) for row in rows]
        vectors = [
            {
                "sighting_id": row.sighting_id,
                "appearance": row.appearance.astype(np.float16).tobytes(),
                "colours": row.colours.astype(np.float16).tobytes(),
            }
            for row in rows
            if row.appearance is not None and row.colours is not None
        ]

        def write() -> int:
            with self._writer.begin() as conn:
                added = int(conn.execute(self._insert_ignore(sighting_search), filters).rowcount)
                if vectors:
                    conn.execute(self._insert_ignore(sighting_vectors), vectors)
                return added

        return retry_locked(write, sighting_search.name)

    def _insert_ignore(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=["sighting_id"])
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["sighting_id"])

    def unindexed(self, limit: int) -> list[Sighting]:
        """Up to `limit` stored sightings that have no search row yet (any order)."""
        table = tables.sightings
        missing = ~sa.exists().where(sighting_search.c.sighting_id == table.c.id)
        with self._engine.begin() as conn:
            # Ids first: that scan reads the id index only, not the wide descriptor rows.
            ids = list(conn.execute(sa.select(table.c.id).where(missing).limit(limit)).scalars())
            rows = conn.execute(sa.select(table).where(table.c.id.in_(ids))).mappings().all() if ids else []
        convert = RECORD_ROWS[Sighting]
        return [convert.from_row(row) for row in rows]

    def count_unindexed(self) -> int:
        """How many stored sightings have no search row yet."""
        table = tables.sightings
        missing = ~sa.exists().where(sighting_search.c.sighting_id == table.c.id)
        with self._engine.begin() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(missing)).scalar_one()
            )

    def behind(self) -> bool:
        """True when the sightings table holds more rows than the index (cheap: two counts).

        Sightings are never deleted without their index rows, so equal counts mean nothing
        is left to index.
        """
        with self._engine.begin() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(tables.sightings)).scalar_one()
            indexed = conn.execute(sa.select(sa.func.count()).select_from(sighting_search)).scalar_one()
        return int(stored) > int(indexed)

    def find(
        self,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        upper: Sequence[str] = (),
        lower: Sequence[str] = (),
        size: SizeFilter | None = None,
        exclude: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        cameras: Collection[str] | None = None,
    ) -> list[SearchRow]:
        """Rows newest first (by start, then id, both descending) matching every filter.

        Args:
            camera_id: Only this camera.
            start / end: Epoch seconds; a row matches when its [start, end] overlaps the range.
            upper / lower: The row's top colours include at least one of these names
                (an empty list does not filter).
            size: Only rows of this size.
            exclude: Leave out this sighting id.
            limit / offset: Page of the ordered rows; limit None for all.
            cameras: Only rows of these cameras (a caller's camera scope, `api.scope`); None for
                every camera. Applied in SQL, before the page is cut.

        Returns:
            The rows, without vectors (`vectors` reads those).
        """
        table = sighting_search
        query = _filtered(sa.select(table), camera_id, start, end, upper, lower, size, cameras)
        if exclude is not None:
            query = query.where(table.c.sighting_id != exclude)
        query = query.order_by(table.c.start.desc(), table.c.sighting_id.desc())
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._engine.begin() as conn:
            return [_from_db(row) for row in conn.execute(query).mappings()]

    def count(
        self,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        upper: Sequence[str] = (),
        lower: Sequence[str] = (),
        size: SizeFilter | None = None,
        cameras: Collection[str] | None = None,
    ) -> int:
        """How many rows `find` would return with the same filters and no limit."""
        query = _filtered(
            sa.select(sa.func.count()).select_from(sighting_search),
            camera_id,
            start,
            end,
            upper,
            lower,
            size,
            cameras,
        )
        with self._engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def cameras(self) -> list[str]:
        """Every camera id with indexed sightings."""
        query = sa.select(sighting_search.c.camera_id).distinct().order_by(sighting_search.c.camera_id)
        with self._engine.begin() as conn:
            return [str(c) for c in conn.execute(query).scalars()]

    def vectors(
        self,
        dim: int,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        exclude: str | None = None,
        limit: int | None = None,
        cameras: Collection[str] | None = None,
    ) -> VectorBlock:
        """The appearance and colour vectors of the newest rows matching the filters, as matrices.

        Args:
            dim: Length of the appearance vectors wanted; rows of another length are left out.
            camera_id / start / end: As in `find`.
            exclude: Leave out this sighting id.
            limit: At most this many rows (the newest).
            cameras: As in `find`: only these cameras, before the limit.
        """
        table, vectors = sighting_search, sighting_vectors
        query = _filtered(
            sa.select(table.c.sighting_id, table.c.camera_id, vectors.c.appearance, vectors.c.colours),
            camera_id,
            start,
            end,
            (),
            (),
            None,
            cameras,
        ).join_from(table, vectors, vectors.c.sighting_id == table.c.sighting_id)
        if exclude is not None:
            query = query.where(table.c.sighting_id != exclude)
        query = query.order_by(table.c.start.desc(), table.c.sighting_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._engine.begin() as conn:
            rows = [r for r in conn.execute(query).tuples() if len(r[2]) == 2 * dim]
        # One buffer per matrix: per-row arrays cost more than the database read.
        appearance = np.frombuffer(b"".join(r[2] for r in rows), np.float16).reshape(len(rows), dim)
        # No rows (an empty gallery, e.g. every other sighting outside a caller's scope): (0, 0).
        colours = np.frombuffer(b"".join(r[3] for r in rows), np.float16).reshape(
            len(rows), -1 if rows else 0
        )
        return VectorBlock(
            sighting_ids=[r[0] for r in rows],
            camera_ids=[r[1] for r in rows],
            appearance=appearance.astype(np.float32),
            colours=colours.astype(np.float32),
        )

    def get(self, sighting_ids: Sequence[str]) -> dict[str, SearchRow]:
        """The rows of these sightings (without vectors), by sighting id; missing ids are left out."""
        if not sighting_ids:
            return {}
        table = sighting_search
        query = sa.select(table).where(table.c.sighting_id.in_(list(sighting_ids)))
        with self._engine.begin() as conn:
            return {row["sighting_id"]: _from_db(row) for row in conn.execute(query).mappings()}

    def size_samples(self, camera_ids: Sequence[str], per_camera: int) -> dict[str, list[SizeRow]]:
        """The newest `per_camera` rows with size cues of each camera, by camera id."""
        table = sighting_search
        samples: dict[str, list[SizeRow]] = {}
        with self._engine.begin() as conn:
            for camera_id in camera_ids:
                # One indexed range read per camera (camera_id, start); cheaper than a window function.
                query = (
                    sa.select(table.c.sighting_id, table.c.height_px, table.c.foot_y)
                    .where(table.c.camera_id == camera_id, table.c.height_px.is_not(None))
                    .order_by(table.c.start.desc())
                    .limit(per_camera)
                )
                rows = [SizeRow(r[0], camera_id, float(r[1]), float(r[2])) for r in conn.execute(query)]
                if rows:
                    samples[camera_id] = rows
        return samples


def _filtered(
    query: sa.Select[Any],
    camera_id: str | None,
    start: float | None,
    end: float | None,
    upper: Sequence[str],
    lower: Sequence[str],
    size: SizeFilter | None,
    cameras: Collection[str] | None = None,
) -> sa.Select[Any]:
    """The query on the search rows with every filter applied."""
    table = sighting_search
    if camera_id is not None:
        query = query.where(table.c.camera_id == camera_id)
    if cameras is not None:
        query = query.where(table.c.camera_id.in_(sorted(cameras)))
    if start is not None:
        query = query.where(table.c.end >= start)
    if end is not None:
        query = query.where(table.c.start <= end)
    for column, names in ((table.c.upper, upper), (table.c.lower, lower)):
        if names:
            # Names are the palette's plain words (validated above this layer); bound, not spliced.
            query = query.where(sa.or_(*(column.contains(f",{name},", autoescape=True) for name in names)))
    if size is not None:
        query = _sized(query, size)
    return query


def _sized(query: sa.Select[Any], size: SizeFilter) -> sa.Select[Any]:
    """Joined with the cameras' height lines: one lookup per row, however many cameras."""
    table = sighting_search
    if not size.lines:
        return query.where(sa.false())
    # A UNION ALL of literal rows: SQLite's VALUES cannot name its columns in FROM.
    rows = [
        sa.select(
            sa.literal(line.camera_id, sa.String).label("camera_id"),
            sa.literal(line.a, sa.Float).label("a"),
            sa.literal(line.b, sa.Float).label("b"),
        )
        for line in size.lines
    ]
    lines = sa.union_all(*rows).cte("lines") if len(rows) > 1 else rows[0].cte("lines")
    usual = lines.c.a + lines.c.b * table.c.foot_y
    threshold = size.ratio * sa.case((usual > 1.0, usual), else_=1.0)
    compare = table.c.height_px < threshold if size.below else table.c.height_px >= threshold
    return query.join_from(table, lines, lines.c.camera_id == table.c.camera_id).where(
        table.c.height_px.is_not(None), compare
    )


def _names(names: Sequence[str]) -> str:
    return f",{','.join(names)}," if names else ""


def _to_db(row: SearchRow) -> dict[str, object]:
    return {
        "sighting_id": row.sighting_id,
        "camera_id": row.camera_id,
        "start": float(row.start),
        "end": float(row.end),
        "upper": _names(row.upper),
        "lower": _names(row.lower),
        "height_px": None if row.height_px is None else float(row.height_px),
        "foot_y": None if row.foot_y is None else float(row.foot_y),
    }


def _from_db(row: sa.RowMapping) -> SearchRow:
    return SearchRow(
        sighting_id=row["sighting_id"],
        camera_id=row["camera_id"],
        start=float(row["start"]),
        end=float(row["end"]),
        upper=tuple(n for n in row["upper"].split(",") if n),
        lower=tuple(n for n in row["lower"].split(",") if n),
        height_px=row["height_px"],
        foot_y=row["foot_y"],
    )
