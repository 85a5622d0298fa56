"""Recording over real RTSP: segments, the index, clip export (CLI function and API), retention."""

from __future__ import annotations

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
from ingest.retention import RetentionPolicy, enforce
from tests.conftest import SimulatorFactory
from vigil.db.recordings import RecordingIndex
from vigil.db.store import Store


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
        assert segment.duration >= 1.5


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


def test_retention_deletes_oldest_unprotected_never_held(
    index: RecordingIndex, recorded: list[Segment], tmp_path: Path
) -> None:
    held = recorded[0]
    index.add_hold("cam1", held.start, held.end - 0.01, "case-42")
    # Disk pressure so high that everything unprotected must go.
    deleted = enforce(
        index, RetentionPolicy(min_free_percent=100.0), now=time.time(), free_percent=lambda: 0.0
    )
    assert held.path not in {s.path for s in deleted}
    assert {s.path for s in deleted} == {s.path for s in recorded[1:]}
    assert held.path.exists() and not any(s.path.exists() for s in recorded[1:])
