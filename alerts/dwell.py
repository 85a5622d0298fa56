"""Dwell (loitering): a person staying inside a zone longer than `min_seconds`.

One alert per track per stay, carrying the dwell time. A stay survives the track being out
of sight or out of the zone for less than `grace_s` (an occlusion, the tracker's lost-track
buffer, a foot point jittering on the zone's edge); after a longer absence it is over and
a new stay starts from zero. With `max_speed_mps` (needs calibration) only time spent
moving slower than it counts, so people walking through a zone do not accumulate dwell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerts.common import Cooldown, RuleGate, SpeedMeter, foot_points
from alerts.zones import ZoneShape
from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, AlertSeverity, Detections


@dataclass
class _Stay:
    last_inside: float
    dwell_s: float = 0.0
    alerted: bool = False


@dataclass
class Dwell:
    """Alert once per stay when a track has dwelt `min_seconds` inside a zone."""

    name: str
    camera_id: str
    zone: str
    polygon: npt.NDArray[np.float32]  # (M, 2), normalised to [0, 1]
    min_seconds: float = 60.0
    grace_s: float = 3.0
    max_speed_mps: float | None = None
    speeds: SpeedMeter | None = None
    severity: AlertSeverity = AlertSeverity.WARNING
    cooldown_s: float = 60.0
    gate: RuleGate = field(default_factory=RuleGate)
    _stays: dict[int, _Stay] = field(default_factory=dict, init=False, repr=False)
    _cooldown: Cooldown = field(init=False, repr=False)
    _shape: ZoneShape = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.polygon, dtype=np.float32)
        if self.polygon.ndim != 2 or self.polygon.shape[1] != 2 or len(self.polygon) < 3:
            raise ValidationError(f"Dwell.polygon: expected (M>=3, 2), got {self.polygon.shape}")
        self._shape = ZoneShape(self.polygon.astype(np.float64))
        if self.max_speed_mps is not None and self.speeds is None:
            raise ValidationError("Dwell.max_speed_mps needs a SpeedMeter (the camera's calibration)")
        self._cooldown = Cooldown(self.cooldown_s)

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if not self.gate.active(timestamp):
            self.reset()
            return []
        tracked = self.gate.admit(tracked, self.name)
        alerts: list[Alert] = []
        if len(tracked):
            alerts = self._update(tracked, frame_size, timestamp)
        # A stay whose track has been away longer than the grace period is over.
        stale = [k for k, stay in self._stays.items() if timestamp - stay.last_inside > self.grace_s]
        for track_id in stale:
            del self._stays[track_id]
        return alerts

    def _update(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        assert tracked.tracker_id is not None  # checked by the gate
        feet = foot_points(tracked)
        inside = self._shape.contains(feet, frame_size)
        ids = tracked.tracker_id.tolist()
        slow: list[bool] | None = None
        if self.speeds is not None and self.max_speed_mps is not None:
            speeds = self.speeds.update(ids, feet, frame_size, timestamp)
            # Unknown speed (a track just seen) counts as slow: standing still is the common case.
            slow = (~(speeds >= self.max_speed_mps)).tolist()
        alerts = []
        for row, (track_id, is_inside) in enumerate(zip(ids, inside.tolist(), strict=True)):
            if not is_inside:
                continue
            stay = self._stays.get(track_id)
            if stay is None or timestamp - stay.last_inside > self.grace_s:
                self._stays[track_id] = _Stay(last_inside=timestamp)
                continue
            if slow is None or slow[row]:
                stay.dwell_s += timestamp - stay.last_inside
            stay.last_inside = timestamp
            if (
                stay.alerted
                or stay.dwell_s < self.min_seconds
                or not self._cooldown.ready(track_id, timestamp)
            ):
                continue
            stay.alerted = True
            self._cooldown.mark(track_id, timestamp)
            alerts.append(self._alert(track_id, stay.dwell_s, tracked.xyxy[row], timestamp))
        return alerts

    def _alert(self, track_id: int, dwell_s: float, box: npt.NDArray[np.float32], timestamp: float) -> Alert:
        x1, y1, x2, y2 = box.tolist()
        minutes, seconds = divmod(int(math.floor(dwell_s)), 60)
        took = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        return Alert(
            kind=AlertKind.DWELL,
            rule=self.name,
            camera_id=self.camera_id,
            timestamp=timestamp,
            message=f"person (track {track_id}) has stayed {took} in zone '{self.zone}' on {self.camera_id}",
            tracker_id=track_id,
            zone=self.zone,
            box=(x1, y1, x2, y2),
            severity=self.severity,
            value=dwell_s,
        )

    def reset(self) -> None:
        self._stays.clear()
        self._cooldown.reset()
        if self.speeds is not None:
            self.speeds.reset()
