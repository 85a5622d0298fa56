"""Retention that runs: records, crops and segments expire by policy; held and case-bound ones stay.

Every test runs on a real SQLite database (`Store.open`, all migrations) with real files under
the data directory; nothing is mocked.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest

from alerts.search.descriptors import describe_crop
from config.models import VigilConfig
from tests.db.test_store import make_alert, make_sighting
from vigil.commands import retention as retention_command
from vigil.core.types import Alert, AlertKind, CameraHealth, CrossingCount, HealthState
from vigil.detect_worker import BusPublisher
from vigil.infra.bus import MemoryBus
from vigil.infra.db import Store, tables
from vigil.infra.db.alerts import AlertTriageStore, TriageAction
from vigil.infra.db.cases import CaseRecord, CaseStatus, CaseStore, FeedbackRecord, PhotoRecord, Verdict
from vigil.infra.db.recordings import CONTINUOUS, EVENT, RecordingIndex, SegmentRecord
from vigil.infra.db.search import sighting_search, sighting_vectors
from vigil.pipeline import alert_crop_path
from vigil.services.case_index import CaseIndex
from vigil.services.legal_hold import HoldConflict, HoldNotFound, LegalHoldService, NothingRecorded
from vigil.services.retention import (
    DAY,
    RUN_ACTION,
    RetentionCollector,
    RetentionPolicy,
    RetentionService,
    enforce,
)
from vigil.services.sighting_search import SightingSearch

NOW = 1_800_000_000.0
OLD = NOW - 60 * DAY
"""Past every default age limit (sightings 30 days, alerts 90 minus 30 below, photos 30)."""
JPEG = b"\xff\xd8\xff\xe0crop\xff\xd9"


@dataclass(frozen=True)
class Seg:
    """A segment file for `RecordingIndex.add_segments`."""

    camera_id: str
    path: Path
    start: float
    end: float
    size: int = len(JPEG)
    packets: int = 1


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "vigil.db") as opened:
        yield opened


def slot(i: int) -> float:
    """An hour of its own, 60 days ago, so no two rows of a test share a window or hold by accident."""
    return OLD + i * 3600.0


def crop(data_dir: Path, name: str) -> str:
    """Write a crop file; returns its path relative to the data directory, as stored."""
    relative = Path("crops") / f"{name}.jpg"
    (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / relative).write_bytes(JPEG)
    return str(relative)


def service(
    store: Store,
    tmp_path: Path,
    policy: RetentionPolicy | None = None,
    forget: Callable[[Sequence[str]], None] | None = None,
) -> RetentionService:
    """Retention over the test's data directory, with plenty of free disk."""
    recordings = tmp_path / "recordings"
    return RetentionService(
        store, policy or RetentionPolicy(), tmp_path, recordings, forget=forget, free_percent=lambda: 100.0
    )


def case(cases: CaseStore, window: tuple[float, float], *, closed_at: float | None = None) -> CaseRecord:
    record = CaseRecord(
        reason="missing child, reported by her father",
        opened_by="ann",
        window_start=window[0],
        window_end=window[1],
        status=CaseStatus.CLOSED if closed_at is not None else CaseStatus.OPEN,
        closed_at=closed_at,
    )
    cases.add_case(record)
    return record


# -- sightings ---------------------------------------------------------------------------------


def test_sightings_expire_with_crops_and_search_rows_unless_protected(store: Store, tmp_path: Path) -> None:
    cases, recordings = CaseStore.for_store(store), RecordingIndex.for_store(store)
    holds = LegalHoldService(store, ["cam1", "cam2"])
    open_case = case(cases, (slot(40), slot(41)))
    closed = case(cases, (slot(42), slot(43)), closed_at=OLD)
    held = case(cases, (slot(44), slot(45)), closed_at=OLD)
    recordings.add_segments([Seg("cam2", tmp_path / "s.mp4", slot(8), slot(8) + 600)])
    recordings.add_hold("cam1", slot(6), slot(6) + 600, "evidence:abc")  # an export of cam1
    holds.hold_span(["cam2"], slot(8), slot(8) + 600, user="root", reason="court order 7")
    holds.hold_case(held.id, user="root", reason="court order 8", now=NOW)
    pixels = np.random.default_rng(1).integers(0, 255, (96, 48, 3), dtype=np.uint8)
    descriptor = describe_crop(pixels).to_vector()
    rows = [  # (what it is, camera, slot, expected to stay)
        ("old, attached to nothing", "cam1", 0, False),
        ("decided for an open case", "cam1", 1, True),
        ("decided for a closed case", "cam1", 2, False),
        ("decided for a closed case under a legal hold", "cam1", 3, True),
        ("in an open case's window, undecided", "cam2", 40, True),
        ("in an exported span of its camera", "cam1", 6, True),
        ("in a legal span hold of another camera", "cam1", 8, False),
        ("in a legal span hold of its camera", "cam2", 8, True),
    ]
    sightings = {}
    for what, camera, i, _ in rows:
        sightings[what] = make_sighting(
            camera,
            slot(i),
            slot(i) + 5,
            crop_path=crop(tmp_path, what.replace(" ", "_")),
            descriptor=descriptor,
        )
    recent = make_sighting("cam1", NOW - 29 * DAY, NOW - 29 * DAY + 5, crop_path=crop(tmp_path, "recent"))
    store.add_sightings([*sightings.values(), recent])
    SightingSearch(store).index([*sightings.values(), recent])
    for record, what in (
        (open_case, "decided for an open case"),
        (closed, "decided for a closed case"),
        (held, "decided for a closed case under a legal hold"),
    ):
        cases.add_feedback(FeedbackRecord(record.id, sightings[what].id, Verdict.CONFIRM, "ann", OLD))
    forgotten: list[str] = []

    report = service(store, tmp_path, forget=forgotten.extend).run(now=NOW)

    for what, _, _, stays in rows:
        sighting = sightings[what]
        assert (store.get_sighting(sighting.id) is not None) is stays, what
        assert (tmp_path / str(sighting.crop_path)).exists() is stays, what
        assert _search_rows(store, sighting.id) == (2 if stays else 0), what
        assert (sighting.id in forgotten) is not stays, what
    assert store.get_sighting(recent.id) is not None  # 29 days: not yet expired
    assert report.deleted["sightings"] == 3 and report.kept["sightings"] == 5
    assert report.files >= 3


def _search_rows(store: Store, sighting_id: str) -> int:
    with store._engine.connect() as conn:  # noqa: SLF001 - checking the search tables directly
        return sum(
            int(conn.execute(sa.select(sa.func.count()).where(t.c.sighting_id == sighting_id)).scalar_one())
            for t in (sighting_search, sighting_vectors)
        )


# -- alerts ------------------------------------------------------------------------------------


def case_match(at: float, record: CaseRecord) -> Alert:
    return make_alert("cam1", at, AlertKind.CASE_MATCH, rule=f"case:{record.id}")


def test_alerts_expire_with_crops_triage_and_history_unless_protected(store: Store, tmp_path: Path) -> None:
    cases, recordings = CaseStore.for_store(store), RecordingIndex.for_store(store)
    open_case = case(cases, (slot(40), slot(41)))
    closed = case(cases, (slot(42), slot(43)), closed_at=OLD)
    recordings.add_hold("cam1", slot(3), slot(3) + 600, "evidence:abc")
    rows = [  # (what it is, the alert, expected to stay)
        ("zone alert, triaged", make_alert("cam1", slot(0)), False),
        ("case match of an open case", case_match(slot(1), open_case), True),
        ("case match of a closed case", case_match(slot(2), closed), False),
        ("in an exported span", make_alert("cam1", slot(3) + 10), True),
        ("20 days old", make_alert("cam1", NOW - 20 * DAY), True),
    ]  # fmt: skip
    store.add_alerts([alert for _, alert, _ in rows])
    triage = AlertTriageStore.for_store(store)
    for _, alert, _ in rows:
        path = tmp_path / alert_crop_path(alert.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEG)
        triage.apply(alert.id, TriageAction.ACKNOWLEDGE, "ann", note="seen", at=OLD)

    report = service(store, tmp_path, RetentionPolicy(alerts_days=30)).run(now=NOW)

    for what, alert, stays in rows:
        assert (triage.get(alert.id) is not None) is stays, what
        assert (tmp_path / alert_crop_path(alert.id)).exists() is stays, what
        assert bool(triage.history(alert.id)) is stays, what
    assert (report.deleted["alerts"], report.kept["alerts"]) == (2, 2)


# -- case photos -------------------------------------------------------------------------------


def test_photos_of_cases_closed_long_ago_expire_unless_held(store: Store, tmp_path: Path) -> None:
    cases = CaseStore.for_store(store)
    rows = [  # (what it is, closed at, legal hold, expected to stay)
        ("closed 60 days ago", OLD, False, False),
        ("closed 60 days ago, held", OLD, True, True),
        ("closed 10 days ago", NOW - 10 * DAY, False, True),
        ("open", None, False, True),
    ]
    photos = {}
    for i, (what, closed_at, hold, _) in enumerate(rows):
        record = case(cases, (slot(10 * i), slot(10 * i + 1)), closed_at=closed_at)
        photos[what] = (record.id, crop(tmp_path, f"photo{i}"))
        cases.add_photo(PhotoRecord(record.id, (0.1, 0.2), "ann", OLD, crop_path=photos[what][1]))
        if hold:
            LegalHoldService(store, []).hold_case(record.id, user="root", reason="court order 9", now=NOW)

    report = service(store, tmp_path).run(now=NOW)

    for what, _, _, stays in rows:
        case_id, path = photos[what]
        assert bool(cases.photos(case_id)) is stays, what
        assert (tmp_path / path).exists() is stays, what
    assert (report.deleted["case_photos"], report.kept["case_photos"]) == (1, 1)


# -- numbers only: crossing counts and health events ---------------------------------------------


def test_crossing_counts_and_health_events_expire_by_age_and_each_camera_keeps_its_state(
    store: Store, tmp_path: Path
) -> None:
    old, recent = NOW - 400 * DAY, NOW - 100 * DAY  # counts are kept 365 days, health events 90
    store.add_crossing_counts(
        [CrossingCount("gate", "cam1", "gate", start, start + 900, 3, 1) for start in (old, recent)]
    )
    changes = [  # (camera, state, at): cam2's only change is old, but it is its current state
        ("cam1", HealthState.ONLINE, old), ("cam1", HealthState.OFFLINE, old + 60),
        ("cam1", HealthState.ONLINE, NOW - 3600), ("cam2", HealthState.DEGRADED, old),
    ]  # fmt: skip
    for camera, state, at in changes:
        store.upsert_health(CameraHealth(camera, state, "test", at))

    report = service(store, tmp_path).run(now=NOW)

    assert [c.start for c in store.list_crossing_counts("gate")] == [recent]
    kept = {(e.camera_id, e.state, e.at) for e in store.list_health_events(limit=10)}
    assert kept == {("cam1", HealthState.ONLINE, NOW - 3600), ("cam2", HealthState.DEGRADED, old)}
    assert (report.deleted["crossing_counts"], report.kept["crossing_counts"]) == (1, 0)
    assert (report.deleted["health_events"], report.kept["health_events"]) == (2, 1)


# -- segments ----------------------------------------------------------------------------------


def segments(index: RecordingIndex, tmp_path: Path, camera: str, starts: list[float]) -> list[Path]:
    """Index one 10 s segment file per start; returns the files."""
    files = []
    for start in starts:
        path = tmp_path / "recordings" / camera / f"{start:.0f}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEG)
        files.append(path)
    index.add_segments([Seg(camera, path, s, s + 10) for path, s in zip(files, starts, strict=True)])
    return files


def all_segments(index: RecordingIndex) -> list[SegmentRecord]:
    return index.unprotected_oldest(10_000)


@pytest.mark.parametrize(
    ("camera", "tier", "age_days", "stays"),
    [
        ("cam1", CONTINUOUS, 3, False),  # cam1 keeps continuous footage 1 day (its override)
        ("cam2", CONTINUOUS, 3, True),  # cam2 has no override: the site's 7 days
        ("cam2", CONTINUOUS, 8, False),
        ("cam1", EVENT, 3, False),  # cam1's event override: 2 days
        ("cam2", EVENT, 8, True),  # the site's event tier: 30 days
        ("gone", CONTINUOUS, 8, False),  # a camera since removed from the config: the site's tiers
    ],
)
def test_per_camera_recording_overrides_are_honoured(
    store: Store, tmp_path: Path, camera: str, tier: str, age_days: float, stays: bool
) -> None:
    config = VigilConfig.model_validate(
        {
            "cameras": [
                {"id": "cam1", "url": "rtsp://x/1", "recording": {"continuous_days": 1, "event_days": 2}},
                {"id": "cam2", "url": "rtsp://x/2"},
            ]
        }
    )
    policy = RetentionPolicy.from_config(config)
    index = RecordingIndex.for_store(store)
    start = NOW - age_days * DAY
    (path,) = segments(index, tmp_path, camera, [start])
    if tier == EVENT:
        index.mark_event(camera, start, start + 10)

    enforce(index, policy, now=NOW, free_percent=lambda: 100.0)

    assert path.exists() is stays
    assert bool(all_segments(index)) is stays


def test_event_tier_covers_the_open_segment_and_the_30_s_after_an_alert(store: Store, tmp_path: Path) -> None:
    """An alert at t marks t-30..t+30 while the segment holding t is still being written."""
    index = RecordingIndex.for_store(store)
    t = NOW - 8 * DAY  # past the continuous tier (7 days), inside the event tier (30)
    before = segments(index, tmp_path, "cam1", [t - 50, t - 35])  # closed when the alert fires
    index.mark_event("cam1", t - 30, t + 30)  # what BusPublisher.alert does
    # Closed and indexed after the alert: the segment holding it, the 30 s after, and later ones.
    after = segments(index, tmp_path, "cam1", [t - 5, t + 5, t + 15, t + 25, t + 35, t + 45])
    segments(index, tmp_path, "cam2", [t + 5])  # another camera: not the alert's

    tiers = {(s.camera_id, s.start - t): s.tier for s in all_segments(index)}
    assert tiers == {
        ("cam1", -50): CONTINUOUS, ("cam1", -35): EVENT, ("cam1", -5): EVENT, ("cam1", 5): EVENT,
        ("cam1", 15): EVENT, ("cam1", 25): EVENT, ("cam1", 35): CONTINUOUS, ("cam1", 45): CONTINUOUS,
        ("cam2", 5): CONTINUOUS,
    }  # fmt: skip
    enforce(index, RetentionPolicy(), now=NOW, free_percent=lambda: 100.0)
    assert [p.exists() for p in before + after] == [False, True, True, True, True, True, False, False]


def test_open_case_window_spares_age_not_disk_pressure(store: Store, tmp_path: Path) -> None:
    index = RecordingIndex.for_store(store)
    case(CaseStore.for_store(store), (slot(0), slot(1)))
    kept = segments(index, tmp_path, "cam1", [slot(0) + 100])
    gone = segments(index, tmp_path, "cam1", [slot(5)])
    retention = service(store, tmp_path)
    assert retention.check_recordings(now=NOW) and gone[0].exists() is False and kept[0].exists()
    free = iter([0.0, 100.0])
    pressured = RetentionService(
        store, RetentionPolicy(), tmp_path, tmp_path, free_percent=lambda: next(free, 100.0)
    )
    assert [s.path for s in pressured.check_recordings(now=NOW)] == kept  # a case must not stop recording


# -- legal holds -------------------------------------------------------------------------------


def test_legal_hold_keeps_segments_under_pressure_until_released(store: Store, tmp_path: Path) -> None:
    index = RecordingIndex.for_store(store)
    files = segments(index, tmp_path, "cam1", [slot(0), slot(0) + 10, slot(1)])
    holds = LegalHoldService(store, ["cam1", "cam2"])
    hold = holds.hold_span(["cam1"], slot(0), slot(0) + 20, user="root", reason="court order 7")
    full = RetentionService(store, RetentionPolicy(), tmp_path, tmp_path, free_percent=lambda: 0.0)

    full.run(now=NOW)  # a full disk and every age limit passed: only the held two stay
    assert [f.exists() for f in files] == [True, True, False]

    released = holds.release(hold.id, user="root", reason="case dismissed")
    assert (released.active, released.released_by, released.release_reason) == (
        False,
        "root",
        "case dismissed",
    )
    with pytest.raises(HoldConflict, match="already released by root"):
        holds.release(hold.id, user="root", reason="again")
    full.run(now=NOW)
    assert [f.exists() for f in files] == [False, False, False]
    trail = [
        (r.action, r.user, r.reason) for r in CaseStore.for_store(store).audit_trail() if "hold" in r.action
    ]
    assert trail == [
        ("legal_hold.release", "root", "case dismissed"),
        ("legal_hold.place", "root", "court order 7"),
    ]


@pytest.mark.parametrize(
    ("cameras", "start", "end", "error", "message"),
    [
        (
            ["cam2"],
            slot(0),
            slot(0) + 20,
            NothingRecorded,
            "camera 'cam2' has no recording .* no recording at all",
        ),
        (["cam1"], slot(5), slot(6), NothingRecorded, r"camera 'cam1' has no recording .*; recorded: "),
        (
            ["cam1", "cam2"],
            slot(0),
            slot(0) + 5,
            NothingRecorded,
            "camera 'cam2'",
        ),  # every camera must have some
        (["cam9"], slot(0), slot(1), HoldNotFound, "no camera 'cam9' on this site"),
        ([], slot(0), slot(1), ValueError, "at least one camera"),
        (["cam1"], slot(1), slot(0), ValueError, "start before end"),
    ],
)
def test_a_span_hold_that_would_hold_nothing_is_refused(
    store: Store,
    tmp_path: Path,
    cameras: list[str],
    start: float,
    end: float,
    error: type[Exception],
    message: str,
) -> None:
    segments(RecordingIndex.for_store(store), tmp_path, "cam1", [slot(0)])
    with pytest.raises(error, match=message):
        LegalHoldService(store, ["cam1", "cam2"]).hold_span(
            cameras, start, end, user="root", reason="order 1"
        )


def test_a_case_hold_needs_the_case_a_reason_and_no_active_hold(store: Store) -> None:
    holds = LegalHoldService(store, ["cam1"])
    record = case(CaseStore.for_store(store), (slot(0), slot(1)))
    with pytest.raises(HoldNotFound, match="case 'nope' not found"):
        holds.hold_case("nope", user="root", reason="order 1")
    with pytest.raises(ValueError, match="must say why"):
        holds.hold_case(record.id, user="root", reason="  ")
    hold = holds.hold_case(record.id, user="root", reason="order 1")
    assert (hold.cameras, hold.start, hold.end) == (None, slot(0), slot(1))
    with pytest.raises(HoldConflict, match="already held"):
        holds.hold_case(record.id, user="root", reason="order 2")


# -- reporting ---------------------------------------------------------------------------------


def test_each_run_is_audited_once_and_counted_in_metrics(store: Store, tmp_path: Path) -> None:
    store.add_sightings([make_sighting("cam1", slot(i), slot(i) + 5, crop_path=None) for i in range(3)])
    segments(RecordingIndex.for_store(store), tmp_path, "cam1", [slot(0)])
    retention = service(store, tmp_path)
    registry = CollectorRegistry()
    registry.register(RetentionCollector(retention))

    first = retention.run(now=NOW, user="root", reason="checking the new policy")
    retention.run(now=NOW)

    runs = CaseStore.for_store(store).audit_page(RUN_ACTION)[0]
    assert [(r.user, r.reason) for r in runs] == [("vigil", "scheduled"), ("root", "checking the new policy")]
    expected = {"segments": 1, "sightings": 3, "alerts": 0, "case_photos": 0}
    assert runs[1].detail["deleted"] == {**expected, "crossing_counts": 0, "health_events": 0}
    assert first.deleted == runs[1].detail["deleted"] and first.bytes_freed == len(JPEG)
    text = generate_latest(registry).decode()
    assert 'vigil_retention_deleted_total{kind="sightings"} 3.0' in text
    assert 'vigil_retention_deleted_total{kind="segments"} 1.0' in text
    assert "vigil_retention_runs_total 2.0" in text
    assert 'vigil_retention_kept{kind="sightings"} 0.0' in text


def test_the_retention_thread_runs_a_whole_pass_then_minute_checks(store: Store, tmp_path: Path) -> None:
    store.add_sightings([make_sighting("cam1", 100.0, 105.0, crop_path=None)])
    retention = service(store, tmp_path)
    stop = threading.Event()
    thread = threading.Thread(
        target=retention.run_periodically,
        args=(stop,),
        kwargs={"recordings_interval_s": 0.05, "records_interval_s": 3600},
    )
    thread.start()
    try:
        for _ in range(100):
            if retention.last is not None:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert retention.last is not None and retention.last.deleted["sightings"] == 1
    assert retention.runs == 1  # the rest were minute checks
    with store._engine.connect() as conn:  # noqa: SLF001
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sightings)).scalar_one() == 0


def test_vigil_retention_runs_once_and_prints_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"data_dir: {tmp_path / 'data'}\ncameras:\n  - {{id: cam1, url: 'rtsp://10.0.0.1/a'}}\n")
    with Store.open(tmp_path / "data" / "vigil.db") as store:
        store.add_sightings([make_sighting("cam1", 100.0, 105.0, crop_path=None)])
    parser = argparse.ArgumentParser()
    retention_command.add_arguments(parser)

    assert retention_command.run(parser.parse_args([str(site), "--reason", "new policy", "--json"])) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["deleted"]["sightings"] == 1 and report["kept"]["sightings"] == 0
    assert retention_command.run(parser.parse_args([str(site), "--reason", "x"])) == 2
    assert "--reason: say why" in capsys.readouterr().err
    assert retention_command.run(parser.parse_args([str(site), "--reason", "once more"])) == 0
    assert re.search(r"^sightings +0 +0$", capsys.readouterr().out, re.MULTILINE)


def test_the_retention_benchmark_runs_both_variants_to_the_same_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.retention import main

    assert main(["--sightings", "500", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["deleted"]["sightings"] == 399 and summary["kept"]["sightings"] == 101
    assert summary["rescan_s"] > 0 and summary["vigil_s"] > 0


def test_an_alert_published_live_marks_the_segments_indexed_after_it(store: Store, tmp_path: Path) -> None:
    """`BusPublisher.alert` (the detect thread's sink) on a real index, before its segment closes."""
    index = RecordingIndex.for_store(store)
    bus = MemoryBus()
    t = NOW - 8 * DAY
    BusPublisher(bus, index).alert(make_alert("cam1", t))
    segments(index, tmp_path, "cam1", [t - 5, t + 25, t + 31])
    assert [s.tier for s in all_segments(index)] == [EVENT, EVENT, CONTINUOUS]


def test_the_case_index_drops_expired_sightings_at_once(store: Store, tmp_path: Path) -> None:
    """Told by retention, the in-memory case index counts the deleted rows out before its next sync."""
    pixels = np.random.default_rng(2).integers(0, 255, (96, 48, 3), dtype=np.uint8)
    descriptor = describe_crop(pixels).to_vector()
    old = [
        make_sighting("cam1", slot(i), slot(i) + 5, crop_path=None, descriptor=descriptor) for i in range(3)
    ]
    fresh = make_sighting("cam1", NOW - DAY, NOW - DAY + 5, crop_path=None, descriptor=descriptor)
    store.add_sightings([*old, fresh])
    told, untold = CaseIndex(store), CaseIndex(store)
    for index in (told, untold):
        assert index.add([*old, fresh]) == 4

    service(store, tmp_path, forget=told.forget).run(now=NOW)

    assert store.counts().sightings == 1
    assert told._counted() == 1  # noqa: SLF001 - what `current()` compares with the store
    assert untold._counted() == 4  # noqa: SLF001 - not told: stale until its next sync
