"""Shared fixtures: the RTSP camera simulator.

Tests that use `rtsp_sim` or `rtsp_sim_factory` are marked ``rtsp`` automatically, and
are skipped (with the apt command to run) where GStreamer's RTSP server is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ingest.sim import Simulator

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
PERSON_CLIP = SAMPLES / "one-by-one-person-detection.mp4"  # 768x432 H.264 Main, B-frames, 10 fps
CAR_CLIP = SAMPLES / "car-detection.mp4"  # 768x432 H.264 Baseline, 12.5 fps, with an audio track

SimulatorFactory = Callable[..., "Simulator"]

_RTSP_FIXTURES = {"rtsp_sim", "rtsp_sim_factory"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="where the console's browser tests save their screenshots (default build/screenshots)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _RTSP_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.rtsp)


@pytest.fixture(scope="session")
def rtsp_sim_factory() -> Iterator[SimulatorFactory]:
    """Start simulators on demand: ``rtsp_sim_factory([clip], cameras=2)`` returns a started one.

    Every simulator started through it is stopped at the end of the session.
    """
    from ingest.sim import Simulator, check_dependencies
    from vigil.core.errors import DependencyError

    try:
        check_dependencies()
    except DependencyError as error:
        pytest.skip(f"GStreamer RTSP server unavailable: {error}")
    started: list[Simulator] = []

    def start(videos: list[Path] | None = None, cameras: int = 1, port: int = 0) -> Simulator:
        clips = videos or [PERSON_CLIP]
        for clip in clips:
            if not clip.is_file():
                pytest.skip(f"sample clip missing: {clip}")
        sim = Simulator(clips, cameras=cameras, port=port).start()
        started.append(sim)
        return sim

    yield start
    for sim in reversed(started):
        sim.stop()


@pytest.fixture(scope="session")
def rtsp_sim(rtsp_sim_factory: SimulatorFactory) -> Simulator:
    """A simulator shared by the session: ``/cam1`` loops the person clip, ``/cam2`` the car clip.

    Its ``urls`` are ``rtsp://127.0.0.1:<free port>/cam1`` and ``/cam2``. Do not stop it in a test;
    start your own through `rtsp_sim_factory` to kill or restart one.
    """
    return rtsp_sim_factory([PERSON_CLIP, CAR_CLIP], cameras=2)
