"""`SearchIndex`: one narrow row per sighting, so colour, size and similarity searches stay fast.

A sighting's descriptor is a JSON list of about 850 floats; reading 100,000 of them back to
filter by a clothing colour takes minutes. The index keeps what searches read, per sighting:
its named top colours as text (``",red,blue,"``), the box height and foot row its size is
judged by, and the appearance vector and colour fractions as float16 bytes. Rows are filled
by the search service (`vigil.services.sighting_search`), which knows the descriptor format;
this module stores plain values only.

The table comes with migration ``0006``; like `vigil.infra.db.cases` it is declared here
(``search_metadata``). It has no foreign key: a row may be written before or after its
sighting, and `SearchIndex.unindexed` finds the sightings that have none yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

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
    # float16 bytes: the appearance vector, and the upper then lower colour fractions.
    sa.Column("appearance", sa.LargeBinary, nullable=True),
    sa.Column("colours", sa.LargeBinary, nullable=True),
    sa.Index("ix_sighting_search_start", "start"),
    sa.Index("ix_sighting_search_camera_id_start", "camera_id", "start"),
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
        values = [_to_db(row) for row in rows]
        insert = sa.insert(sighting_search).prefix_with("OR IGNORE", dialect="sqlite")
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            insert = postgresql.insert(sighting_search).on_conflict_do_nothing(index_elements=["sighting_id"])

        def write() -> int:
            with self._writer.begin() as conn:
                return int(conn.execute(insert, values).rowcount)

        return retry_locked(write, sighting_search.name)

    def unindexed(self, limit: int) -> list[Sighting]:
        """Up to `limit` stored sightings that have no search row yet, oldest first."""
        table = tables.sightings
        missing = ~sa.exists().where(sighting_search.c.sighting_id == table.c.id)
        query = sa.select(table).where(missing).order_by(table.c.start, table.c.id).limit(limit)
        with self._engine.begin() as conn:
            rows = conn.execute(query).mappings().all()
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
        vectors: bool = False,
    ) -> list[SearchRow]:
        """Rows newest first (by start, then id) matching every filter.

        Args:
            camera_id: Only this camera.
            start / end: Epoch seconds; a row matches when its [start, end] overlaps the range.
            upper / lower: The row's top colours include at least one of these names
                (an empty list does not filter).
            size: Only rows of this size.
            exclude: Leave out this sighting id.
            limit / offset: Page of the ordered rows; limit None for all.
            vectors: Also read the appearance and colour vectors (else they are None).
        """
        table = sighting_search
        where = _where(camera_id, start, end, upper, lower, size)
        if exclude is not None:
            where.append(table.c.sighting_id != exclude)
        columns = [c for c in table.c if vectors or c.name not in ("appearance", "colours")]
        query = sa.select(*columns).where(*where).order_by(table.c.start.desc(), table.c.sighting_id)
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
    ) -> int:
        """How many rows `find` would return with the same filters and no limit."""
        where = _where(camera_id, start, end, upper, lower, size)
        query = sa.select(sa.func.count()).select_from(sighting_search).where(*where)
        with self._engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def get(self, sighting_ids: Sequence[str]) -> dict[str, SearchRow]:
        """The rows of these sightings (without vectors), by sighting id; missing ids are left out."""
        if not sighting_ids:
            return {}
        table = sighting_search
        columns = [c for c in table.c if c.name not in ("appearance", "colours")]
        query = sa.select(*columns).where(table.c.sighting_id.in_(list(sighting_ids)))
        with self._engine.begin() as conn:
            return {row["sighting_id"]: _from_db(row) for row in conn.execute(query).mappings()}

    def size_samples(self, camera_ids: Sequence[str] | None, per_camera: int) -> dict[str, list[SizeRow]]:
        """The newest `per_camera` rows with size cues of each camera (None: every camera), by camera id."""
        table = sighting_search
        samples: dict[str, list[SizeRow]] = {}
        with self._engine.begin() as conn:
            if camera_ids is None:
                camera_ids = list(conn.execute(sa.select(table.c.camera_id).distinct()).scalars())
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


def _where(
    camera_id: str | None,
    start: float | None,
    end: float | None,
    upper: Sequence[str],
    lower: Sequence[str],
    size: SizeFilter | None = None,
) -> list[sa.ColumnElement[bool]]:
    table = sighting_search
    where: list[sa.ColumnElement[bool]] = []
    if camera_id is not None:
        where.append(table.c.camera_id == camera_id)
    if start is not None:
        where.append(table.c.end >= start)
    if end is not None:
        where.append(table.c.start <= end)
    for column, names in ((table.c.upper, upper), (table.c.lower, lower)):
        if names:
            # Names are the palette's plain words (validated above this layer); bound, not spliced.
            where.append(sa.or_(*(column.contains(f",{name},", autoescape=True) for name in names)))
    if size is not None:
        where.append(_size_clause(size))
    return where


def _size_clause(size: SizeFilter) -> sa.ColumnElement[bool]:
    table = sighting_search
    if not size.lines:
        return sa.false()
    clauses = []
    for line in size.lines:
        usual = line.a + line.b * table.c.foot_y
        threshold = size.ratio * sa.case((usual > 1.0, usual), else_=1.0)
        compare = table.c.height_px < threshold if size.below else table.c.height_px >= threshold
        clauses.append(sa.and_(table.c.camera_id == line.camera_id, compare))
    return sa.and_(table.c.height_px.is_not(None), sa.or_(*clauses))


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
        "appearance": None if row.appearance is None else row.appearance.astype(np.float16).tobytes(),
        "colours": None if row.colours is None else row.colours.astype(np.float16).tobytes(),
    }


def _from_db(row: sa.RowMapping) -> SearchRow:
    def vector(name: str) -> Floats | None:
        data = row.get(name)
        return None if data is None else np.frombuffer(data, np.float16).astype(np.float32)

    return SearchRow(
        sighting_id=row["sighting_id"],
        camera_id=row["camera_id"],
        start=float(row["start"]),
        end=float(row["end"]),
        upper=tuple(n for n in row["upper"].split(",") if n),
        lower=tuple(n for n in row["lower"].split(",") if n),
        height_px=row["height_px"],
        foot_y=row["foot_y"],
        appearance=vector("appearance"),
        colours=vector("colours"),
    )
