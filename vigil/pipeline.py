"""Per-frame logic of one AI camera: plan where to detect, filter, track, build sightings, evaluate rules.

`CameraProcessor` is a pure function of its inputs and the camera's own state (motion
background, tracks): no threads, sockets or databases, so it is tested frame by frame.
Detection happens outside, in one detector shared by every camera (see `vigil.runtime`):
the runtime asks each camera's `plan` where to look, runs the detector on all cameras'
regions in one batch, and hands each camera its detections through `process`.

`process` follows the plan made for the same frame: when the planner coasts (see
`detectors.gating`) and said skip, the tracker coasts its tracks on their predictions and
those predicted boxes are this frame's ``tracked`` (rules and sightings keep working);
when it planned only some regions, tracks outside them coast while the rest are matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alerts.base import Rule
from detectors.base import Detector
from detectors.filters import DetectionFilter, ScoreMedian
from detectors.gating import RegionPlan, RegionPlanner
from tracker.base import CoastingTracker, Tracker
from tracker.sighting import SightingBuilder
from vigil.core.types import Alert, Detections, Frame, Image, Sighting


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
        planner: Motion gating; None detects the whole frame every time.
        detection_filter: Score / size / shape / object-mask filters applied before tracking.
        score_median: Drops tracks whose median score is too low (one-frame false positives).
    """

    def __init__(
        self,
        camera_id: str,
        tracker: Tracker,
        sightings: SightingBuilder,
        rules: list[Rule],
        *,
        planner: RegionPlanner | None = None,
        detection_filter: DetectionFilter | None = None,
        score_median: ScoreMedian | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.tracker = tracker
        self.sightings = sightings
        self.rules = rules
        self.planner = planner
        self.detection_filter = detection_filter
        self.score_median = score_median
        self._last_index = -1
        self._last_tracked = Detections.empty()
        self._planned: tuple[int, RegionPlan | None] | None = None  # (frame index, its plan)

    def plan(self, frame: Frame) -> RegionPlan | None | bool:
        """Where to detect in this frame.

        Returns:
            A `RegionPlan`; None when nothing moved and no track is due (skip inference);
            True when there is no planner (detect the whole frame).
        """
        if self.planner is None:
            return True
        if frame.index < self._last_index:
            self.planner.reset()
        tracks, pending = self._last_tracked.xyxy, None
        if isinstance(self.tracker, CoastingTracker):
            # Unconfirmed and recently lost tracks explain motion too; unsettled ones (unconfirmed, or
            # confirmed but just missed) are looked at again.
            tracks, settled = self.tracker.live_boxes()
            pending = tracks[~settled]
        plan = self.planner.plan(frame.image, tracks, frame.timestamp, pending)
        self._planned = (frame.index, plan)
        return plan

    def process(self, frame: Frame, detections: Detections) -> FrameResult:
        """Track one frame's detections and return finished sightings and new alerts."""
        if frame.camera_id != self.camera_id:
            raise ValueError(f"CameraProcessor({self.camera_id}): got a frame of camera {frame.camera_id}")
        finished: list[Sighting] = []
        if frame.index < self._last_index:
            # The stream restarted: ids of the old session mean nothing in the new one.
            finished = self.sightings.flush()
            self.tracker.reset()
            if self.score_median is not None:
                self.score_median.reset()
            for rule in self.rules:
                rule.reset()
        self._last_index = frame.index
        if self.detection_filter is not None:
            detections = self.detection_filter.apply(detections, frame.width, frame.height)
        tracked = self._track(frame, detections)
        self._last_tracked = tracked
        if self.score_median is not None:
            tracked = self.score_median.apply(tracked)
        finished += self.sightings.update(tracked, frame)
        if self.score_median is not None and finished:
            self.score_median.forget(tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0))
        size = (frame.width, frame.height)
        alerts = [alert for rule in self.rules for alert in rule.evaluate(tracked, size, frame.timestamp)]
        return FrameResult(tracked=tracked, sightings=finished, alerts=alerts)

    def _track(self, frame: Frame, detections: Detections) -> Detections:
        """Update the tracker as this frame's plan says: coast what the detector did not look at."""
        planned, self._planned = self._planned, None
        tracker = self.tracker
        if (
            not isinstance(tracker, CoastingTracker)
            or self.planner is None
            or not self.planner.coast
            # A frame processed without a plan of its own (e.g. in tests) is a full look.
            or planned is None
            or planned[0] != frame.index
        ):
            return tracker.update(detections, frame.image)
        plan = planned[1]
        if plan is None and len(self._last_tracked):
            return tracker.coast(frame.image)
        if plan is not None and plan.partial:
            return tracker.update(detections, frame.image, looked=plan.looked)
        return tracker.update(detections, frame.image)

    def finish(self) -> list[Sighting]:
        """End of the run: every open track becomes a sighting."""
        return self.sightings.flush()


def detect_planned(
    detector: Detector, images: Sequence[Image], plans: Sequence[RegionPlan | bool], chunk: int = 4
) -> list[Detections]:
    """Detect in each image where its `CameraProcessor.plan` says, `chunk` images per model call.

    A `RegionPlan` is seen through its regions and packed looks; True (no planner) is the whole
    frame. Detectors without region support (``detect_many_regions``) see the whole frame of
    every image they are given.

    Args:
        detector: The shared detector.
        images: BGR images of the frames to detect in (frames planned None are left out).
        plans: Their plans, one per image.
        chunk: Images per model call (batching does not pay past a few on a CPU).

    Returns:
        One `Detections` per image.
    """
    detect_regions = getattr(detector, "detect_many_regions", None)
    found: list[Detections] = []
    for at in range(0, len(images), chunk):
        part, planned = images[at : at + chunk], plans[at : at + chunk]
        if detect_regions is None:
            found += detector.detect(list(part))
            continue
        regions = [p.regions if isinstance(p, RegionPlan) else None for p in planned]
        cells = [p.packed if isinstance(p, RegionPlan) else None for p in planned]
        found += detect_regions(list(part), regions, cells)
    return found
