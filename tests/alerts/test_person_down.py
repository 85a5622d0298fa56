"""Person down: lying scores held for min_seconds raise START, getting up raises END."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from alerts.person_down import PersonDown
from tests.alerts.tracks import feed, people
from vigil.core.types import AlertKind, AlertPhase, Detections

START, END = AlertPhase.START, AlertPhase.END


def scored(*scores: float) -> list[Detections]:
    """Track 1 in the middle of the frame with these lying scores, one frame each."""
    return [people((1, 50.0, 60.0), lying=[s]) for s in scores]


def down(**kwargs: object) -> PersonDown:
    defaults: dict[str, object] = {"name": "down", "camera_id": "cam1", "min_seconds": 2.0, "grace_s": 1.0}
    return PersonDown(**{**defaults, **kwargs})  # type: ignore[arg-type]


def phases(rule: PersonDown, frames: list[Detections]) -> list[tuple[int, AlertPhase | None, float]]:
    return [(i, a.phase, round(a.value or 0, 1)) for i, f in enumerate(feed(rule, frames)) for a in f]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # lying 3 s then up: START at 2 s lying, END after the 1 s grace
        (scored(*[0.9] * 15, *[0.1] * 10), [(10, START, 2.0), (20, END, 2.8)]),
        # sitting down for 1.6 s is not a fall
        (scored(*[0.9] * 8, *[0.1] * 10), []),
        # a score flickering below the threshold for less than the grace keeps the clock
        (scored(*[0.9] * 6, 0.3, 0.3, *[0.9] * 6), [(10, START, 2.0)]),
        # scores under min_lying_score never count
        (scored(*[0.5] * 30), []),
        # out of sight after the START (gone for longer than the grace): END
        (scored(*[0.9] * 12) + [people()] * 8, [(10, START, 2.0), (17, END, 2.2)]),
    ],
)
def test_person_down(frames: list[Detections], expected: list[object]) -> None:
    assert phases(down(), frames) == expected


def test_zone_limits_where_it_looks() -> None:
    left_half = np.array([[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]])
    rule = down(zone="path", polygon=left_half)
    assert phases(rule, [people((1, 80.0, 60.0), lying=[0.9])] * 20) == []  # lying outside the zone
    assert phases(rule, [people((1, 20.0, 60.0), lying=[0.9])] * 11)[0][1] is START


def test_without_posture_scores_it_raises_nothing_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    rule = down()
    with caplog.at_level(logging.WARNING, logger="alerts.person_down"):
        assert phases(rule, [people((1, 50.0, 60.0))] * 30) == []
    assert len([r for r in caplog.records if "no posture scores" in r.message]) == 1


def test_alert_fields() -> None:
    alerts = [a for f in feed(down(), scored(*[0.9] * 11)) for a in f]
    assert [a.kind for a in alerts] == [AlertKind.PERSON_DOWN]
    assert alerts[0].message == "person (track 1) lying on the ground for 2 s on cam1"


def test_reset_ends_what_it_reported() -> None:
    rule = down()
    feed(rule, scored(*[0.9] * 11))
    rule.reset()
    (end,) = [a for f in feed(rule, [people()], t0=2000.0) for a in f]
    assert end.phase is END and end.tracker_id == 1
