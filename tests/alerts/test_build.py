"""build_rules from a real config: every rule type, disabled rules skipped, filters, calibration maths."""

from __future__ import annotations

import copy
from typing import Any

import cv2
import numpy as np
import pytest

from alerts import Dwell, LineCrossing, Occupancy, PersonDown, ZoneIntrusion, build_rule, build_rules
from alerts.calibration import GroundPlane
from alerts.common import Cooldown, ObjectFilter
from alerts.zones import points_in_polygon, points_in_polygon_cv2
from config.loader import parse_config
from config.models import Calibration
from config.rules import RuleFilters
from tests.alerts.tracks import feed, people
from vigil.core.errors import ConfigError
from vigil.core.types import AlertSeverity

SITE: dict[str, Any] = {
    "timezone": "Europe/Amsterdam",
    "cameras": [
        {
            "id": "cam1",
            "url": "rtsp://127.0.0.1:8554/cam1",
            "role": "ai",
            "zones": [{"name": "quay", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
            "lines": [{"name": "gate", "points": [[0.1, 0.5], [0.9, 0.5]], "in_side": "right"}],
            "calibration": {
                "image": [[0, 0], [1, 0], [1, 1], [0, 1]],
                "ground": [[0, 0], [10, 0], [10, 10], [0, 10]],
            },
        }
    ],
    "rules": [
        {"name": "in", "type": "zone_intrusion", "camera": "cam1", "zone": "quay", "severity": "critical"},
        {"name": "count", "type": "line_crossing", "camera": "cam1", "line": "gate", "max_speed_mps": 3},
        {"name": "linger", "type": "dwell", "camera": "cam1", "zone": "quay", "max_speed_mps": 0.5},
        {"name": "crowd", "type": "occupancy", "camera": "cam1", "zone": "quay", "max_density_per_m2": 1},
        {"name": "down", "type": "person_down", "camera": "cam1", "enabled": True},
        {"name": "off", "type": "dwell", "camera": "cam1", "zone": "quay", "enabled": False},
    ],
}


def test_every_enabled_rule_is_built() -> None:
    rules = build_rules(parse_config(copy.deepcopy(SITE), environ={}))
    assert [type(r) for r in rules["cam1"]] == [ZoneIntrusion, LineCrossing, Dwell, Occupancy, PersonDown]
    zone, _, _, crowd, _ = rules["cam1"]
    assert isinstance(zone, ZoneIntrusion) and zone.severity is AlertSeverity.CRITICAL
    assert isinstance(crowd, Occupancy) and crowd.area_m2 == pytest.approx(50.0)


def test_severity_reaches_the_alert() -> None:
    rules = build_rules(parse_config(copy.deepcopy(SITE), environ={}))
    alerts = [a for f in feed(rules["cam1"][0], [people((1, 70.0, 60.0))] * 3) for a in f]
    assert [a.severity for a in alerts] == [AlertSeverity.CRITICAL]


def test_a_schedule_is_built_in_the_site_time_zone() -> None:
    site = copy.deepcopy(SITE)
    site["rules"][0]["schedule"] = [{"start": "20:00", "end": "06:00"}]
    config = parse_config(site, environ={})
    rule = build_rule(config.rules[0], config.camera("cam1"), config.timezone)
    # 2026-12-04 19:30 UTC is 20:30 in Amsterdam: active
    assert [len(a) for a in feed(rule, [people((1, 70.0, 60.0))] * 2, t0=1_796_412_600.0)] == [0, 1]
    assert [len(a) for a in feed(rule, [people((1, 70.0, 60.0))] * 2, t0=1_796_412_600.0 - 3600)] == [0, 0]


@pytest.mark.parametrize(
    ("filters", "expected_rows"),
    [
        (RuleFilters(), [0, 1, 2]),  # no filter
        (RuleFilters(min_score=0.5), [1, 2]),  # the 0.3 box goes
        (RuleFilters(min_height_px=30), [2]),  # only the 40 px box stays
        (RuleFilters(classes=["bicycle"]), [1]),  # class 1 of this detector
    ],
)
def test_object_filter(filters: RuleFilters, expected_rows: list[int]) -> None:
    from vigil.core.types import Detections

    dets = Detections(
        xyxy=np.array([[0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 40]], np.float32),
        confidence=np.array([0.3, 0.9, 0.9], np.float32),
        class_id=np.array([0, 1, 0]),
        tracker_id=np.array([0, 1, 2]),
    )
    kept = ObjectFilter.from_config(filters, ["person", "bicycle"]).apply(dets)
    assert kept.tracker_id is not None and kept.tracker_id.tolist() == expected_rows


def test_a_class_the_detector_lacks_is_a_config_error() -> None:
    site = copy.deepcopy(SITE)
    site["rules"][0]["filters"] = {"classes": ["car"]}
    # A model that brings its own class names: checked when the rules are built, not at load
    # (built-in detectors' names are checked at load: tests/detectors/test_class_names.py).
    site["detector"] = {"type": "onnx", "model_path": "people.onnx"}
    config = parse_config(site, environ={})
    with pytest.raises(
        ConfigError, match="rule 'in' on camera 'cam1': filters.classes: the detector has no class 'car'"
    ):
        build_rules(config)


def test_cooldown() -> None:
    cooldown = Cooldown(5.0)
    assert cooldown.ready(1, 0.0)
    cooldown.mark(1, 0.0)
    assert not cooldown.ready(1, 4.9) and cooldown.ready(2, 4.9) and cooldown.ready(1, 5.0)


def test_points_in_polygon_matches_cv2() -> None:
    rng = np.random.default_rng(3)
    concave = np.array([[10, 10], [90, 10], [90, 90], [50, 40], [10, 90]], np.float32)
    # random points and the concave corner's neighbourhood; exactly on an edge may go either way
    near_corner = rng.normal((50, 40), 1.0, (200, 2))
    points = np.concatenate([rng.uniform(0, 100, (2000, 2)), near_corner]).astype(np.float32)
    assert (points_in_polygon(points, concave) == points_in_polygon_cv2(points, concave)).all()


def test_ground_plane_in_perspective() -> None:
    # A 10 m square seen from a camera: the far edge narrower and higher in the image.
    calibration = Calibration(
        image=[(0.3, 0.4), (0.7, 0.4), (0.9, 0.9), (0.1, 0.9)], ground=[(0, 10), (10, 10), (10, 0), (0, 0)]
    )
    plane = GroundPlane.from_config(calibration)
    corners = plane.to_ground(np.array(calibration.image) * (200, 100), (200, 100))
    assert corners == pytest.approx(np.array(calibration.ground), abs=1e-6)
    # The image's diagonals meet at the image of the square's centre, (5, 5): not the image centre.
    centre = cv2.perspectiveTransform(np.array([[[5, 5]]], np.float64), np.linalg.inv(plane.matrix))[0, 0]
    assert plane.to_ground(centre[None] * (200, 100), (200, 100))[0] == pytest.approx([5, 5], abs=1e-6)
    assert centre[1] < 0.65  # a perspective, so the centre on the ground is above the image midline
    assert plane.area_m2(calibration.image) == pytest.approx(100.0)
    # the horizon is at y = -0.1 of the image (w = 10 y + 1): a point above it has no ground
    assert np.isnan(plane.to_ground(np.array([[100.0, -20.0]]), (200, 100))).all()


def test_person_down_is_off_unless_switched_on() -> None:
    # Its posture cue is unvalidated on real fallen people: writing the rule is not enough.
    site = copy.deepcopy(SITE)
    site["rules"] = [{"name": "down", "type": "person_down", "camera": "cam1"}]
    assert build_rules(parse_config(site, environ={})) == {}
