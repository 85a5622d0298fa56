"""StreamSource and FileSource against real RTSP streams and real files."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import pytest

from ingest.sim import Simulator
from ingest.sources import FileSource, FrameSource, StreamSource
from tests.conftest import PERSON_CLIP, SimulatorFactory
from vigil.core.errors import SourceError
from vigil.core.types import CameraHealth, HealthState


class HealthLog:
    """Collects health reports from the reader thread; lets a test wait for a state."""

    def __init__(self) -> None:
        self.reports: list[CameraHealth] = []
        self._changed = threading.Condition()

    def __call__(self, health: CameraHealth) -> None:
        with self._changed:
            self.reports.append(health)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self.reports.clear()

    def wait_for(self, predicate: Callable[[CameraHealth], bool], timeout: float) -> CameraHealth:
        with self._changed:
            found = self._changed.wait_for(lambda: any(predicate(h) for h in self.reports), timeout)
            assert found, f"no matching health report within {timeout} s; got {self.reports}"
            return next(h for h in self.reports if predicate(h))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sources_satisfy_the_frame_source_contract() -> None:
    assert isinstance(FileSource(PERSON_CLIP), FrameSource)


@pytest.mark.parametrize(
    "url",
    [
        "/nonexistent/clip.mp4",  # plain path
        "file:///nonexistent/clip.mp4",  # file URL
    ],
)
def test_missing_file_raises_source_error(url: str) -> None:
    with pytest.raises(SourceError, match="not found"):
        StreamSource("cam", url)


def test_file_source_thins_by_media_time_and_stamps_offsets() -> None:
    with FileSource(PERSON_CLIP, camera_id="f", detect_fps=1.0, file_epoch=1000.0) as source:
        frames = list(source)
    assert len(frames) == 140  # 139.4 s of video at 1 fps, first frame kept
    assert [f.index for f in frames[:3]] == [0, 10, 20]  # every 10th of a 10 fps clip
    assert frames[0].timestamp == pytest.approx(1000.0)
    assert frames[1].timestamp - frames[0].timestamp == pytest.approx(1.0)
    assert (frames[0].width, frames[0].height) == (768, 432)
    assert source.dropped == 0 and source.finished


@pytest.mark.rtsp
def test_stream_source_delivers_at_detect_fps(rtsp_sim: Simulator) -> None:
    health = HealthLog()
    with StreamSource("cam1", rtsp_sim.urls[0], detect_fps=5.0, on_health=health) as source:
        first = source.read(timeout=10.0)
        assert first is not None
        started = time.monotonic()
        frames = [first]
        while time.monotonic() - started < 3.0:
            frame = source.read(timeout=2.0)
            if frame is not None:
                frames.append(frame)
    rate = (len(frames) - 1) / 3.0
    assert 3.5 <= rate <= 6.5, rate  # 5 fps asked from a 10 fps stream
    assert {(f.width, f.height) for f in frames} == {(768, 432)}
    assert all(b.index > a.index for a, b in zip(frames, frames[1:], strict=False))
    assert abs(frames[-1].timestamp - time.time()) < 2.0  # live streams carry wall-clock time
    assert health.reports[0].state is HealthState.ONLINE


@pytest.mark.rtsp
def test_burst_decoding_keeps_the_source_rate_and_the_frame_spacing(rtsp_sim: Simulator) -> None:
    # A 10 fps camera read in 0.4 s bursts at 5 detect fps: two due frames per burst, both kept
    # (queue of 2), stamped with their capture time, not the instant the burst was decoded.
    with StreamSource("cam1", rtsp_sim.urls[0], detect_fps=5.0, burst_s=0.4, queue_size=2) as source:
        first = source.read(timeout=10.0)
        assert first is not None
        decoded0, started = source.decoded, time.monotonic()
        frames = [first]
        while time.monotonic() - started < 4.0:
            frame = source.read(timeout=2.0)
            if frame is not None:
                frames.append(frame)
        decoded_rate = (source.decoded - decoded0) / (time.monotonic() - started)
    assert decoded_rate >= 8.0, decoded_rate  # keeps up with the 10 fps source
    # From the second frame on: the first is stamped before the live edge is known.
    gaps = sorted(b.timestamp - a.timestamp for a, b in zip(frames[1:], frames[2:], strict=False))
    assert len(gaps) >= 15, len(frames)
    assert 0.15 <= gaps[len(gaps) // 2] <= 0.25, gaps  # media spacing (0.2 s), not burst spacing (~0)
    assert gaps[0] >= 0.09, gaps
    assert 0.0 <= time.time() - frames[-1].timestamp < 2.0  # capture time, at most a burst old


def test_negative_burst_is_rejected() -> None:
    with pytest.raises(ValueError, match="burst_s"):
        StreamSource("cam", "rtsp://127.0.0.1:1/cam1", burst_s=-0.1)


@pytest.mark.rtsp
def test_slow_consumer_gets_the_freshest_frame_and_drops_are_counted(rtsp_sim: Simulator) -> None:
    with StreamSource("cam2", rtsp_sim.urls[1]) as source:
        assert source.read(timeout=10.0) is not None
        time.sleep(1.5)  # ~18 frames arrive at 12.5 fps while the consumer is busy
        frame = source.read(timeout=1.0)
    assert frame is not None
    assert source.dropped >= 10
    assert time.time() - frame.timestamp < 0.5


def test_closed_port_reports_offline_without_raising() -> None:
    health = HealthLog()
    source = StreamSource("dead", f"rtsp://127.0.0.1:{closed_port()}/cam1", on_health=health)
    source.start()
    report = health.wait_for(lambda h: h.state is HealthState.OFFLINE, timeout=5.0)
    assert source.read(timeout=0.5) is None
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 2.0
    assert "refused" in report.reason.lower()
    assert report.camera_id == "dead" and report.since > 0


@pytest.mark.rtsp
def test_source_comes_back_after_the_server_restarts(rtsp_sim_factory: SimulatorFactory) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP])
    health = HealthLog()
    source = StreamSource("cam1", sim.urls[0], on_health=health, stall_timeout=2.0, backoff_max=2.0)
    with source:
        assert source.read(timeout=10.0) is not None
        sim.stop()
        health.wait_for(lambda h: h.state in (HealthState.DEGRADED, HealthState.OFFLINE), timeout=5.0)
        time.sleep(1.0)  # a few reconnects fail while the camera is down
        health.clear()
        sim.start()  # same port: Simulator keeps the one it bound first
        back = health.wait_for(lambda h: h.state is HealthState.ONLINE, timeout=10.0)
        assert source.read(timeout=5.0) is not None
    assert back.reconnects >= 1


@pytest.mark.rtsp
def test_stalled_stream_is_detected_and_reopened(rtsp_sim_factory: SimulatorFactory) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP])
    assert sim.pid is not None
    health = HealthLog()
    with StreamSource("cam1", sim.urls[0], on_health=health, stall_timeout=1.0, backoff_max=1.0) as source:
        assert source.read(timeout=10.0) is not None
        os.kill(sim.pid, signal.SIGSTOP)  # connection stays open, data stops: a hung camera
        try:
            stalled = health.wait_for(lambda h: h.state is HealthState.DEGRADED, timeout=5.0)
        finally:
            os.kill(sim.pid, signal.SIGCONT)
        health.clear()
        health.wait_for(lambda h: h.state is HealthState.ONLINE, timeout=10.0)
    assert stalled.reason


def test_live_edge_is_set_by_packets_that_came_live() -> None:
    from ingest.live import LiveEdge

    edge = LiveEdge()
    assert edge.lag(100.0, 0.0, waited=False) == float("inf")  # unknown: never "caught up"
    assert edge.capture_time(0.0, 100.0) == 100.0  # read time until then
    assert edge.lag(100.5, 0.4, waited=True) == 0.0  # the first live packet sets the edge
    assert edge.lag(100.8, 0.44, waited=False) == pytest.approx(0.26, abs=0.01)  # read from a backlog
    assert edge.lag(100.9, 0.85, waited=True) == 0.0  # sooner than any before: new edge
    assert edge.capture_time(0.85, 101.0) == pytest.approx(100.9)
    assert edge.lag(104.0, 1.0, waited=True) == 0.0  # 3 s late but live: a stall, re-anchored


def test_live_edge_ignores_a_start_up_burst_and_sees_a_reader_fall_behind() -> None:
    from ingest.live import LiveEdge

    edge = LiveEdge()
    for k in range(30):  # the server sends its first 1.2 s of video at once ...
        edge.lag(100.0, k * 0.04, waited=k == 0)
    live = [edge.lag(101.2 + t * 0.04, 1.2 + t * 0.04, waited=True) for t in range(25)]
    assert max(live[1:]) < 0.01  # ... then live: the live packets define the edge
    # A reader that keeps up with 80 % of the rate: its lag grows, it is never "caught up".
    behind = [edge.lag(102.2 + t * 0.05, 2.2 + t * 0.04, waited=False) for t in range(1, 50)]
    assert behind[-1] > 0.4 and all(b > a for a, b in zip(behind, behind[1:], strict=False))
