"""The RTSP camera simulator, against a real GStreamer server and a PyAV client."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest

from ingest.sim import Simulator, check_dependencies
from tests.conftest import PERSON_CLIP, SimulatorFactory
from vigil.core.errors import DependencyError, SourceError


def read_frames(url: str, count: int, timeout: float = 15.0) -> list[Any]:
    """Decode `count` frames from `url` over RTSP/TCP; returns the PyAV frames."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    options = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}
    with av.open(url, options=options, timeout=(5.0, 5.0)) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count or time.monotonic() > deadline:
                break
    return frames


def cut_clip(source: Path, target: Path, seconds: float) -> Path:
    """Copy the first GOPs of `source` (about `seconds` long) into `target`, without re-encoding."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = inp.streams.video[0]
        assert stream.time_base is not None
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            # Cut before a keyframe so that every B-frame kept has its references.
            if packet.is_keyframe and packet.pts is not None and packet.pts * stream.time_base >= seconds:
                break
            packet.stream = copy
            out.mux(packet)
    return target


@pytest.mark.rtsp
def test_two_mounts_serve_frames_of_the_right_size(rtsp_sim: Simulator) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda url: read_frames(url, 20), rtsp_sim.urls))
    for url, frames in zip(rtsp_sim.urls, results, strict=True):
        assert len(frames) >= 20, url
        assert (frames[-1].width, frames[-1].height) == (768, 432), url


@pytest.mark.rtsp
def test_loop_keeps_timestamps_increasing(rtsp_sim_factory: SimulatorFactory, tmp_path: Path) -> None:
    clip = cut_clip(PERSON_CLIP, tmp_path / "short.mp4", seconds=1.0)  # loops every ~1 s
    sim = rtsp_sim_factory([clip])
    frames = read_frames(sim.urls[0], 35)  # three loops and a half at 10 fps
    pts = [frame.pts for frame in frames if frame.pts is not None]
    assert len(frames) >= 35
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), pts


@pytest.mark.rtsp
def test_stop_ends_the_server_process(rtsp_sim_factory: SimulatorFactory) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP])
    process_id = sim.pid
    assert sim.running and process_id is not None
    started = time.monotonic()
    sim.stop()
    assert not sim.running
    assert time.monotonic() - started < 5.0
    with pytest.raises(ProcessLookupError):  # stop() also reaped it: no zombie left behind
        os.kill(process_id, 0)


@pytest.mark.parametrize(
    "videos",
    [
        [Path("/nonexistent/clip.mp4")],  # the only file is missing
        [PERSON_CLIP, Path("/nonexistent/clip.mp4")],  # one good file does not hide a missing one
    ],
)
def test_missing_video_raises_source_error_before_spawning(videos: list[Path]) -> None:
    with pytest.raises(SourceError, match="not found"):
        Simulator(videos)


@pytest.mark.parametrize(
    "python",
    [
        "/nonexistent/python3",  # no interpreter at all
        sys.executable,  # the virtualenv's Python: no gi module
    ],
)
def test_missing_gstreamer_bindings_raise_dependency_error_with_install_hint(python: str) -> None:
    if python == sys.executable and importlib.util.find_spec("gi") is not None:
        pytest.skip("this interpreter has gi")
    with pytest.raises(DependencyError, match="apt-get install -y gir1.2-gst-rtsp-server-1.0"):
        check_dependencies(python)
