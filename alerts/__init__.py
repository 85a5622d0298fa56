"""Alert rules: per-camera, per-frame `Rule.evaluate(...) -> list[Alert]`.

`build_rule` turns one rule of the config into its rule object (one per camera, with its
own per-track state); `build_rules` does it for every enabled rule of the site.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from alerts.base import LineCounter, Rule
from alerts.calibration import GroundPlane
from alerts.common import ObjectFilter, RuleGate, SpeedMeter
from alerts.dwell import Dwell
from alerts.lines import Crossing, CrossingDetector, LineCrossing
from alerts.occupancy import Occupancy
from alerts.person_down import PersonDown
from alerts.schedule import Schedule
from alerts.zones import ZoneIntrusion
from config.models import (
    CameraConfig,
    DwellRule,
    LineCrossingRule,
    OccupancyRule,
    PersonDownRule,
    RuleSpec,
    VigilConfig,
    ZoneIntrusionRule,
)
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import AlertSeverity, Direction

DEFAULT_CLASSES: tuple[str, ...] = ("person",)
"""Class names of the embedded detector (one class); rules' `filters.classes` refer to these."""


def build_rule(
    spec: RuleSpec, camera: CameraConfig, timezone: str = "UTC", class_names: Sequence[str] = DEFAULT_CLASSES
) -> Rule:
    """The rule object of one configured rule on its camera.

    Args:
        spec: The rule's config (cross-references already validated by `VigilConfig`).
        camera: The camera it watches.
        timezone: The site's IANA time zone, for the schedule.
        class_names: The detector's class names, indexed by class id (for `filters.classes`).

    Raises:
        ConfigError: the rule names something the camera or detector lacks (a config that
            bypassed `VigilConfig` validation, or a class the detector does not emit).
    """
    try:
        gate = RuleGate(
            schedule=Schedule(spec.schedule, timezone) if spec.schedule else None,
            filter=ObjectFilter.from_config(spec.filters, class_names),
        )
        plane = GroundPlane.from_config(camera.calibration) if camera.calibration is not None else None
        return _build(spec, camera, gate, plane)
    except (ConfigError, ValidationError, StopIteration, KeyError) as error:
        raise ConfigError(f"rule {spec.name!r} on camera {camera.id!r}: {error}") from None


def _build(spec: RuleSpec, camera: CameraConfig, gate: RuleGate, plane: GroundPlane | None) -> Rule:
    if isinstance(spec, LineCrossingRule):
        return _line_crossing(spec, camera, gate, plane)
    polygon = None if spec.zone is None else _zone(camera, spec.zone)
    common = _common(spec, camera, gate)
    if isinstance(spec, ZoneIntrusionRule) and polygon is not None:
        return ZoneIntrusion(zone=spec.zone, polygon=polygon, min_frames=spec.min_frames, **common)
    if isinstance(spec, DwellRule) and polygon is not None:
        speeds = SpeedMeter(plane) if spec.max_speed_mps is not None and plane is not None else None
        return Dwell(
            zone=spec.zone,
            polygon=polygon,
            min_seconds=spec.min_seconds,
            grace_s=spec.grace_s,
            max_speed_mps=spec.max_speed_mps,
            speeds=speeds,
            **common,
        )
    if isinstance(spec, OccupancyRule) and polygon is not None:
        return Occupancy(
            zone=spec.zone,
            polygon=polygon,
            max_people=spec.max_people,
            min_people=spec.min_people,
            max_density_per_m2=spec.max_density_per_m2,
            area_m2=plane.area_m2(polygon) if plane is not None else None,
            min_seconds=spec.min_seconds,
            hold_s=spec.hold_s,
            **common,
        )
    if isinstance(spec, PersonDownRule):
        return PersonDown(
            zone=spec.zone,
            polygon=polygon,
            min_seconds=spec.min_seconds,
            min_lying_score=spec.min_lying_score,
            grace_s=spec.grace_s,
            **common,
        )
    raise ConfigError(f"unknown rule type {type(spec).__name__}")


class _CommonArgs(TypedDict):
    """Keyword arguments shared by every rule constructor."""

    name: str
    camera_id: str
    severity: AlertSeverity
    gate: RuleGate
    cooldown_s: float


def _common(spec: RuleSpec, camera: CameraConfig, gate: RuleGate) -> _CommonArgs:
    """The constructor arguments every rule object takes."""
    return _CommonArgs(
        name=spec.name, camera_id=camera.id, severity=spec.severity, gate=gate, cooldown_s=spec.cooldown_s
    )


def _line_crossing(
    spec: LineCrossingRule, camera: CameraConfig, gate: RuleGate, plane: GroundPlane | None
) -> LineCrossing:
    line = next(line for line in camera.lines if line.name == spec.line)
    labels = {Direction.IN: line.in_label, Direction.OUT: line.out_label}
    return LineCrossing(
        line=spec.line,
        # Speeds cost a ground mapping per track and frame: only measured when the rule uses them.
        detector=CrossingDetector(
            np.array(line.points), line.in_side, spec.hysteresis, plane if spec.max_speed_mps else None
        ),
        alert_on=frozenset(spec.alert_on),
        count_interval_s=spec.count_interval_s,
        max_speed_mps=spec.max_speed_mps,
        labels={k: v for k, v in labels.items() if v},
        **_common(spec, camera, gate),
    )


def _zone(camera: CameraConfig, name: str) -> npt.NDArray[np.float32]:
    return np.array(next(zone.polygon for zone in camera.zones if zone.name == name), dtype=np.float32)


def build_rules(config: VigilConfig, class_names: Sequence[str] = DEFAULT_CLASSES) -> dict[str, list[Rule]]:
    """The enabled rules of the config grouped by camera id (cross-references validated at load)."""
    rules: dict[str, list[Rule]] = {}
    for spec in config.rules:
        if spec.enabled:
            rule = build_rule(spec, config.camera(spec.camera), config.timezone, class_names)
            rules.setdefault(spec.camera, []).append(rule)
    return rules


__all__ = [
    "Crossing",
    "CrossingDetector",
    "Dwell",
    "LineCounter",
    "LineCrossing",
    "Occupancy",
    "PersonDown",
    "Rule",
    "ZoneIntrusion",
    "build_rule",
    "build_rules",
]
