"""Dwell: one alert per stay past min_seconds, a grace period for brief losses, slow time only."""

from __future__ import annotations

import numpy as np
import pytest

from alerts.calibration import GroundPlane
from alerts.common import SpeedMeter
from alerts.dwell import Dwell
from config.models import Calibration
from tests.alerts.tracks import feed, flat, people
from vigil.core.types import AlertKind, Detections

# Zone: the right half of the 100x100 frame.
RIGHT_HALF = np.array([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]])
INSIDE, OUTSIDE = (1, 70.0, 60.0), (1, 20.0, 60.0)
TOP_DOWN = Calibration(image=[(0, 0), (1, 0), (1, 1), (0, 1)], ground=[(0, 0), (10, 0), (10, 10), (0, 10)])


def dwell(**kwargs: object) -> Dwell:
    defaults: dict[str, object] = {
        "name": "linger",
        "camera_id": "cam1",
        "zone": "quay",
        "polygon": RIGHT_HALF,
        "min_seconds": 5.0,
        "grace_s": 2.0,
    }
    return Dwell(**{**defaults, **kwargs})  # type: ignore[arg-type]


def frames(*parts: tuple[tuple[int, float, float] | None, int]) -> list[Detections]:
    """(person or None for nobody, number of frames) runs, 0.2 s a frame."""
    return [people(person) if person else people() for person, n in parts for _ in range(n)]


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        # 10 s inside: one alert, at 5 s of dwell
        (frames((INSIDE, 50)), [pytest.approx(5.0)]),
        # 4 s inside: nothing
        (frames((INSIDE, 20)), []),
        # 3 s in, lost 1.6 s (within the 2 s grace), 3 s in: one stay, one alert
        (frames((INSIDE, 15), (None, 8), (INSIDE, 15)), [pytest.approx(5.0)]),
        # 3 s in, lost 3 s (past the grace): the clock restarts, no 5 s stay
        (frames((INSIDE, 15), (None, 15), (INSIDE, 15)), []),
        # stepping out of the zone briefly is like being lost: the stay goes on
        (frames((INSIDE, 15), (OUTSIDE, 5), (INSIDE, 15)), [pytest.approx(5.0)]),
        # two stays of 6 s separated by 4 s away: two alerts (cooldown 0)
        (frames((INSIDE, 30), (None, 20), (INSIDE, 30)), [pytest.approx(5.0), pytest.approx(5.0)]),
    ],
)
def test_dwell(sequence: list[Detections], expected: list[object]) -> None:
    alerts = flat(feed(dwell(cooldown_s=0.0), sequence))
    assert [a.value for a in alerts] == expected
    assert all(a.kind is AlertKind.DWELL and a.zone == "quay" for a in alerts)


def test_cooldown_spans_stays() -> None:
    alerts = flat(feed(dwell(cooldown_s=60.0), frames((INSIDE, 30), (None, 20), (INSIDE, 30))))
    assert len(alerts) == 1


def test_two_people_are_timed_apart() -> None:
    sequence = [people((1, 70, 60), (2, 80, 60)) if i >= 10 else people((1, 70, 60)) for i in range(40)]
    alerts = flat(feed(dwell(), sequence))
    assert [(a.tracker_id, round(a.value or 0, 1)) for a in alerts] == [(1, 5.0), (2, 5.0)]
    assert alerts[0].message == "person (track 1) has stayed 5 s in zone 'quay' on cam1"


def test_only_slow_time_counts_with_max_speed() -> None:
    plane = GroundPlane.from_config(TOP_DOWN)  # 1 px = 0.1 m
    rule = dwell(max_speed_mps=0.5, speeds=SpeedMeter(plane), min_seconds=3.0)
    # Walking 2 px a frame (1 m/s) inside for 6 s, then standing still for 4 s.
    walking = [people((1, 52 + 2 * (i % 20), 60)) for i in range(30)]
    standing = [people((1, 70, 60))] * 20
    raised = feed(rule, walking + standing)
    first = next(i for i, frame in enumerate(raised) if frame)
    assert first >= 30 + 15  # the walk did not count; 3 s of standing did (1 s speed window)
    assert flat(raised)[0].value == pytest.approx(3.0, abs=0.25)
