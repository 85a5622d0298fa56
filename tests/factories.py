"""Small factories for test data: `make_detections(xyxy=[...])` and friends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.types import Detections, Frame


def make_detections(
    xyxy: Sequence[Sequence[float]] = (),
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    tracker_id: Sequence[int] | None = None,
) -> Detections:
    n = len(xyxy)
    return Detections(
        xyxy=np.array(xyxy, dtype=np.float32).reshape(n, 4),
        confidence=np.array(confidence if confidence is not None else [0.9] * n, dtype=np.float32),
        class_id=np.array(class_id if class_id is not None else [0] * n, dtype=np.int64),
        tracker_id=None if tracker_id is None else np.array(tracker_id, dtype=np.int64),
    )


def make_frame(
    camera_id: str = "cam1", index: int = 0, timestamp: float = 1_000.0, size: tuple[int, int] = (320, 240)
) -> Frame:
    width, height = size
    return Frame(
        camera_id=camera_id, index=index, timestamp=timestamp, image=np.zeros((height, width, 3), np.uint8)
    )
