"""Occupancy ``hold_s`` from the YAML: validated (0..30 s), reaches the rule, and decides the count."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from alerts import Occupancy, build_rules
from config.loader import ConfigErrors, parse_config
from tests.alerts.tracks import feed, people
from vigil.core.types import AlertPhase, Detections

SITE: dict[str, Any] = {
    "cameras": [
        {
            "id": "cam1",
            "url": "rtsp://127.0.0.1:8554/cam1",
            "role": "ai",
            "zones": [{"name": "bridge", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        }
    ],
    "rules": [
        {"name": "crowd", "type": "occupancy", "camera": "cam1", "zone": "bridge", "max_people": 3},
    ],
}


def site(**rule: object) -> dict[str, Any]:
    data = copy.deepcopy(SITE)
    data["rules"][0].update(rule)
    return data


def built(**rule: object) -> Occupancy:
    (occupancy,) = build_rules(parse_config(site(**rule), environ={}))["cam1"]
    assert isinstance(occupancy, Occupancy)
    return occupancy


@pytest.mark.parametrize(
    ("rule", "hold_s", "error"),
    [
        # not given: 1 s (a detector miss of a few frames at 5 fps)
        ({}, 1.0, None),
        # 0: only this frame's boxes count
        ({"hold_s": 0}, 0.0, None),
        # the top of the range
        ({"hold_s": 30}, 30.0, None),
        # negative: refused with its YAML path
        ({"hold_s": -1}, None, "rules[0].occupancy.hold_s: Input should be greater than or equal to 0"),
        # over 30 s a person long gone would still count: refused
        ({"hold_s": 31}, None, "rules[0].occupancy.hold_s: Input should be less than or equal to 30"),
        # not a number
        ({"hold_s": "long"}, None, "rules[0].occupancy.hold_s: Input should be a valid number"),
    ],
)
def test_hold_s_is_validated_and_reaches_the_rule(
    rule: dict[str, object], hold_s: float | None, error: str | None
) -> None:
    if error is not None:
        with pytest.raises(ConfigErrors, match=error.replace("[", r"\[").replace("]", r"\]")):
            parse_config(site(**rule), environ={})
        return
    assert built(**rule).hold_s == hold_s


def flicker(missing: set[int]) -> Detections:
    """5 people inside the zone (ids 0..4), those in `missing` not detected this frame."""
    return people(*[(i, 55.0 + i, 50.0) for i in range(5) if i not in missing])


# 5 people, 2 of them missed for 3 frames out of every 4 (0.6 s of every 0.8 s), for 4 s.
PATCHY = [flicker({0, 1} if i % 4 else set()) for i in range(20)]


@pytest.mark.parametrize(
    ("hold_s", "expected"),
    [
        # the default rides out 0.6 s misses: a crowd of 5 from frame 5 (min_seconds 1 s)
        (1.0, [(5, AlertPhase.START, 5.0)]),
        # 0.4 s is shorter than the misses: the count drops to 3 and the crowd never lasts 1 s
        (0.4, []),
        # 0 counts only each frame's boxes: no crowd either
        (0.0, []),
    ],
)
def test_hold_s_from_the_config_decides_whether_a_patchy_crowd_counts(
    hold_s: float, expected: list[tuple[int, AlertPhase, float]]
) -> None:
    rule = built(hold_s=hold_s, min_seconds=1.0)
    raised = feed(rule, PATCHY)
    assert [(i, a.phase, a.value) for i, frame in enumerate(raised) for a in frame] == expected
