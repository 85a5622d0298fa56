"""`Store`: Vigil's database of sightings, alerts, line counts and camera health.

SQLite by default (one file in the data directory), any SQLAlchemy URL for
PostgreSQL. Opening a store applies the packaged Alembic migrations, so a fresh
file becomes a current database and a current one is left alone.

The store speaks only `vigil.core.types` dataclasses: rows are converted on the way in
and out, and no SQLAlchemy object leaves this module. It is safe to share between
threads (the pipeline writes while the API reads): every call takes its own pooled
connection for one short transaction. On SQLite the file runs in WAL mode, so
readers never wait for the writer.

Another process holding SQLite's write lock (a backup, a `sqlite3` shell left in a
transaction) makes writers wait: each attempt waits the busy timeout, and a write that still
finds the database locked is retried with backoff for up to `LOCKED_RETRY_S`, with a warning
every 30 s, so nothing acknowledged to the store is dropped while the lock is held.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from vigil.core.errors import ConfigError, ValidationError
from vigil.core.records import RecordField, Shape, record_fields
from vigil.core.types import Alert, AlertKind, CameraHealth, CrossingCount, HealthState, Sighting
from vigil.infra.db import tables

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Packaged Alembic scripts (env.py, versions/); no alembic.ini is needed."""

_SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_MIGRATION_LOCK_KEY = 0x5649_4749  # "VIGI": one advisory lock shared by all Vigil processes
_BEGIN_OPTION = "vigil_sqlite_begin"
LOCKED_RETRY_S = 600.0
"""How long a write keeps retrying a database another process holds locked before it raises."""

R = TypeVar("R")


@dataclass(frozen=True)
class StoreCounts:
    """How many rows the store holds."""

    sightings: int
    alerts: int


@dataclass(frozen=True)
class HealthEvent:
    """One change of a camera's health state, as recorded in its history."""

    camera_id: str
    state: HealthState
    reason: str
    at: float


class Store:
    """Sightings, alerts and camera health in one SQL database.

    Build it with `Store.open`; close it with `close()` or use it as a context manager.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self.segment_fetch: Callable[[Sequence[Any]], None] | None = None
        """How segments recorded on edge nodes are brought here before they are read
        (`vigil.infra.db.recordings.RecordingIndex.segments`); the central runtime sets it."""
        # Writes take SQLite's write lock up front, so two writers queue on the busy
        # timeout instead of one failing when it upgrades from a read lock.
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def open(cls, url: str | Path, *, busy_timeout_s: float = _SQLITE_BUSY_TIMEOUT_MS / 1000) -> Store:
        """Connect to a database and bring its schema up to date.

        Safe to call from several processes at once: migrations run under a
        database-wide lock (SQLite write lock, PostgreSQL advisory lock), and a
        database already at the latest revision is not touched.

        Args:
            url: SQLAlchemy URL (``sqlite:///vigil-data/vigil.db``,
                ``postgresql+psycopg://...``) or a filesystem path to a SQLite file.
            busy_timeout_s: SQLite: how long one attempt waits for another connection's write
                lock (writes are then retried, see the module docstring).

        Returns:
            An open store.

        Raises:
            ConfigError: The URL is malformed or names an unsupported database.
        """
        store = cls(_create_engine(_parse_url(url), busy_timeout_s))
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    # -- writes ---------------------------------------------------------------------------------

    def add_sighting(self, sighting: Sighting) -> bool:
        """Store a sighting unless one with the same id is already stored.

        Returns:
            True if it was inserted, False if the id was already present (the stored
            row is left unchanged). Replaying a stream of sightings is therefore safe.
        """
        return self._insert_ignore(tables.sightings, _SIGHTINGS.to_row(sighting))

    def add_alert(self, alert: Alert) -> bool:
        """Store an alert unless one with the same id is already stored.

        Returns:
            True if it was inserted, False if the id was already present.
        """
        return self._insert_ignore(tables.alerts, _ALERTS.to_row(alert))

    def add_sightings(self, sightings: Sequence[Sighting]) -> int:
        """Store many sightings in one transaction, skipping ids already stored.

        Returns:
            How many were inserted.
        """
        return self._insert_ignore_many(tables.sightings, [_SIGHTINGS.to_row(s) for s in sightings])

    def add_alerts(self, alerts: Sequence[Alert]) -> int:
        """Store many alerts in one transaction, skipping ids already stored; returns how many went in."""
        return self._insert_ignore_many(tables.alerts, [_ALERTS.to_row(a) for a in alerts])

    def add_crossing_counts(self, counts: Sequence[CrossingCount]) -> int:
        """Store line counts (one row per rule and interval) in one transaction, skipping ids already stored.

        Returns:
            How many were inserted; a redelivered count is not counted twice.
        """
        return self._insert_ignore_many(tables.crossing_counts, [_COUNTS.to_row(c) for c in counts])

    def upsert_health(self, health: CameraHealth) -> None:
        """Record a camera's current health; a change of state is also appended to its history."""
        retry_locked(lambda: self._upsert_health(health), "camera health")

    def _upsert_health(self, health: CameraHealth) -> None:
        table = tables.camera_health
        row = _HEALTH.to_row(health)
        with self._writer.begin() as conn:
            previous = conn.execute(
                sa.select(table.c.state).where(table.c.camera_id == health.camera_id)
            ).scalar_one_or_none()
            if previous != health.state.value:
                conn.execute(
                    tables.camera_health_events.insert().values(
                        camera_id=health.camera_id,
                        state=health.state.value,
                        reason=health.reason,
                        at=health.since,
                    )
                )
            stmt = self._dialect_insert(table).values(**row)
            updates = {key: value for key, value in row.items() if key != "camera_id"}
            conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.camera_id], set_=updates))

    # -- reads ----------------------------------------------------------------------------------

    def list_sightings(
        self,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 50,
        offset: int = 0,
        camera_ids: Collection[str] | None = None,
    ) -> tuple[list[Sighting], int]:
        """Sightings newest first, filtered by camera and time.

        Args:
            camera_id: Only this camera.
            camera_ids: Only these cameras (a caller's camera scope; None: every camera).
            start / end: Epoch seconds; a sighting matches when its [start, end]
                overlaps the range (either bound may be open).
            limit / offset: Page of the ordered result.

        Returns:
            The page of sightings and the total number matching the filters.

        Raises:
            ValidationError: `limit` or `offset` is negative.
        """
        _check_page(limit, offset)
        table = tables.sightings
        where: list[sa.ColumnElement[bool]] = []
        if camera_id is not None:
            where.append(table.c.camera_id == camera_id)
        if camera_ids is not None:
            where.append(table.c.camera_id.in_(sorted(camera_ids)))
        if start is not None:
            where.append(table.c.end >= start)
        if end is not None:
            where.append(table.c.start <= end)
        order = (table.c.start.desc(), table.c.id)
        with self._read() as conn:
            total, rows = _page(conn, table, where, order, limit, offset)
        return [_SIGHTINGS.from_row(row) for row in rows], total

    def get_sighting(self, sighting_id: str) -> Sighting | None:
        """The sighting with this id, or None."""
        table = tables.sightings
        with self._read() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == sighting_id)).mappings().first()
        return None if row is None else _SIGHTINGS.from_row(row)

    def get_sightings(self, sighting_ids: Sequence[str]) -> list[Sighting]:
        """The sightings with these ids, in the order given; unknown ids are left out."""
        if not sighting_ids:
            return []
        table = tables.sightings
        with self._read() as conn:
            rows = conn.execute(sa.select(table).where(table.c.id.in_(list(sighting_ids)))).mappings().all()
        found = {row["id"]: _SIGHTINGS.from_row(row) for row in rows}
        return [found[i] for i in sighting_ids if i in found]

    def list_alerts(
        self,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        kind: AlertKind | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Alert], int]:
        """Alerts newest first, filtered by camera, kind and time.

        Args:
            camera_id: Only this camera.
            start / end: Epoch seconds, inclusive bounds on the alert's timestamp.
            kind: Only this kind of alert.
            limit / offset: Page of the ordered result.

        Returns:
            The page of alerts and the total number matching the filters.

        Raises:
            ValidationError: `limit` or `offset` is negative.
        """
        _check_page(limit, offset)
        table = tables.alerts
        where: list[sa.ColumnElement[bool]] = []
        if camera_id is not None:
            where.append(table.c.camera_id == camera_id)
        if kind is not None:
            where.append(table.c.kind == kind.value)
        if start is not None:
            where.append(table.c.timestamp >= start)
        if end is not None:
            where.append(table.c.timestamp <= end)
        order = (table.c.timestamp.desc(), table.c.id)
        with self._read() as conn:
            total, rows = _page(conn, table, where, order, limit, offset)
        return [_ALERTS.from_row(row) for row in rows], total

    def list_crossing_counts(
        self, rule: str, start: float | None = None, end: float | None = None
    ) -> list[CrossingCount]:
        """A line rule's stored counts, oldest interval first.

        Args:
            rule: The line-crossing rule's name.
            start / end: Epoch seconds; an interval matches when it begins in [start, end)
                (either bound may be open).

        Returns:
            Every matching row; an interval cut by a restart is two rows with the same start.
        """
        table = tables.crossing_counts
        query = sa.select(table).where(table.c.rule == rule).order_by(table.c.start, table.c.id)
        if start is not None:
            query = query.where(table.c.start >= start)
        if end is not None:
            query = query.where(table.c.start < end)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_COUNTS.from_row(row) for row in rows]

    def list_health(self) -> list[CameraHealth]:
        """The last recorded health of every camera, by camera id."""
        table = tables.camera_health
        with self._read() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.camera_id)).mappings().all()
        return [_HEALTH.from_row(row) for row in rows]

    def list_health_events(self, camera_id: str | None = None, limit: int = 100) -> list[HealthEvent]:
        """Health state changes, newest first, optionally for one camera."""
        _check_page(limit, 0)
        table = tables.camera_health_events
        query = sa.select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(limit)
        if camera_id is not None:
            query = query.where(table.c.camera_id == camera_id)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            HealthEvent(
                camera_id=row["camera_id"],
                state=HealthState(row["state"]),
                reason=row["reason"],
                at=float(row["at"]),
            )
            for row in rows
        ]

    def counts(self) -> StoreCounts:
        """Number of stored sightings and alerts."""
        with self._read() as conn:
            sightings = conn.execute(sa.select(sa.func.count()).select_from(tables.sightings)).scalar_one()
            alerts = conn.execute(sa.select(sa.func.count()).select_from(tables.alerts)).scalar_one()
        return StoreCounts(sightings=int(sightings), alerts=int(alerts))

    def ping(self) -> bool:
        """True if the database answers a trivial query; a failure is logged, not raised."""
        try:
            with self._read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("database %s does not answer: %s", self.url, exc)
            return False
        return True

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        # One transaction per read, so a page and its total come from the same snapshot.
        with self._engine.begin() as conn:
            yield conn

    def _migrate(self) -> None:
        config = AlembicConfig()
        # ConfigParser interpolates '%'; a path may contain one.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _dialect_insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_ignore_many(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        stmt = self._dialect_insert(table).on_conflict_do_nothing(index_elements=["id"])

        def write() -> int:
            with self._writer.begin() as conn:
                return int(conn.execute(stmt, list(rows)).rowcount)

        return retry_locked(write, table.name)

    def _insert_ignore(self, table: sa.Table, row: Mapping[str, Any]) -> bool:
        stmt = self._dialect_insert(table).values(**row).on_conflict_do_nothing(index_elements=["id"])

        def write() -> bool:
            with self._writer.begin() as conn:
                return conn.execute(stmt).rowcount == 1

        return retry_locked(write, table.name)


def _is_locked(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def retry_locked(write: Callable[[], R], what: str = "write") -> R:
    """Run one write transaction, retrying while another process holds SQLite's lock.

    Args:
        write: Opens, runs and commits the transaction (safe to run again after a failure).
        what: What is written, for the warning.

    Raises:
        sqlalchemy.exc.OperationalError: Any other error, or still locked after `LOCKED_RETRY_S`.
    """
    deadline = time.monotonic() + LOCKED_RETRY_S
    pause, warned = 0.05, 0.0
    while True:
        try:
            return write()
        except sa.exc.OperationalError as error:
            now = time.monotonic()
            if not _is_locked(error) or now > deadline:
                raise
            if now - warned > 30.0:
                logger.warning("database locked by another process: %s waits and retries", what)
                warned = now
            time.sleep(pause)
            pause = min(2.0, pause * 2)


def _parse_url(url: str | Path) -> sa.URL:
    if isinstance(url, Path) or "://" not in url:
        path = Path(url).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return sa.URL.create("sqlite", database=str(path))
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database url: expected a SQLAlchemy URL or a file path, got {url!r}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed


def _create_engine(url: sa.URL, busy_timeout_s: float) -> sa.Engine:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    if backend != "sqlite":
        raise ConfigError(f"database url: expected sqlite or postgresql, got {backend!r}")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if url.database in (None, "", ":memory:"):
        # Each new connection to :memory: would be a new, empty database: share one.
        options["poolclass"] = StaticPool
    else:
        # The database holds password hashes, case notes and audit rows: owner-only from birth
        # (SQLite gives its -wal / -shm files the main file's mode).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(Path(url.database).expanduser(), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    engine = sa.create_engine(url, **options)
    _configure_sqlite(engine, round(busy_timeout_s * 1000))
    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a database file to WAL (it stays so); retried, since SQLite answers a switch
    racing another connection's with "database is locked" at once, without its busy handler."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(0.2, pause * 2)


def _configure_sqlite(engine: sa.Engine, busy_timeout_ms: int) -> None:
    # pysqlite's own transaction handling skips BEGIN before DDL and cannot take the
    # write lock early; switch it off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        _enable_wal(cursor)
        # In WAL mode NORMAL loses at most the last commits on power loss, never integrity.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValidationError(
            f"paging: expected limit >= 0 and offset >= 0, got limit={limit} offset={offset}"
        )


def _page(
    conn: sa.Connection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    order: Sequence[sa.UnaryExpression[Any] | sa.Column[Any]],
    limit: int,
    offset: int,
) -> tuple[int, Sequence[sa.RowMapping]]:
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    rows = conn.execute(sa.select(table).where(*where).order_by(*order).limit(limit).offset(offset))
    return int(total), rows.mappings().all()


# -- rows, derived from the records' fields -------------------------------------------------


class _Rows(Generic[R]):
    """Converts one record to its table's row and back, field by field (`vigil.core.records`).

    Every field is a column of the same name unless its metadata says ``stored=False`` (it
    then reads back as its default). Enums are stored as their values, boxes, descriptors and
    paths as JSON lists; numbers are coerced to plain ``int`` / ``float``, so NumPy scalars
    from the pipeline store as they should.

    Args:
        record: The record dataclass.
        table: Its table; tests check its columns are the stored fields plus `extra`'s.
        extra: Columns the store fills itself, computed per written row.
    """

    def __init__(self, record: type[R], table: sa.Table, extra: Callable[[], dict[str, Any]]) -> None:
        self.record = record
        self.table = table
        self.extra = extra
        self.fields = tuple(f for f in record_fields(record) if f.spec.stored)
        self._make: Callable[..., R] = record
        self._to_db = [(f.name, _to_db(f)) for f in self.fields]
        self._from_db = [(f.name, _from_db(f)) for f in self.fields]

    def to_row(self, record: R) -> dict[str, Any]:
        row = self.extra()
        for name, convert in self._to_db:
            value = getattr(record, name)
            row[name] = None if value is None else convert(value)
        return row

    def from_row(self, row: sa.RowMapping) -> R:
        values = {}
        for name, convert in self._from_db:
            value = row[name]
            values[name] = None if value is None else convert(value)
        return self._make(**values)


def _to_db(field: RecordField) -> Callable[[Any], Any]:
    if field.shape is Shape.CHOICE:
        return attrgetter("value")
    if field.shape is Shape.NUMBERS:
        return lambda values: [float(v) for v in values]
    if field.shape is Shape.POINTS:
        point = attrgetter(*field.item_fields)
        return lambda points: [[float(v) for v in point(p)] for p in points]
    return _SCALAR[field.type]


def _from_db(field: RecordField) -> Callable[[Any], Any]:
    if field.shape is Shape.CHOICE:
        kind: type[enum.Enum] = field.type
        return kind
    if field.shape is Shape.NUMBERS:
        # JSON numbers already decode to float (or int for whole numbers, which compare and
        # compute as the same value); a per-value float() was ~40 % of reading 100k sightings.
        return tuple
    if field.shape is Shape.POINTS:
        point = field.type
        return lambda points: tuple(point(*map(float, values)) for values in points)
    return _SCALAR[field.type]


def _same(value: Any) -> Any:
    return value


# Strings are stored as they are; numbers and flags as plain Python values.
_SCALAR: dict[type, Callable[[Any], Any]] = {str: _same, int: int, float: float, bool: bool}

_SIGHTINGS = _Rows(Sighting, tables.sightings, lambda: {"created_at": time.time()})
_ALERTS = _Rows(Alert, tables.alerts, lambda: {"acknowledged": False, "created_at": time.time()})
_HEALTH = _Rows(CameraHealth, tables.camera_health, lambda: {"updated_at": time.time()})
_COUNTS = _Rows(CrossingCount, tables.crossing_counts, lambda: {"created_at": time.time()})
RECORD_ROWS: Mapping[type, _Rows[Any]] = {
    rows.record: rows for rows in (_SIGHTINGS, _ALERTS, _HEALTH, _COUNTS)
}
"""Each record's row mapping, by record type (for the schema drift tests)."""
