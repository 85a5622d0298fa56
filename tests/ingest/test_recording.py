"""Recording over real RTSP: segments, the index, clip export (CLI function and API), retention."""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import threading
import time
from pathlib import Path

import av
import pytest

from ingest.clips import ClipError, export_clip
from ingest.record_worker import Gap, RecordJob, RecordLoop
from ingest.recorder import Segment
from tests.conftest import SimulatorFactory
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.services.retention import RetentionPolicy, enforce


def record(url: str, directory: Path, seconds: float, segment_seconds: float = 2.0) -> list[Segment]:
    events: list[object] = []
    loop = RecordLoop(RecordJob("cam1", url, directory, segment_seconds=segment_seconds), events.append)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    loop.stop.set()
    thread.join(10)
    return [e for e in events if isinstance(e, Segment)]


@pytest.fixture(scope="module")
def recorded(rtsp_sim_factory: SimulatorFactory, tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    sim = rtsp_sim_factory(cameras=1)
    return record(sim.urls[0], tmp_path_factory.mktemp("rec"), seconds=9.0)


@pytest.fixture
def index(tmp_path: Path, recorded: list[Segment]) -> RecordingIndex:
    store = Store.open(tmp_path / "vigil.db")
    idx = RecordingIndex.for_store(store)
    idx.add_segments(recorded)
    return idx


def test_segments_are_contiguous_keyframe_started_and_playable(recorded: list[Segment]) -> None:
    assert len(recorded) >= 2, recorded
    for prev, nxt in zip(recorded, recorded[1:], strict=False):
        assert nxt.start == pytest.approx(prev.end, abs=1e-6)  # one session: no hole between segments
    for segment in recorded:
        assert segment.path.suffix == ".mp4" and segment.size > 0
        with av.open(str(segment.path)) as container:
            packets = [p for p in container.demux(video=0) if p.size]
            assert packets[0].is_keyframe
            assert sum(1 for _ in container.decode(video=0)) >= 0
    # Cut at the first keyframe 2 s in; the last one is cut short by the stop, wherever it falls.
    assert all(segment.duration >= 1.5 for segment in recorded[:-1]), recorded


@pytest.mark.rtsp
def test_burst_reading_records_capture_times_and_drains_at_stop(
    rtsp_sim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    sim = rtsp_sim_factory(cameras=1)
    events: list[object] = []
    job = RecordJob("cam1", sim.urls[0], tmp_path, segment_seconds=2.0, burst_s=0.5)
    loop = RecordLoop(job, events.append)
    thread = threading.Thread(target=loop.run, daemon=True)
    started = time.time()
    thread.start()
    time.sleep(7.0)
    stopped = time.time()
    loop.stop.set()
    thread.join(10)
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(segments) >= 2, events
    for prev, nxt in zip(segments, segments[1:], strict=False):
        assert nxt.start == pytest.approx(prev.end, abs=1e-6)
    # Stamped when sent, not when read up to half a second later; the recording reaches the
    # stop but for what was still buffered (at most one burst).
    assert started < segments[0].start < started + 3.0
    assert stopped - 0.5 - 0.3 <= segments[-1].end <= stopped + 0.3, (segments[-1], stopped)
    assert sum(s.packets for s in segments) >= 0.9 * 10 * (segments[-1].end - segments[0].start)


def test_clip_spans_segments_keyframe_aligned_with_manifest(
    index: RecordingIndex, recorded: list[Segment], tmp_path: Path
) -> None:
    start = recorded[0].start + 1.0
    end = recorded[1].end - 0.5
    out = tmp_path / "clip.mp4"
    manifest = export_clip(index, "cam1", start, end, out)
    assert manifest.covered_start <= start and manifest.covered_end >= end - 0.2
    assert len(manifest.segments) >= 2 and manifest.gaps == []
    assert manifest.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    saved = json.loads(out.with_name("clip.mp4.json").read_text())
    assert saved["camera_id"] == "cam1" and saved["requested_start"] == start
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 0.8 * (end - start) * 10  # the person clip runs at 10 fps


def test_clip_states_a_gap(index: RecordingIndex, recorded: list[Segment], tmp_path: Path) -> None:
    # Drop the middle segment from the index: the clip across it must say so.
    if len(recorded) < 3:
        pytest.skip("needs three segments")
    middle = [
        s.id for s in index.segments("cam1", recorded[0].start, recorded[2].end) if s.path == recorded[1].path
    ]
    index.delete_segments(middle)
    index.add_gaps([Gap("cam1", recorded[1].start, recorded[1].end, "camera offline")])
    manifest = export_clip(index, "cam1", recorded[0].start, recorded[2].end, tmp_path / "gap.mp4")
    assert [g.reason for g in manifest.gaps] == ["camera offline"]


@pytest.mark.parametrize(
    "offset",
    [
        -3600.0,  # an hour before anything was recorded
        +3600.0,  # an hour after
    ],
)
def test_clip_outside_the_recording_is_a_clear_error(
    index: RecordingIndex, recorded: list[Segment], tmp_path: Path, offset: float
) -> None:
    with pytest.raises(ClipError, match="no recording between .* recorded: "):
        export_clip(
            index, "cam1", recorded[0].start + offset, recorded[0].start + offset + 5, tmp_path / "x.mp4"
        )
    assert not (tmp_path / "x.mp4").exists()


def test_retention_deletes_oldest_unprotected_never_held(recorded: list[Segment], tmp_path: Path) -> None:
    # Work on copies: the module's recorded files are shared with the other tests.
    copies = []
    for k, segment in enumerate(recorded):
        path = tmp_path / f"seg{k}.mp4"
        path.write_bytes(segment.path.read_bytes())
        copies.append(dataclasses.replace(segment, path=path))
    index = RecordingIndex.for_store(Store.open(tmp_path / "retention.db"))
    index.add_segments(copies)
    held = copies[0]
    index.add_hold("cam1", held.start, held.end - 0.01, "case-42")
    # Disk pressure so high that everything unprotected must go.
    deleted = enforce(
        index, RetentionPolicy(min_free_percent=100.0), now=time.time(), free_percent=lambda: 0.0
    )
    assert {s.path for s in deleted} == {s.path for s in copies[1:]}
    assert held.path.exists() and not any(s.path.exists() for s in copies[1:])
    assert [s.path for s in index.segments("cam1", 0, time.time() + 3600)] == [held.path]


def test_api_clip_mp4_manifest_and_errors(
    index: RecordingIndex, recorded: list[Segment], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from api import ApiServices, Role, create_app
    from config.models import VigilConfig
    from tests.factories import auth_headers

    store = Store.open(tmp_path / "vigil.db")  # the same file the `index` fixture filled
    config = VigilConfig.model_validate({"cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/main"}]})
    services = ApiServices(store=store, health=dict, data_dir=tmp_path)
    client = TestClient(create_app(config, services))
    # Without a login an export is refused before anything is cut or audited.
    anonymous = client.get("/cameras/cam1/clip.mp4", params={"start": 1, "end": 2, "reason": "no login"})
    assert anonymous.status_code == 401
    client.headers.update(auth_headers(client, store, Role.MEDIATOR))  # exports need mediator
    start, end = recorded[0].start + 0.5, recorded[1].end - 0.5
    # An export without a reason is refused: evidence must say why it was taken.
    refused = client.get("/cameras/cam1/clip.mp4", params={"start": start, "end": end})
    assert refused.status_code == 422 and "reason" in refused.text
    reason = "mediation 2026-114: noise complaint"
    response = client.get("/cameras/cam1/clip.mp4", params={"start": start, "end": end, "reason": reason})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-vigil-clip-sha256"] == hashlib.sha256(response.content).hexdigest()
    assert float(response.headers["x-vigil-clip-covered-start"]) <= start
    manifest = client.get("/cameras/cam1/clip.json", params={"start": start, "end": end}).json()
    assert manifest["camera_id"] == "cam1" and len(manifest["segments"]) >= 2
    outside = client.get(
        "/cameras/cam1/clip.mp4", params={"start": start - 7200, "end": start - 7000, "reason": reason}
    )
    assert outside.status_code == 404 and "no recording" in outside.json()["detail"]
    missing = client.get("/cameras/nope/clip.mp4", params={"start": start, "end": end, "reason": reason})
    assert missing.status_code == 404
    # The export is in the audit log with who and why, and its span is held against retention.
    from vigil.infra.db.cases import CaseStore

    audit = [r for r in CaseStore.for_store(store).audit_trail() if r.action == "export_clip"]
    assert len(audit) == 1 and audit[0].reason == reason and audit[0].user == "test-mediator"
    assert audit[0].detail["sha256"] == response.headers["x-vigil-clip-sha256"]
    metrics = client.get("/metrics", headers={"Authorization": ""})  # Prometheus scrapes without a login
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    store.close()


def test_metrics_collector_reports_per_camera_counters() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from ingest.metrics import IngestCollector
    from ingest.workers import CameraStats
    from vigil.core.types import CameraHealth, HealthState

    class Fake:
        def stats(self) -> dict[str, CameraStats]:
            return {
                "cam1": CameraStats(
                    "cam1", "record", packets=250, bytes_recorded=10_000, last_frame_age_s=0.1
                )
            }

        def health_snapshot(self) -> dict[str, CameraHealth]:
            return {"cam1": CameraHealth("cam1", HealthState.ONLINE, "ok", since=0.0)}

    registry = CollectorRegistry()
    registry.register(IngestCollector(Fake()))
    text = generate_latest(registry).decode()
    assert 'vigil_camera_frames_in_total{camera="cam1",role="record"} 250.0' in text
    assert 'vigil_camera_recording_bytes_total{camera="cam1",role="record"} 10000.0' in text
    assert 'vigil_camera_health{camera="cam1",state="online"} 1.0' in text


def test_vigil_clip_command_writes_a_signed_bundle(
    index: RecordingIndex, recorded: list[Segment], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    from vigil.cli import main
    from vigil.commands import verify

    out = tmp_path / "evidence.zip"
    start, end = recorded[0].start + 0.5, recorded[1].start + 0.5
    args = ["clip", "--db", str(tmp_path / "vigil.db"), "--camera", "cam1", "-o", str(out)]
    with pytest.raises(SystemExit):  # --reason is required: argparse refuses the call
        main([*args, "--start", str(start), "--end", str(end)])
    args += ["--reason", "mediation 2026-114"]  # no --user: the exporter is the OS user
    assert main([*args, "--start", str(start), "--end", str(end)]) == 0
    with zipfile.ZipFile(out) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        clip = bundle.read("clips/cam1.mp4")
    assert manifest["files"]["clips/cam1.mp4"]["sha256"] == hashlib.sha256(clip).hexdigest()
    assert (manifest["exporter"], manifest["reason"]) == (f"os:{getpass.getuser()}", "mediation 2026-114")
    assert verify.main([str(out), "--public-key", str(tmp_path / "keys" / "evidence_ed25519.pub.pem")]) == 0
    assert main([*args, "--start", str(start - 7200), "--end", str(start - 7100)]) == 1
    assert "no recording" in capsys.readouterr().err
