"""Detection filters: per class limits, object masks, track score median."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from detectors.filters import ClassFilter, DetectionFilter, ScoreMedian
from vigil.core.types import Detections


def make_detections(
    xyxy: Sequence[Sequence[float]], confidence: list[float], class_id: list[int] | None = None
) -> Detections:
    return Detections(
        xyxy=np.array(xyxy, float).reshape(-1, 4),
        confidence=np.array(confidence, np.float32),
        class_id=np.array(class_id or [0] * len(confidence), np.int64),
    )


@pytest.mark.parametrize(
    ("limits", "kept"),
    [
        (ClassFilter(), 2),  # no limits
        (ClassFilter(min_score=0.5), 1),  # the weak box goes
        (ClassFilter(min_area=1000), 1),  # the small box goes
        (ClassFilter(max_ratio=1.0), 1),  # the wide box goes
    ],
)
def test_class_limits(limits: ClassFilter, kept: int) -> None:
    dets = make_detections([[0, 0, 20, 40], [100, 100, 200, 150]], [0.9, 0.4])
    assert len(DetectionFilter(default=limits).apply(dets, 640, 480)) == kept


def test_object_mask_uses_the_foot_point() -> None:
    dets = make_detections([[0, 0, 20, 40], [300, 100, 340, 200]], [0.9, 0.9])
    mask = ((0.4, 0.3), (0.6, 0.3), (0.6, 0.5), (0.4, 0.5))  # foot of the 2nd at (320, 200) / (640, 480)
    assert len(DetectionFilter(object_masks=(mask,)).apply(dets, 640, 480)) == 1


def test_score_median_suppresses_one_frame_spikes() -> None:
    median = ScoreMedian(threshold=0.5, window=5)
    box = [[0, 0, 10, 20]]
    for score in (0.2, 0.2):
        median.apply(make_detections(box, [score]).with_tracker_id([7]))
    assert len(median.apply(make_detections(box, [0.95]).with_tracker_id([7]))) == 0
    assert len(median.apply(make_detections(box, [0.9]).with_tracker_id([8]))) == 1
