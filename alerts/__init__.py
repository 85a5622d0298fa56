"""Alert rules: per-camera, per-frame `Rule.evaluate(...) -> list[Alert]`."""

from __future__ import annotations

from alerts.base import Rule
from alerts.zones import ZoneIntrusion
from config.models import VigilConfig, ZoneIntrusionRule


def build_rules(config: VigilConfig) -> dict[str, list[Rule]]:
    """Rules of the config grouped by camera id (cross-references were validated at load)."""
    rules: dict[str, list[Rule]] = {}
    for spec in config.rules:
        if not isinstance(spec, ZoneIntrusionRule):
            continue  # the other rule types are built by alerts.build_rule (next commit)
        zone = next(z for z in config.camera(spec.camera).zones if z.name == spec.zone)
        rule = ZoneIntrusion(
            name=spec.name,
            camera_id=spec.camera,
            zone=spec.zone,
            polygon=zone.polygon,  # type: ignore[arg-type]
            min_frames=spec.min_frames,
            cooldown_s=spec.cooldown_s,
        )
        rules.setdefault(spec.camera, []).append(rule)
    return rules


__all__ = ["Rule", "ZoneIntrusion", "build_rules"]
