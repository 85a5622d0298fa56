import dataclasses

import numpy as np
import pytest

from tests.factories import make_detections, make_frame
from vigil.core.errors import ValidationError
from vigil.core.types import Detections, Frame, Sighting


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # xyxy must be (N, 4)
        (
            {"xyxy": np.zeros((2, 3)), "confidence": np.zeros(2), "class_id": np.zeros(2)},
            "xyxy: expected shape",
        ),
        # confidence length must follow xyxy
        (
            {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(3), "class_id": np.zeros(2)},
            "confidence: expected 2",
        ),
        # class_id must be 1-D
        ({"xyxy": np.zeros((2, 4)), "confidence": np.zeros(2), "class_id": np.zeros((2, 1))}, "class_id"),
        # tracker_id length must follow xyxy
        (
            {"xyxy": np.zeros((1, 4)), "confidence": [1.0], "class_id": [0], "tracker_id": [1, 2]},
            "tracker_id",
        ),
        # data columns must have N rows
        (
            {
                "xyxy": np.zeros((2, 4)),
                "confidence": np.zeros(2),
                "class_id": np.zeros(2),
                "data": {"e": np.zeros((3, 8))},
            },
            "data",
        ),
    ],
)
def test_detections_rejects_wrong_shapes(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Detections(**kwargs)


def test_detections_mask_and_merge() -> None:
    dets = make_detections(xyxy=[[0, 0, 10, 10], [5, 5, 25, 45]], confidence=[0.2, 0.8])
    high = dets[dets.confidence > 0.5]
    assert len(high) == 1
    np.testing.assert_allclose(high.xyxy, [[5, 5, 25, 45]])
    np.testing.assert_allclose(dets.area, [100, 800])
    np.testing.assert_allclose(dets.bottom_center, [[5, 10], [15, 45]])
    merged = Detections.merge([dets, high, Detections.empty()])
    assert len(merged) == 3
    assert len(Detections.merge([])) == 0


def test_detections_are_read_only_copies() -> None:
    source = np.array([[0, 0, 10, 10]], dtype=np.float32)
    dets = Detections(xyxy=source, confidence=[0.9], class_id=[0])
    source[0, 0] = 99  # the caller's array changes; the detections must not
    assert dets.xyxy[0, 0] == 0
    with pytest.raises(ValueError):
        dets.xyxy[0, 0] = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        dets.confidence = np.zeros(1)  # type: ignore[misc]


def test_with_tracker_id_returns_new_object() -> None:
    dets = make_detections(xyxy=[[0, 0, 1, 1]])
    tracked = dets.with_tracker_id([7])
    assert dets.tracker_id is None
    assert tracked.tracker_id is not None and tracked.tracker_id.tolist() == [7]


def test_frame_rejects_gray_image() -> None:
    with pytest.raises(ValidationError, match="Frame.image"):
        Frame(camera_id="c", index=0, timestamp=0.0, image=np.zeros((10, 10), np.uint8))
    assert make_frame(size=(64, 48)).width == 64


def test_sighting_time_order() -> None:
    with pytest.raises(ValidationError, match="before start"):
        Sighting(
            camera_id="c",
            tracker_id=1,
            start=10,
            end=5,
            best_box=(0, 0, 1, 1),
            crop_path=None,
            path=(),
            confidence=0.5,
            frames=3,
        )
