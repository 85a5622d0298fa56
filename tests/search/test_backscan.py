"""Back-scan: record-only cameras' recorded segments run through the live pipeline for a case.

Real components throughout: segments are remuxed from the bundled person clip with the
recorder's `SegmentWriter` and indexed in a real SQLite store, the embedded detector runs
on them, sightings go through the runtime's bus into the store and the case service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest

from alerts.search.graph import CameraGraph
from api.auth import Role
from config.loader import parse_config
from config.models import VigilConfig
from ingest.recorder import Segment, SegmentWriter
from tests.conftest import PERSON_CLIP
from tests.factories import auth_headers
from vigil.core.errors import ValidationError
from vigil.core.types import AlertKind
from vigil.infra.bus import MemoryBus
from vigil.infra.db.cases import CaseRecord
from vigil.infra.db.recordings import RecordingIndex
from vigil.roles import Role as RuntimeRole
from vigil.runtime import Runtime
from vigil.services.backscan import BackscanBusy, BackscanOptions, JobState, SegmentDecoder, rank_cameras

BASE = 1_800_000_000.0
"""Wall time the recordings start at."""
PIER_AT = BASE + 3600.0
"""The pier's recording is an hour later: outside the other cases' windows."""
PHOTO_AT_S = 28.0
"""In the clip a person in a grey cardigan passes at ~7-18 s, then a person in black at ~22-35 s."""


def record(
    clip: Path, camera_id: str, root: Path, start_s: float, end_s: float, base: float
) -> list[Segment]:
    """Remux ``[start_s, end_s)`` of `clip` into 10 s keyframe-aligned segments from wall time `base`."""
    segments: list[Segment] = []
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        tb = float(stream.time_base or 1 / 90000)
        now = [base]
        writer = SegmentWriter(camera_id, root, stream, 10.0, segments.append, clock=lambda: now[0])
        for packet in source.demux(stream):
            if packet.pts is None:
                continue
            at = packet.pts * tb
            if at < start_s:
                continue
            if at >= end_s:
                break
            now[0] = base + at - start_s  # the recorder's wall clock follows the media clock
            writer.write(packet)
        writer.close()
    return segments


def photo(at_s: float) -> np.ndarray:
    capture = cv2.VideoCapture(str(PERSON_CLIP))
    capture.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok, "could not decode the sample clip"
    return np.asarray(frame, np.uint8)


def site(data_dir: Path) -> VigilConfig:
    # Map in metres: the AI camera where she was last seen, record-only cameras around it.
    return parse_config({
        "data_dir": str(data_dir),
        "cameras": [
            {"id": "gate", "url": "rtsp://10.0.0.1/a", "role": "ai", "position": {"x": 0, "y": 0}},
            {"id": "far", "url": "rtsp://10.0.0.9/a", "position": {"x": 60, "y": 0}},
            {"id": "near", "url": "rtsp://10.0.0.2/a", "position": {"x": 30, "y": 0}},
            {"id": "masked", "url": "rtsp://10.0.0.3/a", "position": {"x": 45, "y": 0},
             "privacy_masks": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]},
            {"id": "unplaced", "url": "rtsp://10.0.0.4/a"},
            {"id": "quay", "url": "rtsp://10.0.0.5/a", "position": {"x": 5000, "y": 0}},
            {"id": "pier", "url": "rtsp://10.0.0.6/a", "position": {"x": 3000, "y": 3000}},
        ],
    })  # fmt: skip


@dataclass
class Site:
    runtime: Runtime
    config: VigilConfig
    segments: dict[str, list[Segment]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A central runtime on a site whose record-only cameras have recordings.

    - ``near``: both passers-by (clip 0-40 s, four segments);
    - ``masked``: the person in black (clip 20-30 s), fully privacy-masked, then a corrupt segment;
    - ``far``: nothing recorded in the window (a gap);
    - ``pier``: its own copy of the person in black, later (``PIER_AT``), for the cancel test.
    """
    data_dir = tmp_path_factory.mktemp("backscan")
    config = site(data_dir)
    runtime = Runtime(config, role=RuntimeRole.CENTRAL, bus=MemoryBus())
    runtime.start()
    assert runtime.store is not None
    root = data_dir / "recordings"
    segments = {
        "near": record(PERSON_CLIP, "near", root, 0.0, 40.0, BASE),
        "masked": record(PERSON_CLIP, "masked", root, 20.0, 30.0, BASE + 20),
        "pier": record(PERSON_CLIP, "pier", root, 20.0, 40.0, PIER_AT),
    }
    corrupt = root / "masked" / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    segments["masked"].append(Segment("masked", corrupt, BASE + 30, BASE + 40, corrupt.stat().st_size, 100))
    index = RecordingIndex.for_store(runtime.store)
    for camera_segments in segments.values():
        index.add_segments(camera_segments)
    try:
        yield Site(runtime, config, segments)
    finally:
        runtime.stop()


def open_case(runtime: Runtime, last_seen_camera: str, at: float = BASE) -> CaseRecord:
    """A case whose window is the 10 minutes before `at` (when she was last seen) and 40 s after."""
    assert runtime.cases is not None
    case = CaseRecord(
        reason="test: child reported missing at the gate",
        opened_by="operator-1",
        window_start=at - 600,
        window_end=at + 40,
        last_seen_camera=last_seen_camera,
        last_seen_at=at - 600,
        threshold=0.7,
    )
    return runtime.cases.open_case(case)


# -- planning and decoding (no detector) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("reach_s", "expected"),
    [
        (
            1e5,
            ["near", "masked", "far", "quay"],
        ),  # nearest first; AI, unplaced, disabled cameras never listed
        (50.0, ["near", "masked"]),  # 60 m x 1.3 detour / 1.3 m/s = 60 s: 'far' is out of reach
        (10.0, []),  # nothing within 10 s of walking
    ],
)
def test_record_only_cameras_are_ranked_by_walking_time(
    tmp_path: Path, reach_s: float, expected: list[str]
) -> None:
    config = site(tmp_path)
    config.cameras[-1] = config.cameras[-1].model_copy(update={"enabled": False})  # 'pier' disabled
    graph = CameraGraph.from_config(config)
    found = rank_cameras(config.cameras, graph, "gate", reach_s)
    assert [r.camera_id for r in found] == expected
    assert [r.walk_s for r in found] == sorted(r.walk_s for r in found)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"max_cameras": 0}, "max_cameras"),  # would scan nothing
        ({"max_walk_minutes": -1.0}, "max_walk_minutes"),  # negative reach
        ({"max_walk_minutes": float("nan")}, "max_walk_minutes"),  # not a number
    ],
)
def test_bad_options_are_refused(options: dict[str, float], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        BackscanOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fps", "offset", "length", "frames"),
    [
        (5.0, 0.0, 10.0, 50),  # 10 fps source at 5 fps: every other frame
        (2.0, 0.0, 10.0, 20),  # at 2 fps
        (5.0, 4.0, 2.0, 10),  # window inside the segment: seek to the keyframe before it, 2 s of frames
    ],
)
def test_decoder_hands_over_frames_at_detect_fps_in_wall_time(
    tmp_path: Path, fps: float, offset: float, length: float, frames: int
) -> None:
    segment = record(PERSON_CLIP, "cam", tmp_path, 20.0, 30.0, BASE)[0]
    start = segment.start + offset
    decoder = SegmentDecoder(fps)
    got = list(decoder.frames(segment.path, segment.start, start, start + length))
    times = np.array([at for at, _ in got])
    assert len(got) == frames
    assert times[0] == pytest.approx(start, abs=0.11) and times[-1] < start + length
    assert np.allclose(np.diff(times), 1 / fps, atol=0.01)
    assert got[0][1].shape == (432, 768, 3)


# -- whole jobs ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_backscan_finds_her_on_a_record_only_camera(recorded: Site) -> None:
    runtime = recorded.runtime
    assert runtime.cases is not None and runtime.backscan is not None and runtime.store is not None
    case = open_case(runtime, "gate")
    runtime.cases.add_photo(case.id, photo(PHOTO_AT_S), "operator-1")
    assert (
        runtime.cases.candidates(case.id, "operator-1") == []
    )  # nothing but the record-only cameras saw her

    queued = runtime.backscan.submit(case.id, "operator-1")
    assert queued.state in (JobState.QUEUED, JobState.RUNNING)
    # Nearest first, within what she could walk in the window (640 s): not the quay, 5 km away.
    assert [c.camera_id for c in queued.cameras] == ["near", "masked", "far"]
    done = runtime.backscan.wait(case.id, timeout=120)

    assert done is not None and done.state is JobState.DONE, done
    assert (done.cameras_done, done.cameras_total) == (3, 3)
    assert (done.segments_done, done.segments_total) == (6, 6)
    assert [c.state for c in done.cameras] == [JobState.DONE] * 3
    assert [(c.camera_id, c.segments) for c in done.cameras] == [("near", 4), ("masked", 2), ("far", 0)]
    # The corrupt segment is reported and skipped; the job went on.
    assert [(e.camera_id, Path(e.path).name) for e in done.errors] == [("masked", "corrupt.mp4")]
    assert done.video_seconds == pytest.approx(50.0, abs=0.5)  # 40 s of 'near' + 10 s of 'masked'
    assert done.frames == pytest.approx(250, abs=4)  # at detect_fps 5
    # The privacy mask blacked out the whole view: nothing seen there.
    assert {c.camera_id: c.sightings for c in done.cameras}["masked"] == 0
    assert done.sightings >= 2 and set(done.sighting_ids) == {
        s.id for s in runtime.store.list_sightings(camera_id="near", limit=100)[0]
    }

    # Her sighting from the record-only camera ranks first among the candidates, at its recorded time.
    ranked = runtime.cases.candidates(case.id, "operator-1")
    assert len(ranked) >= 2
    top = ranked[0].sighting
    assert top.camera_id == "near"
    assert BASE + 20 <= top.start <= BASE + 36
    assert ranked[0].score > ranked[-1].score
    print(f"back-scan: {done.video_seconds:.0f} s of video in {done.elapsed_s:.1f} s; top {ranked[0].score}")

    # Live-watch scoring applied: the match raised a case alert like a live one.
    alerts, _ = runtime.store.list_alerts(kind=AlertKind.CASE_MATCH, limit=10)
    assert any(a.rule == f"case:{case.id}" and a.camera_id == "near" for a in alerts)

    audit = runtime.cases.audit_trail(case.id)
    start = next(a for a in audit if a.action == "backscan_start")
    assert (start.user, start.reason) == ("operator-1", case.reason)
    end = next(a for a in audit if a.action == "backscan_end")
    assert end.detail["state"] == "done" and set(end.detail["sighting_ids"]) == set(done.sighting_ids)

    # A second job over the same recordings scans nothing twice: no duplicate sightings.
    runtime.backscan.submit(case.id, "operator-1")
    again = runtime.backscan.wait(case.id, timeout=60)
    assert again is not None and again.state is JobState.DONE
    assert again.segments_skipped == 5 and again.sightings == 0  # the corrupt one is retried


def test_cancel_stops_a_running_job_and_keeps_what_it_found(recorded: Site) -> None:
    runtime = recorded.runtime
    assert runtime.backscan is not None and runtime.cases is not None
    case = open_case(runtime, "pier", at=PIER_AT)
    runtime.backscan.submit(case.id, "operator-1", BackscanOptions(max_cameras=1))
    with pytest.raises(BackscanBusy, match="already"):  # one job per case at a time
        runtime.backscan.submit(case.id, "operator-2")
    deadline = time.monotonic() + 60
    while (progress := runtime.backscan.progress(case.id)) is not None and progress.frames < 3:
        assert not progress.state.finished and time.monotonic() < deadline, progress
        time.sleep(0.01)
    cancelled = runtime.backscan.cancel(case.id, "operator-2")
    assert cancelled.state in (JobState.RUNNING, JobState.CANCELLED)
    final = runtime.backscan.wait(case.id, timeout=30)
    assert final is not None and final.state is JobState.CANCELLED
    assert final.segments_done < final.segments_total == 2
    actions = [(a.action, a.user) for a in runtime.cases.audit_trail(case.id)]
    assert ("backscan_cancel", "operator-2") in actions and ("backscan_end", "operator-1") in actions


def test_api_starts_reads_and_cancels_a_backscan_and_audits_it(recorded: Site) -> None:
    runtime = recorded.runtime
    assert runtime.store is not None
    api = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=30)
    api.headers.update(auth_headers(api, runtime.store, Role.OPERATOR))
    assert api.post("/cases/nope/backscan").status_code == 404  # needs a case
    assert api.get("/cases/nope/backscan").status_code == 404
    unplaced = api.post("/cases", json={"reason": "test: lost near the pier"}).json()
    response = api.post(f"/cases/{unplaced['id']}/backscan")
    assert response.status_code == 422 and "last-seen camera" in response.json()["detail"]
    case = api.post(
        "/cases",
        json={"reason": "test: lost at the quay", "last_seen_camera": "quay", "window_start": BASE,
              "window_end": BASE + 40},
    ).json()  # fmt: skip
    assert api.get(f"/cases/{case['id']}/backscan").status_code == 404  # none yet
    assert api.post(f"/cases/{case['id']}/backscan", json={"max_cameras": 0}).status_code == 422
    started = api.post(f"/cases/{case['id']}/backscan", json={"max_cameras": 1, "max_walk_minutes": 5})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["requested_by"] == "test-operator" and job["cameras_total"] == 1
    assert job["cameras"][0]["camera_id"] == "quay" and job["segments_total"] == 0  # nothing recorded there
    assert runtime.backscan is not None and runtime.backscan.wait(case["id"], timeout=30) is not None
    read = api.get(f"/cases/{case['id']}/backscan").json()
    assert read["job_id"] == job["job_id"] and read["state"] == "done"
    assert api.delete(f"/cases/{case['id']}/backscan").json()["state"] == "done"  # finished: as is
    viewer = httpx.Client(base_url=str(api.base_url), timeout=30)
    viewer.headers.update(auth_headers(viewer, runtime.store, Role.VIEWER))
    assert viewer.post(f"/cases/{case['id']}/backscan").status_code == 403
    assert runtime.cases is not None
    audit = [(a.action, a.user, a.reason) for a in runtime.cases.audit_trail(case["id"])]
    assert ("backscan_start", "test-operator", "test: lost at the quay") in audit
