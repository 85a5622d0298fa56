"""Occupancy: START once the count holds out of bounds for min_seconds, END once it clears."""

from __future__ import annotations

import numpy as np
import pytest

from alerts.calibration import GroundPlane
from alerts.occupancy import Occupancy
from config.models import Calibration
from tests.alerts.tracks import feed, people
from vigil.core.types import AlertKind, AlertPhase, Detections

RIGHT_HALF = np.array([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]])
START, END = AlertPhase.START, AlertPhase.END


def crowd(n: int, outside: int = 0) -> Detections:
    """n people in the zone (right half) and `outside` people left of it."""
    return people(
        *[(i, 55.0 + i, 50.0) for i in range(n)], *[(100 + i, 10.0 + i, 50.0) for i in range(outside)]
    )


def occupancy(**kwargs: object) -> Occupancy:
    defaults: dict[str, object] = {
        "name": "crowd",
        "camera_id": "cam1",
        "zone": "bridge",
        "polygon": RIGHT_HALF,
        "max_people": 3,
        "min_seconds": 1.0,
        "hold_s": 0.0,  # the count tables below are the people seen each frame (hold: its own test)
    }
    return Occupancy(**{**defaults, **kwargs})  # type: ignore[arg-type]


def phases(rule: Occupancy, counts: list[int]) -> list[tuple[int, AlertPhase | None, float | None]]:
    """(frame, phase, people) of every alert over frames 0.2 s apart with these counts in the zone."""
    raised = feed(rule, [crowd(n, outside=2) for n in counts])
    return [(i, a.phase, a.value) for i, frame in enumerate(raised) for a in frame]


@pytest.mark.parametrize(
    ("kwargs", "counts", "expected"),
    [
        # 5 people for 2 s then 2 people: START after 1 s (frame 5), END 1 s after it clears
        ({}, [5] * 10 + [2] * 10, [(5, START, 5.0), (15, END, 2.0)]),
        # a 0.8 s peak is no crowd
        ({}, [2] * 5 + [5] * 4 + [2] * 10, []),
        # a count flickering under the limit for less than min_seconds does not end it
        ({}, [5] * 10 + [3, 3, 5, 5] * 3 + [5] * 5, [(5, START, 5.0)]),
        # exactly the limit is not over it
        ({}, [3] * 20, []),
        # a floor: fewer than 2 people for 1 s; people outside the zone do not count
        (
            {"max_people": None, "min_people": 2},
            [2] * 5 + [1] * 10 + [2] * 10,
            [(10, START, 1.0), (20, END, 2.0)],
        ),
        # min_seconds 0: at once
        ({"min_seconds": 0.0}, [2, 5, 5, 2], [(1, START, 5.0), (3, END, 2.0)]),
        # cooldown: a second crowd 1 s after the END waits (cooldown 5 s from the END)
        ({"cooldown_s": 5.0}, [5] * 6 + [2] * 6 + [5] * 10, [(5, START, 5.0), (11, END, 2.0)]),
    ],
)
def test_start_and_end_once(kwargs: dict[str, object], counts: list[int], expected: list[object]) -> None:
    assert phases(occupancy(**kwargs), counts) == expected


def flicker(n: int, missing: set[int]) -> Detections:
    """n people in the zone with ids 0..n-1, those in `missing` not detected this frame."""
    return people(*[(i, 55.0 + i, 50.0) for i in range(n) if i not in missing])


@pytest.mark.parametrize(
    ("frames", "hold_s", "expected"),
    [
        # 5 people, one or two missed by the detector every other frame: still a crowd of 5
        ([flicker(5, {0, 1} if i % 2 else set()) for i in range(10)], 1.0, [(5, START, 5.0)]),
        # without the hold the count dips to 3 every other frame and the crowd never lasts 1 s
        ([flicker(5, {0, 1} if i % 2 else set()) for i in range(10)], 0.0, []),
        # 2 of 5 seen walking out of the zone (x 10, the left half) leave it at once: END after 1 s
        (
            [flicker(5, set())] * 6
            + [people(*[(i, 55.0 + i, 50.0) for i in range(2, 5)], (0, 10.0, 50.0), (1, 11.0, 50.0))] * 6,
            1.0,
            [(5, START, 5.0), (11, END, 3.0)],
        ),
        # 2 of 5 vanish (never seen again): counted for hold_s more, so the END comes 1 s later
        ([flicker(5, set())] * 6 + [flicker(5, {0, 1})] * 12, 1.0, [(5, START, 5.0), (16, END, 3.0)]),
    ],
)
def test_people_missed_for_a_moment_still_count(
    frames: list[Detections], hold_s: float, expected: list[object]
) -> None:
    raised = feed(occupancy(hold_s=hold_s), frames)
    assert [(i, a.phase, a.value) for i, frame in enumerate(raised) for a in frame] == expected


def test_density_per_square_metre() -> None:
    # Top-down calibration, 1 px = 0.1 m: the right half is 5 m x 10 m = 50 m².
    plane = GroundPlane.from_config(
        Calibration(image=[(0, 0), (1, 0), (1, 1), (0, 1)], ground=[(0, 0), (10, 0), (10, 10), (0, 10)])
    )
    area = plane.area_m2(RIGHT_HALF)
    assert area == pytest.approx(50.0)
    rule = occupancy(max_people=None, max_density_per_m2=0.1, area_m2=area)  # more than 5 people
    assert phases(rule, [5] * 10 + [6] * 10) == [(15, START, 6.0)]


def test_alert_fields() -> None:
    raised = [a for frame in feed(occupancy(), [crowd(5)] * 6) for a in frame]
    (alert,) = raised
    assert alert.kind is AlertKind.OCCUPANCY and alert.zone == "bridge" and alert.tracker_id is None
    assert alert.message == "5 people in zone 'bridge' on cam1: more people than allowed (max 3)"
