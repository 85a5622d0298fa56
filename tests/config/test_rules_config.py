"""Rule, line and calibration config: every refusal names its YAML path and says why."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.loader import ConfigErrors, parse_config
from config.models import DwellRule, LineCrossingRule, OccupancyRule, PersonDownRule, ZoneIntrusionRule
from vigil.core.types import AlertSeverity, Direction

# A square on the ground 10 m a side, seen in perspective (far edge narrower, higher up).
CALIBRATION: dict[str, list[list[float]]] = {
    "image": [[0.3, 0.4], [0.7, 0.4], [0.9, 0.9], [0.1, 0.9]],
    "ground": [[0, 10], [10, 10], [10, 0], [0, 0]],
}


def base() -> dict[str, Any]:
    return {
        "timezone": "Europe/Amsterdam",
        "cameras": [
            {
                "id": "cam1",
                "url": "rtsp://127.0.0.1:8554/cam1",
                "role": "ai",
                "zones": [{"name": "pier", "polygon": [[0, 0], [1, 0], [1, 1]]}],
                "lines": [{"name": "gate", "points": [[0, 0.5], [1, 0.5]], "in_side": "right"}],
                "calibration": copy.deepcopy(CALIBRATION),
            },
            {
                "id": "cam2",
                "url": "rtsp://127.0.0.1:8554/cam2",
                "role": "ai",
                "zones": [{"name": "quay", "polygon": [[0, 0], [1, 0], [1, 1]]}],
                "lines": [{"name": "steps", "points": [[0.2, 0.2], [0.8, 0.8]]}],
            },
            {"id": "cam3", "url": "rtsp://127.0.0.1:8554/cam3", "zones": CAM3_ZONES},
        ],
        "rules": [
            {"name": "intrusion", "type": "zone_intrusion", "camera": "cam1", "zone": "pier"},
            {"name": "count", "type": "line_crossing", "camera": "cam1", "line": "gate"},
            {"name": "linger", "type": "dwell", "camera": "cam1", "zone": "pier", "min_seconds": 30},
            {"name": "crowd", "type": "occupancy", "camera": "cam1", "zone": "pier", "max_people": 20},
            {"name": "down", "type": "person_down", "camera": "cam1"},
        ],
    }


CAM3_ZONES = [{"name": "hall", "polygon": [[0, 0], [1, 0], [1, 1]]}]


def line(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["cameras"][0]["lines"][0]  # type: ignore[no-any-return]


def rule(doc: dict[str, Any], index: int) -> dict[str, Any]:
    return doc["rules"][index]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # the base document itself loads
        (lambda d: None, None),
        # a line needs two points
        (lambda d: line(d).update(points=[[0, 0.5]]), "cameras[0].lines[0].points: needs at least 2 points"),
        # two equal consecutive points make a zero-length segment
        (
            lambda d: line(d).update(points=[[0, 0.5], [0.5, 0.5], [0.5, 0.5]]),
            "cameras[0].lines[0].points: segment 2 has zero length",
        ),
        # line points are normalised like zones
        (
            lambda d: line(d).update(points=[[0, 0.5], [1.5, 0.5]]),
            "cameras[0].lines[0].points[1][0]: Input should be less than or equal to 1",
        ),
        # in_side is left or right of the directed line
        (lambda d: line(d).update(in_side="north"), "cameras[0].lines[0].in_side: Input should be 'left'"),
        # line names are unique per camera
        (
            lambda d: d["cameras"][0]["lines"].append({"name": "gate", "points": [[0, 0], [1, 1]]}),
            "cameras[0]: line names must be unique per camera, repeated: gate",
        ),
        # a line may not share a zone's name (alerts name either)
        (lambda d: line(d).update(name="pier"), "cameras[0]: names used by both a zone and a line: pier"),
        # a calibration needs exactly 4 pairs
        (
            lambda d: d["cameras"][0]["calibration"].update(image=CALIBRATION["image"][:3]),
            "cameras[0].calibration.image: needs exactly 4 points, got 3",
        ),
        # three image points in a row: no homography
        (
            lambda d: d["cameras"][0]["calibration"].update(
                image=[[0.1, 0.5], [0.5, 0.5], [0.9, 0.5], [0.5, 0.9]]
            ),
            "cameras[0].calibration.image: points 1, 2, 3 lie on one line",
        ),
        # nearly in a row (0.2 % off a 0.8 long line) is still refused
        (
            lambda d: d["cameras"][0]["calibration"].update(
                image=[[0.1, 0.5], [0.5, 0.501], [0.9, 0.5], [0.5, 0.9]]
            ),
            "cameras[0].calibration.image: points 1, 2, 3 lie on one line",
        ),
        # three ground points in a row
        (
            lambda d: d["cameras"][0]["calibration"].update(ground=[[0, 0], [5, 0], [10, 0], [0, 10]]),
            "cameras[0].calibration.ground: points 1, 2, 3 lie on one line",
        ),
        # a point given twice
        (
            lambda d: d["cameras"][0]["calibration"].update(ground=[[0, 10], [10, 10], [0, 10], [0, 0]]),
            "cameras[0].calibration.ground: points 1 and 3 are the same point",
        ),
        # ground points listed in a crossed order (a bow tie against the image's quadrilateral)
        (
            lambda d: d["cameras"][0]["calibration"].update(ground=[[0, 10], [10, 10], [0, 0], [10, 0]]),
            "cameras[0].calibration: ground: the points are not in the same order",
        ),
        # a mirrored ground frame (x west instead of east) is a valid calibration
        (
            lambda d: d["cameras"][0]["calibration"].update(ground=[[0, 10], [-10, 10], [-10, 0], [0, 0]]),
            None,
        ),
        # duplicate rule names (the name is the API key /rules/{name})
        (lambda d: rule(d, 1).update(name="intrusion"), "rules[1].name: duplicate rule name 'intrusion'"),
        # unknown camera
        (lambda d: rule(d, 2).update(camera="cam9"), "rules[2].camera: unknown camera 'cam9'"),
        # unknown line
        (lambda d: rule(d, 1).update(line="bridge"), "rules[1].line: camera 'cam1' has no line 'bridge'"),
        # a zone name is not a line
        (lambda d: rule(d, 1).update(line="pier"), "rules[1].line: camera 'cam1' has no line 'pier'"),
        # unknown zone for dwell, occupancy and person_down alike
        (lambda d: rule(d, 2).update(zone="quay"), "rules[2].zone: camera 'cam1' has no zone 'quay'"),
        (lambda d: rule(d, 3).update(zone="gate"), "rules[3].zone: camera 'cam1' has no zone 'gate'"),
        (lambda d: rule(d, 4).update(zone="quay"), "rules[4].zone: camera 'cam1' has no zone 'quay'"),
        # a record-only camera runs no rules
        (
            lambda d: rule(d, 2).update(camera="cam3", zone="hall"),
            "rules[2].camera: 'cam3' is record-only; rules need role 'ai'",
        ),
        # speeds need a calibrated camera
        (
            lambda d: rule(d, 1).update(camera="cam2", line="steps", max_speed_mps=3),
            "rules[1].max_speed_mps: camera 'cam2' has no calibration",
        ),
        (
            lambda d: rule(d, 2).update(camera="cam2", zone="quay", max_speed_mps=0.5),
            "rules[2].max_speed_mps: camera 'cam2' has no calibration",
        ),
        # densities too
        (
            lambda d: rule(d, 3).update(camera="cam2", zone="quay", max_density_per_m2=2),
            "rules[3].max_density_per_m2: camera 'cam2' has no calibration",
        ),
        # ... and on a calibrated camera they load
        (lambda d: rule(d, 3).update(max_density_per_m2=2, max_people=None), None),
        # occupancy needs some limit
        (lambda d: rule(d, 3).update(max_people=None), "rules[3].occupancy: give at least one"),
        # a floor above the ceiling is always in alert
        (
            lambda d: rule(d, 3).update(min_people=30),
            "rules[3].occupancy: min_people (30) is above max_people (20)",
        ),
        # alert_on names directions
        (lambda d: rule(d, 1).update(alert_on=["up"]), "rules[1].line_crossing.alert_on[0]: Input should be"),
        # severity is one of three
        (lambda d: rule(d, 0).update(severity="urgent"), "rules[0].zone_intrusion.severity: Input should be"),
        # schedule times are HH:MM
        (
            lambda d: rule(d, 2).update(schedule=[{"start": "8pm", "end": "06:00"}]),
            "rules[2].dwell.schedule[0].start: expected a time 'HH:MM'",
        ),
        # an empty period (start == end)
        (
            lambda d: rule(d, 2).update(schedule=[{"start": "20:00", "end": "20:00"}]),
            "rules[2].dwell.schedule[0]: start and end are both 20:00",
        ),
        # an unknown weekday
        (
            lambda d: rule(d, 2).update(schedule=[{"days": ["friday"], "start": "20:00", "end": "06:00"}]),
            "rules[2].dwell.schedule[0].days[0]: Input should be 'mon'",
        ),
        # a wrapping period and a whole day load
        (
            lambda d: rule(d, 2).update(
                schedule=[
                    {"days": ["fri", "sat"], "start": "20:00", "end": "06:00"},
                    {"days": ["sun"], "start": "00:00", "end": "24:00"},
                ]
            ),
            None,
        ),
        # filters: a score above 1
        (
            lambda d: rule(d, 0).update(filters={"min_score": 1.5}),
            "rules[0].zone_intrusion.filters.min_score: Input should be less than or equal to 1",
        ),
        # filters: a typo is an error
        (
            lambda d: rule(d, 0).update(filters={"min_height": 40}),
            "rules[0].zone_intrusion.filters.min_height: Extra inputs are not permitted",
        ),
        # the lying score is 0..1
        (
            lambda d: rule(d, 4).update(min_lying_score=2),
            "rules[4].person_down.min_lying_score: Input should be less than or equal to 1",
        ),
    ],
)
def test_refusals_name_their_yaml_path(mutate, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    doc = base()
    mutate(doc)
    if expected is None:
        parse_config(doc, environ={})
        return
    with pytest.raises(ConfigErrors) as caught:
        parse_config(doc, environ={})
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_rule_types_and_defaults() -> None:
    config = parse_config(base(), environ={})
    assert [type(r) for r in config.rules] == [
        ZoneIntrusionRule,
        LineCrossingRule,
        DwellRule,
        OccupancyRule,
        PersonDownRule,
    ]
    crossing = config.rules[1]
    assert isinstance(crossing, LineCrossingRule)
    assert crossing.alert_on == [] and crossing.count_interval_s == 60  # count only, per minute
    assert crossing.severity is AlertSeverity.WARNING and crossing.enabled and crossing.schedule == []
    assert config.camera("cam1").lines[0].in_side == "right"


def test_alert_on_parses_directions() -> None:
    doc = base()
    rule(doc, 1).update(alert_on=["in"], severity="critical")
    crossing = parse_config(doc, environ={}).rules[1]
    assert isinstance(crossing, LineCrossingRule)
    assert crossing.alert_on == [Direction.IN] and crossing.severity is AlertSeverity.CRITICAL
