"""Person down: a person whose posture stays lying for `min_seconds`.

The posture comes from the posture stage as a per-row column of the tracked detections,
``tracked.data["lying"]``: float (N,), 0 (upright) to 1 (lying). A track scored at least
`min_lying_score` continuously (gaps shorter than `grace_s` are bridged) for `min_seconds`
raises a START alert (value: seconds lying); when it stops lying or is gone for longer than
`grace_s`, an END alert (value: total seconds lying). Without the column the rule raises
nothing and says so once in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerts.common import Cooldown, RuleGate, foot_points
from alerts.zones import ZoneShape
from vigil.core.types import Alert, AlertKind, AlertPhase, AlertSeverity, Detections

LYING = "lying"
"""The `Detections.data` column of lying scores (float (N,), 0..1) the posture stage fills."""

_log = logging.getLogger(__name__)


@dataclass
class _Down:
    since: float
    last_lying: float
    box: tuple[float, float, float, float]
    alerted: bool = False


@dataclass
class PersonDown:
    """START / END alerts for tracks lying for `min_seconds` (optionally inside a zone)."""

    name: str
    camera_id: str
    zone: str | None = None
    polygon: npt.NDArray[np.float32] | None = None  # (M, 2), normalised; None: the whole image
    min_seconds: float = 10.0
    min_lying_score: float = 0.6
    grace_s: float = 3.0
    severity: AlertSeverity = AlertSeverity.CRITICAL
    cooldown_s: float = 120.0
    gate: RuleGate = field(default_factory=RuleGate)
    _down: dict[int, _Down] = field(default_factory=dict, init=False, repr=False)
    _cooldown: Cooldown = field(init=False, repr=False)
    _warned: bool = field(default=False, init=False, repr=False)
    _shape: ZoneShape | None = field(default=None, init=False, repr=False)
    _orphans: list[tuple[int, _Down]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._shape = None if self.polygon is None else ZoneShape(np.asarray(self.polygon, dtype=np.float64))
        self._cooldown = Cooldown(self.cooldown_s)

    def posture_rows(
        self, tracked: Detections, frame_size: tuple[int, int], timestamp: float
    ) -> npt.NDArray[np.bool_]:
        """(N,) bool: the rows whose posture this rule reads now, for the posture stage to score.

        Every row (or those whose foot point is inside the rule's zone); none outside the
        rule's schedule, so a rule that is off for the night costs no pose crops.
        """
        if not self.gate.active(timestamp) or not len(tracked):
            return np.zeros(len(tracked), bool)
        if self._shape is None:
            return np.ones(len(tracked), bool)
        return np.asarray(self._shape.contains(foot_points(tracked), frame_size), bool)

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if not self.gate.active(timestamp):
            alerts = [
                self._alert(AlertPhase.END, k, d, timestamp) for k, d in self._down.items() if d.alerted
            ]
            self._down.clear()
            return alerts
        tracked = self.gate.admit(tracked, self.name)
        orphans = [self._alert(AlertPhase.END, k, d, timestamp) for k, d in self._orphans]
        self._orphans.clear()
        if len(tracked) and LYING not in tracked.data:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "rule %r on %s: no posture scores (tracked.data[%r]); person_down raises nothing "
                    "until a posture stage runs on this camera",
                    self.name,
                    self.camera_id,
                    LYING,
                )
            return orphans
        alerts = orphans + (self._update(tracked, frame_size, timestamp) if len(tracked) else [])
        for track_id in [k for k, d in self._down.items() if timestamp - d.last_lying > self.grace_s]:
            down = self._down.pop(track_id)
            if down.alerted:
                alerts.append(self._alert(AlertPhase.END, track_id, down, timestamp))
        return alerts

    def _update(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        assert tracked.tracker_id is not None  # checked by the gate
        lying = np.asarray(tracked.data[LYING], dtype=np.float32) >= self.min_lying_score
        if self._shape is not None:
            lying &= self._shape.contains(foot_points(tracked), frame_size)
        alerts = []
        for row in np.flatnonzero(lying).tolist():
            track_id = int(tracked.tracker_id[row])
            x1, y1, x2, y2 = tracked.xyxy[row].tolist()
            down = self._down.get(track_id)
            if down is None:
                self._down[track_id] = _Down(since=timestamp, last_lying=timestamp, box=(x1, y1, x2, y2))
                continue
            down.last_lying, down.box = timestamp, (x1, y1, x2, y2)
            if down.alerted or timestamp - down.since < self.min_seconds:
                continue
            if self._cooldown.ready(track_id, timestamp):
                self._cooldown.mark(track_id, timestamp)
                down.alerted = True
                alerts.append(self._alert(AlertPhase.START, track_id, down, timestamp))
        return alerts

    def _alert(self, phase: AlertPhase, track_id: int, down: _Down, timestamp: float) -> Alert:
        seconds = (
            max(down.last_lying, timestamp if phase is AlertPhase.START else down.last_lying) - down.since
        )
        where = f" in zone '{self.zone}'" if self.zone else ""
        if phase is AlertPhase.START:
            text = f"person (track {track_id}) lying on the ground for {seconds:.0f} s{where} "
            text += f"on {self.camera_id}"
        else:
            text = (
                f"person (track {track_id}){where} on {self.camera_id} no longer lying (down {seconds:.0f} s)"
            )
        return Alert(
            kind=AlertKind.PERSON_DOWN,
            rule=self.name,
            camera_id=self.camera_id,
            timestamp=timestamp,
            message=text,
            tracker_id=track_id,
            zone=self.zone,
            box=down.box,
            severity=self.severity,
            value=seconds,
            phase=phase,
        )

    def reset(self) -> None:
        """Forget tracks (the tracker was reset); people already reported get their END next frame."""
        self._orphans.extend((k, d) for k, d in self._down.items() if d.alerted)
        self._down.clear()
        self._cooldown.reset()
