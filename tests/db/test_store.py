"""Store: migrations, idempotent writes, filters and paging, thread safety."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import Alert, AlertKind, CameraHealth, CrossingCount, HealthState, PathPoint, Sighting
from vigil.infra.db import Store, StoreCounts
from vigil.infra.db.audit import audit_metadata
from vigil.infra.db.cases import cases_metadata
from vigil.infra.db.recordings import recordings_metadata
from vigil.infra.db.search import search_metadata
from vigil.infra.db.tables import metadata

HEAD = "0012"  # latest: 0002 cases, 0003 recordings, 0004 users, 0005 triage, 0006 search, 0007 rules,
# 0008 line counts, 0009 audit hash chain, 0010 legal holds and event spans, 0011 user camera groups,
# 0012 segments recorded on edge nodes


def make_sighting(
    camera_id: str = "cam1", start: float = 100.0, end: float = 110.0, **overrides: Any
) -> Sighting:
    fields: dict[str, Any] = {
        "camera_id": camera_id,
        "tracker_id": 7,
        "start": start,
        "end": end,
        "best_box": (10.0, 20.0, 50.0, 120.0),
        "crop_path": "crops/cam1/a.jpg",
        "path": (PathPoint(start, 30.0, 120.0), PathPoint(end, 35.5, 118.25)),
        "confidence": 0.8,
        "frames": 12,
    }
    fields.update(overrides)
    return Sighting(**fields)


def make_alert(
    camera_id: str = "cam1",
    timestamp: float = 100.0,
    kind: AlertKind = AlertKind.ZONE_INTRUSION,
    **overrides: Any,
) -> Alert:
    fields: dict[str, Any] = {
        "kind": kind,
        "rule": "gate",
        "camera_id": camera_id,
        "timestamp": timestamp,
        "message": "person in zone gate",
    }
    fields.update(overrides)
    return Alert(**fields)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vigil.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


def _revision(db_path: Path) -> str | None:
    engine = sa.create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return revision


# -- migrations -------------------------------------------------------------------------------


def test_open_creates_schema_matching_tables(store: Store, db_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{db_path}")
    inspector = sa.inspect(engine)
    schema = [
        *metadata.sorted_tables,
        *cases_metadata.sorted_tables,
        *audit_metadata.sorted_tables,
        *recordings_metadata.sorted_tables,
        *search_metadata.sorted_tables,
    ]
    assert set(inspector.get_table_names()) == {t.name for t in schema} | {"alembic_version"}
    for table in schema:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys())
        assert {i["name"] for i in inspector.get_indexes(table.name)} == {i.name for i in table.indexes}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # Alembic's autogenerate diff: column types, nullability, indexes, tables.
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        # Alembic accepts a list of MetaData at run time; its 1.20 annotation says one.
        every = [metadata, cases_metadata, audit_metadata, recordings_metadata, search_metadata]
        assert compare_metadata(context, every) == []  # type: ignore[arg-type]
    engine.dispose()
    assert _revision(db_path) == HEAD


def test_reopen_is_a_no_op_and_keeps_data(db_path: Path) -> None:
    sighting = make_sighting()
    with Store.open(db_path) as first:
        first.add_sighting(sighting)
    with Store.open(str(db_path)) as again, Store.open(f"sqlite:///{db_path}") as by_url:
        assert again.get_sighting(sighting.id) == sighting
        assert by_url.counts() == StoreCounts(sightings=1, alerts=0)
    assert _revision(db_path) == HEAD


def test_concurrent_opens_of_a_fresh_database_all_succeed(db_path: Path) -> None:
    # Separate engines stand in for separate processes: each races to migrate.
    def open_and_count(_: int) -> StoreCounts:
        with Store.open(db_path) as opened:
            return opened.counts()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(open_and_count, range(6)))
    assert results == [StoreCounts(0, 0)] * 6


def test_in_memory_database_is_shared_between_calls() -> None:
    with Store.open("sqlite://") as memory:
        assert memory.add_alert(make_alert())
        assert memory.counts().alerts == 1


def test_unsupported_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expected sqlite or postgresql"):
        Store.open("mysql://user@localhost/vigil")


# -- writes -----------------------------------------------------------------------------------


def test_sighting_round_trips_and_duplicate_id_is_ignored(store: Store) -> None:
    sighting = make_sighting(descriptor=(0.25, -1.5, 3.0), short=True)
    assert store.add_sighting(sighting) is True
    assert store.add_sighting(make_sighting(id=sighting.id, camera_id="other")) is False
    assert store.get_sighting(sighting.id) == sighting
    assert store.counts().sightings == 1


def test_sighting_without_crop_or_descriptor_round_trips(store: Store) -> None:
    sighting = make_sighting(crop_path=None, descriptor=None, path=())
    store.add_sighting(sighting)
    assert store.get_sighting(sighting.id) == sighting


def test_alert_round_trips_and_duplicate_id_is_ignored(store: Store) -> None:
    alert = make_alert(tracker_id=3, zone="gate", box=(1.0, 2.0, 3.0, 4.0))
    bare = make_alert(kind=AlertKind.DWELL)
    assert store.add_alert(alert) is True
    assert store.add_alert(bare) is True
    assert store.add_alert(alert) is False
    items, total = store.list_alerts()
    assert total == 2
    assert {a.id: a for a in items} == {alert.id: alert, bare.id: bare}


def test_crossing_counts_round_trip_redelivery_is_ignored_and_rules_and_times_filter(store: Store) -> None:
    first = CrossingCount("gate-count", "cam1", "gate", 60.0, 120.0, count_in=3, count_out=1)
    # The interval a stop cut short, continued after the restart: a second row, same start.
    resumed = CrossingCount("gate-count", "cam1", "gate", 60.0, 120.0, count_in=2)
    later = CrossingCount("gate-count", "cam1", "gate", 120.0, 180.0, count_out=4)
    other = CrossingCount("bridge-count", "cam2", "bridge", 60.0, 120.0, count_in=9)
    assert store.add_crossing_counts([first, resumed, later, other]) == 4
    assert store.add_crossing_counts([first, later]) == 0  # redelivered: stored once
    assert store.add_crossing_counts([]) == 0
    assert sorted(store.list_crossing_counts("gate-count"), key=lambda c: (c.start, c.count_in)) == [
        resumed,
        first,
        later,
    ]
    assert store.list_crossing_counts("gate-count", start=120.0) == [later]
    assert store.list_crossing_counts("gate-count", end=120.0, start=0.0) in (
        [first, resumed],
        [resumed, first],
    )
    assert store.list_crossing_counts("nope") == []


def test_get_unknown_sighting_is_none(store: Store) -> None:
    assert store.get_sighting("nope") is None


def test_upsert_health_keeps_latest_and_records_state_changes(store: Store) -> None:
    store.upsert_health(CameraHealth("cam1", HealthState.ONLINE, "streaming", since=10.0, frames=5))
    store.upsert_health(CameraHealth("cam1", HealthState.ONLINE, "streaming", since=10.0, frames=50))
    store.upsert_health(CameraHealth("cam1", HealthState.OFFLINE, "rtsp timeout", since=20.0, reconnects=1))
    store.upsert_health(CameraHealth("cam2", HealthState.DEGRADED, "low fps", since=15.0, last_frame_at=14.5))
    assert store.list_health() == [
        CameraHealth("cam1", HealthState.OFFLINE, "rtsp timeout", since=20.0, reconnects=1),
        CameraHealth("cam2", HealthState.DEGRADED, "low fps", since=15.0, last_frame_at=14.5),
    ]
    assert [(e.state, e.at) for e in store.list_health_events("cam1")] == [
        (HealthState.OFFLINE, 20.0),
        (HealthState.ONLINE, 10.0),
    ]
    assert len(store.list_health_events()) == 3


# -- filters and paging -----------------------------------------------------------------------

# Sightings on a timeline: a=[100,110] cam1, b=[105,130] cam2, c=[200,210] cam1, d=[300,300] cam2.
TIMELINE = {
    "a": ("cam1", 100.0, 110.0),
    "b": ("cam2", 105.0, 130.0),
    "c": ("cam1", 200.0, 210.0),
    "d": ("cam2", 300.0, 300.0),
}


@pytest.fixture
def timeline(store: Store) -> Store:
    for name, (camera, start, end) in TIMELINE.items():
        store.add_sighting(make_sighting(camera, start, end, id=name))
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["d", "c", "b", "a"]),  # newest start first
        ({"camera_id": "cam1"}, ["c", "a"]),
        ({"camera_id": "nobody"}, []),
        ({"start": 120.0}, ["d", "c", "b"]),  # b ends at 130: still overlaps
        ({"end": 104.0}, ["a"]),  # b starts at 105: after the range
        ({"start": 110.0, "end": 110.0}, ["b", "a"]),  # touching a bound counts as overlap
        ({"start": 111.0, "end": 199.0}, ["b"]),  # b spans the gap between a and c
        ({"start": 300.0, "end": 300.0}, ["d"]),  # zero-length sighting
        ({"start": 150.0, "end": 160.0}, []),
        ({"camera_id": "cam2", "start": 0.0, "end": 1000.0}, ["d", "b"]),
    ],
)
def test_list_sightings_filters(timeline: Store, filters: dict[str, Any], expected: list[str]) -> None:
    items, total = timeline.list_sightings(**filters)
    assert [s.id for s in items] == expected
    assert total == len(expected)


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (2, 0, ["d", "c"]),  # first page
        (2, 2, ["b", "a"]),  # second page
        (2, 3, ["a"]),  # partial last page
        (10, 4, []),  # past the end: empty page, total unchanged
        (0, 0, []),  # zero limit: only the total
    ],
)
def test_list_sightings_paging_keeps_total(
    timeline: Store, limit: int, offset: int, expected: list[str]
) -> None:
    items, total = timeline.list_sightings(limit=limit, offset=offset)
    assert [s.id for s in items] == expected
    assert total == 4


def test_negative_paging_is_rejected(store: Store) -> None:
    with pytest.raises(ValidationError, match="limit"):
        store.list_sightings(limit=-1)
    with pytest.raises(ValidationError, match="offset"):
        store.list_alerts(offset=-5)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["z3", "l2", "z1"]),  # newest first
        ({"camera_id": "cam2"}, ["l2"]),
        ({"kind": AlertKind.ZONE_INTRUSION}, ["z3", "z1"]),
        ({"kind": AlertKind.CASE_MATCH}, []),
        ({"start": 200.0}, ["z3", "l2"]),  # bounds are inclusive
        ({"end": 200.0}, ["l2", "z1"]),
        ({"start": 150.0, "end": 250.0, "kind": AlertKind.DWELL}, ["l2"]),
        ({"limit": 1, "offset": 1}, ["l2"]),
    ],
)
def test_list_alerts_filters(store: Store, filters: dict[str, Any], expected: list[str]) -> None:
    store.add_alert(make_alert("cam1", 100.0, id="z1"))
    store.add_alert(make_alert("cam2", 200.0, AlertKind.DWELL, id="l2"))
    store.add_alert(make_alert("cam1", 300.0, id="z3"))
    items, total = store.list_alerts(**filters)
    assert [a.id for a in items] == expected
    if "limit" not in filters:
        assert total == len(expected)


# -- threads ----------------------------------------------------------------------------------


def test_writer_and_readers_in_threads(store: Store) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(200):
                store.add_sighting(make_sighting(start=float(i), end=float(i + 1)))
                store.add_alert(make_alert(timestamp=float(i)))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                items, total = store.list_sightings(limit=500)
                # One snapshot per call: the page never disagrees with its total.
                assert len(items) == total
                store.counts()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert store.counts() == StoreCounts(sightings=200, alerts=200)


def test_new_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    # It holds password hashes, case notes and the audit log.
    store = Store.open(tmp_path / "site" / "vigil.db")
    try:
        assert (tmp_path / "site" / "vigil.db").stat().st_mode & 0o777 == 0o600
    finally:
        store.close()
