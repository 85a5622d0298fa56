"""Camera workers against the real RTSP server: faults stay with the faulty camera, recovery < 10 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from config.ingest import RecordingConfig
from config.models import CameraConfig, CameraRole
from ingest.record_worker import Gap
from ingest.recorder import Segment
from ingest.sim import Simulator
from ingest.workers import IngestSupervisor, record_shard_count
from tests.conftest import CAR_CLIP, PERSON_CLIP, SimulatorFactory
from vigil.core.types import CameraHealth, HealthState

RECOVERY_S = 10.0


class HealthLog:
    """Collects on_health reports with their arrival time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, CameraHealth]] = []
        self.lock = threading.Lock()

    def __call__(self, health: CameraHealth) -> None:
        with self.lock:
            self.events.append((time.monotonic(), health))

    def since(self, t: float) -> list[CameraHealth]:
        with self.lock:
            return [h for at, h in self.events if at >= t]


class RecordingSink:
    """The recording index, in memory: what the supervisor indexed."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.gaps: list[Gap] = []

    def add_segments(self, segments: Sequence[Segment]) -> None:
        self.segments.extend(segments)

    def add_gaps(self, gaps: Sequence[Gap]) -> None:
        self.gaps.extend(gaps)


def make_camera(cid: str, url: str, **kw: object) -> CameraConfig:
    return CameraConfig(id=cid, url=url, stall_timeout_s=3.0, **kw)  # type: ignore[arg-type]


def wait_for(
    sup: IngestSupervisor, check: Callable[[dict[str, CameraHealth]], bool], timeout: float
) -> float:
    """Seconds until `check(health)` holds; fails the test after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check(sup.health_snapshot()):
            return time.monotonic() - start
        time.sleep(0.1)
    pytest.fail(f"condition not met in {timeout:.0f} s: {sup.health_snapshot()}")


def until(check: Callable[[], bool], timeout: float) -> None:
    """Wait until `check()` holds; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met in {timeout:.0f} s")
        time.sleep(0.2)


def online(*ids: str) -> Callable[[dict[str, CameraHealth]], bool]:
    return lambda h: all(h[i].state is HealthState.ONLINE for i in ids)


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., tuple[IngestSupervisor, HealthLog]]]:
    started: list[IngestSupervisor] = []

    def start(cameras: list[CameraConfig], **kw: Any) -> tuple[IngestSupervisor, HealthLog]:
        log = HealthLog()
        sup = IngestSupervisor(cameras, data_dir=tmp_path, on_health=log, shards=1, **kw)
        sup.start()
        started.append(sup)
        return sup, log

    yield start
    for sup in started:
        sup.stop(timeout=8.0)


def test_broken_cameras_stay_offline_with_reasons_and_others_do_not_notice(
    rtsp_sim_factory: SimulatorFactory,
    supervise: Callable[..., tuple[IngestSupervisor, HealthLog]],
    tmp_path: Path,
) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(PERSON_CLIP.read_bytes()[:4096] + bytes(200_000))
    sim = rtsp_sim_factory([PERSON_CLIP, CAR_CLIP, corrupt], cameras=3)
    sup, log = supervise(
        [
            make_camera("good", sim.urls[0]),
            make_camera("ai", sim.urls[1], role=CameraRole.AI, detect_url=sim.urls[1]),
            make_camera("corrupt", sim.urls[2]),  # the server cannot demux this file
            make_camera("closed", "rtsp://127.0.0.1:9/cam1"),  # nothing listens on port 9
            make_camera("badhost", "rtsp://no-such-camera.invalid:554/cam1"),  # DNS fails
        ]
    )
    wait_for(sup, online("good", "ai"), 15.0)
    assert sup.source("ai") is not None and sup.source("ai").read(timeout=5.0) is not None  # type: ignore[union-attr]
    settled = time.monotonic()
    time.sleep(4.0)
    health = sup.health_snapshot()
    for cid in ("corrupt", "closed", "badhost"):
        assert health[cid].state is HealthState.OFFLINE, health[cid]
        assert health[cid].reason not in ("", "starting"), health[cid]
    assert {h.camera_id for h in log.since(settled)} <= {"corrupt", "closed", "badhost"}


def test_stalled_mount_is_restarted_and_others_do_not_notice(
    rtsp_sim_factory: SimulatorFactory, supervise: Callable[..., tuple[IngestSupervisor, HealthLog]]
) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP], cameras=2)
    sink = RecordingSink()
    sup, log = supervise(
        [make_camera("cam1", sim.urls[0]), make_camera("cam2", sim.urls[1])],
        index=sink,
        recording=RecordingConfig(segment_seconds=2.0),
    )
    wait_for(sup, online("cam1", "cam2"), 15.0)
    until(lambda: any(s.camera_id == "cam2" for s in sink.segments), 10.0)  # recording before the stall
    settled = time.monotonic()
    sim.stall("/cam2")
    stalled_at = time.time()
    wait_for(sup, lambda h: h["cam2"].state is not HealthState.ONLINE, 3.0 + 5.0)  # stall_timeout + slack
    time.sleep(2.0)
    sim.stall("/cam2", stalled=False)
    assert wait_for(sup, online("cam2"), RECOVERY_S) < RECOVERY_S
    assert {h.camera_id for h in log.since(settled)} == {"cam2"}
    # The stall is a recorded gap with its reason, not a hole hidden inside a segment.
    until(lambda: any(g.camera_id == "cam2" for g in sink.gaps), 10.0)
    gaps = [g for g in sink.gaps if g.camera_id == "cam2"]
    assert len(gaps) == 1 and "stalled" in gaps[0].reason, gaps
    assert gaps[0].start <= stalled_at + 1.0 and gaps[0].end - gaps[0].start >= 4.0, gaps
    assert not [g for g in sink.gaps if g.camera_id == "cam1"]
    for segment in (s for s in sink.segments if s.camera_id == "cam2"):
        assert segment.end <= gaps[0].start + 1e-6 or segment.start >= gaps[0].end - 1e-6, segment


def test_stalled_detect_stream_degrades_and_delivers_again(
    rtsp_sim_factory: SimulatorFactory, supervise: Callable[..., tuple[IngestSupervisor, HealthLog]]
) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP], cameras=2)
    sup, log = supervise(
        [
            make_camera("cam1", sim.urls[0], role=CameraRole.AI, detect_url=sim.urls[0]),
            make_camera("cam2", sim.urls[1], role=CameraRole.AI, detect_url=sim.urls[1]),
        ]
    )
    wait_for(sup, online("cam1", "cam2"), 15.0)
    settled = time.monotonic()
    sim.stall("/cam2")
    wait_for(sup, lambda h: h["cam2"].state is not HealthState.ONLINE, 3.0 + 5.0)  # stall_timeout + slack
    sim.stall("/cam2", stalled=False)
    resumed = time.time()
    assert wait_for(sup, online("cam2"), RECOVERY_S) < RECOVERY_S
    source = sup.source("cam2")
    assert source is not None

    def fresh_frame() -> bool:  # frames from after the recovery reach detection within 10 s
        frame = source.read(timeout=0.5)
        return frame is not None and frame.timestamp > resumed

    until(fresh_frame, RECOVERY_S)
    assert {h.camera_id for h in log.since(settled)} == {"cam2"}


@pytest.mark.slow
def test_server_killed_and_restarted_every_camera_back_within_10_s(
    supervise: Callable[..., tuple[IngestSupervisor, HealthLog]],
) -> None:
    sim = Simulator([PERSON_CLIP], cameras=3).start()
    try:
        port = sim.port
        sup, _ = supervise(
            [make_camera(f"cam{k + 1}", url) for k, url in enumerate(sim.urls)]
            + [make_camera("ai", sim.urls[0], role=CameraRole.AI)]
        )
        ids = ("cam1", "cam2", "cam3", "ai")
        wait_for(sup, online(*ids), 15.0)
        sim.stop()
        wait_for(sup, lambda h: all(h[i].state is not HealthState.ONLINE for i in ids), 10.0)
        time.sleep(6.0)  # down long enough for the backoff to grow
        sim = Simulator([PERSON_CLIP], cameras=3, port=port).start()
        assert wait_for(sup, online(*ids), RECOVERY_S) < RECOVERY_S
    finally:
        sim.stop()


def test_add_remove_disable_at_runtime_leaves_others_alone(
    rtsp_sim: Simulator, supervise: Callable[..., tuple[IngestSupervisor, HealthLog]]
) -> None:
    sup, log = supervise([make_camera("cam1", rtsp_sim.urls[0])])
    wait_for(sup, online("cam1"), 15.0)
    settled = time.monotonic()
    sup.add_camera(make_camera("cam2", rtsp_sim.urls[1]))
    wait_for(sup, online("cam2"), 15.0)
    sup.set_enabled("cam2", False)
    assert sup.health_snapshot()["cam2"].reason == "disabled"
    sup.set_enabled("cam2", True)
    wait_for(sup, online("cam2"), 15.0)
    added, removed, changed = sup.apply([make_camera("cam1", rtsp_sim.urls[0])])
    assert (added, removed, changed) == ([], ["cam2"], [])
    assert "cam2" not in sup.health_snapshot()
    assert {h.camera_id for h in log.since(settled)} == {"cam2"}


@pytest.mark.parametrize(
    ("configured", "enabled", "expected"),
    [
        (0, 0, 1),  # an empty site still records through one shard
        (0, 5, 1),
        (0, 36, 1),
        (0, 37, 2),
        (0, 141, 4),  # the tourist district
        (0, 1000, 8),  # capped
        (3, 141, 3),  # recording.shards wins
    ],
)
def test_record_shard_count(configured: int, enabled: int, expected: int) -> None:
    assert record_shard_count(RecordingConfig(shards=configured), enabled) == expected
