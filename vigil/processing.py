"""Per-frame logic of one AI camera: mask, track, build sightings, evaluate rules.

`CameraProcessor.process` is a pure function of its inputs and the camera's own
tracking state: no threads, sockets or databases, so it is tested frame by frame.
Detection happens outside (one detector serves every camera); see `vigil.runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.base import Rule
from tracker.base import Tracker
from tracker.sighting import SightingBuilder
from vigil.types import Alert, Detections, Frame, Sighting


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced."""

    tracked: Detections
    sightings: list[Sighting] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


class CameraProcessor:
    """Turns one camera's detections into tracks, sightings and alerts.

    Args:
        camera_id: The camera.
        tracker: This camera's own tracker (one id counter per camera).
        sightings: This camera's sighting builder.
        rules: Rules watching this camera.
    """

    def __init__(
        self, camera_id: str, tracker: Tracker, sightings: SightingBuilder, rules: list[Rule]
    ) -> None:
        self.camera_id = camera_id
        self.tracker = tracker
        self.sightings = sightings
        self.rules = rules
        self._last_index = -1

    def process(self, frame: Frame, detections: Detections) -> FrameResult:
        """Track one frame's detections and return finished sightings and new alerts."""
        if frame.camera_id != self.camera_id:
            raise ValueError(f"CameraProcessor({self.camera_id}): got a frame of camera {frame.camera_id}")
        finished: list[Sighting] = []
        if frame.index < self._last_index:
            # The stream restarted: ids of the old session mean nothing in the new one.
            finished = self.sightings.flush()
            self.tracker.reset()
            for rule in self.rules:
                rule.reset()
        self._last_index = frame.index
        tracked = self.tracker.update(detections, frame.image)
        finished += self.sightings.update(tracked, frame)
        alerts = [
            alert
            for rule in self.rules
            for alert in rule.evaluate(tracked, (frame.width, frame.height), frame.timestamp)
        ]
        return FrameResult(tracked=tracked, sightings=finished, alerts=alerts)

    def finish(self) -> list[Sighting]:
        """End of the run: every open track becomes a sighting."""
        return self.sightings.flush()
