"""Occupancy: too many (or too few) people in a zone, for long enough.

The people in the zone (foot points inside) are counted each frame, with those seen inside
less than `hold_s` ago (a missed detection is not a person gone). When the count stays
over `max_people` (or the density over `max_density_per_m2`, or the count under
`min_people`) for `min_seconds`, a START alert is raised; when it has been clear for
`min_seconds`, an END alert. Each carries the people counted then as `value`. Between
them the rule is quiet: one condition, two alerts. A new START waits `cooldown_s` after
the last END.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerts.common import Cooldown, RuleGate, foot_points
from alerts.zones import ZoneShape
from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, AlertPhase, AlertSeverity, Detections


class Condition(enum.Enum):
    OVER = "more people than allowed"
    DENSE = "crowd denser than allowed"
    UNDER = "fewer people than required"


@dataclass
class Occupancy:
    """START / END alerts while the count of people in a zone is out of bounds."""

    name: str
    camera_id: str
    zone: str
    polygon: npt.NDArray[np.float32]  # (M, 2), normalised to [0, 1]
    max_people: int | None = None
    min_people: int | None = None
    max_density_per_m2: float | None = None
    area_m2: float | None = None
    min_seconds: float = 10.0
    hold_s: float = 1.0
    severity: AlertSeverity = AlertSeverity.WARNING
    cooldown_s: float = 0.0
    gate: RuleGate = field(default_factory=RuleGate)
    _seen_inside: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    _active: Condition | None = field(default=None, init=False)
    _pending: tuple[Condition | None, float] | None = field(default=None, init=False, repr=False)
    _cooldown: Cooldown = field(init=False, repr=False)
    _shape: ZoneShape = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.polygon, dtype=np.float32)
        if self.polygon.ndim != 2 or self.polygon.shape[1] != 2 or len(self.polygon) < 3:
            raise ValidationError(f"Occupancy.polygon: expected (M>=3, 2), got {self.polygon.shape}")
        self._shape = ZoneShape(self.polygon.astype(np.float64))
        if self.max_density_per_m2 is not None and not self.area_m2:
            raise ValidationError("Occupancy.max_density_per_m2 needs the zone's ground area (calibration)")
        self._cooldown = Cooldown(self.cooldown_s)

    def count(self, tracked: Detections, frame_size: tuple[int, int]) -> int:
        """People whose foot point is inside the zone."""
        if not len(tracked):
            return 0
        return int(np.count_nonzero(self._shape.contains(foot_points(tracked), frame_size)))

    def present(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> int:
        """People in the zone now: tracks seen inside, and those seen inside less than `hold_s` ago.

        A person the detector misses for a frame or two (occluded in a crowd, a weak detection)
        is still in the zone; counting only this frame's boxes makes the count flicker under the
        limit and restarts the `min_seconds` wait each time. A track seen outside the zone is
        gone from it at once.
        """
        assert tracked.tracker_id is not None  # checked by the gate
        if len(tracked):
            inside = self._shape.contains(foot_points(tracked), frame_size)
            for track_id, is_inside in zip(tracked.tracker_id.tolist(), inside.tolist(), strict=True):
                if is_inside:
                    self._seen_inside[track_id] = timestamp
                else:
                    self._seen_inside.pop(track_id, None)
        self._seen_inside = {k: t for k, t in self._seen_inside.items() if timestamp - t <= self.hold_s}
        return len(self._seen_inside)

    def condition(self, people: int) -> Condition | None:
        """Which limit `people` breaks, if any."""
        if self.max_people is not None and people > self.max_people:
            return Condition.OVER
        if (
            self.max_density_per_m2 is not None
            and self.area_m2
            and people / self.area_m2 > self.max_density_per_m2
        ):
            return Condition.DENSE
        if self.min_people is not None and people < self.min_people:
            return Condition.UNDER
        return None

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if not self.gate.active(timestamp):
            # The schedule closing ends a condition in progress: every START gets its END.
            alerts = [self._alert(AlertPhase.END, 0, timestamp, "schedule ended")] if self._active else []
            self._active = self._pending = None
            self._seen_inside.clear()
            return alerts
        people = self.present(self.gate.admit(tracked, self.name), frame_size, timestamp)
        now = self.condition(people)
        if now is self._active:
            self._pending = None
            return []
        # The state differs from the reported one: it must hold min_seconds before we say so.
        if self._pending is None or self._pending[0] is not now:
            self._pending = (now, timestamp)
        if timestamp - self._pending[1] < self.min_seconds:
            return []
        alerts = []
        if self._active is not None:
            alerts.append(self._alert(AlertPhase.END, people, timestamp))
            self._cooldown.mark(None, timestamp)
            self._active = None
        if now is not None and self._cooldown.ready(None, timestamp):
            self._active = now
            alerts.append(self._alert(AlertPhase.START, people, timestamp))
        self._pending = None
        return alerts

    def _alert(self, phase: AlertPhase, people: int, timestamp: float, why: str = "") -> Alert:
        where = f"zone '{self.zone}' on {self.camera_id}"
        if phase is AlertPhase.START and self._active is not None:
            text = f"{people} people in {where}: {self._active.value}{self._limits()}"
        elif why:
            text = f"{where}: alert closed, {why}"
        else:
            text = f"{where} back within limits ({people} people)"
        return Alert(
            kind=AlertKind.OCCUPANCY,
            rule=self.name,
            camera_id=self.camera_id,
            timestamp=timestamp,
            message=text,
            zone=self.zone,
            severity=self.severity,
            value=float(people),
            phase=phase,
        )

    def _limits(self) -> str:
        parts = []
        if self.max_people is not None:
            parts.append(f"max {self.max_people}")
        if self.min_people is not None:
            parts.append(f"min {self.min_people}")
        if self.max_density_per_m2 is not None and self.area_m2:
            parts.append(f"max {self.max_density_per_m2:g}/m² over {self.area_m2:.0f} m²")
        return f" ({', '.join(parts)})" if parts else ""

    def reset(self) -> None:
        """Forget a pending change (the tracker was reset). A reported condition stays: it is
        about the zone, not the tracks, and the next frames' count confirms or ends it."""
        self._pending = None
        self._seen_inside.clear()
