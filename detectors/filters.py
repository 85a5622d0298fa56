"""Detection filters per camera / zone / class: score, track score-median, size, shape, masks.

`DetectionFilter.apply` is pure: it returns the kept rows, never edits its input.
`ScoreMedian` keeps each track's recent scores so that a one-frame false positive (one
high score among low ones) does not survive: run it after the tracker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from vigil.core.types import Detections

NormalisedPolygon = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class ClassFilter:
    """Limits for one class (pixels are frame pixels; ratio is width / height)."""

    min_score: float = 0.0
    min_area: float = 0.0
    max_area: float = float("inf")
    min_ratio: float = 0.0
    max_ratio: float = float("inf")


@dataclass(frozen=True)
class DetectionFilter:
    """One camera's filters.

    Attributes:
        per_class: Limits by class id; classes not listed use `default`.
        default: Limits for other classes.
        object_masks: Polygons (normalised) where objects are ignored: a detection whose
            bottom centre (foot point) falls inside is dropped, as in Frigate.
    """

    per_class: dict[int, ClassFilter] = field(default_factory=dict)
    default: ClassFilter = ClassFilter()
    object_masks: tuple[NormalisedPolygon, ...] = ()

    def apply(self, detections: Detections, width: int, height: int) -> Detections:
        """The rows passing every filter, for a width x height frame."""
        if len(detections) == 0:
            return detections
        keep = np.ones(len(detections), bool)
        size = detections.xyxy[:, 2:] - detections.xyxy[:, :2]
        ratio = size[:, 0] / np.maximum(size[:, 1], 1e-6)
        area = detections.area
        for index, class_id in enumerate(detections.class_id.tolist()):
            limits = self.per_class.get(class_id, self.default)
            keep[index] = (
                detections.confidence[index] >= limits.min_score
                and limits.min_area <= area[index] <= limits.max_area
                and limits.min_ratio <= ratio[index] <= limits.max_ratio
            )
        feet = detections.bottom_center / np.array([width, height], np.float32)
        for polygon in self.object_masks:
            contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
            inside = np.array(
                [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in feet], bool
            )
            keep &= ~inside
        return detections[keep]


class ScoreMedian:
    """Drops tracked detections whose median score over the track's last frames is too low.

    Args:
        threshold: Minimum median score. Raising it suppresses more flickering false
            positives and delays (or loses) faint real people.
        window: Scores remembered per track.
    """

    def __init__(self, threshold: float = 0.4, window: int = 10) -> None:
        self.threshold = threshold
        self.window = window
        self._scores: dict[int, deque[float]] = {}

    def reset(self) -> None:
        self._scores.clear()

    def apply(self, tracked: Detections) -> Detections:
        """Rows whose track's score median reaches `threshold`; untracked rows are kept."""
        if tracked.tracker_id is None or len(tracked) == 0:
            return tracked
        keep = np.ones(len(tracked), bool)
        for index, (track, score) in enumerate(
            zip(tracked.tracker_id.tolist(), tracked.confidence.tolist(), strict=True)
        ):
            history = self._scores.setdefault(track, deque(maxlen=self.window))
            history.append(score)
            keep[index] = float(np.median(history)) >= self.threshold
        return tracked[keep]

    def forget(self, live_ids: npt.ArrayLike) -> None:
        """Drop the history of tracks not in `live_ids` (finished tracks)."""
        live = set(np.asarray(live_ids, np.int64).tolist())
        for track in [t for t in self._scores if t not in live]:
            del self._scores[track]
