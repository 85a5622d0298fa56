"""Tests for MoveNet pose on person crops and the "lying" cue (`detectors.pose`).

Model tests need the fetched MoveNet (``scripts/fetch_human_models.sh``) and skip without it;
the real people come from the bundled CC-BY sample video.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detectors.pose import (
    KEYPOINT_NAMES,
    LyingAnnotator,
    PoseEstimator,
    annotate_lying,
    crop_square,
    default_models_dir,
    find_pose_model,
    lying_score,
    square_crops,
    torso_angle,
)
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
needs_movenet = pytest.mark.skipif(
    not (default_models_dir() / "movenet-lightning.json").is_file(),
    reason="MoveNet not fetched: run scripts/fetch_human_models.sh",
)
# The person in frame 300 of the bundled indoor clip (found by the SSDLite detector).
PERSON_FRAME, PERSON_BOX = 300, np.array([370.8, 0.0, 536.3, 380.8], np.float32)
NOSE, LEFT_ANKLE, RIGHT_ANKLE = 0, 15, 16


def skeleton(angle_deg: float, score: float = 0.9, length: float = 100.0) -> npt.NDArray[np.float32]:
    """(1, 17, 3) keypoints of a straight body whose head-to-feet axis is `angle_deg` from vertical."""
    direction = np.array([np.sin(np.radians(angle_deg)), np.cos(np.radians(angle_deg))])
    # Fraction of the body length from the head for each keypoint (COCO order).
    along = np.array(
        [0.0, 0.02, 0.02, 0.04, 0.04, 0.2, 0.2, 0.35, 0.35, 0.5, 0.5, 0.55, 0.55, 0.75, 0.75, 1.0, 1.0]
    )
    side = np.array([0, -1, 1, -2, 2, -8, 8, -9, 9, -9, 9, -6, 6, -5, 5, -4, 4], np.float32)
    normal = np.array([direction[1], -direction[0]])
    points = 500 + along[:, None] * length * direction + side[:, None] * normal
    return np.concatenate([points, np.full((17, 1), score)], axis=1)[None].astype(np.float32)


def box(width: float, height: float) -> npt.NDArray[np.float32]:
    return np.array([[0.0, 0.0, width, height]], np.float32)


@pytest.fixture(scope="module")
def frame() -> Image:
    capture = cv2.VideoCapture(str(REPO / "samples" / "one-by-one-person-detection.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, PERSON_FRAME)
    ok, image = capture.read()
    capture.release()
    assert ok
    return np.asarray(image, np.uint8)


@pytest.fixture(scope="module")
def estimator(tmp_path_factory: pytest.TempPathFactory) -> PoseEstimator:
    return PoseEstimator(cache_dir=tmp_path_factory.mktemp("models"))


# --- the cue, on hand-made keypoints -------------------------------------------------------------

LYING_CASES = [
    # upright, sure of the pose, tall box: standing
    (skeleton(0), box(40, 120), 0.0, 0.05),
    # leaning 30 degrees (bending, sitting back): still not lying
    (skeleton(30), box(70, 110), 0.0, 0.15),
    # horizontal body, sure of it, wide box: lying
    (skeleton(90), box(120, 40), 0.95, 1.0),
    # horizontal body, sure of it, near-square box (a raised camera foreshortens it): the torso decides
    (skeleton(85), box(60, 55), 0.7, 0.85),
    # MoveNet unsure (low scores), wide box: the box shape decides
    (skeleton(10, score=0.05), box(120, 40), 0.95, 1.0),
    # MoveNet unsure, tall box: not lying
    (skeleton(80, score=0.05), box(40, 120), 0.0, 0.05),
    # upside down (head at the bottom) is upright for this cue, not lying
    (skeleton(180), box(40, 120), 0.0, 0.05),
]


@pytest.mark.parametrize(("keypoints", "boxes", "low", "high"), LYING_CASES)
def test_lying_score_blends_torso_angle_and_box_shape(
    keypoints: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32], low: float, high: float
) -> None:
    (score,) = lying_score(keypoints, boxes)
    assert low <= score <= high


def test_torso_angle_ignores_unsure_joints() -> None:
    keypoints = skeleton(90)
    keypoints[0, [5, 11], 2] = 0.05  # left shoulder and left hip unsure: the right side still says 90
    angle, confidence = torso_angle(keypoints)
    assert angle[0] == pytest.approx(90, abs=5)
    assert confidence[0] == pytest.approx(0.9)
    keypoints[0, [6, 12], 2] = 0.05  # no shoulder or hip left: no angle, no confidence
    assert torso_angle(keypoints)[1][0] == 0.0


def test_lying_score_rejects_mismatched_rows() -> None:
    with pytest.raises(ValidationError, match="keypoint sets"):
        lying_score(np.concatenate([skeleton(0), skeleton(0)]), box(10, 10))


def test_square_crops_centre_the_box_on_its_longer_side() -> None:
    (left, top, side), _ = square_crops(np.array([[100, 50, 140, 250], [0, 0, 10, 10]]), margin=0.2)
    assert (left, top, side) == pytest.approx((0, 30, 240), abs=1e-3)


def test_crop_square_pads_outside_the_image_with_black() -> None:
    image = np.full((20, 10, 3), 200, np.uint8)
    crop = crop_square(image, left=-10, top=0, side=20, size=20)
    assert crop[:, :9].max() == 0 and crop[:, 11:].min() == 200


# --- the model on real people --------------------------------------------------------------------


@needs_movenet
def test_keypoints_of_a_real_walking_person_sit_on_the_body(estimator: PoseEstimator, frame: Image) -> None:
    (keypoints,) = estimator.estimate(frame, PERSON_BOX[None])
    assert keypoints.shape == (len(KEYPOINT_NAMES), 3)
    x1, y1, x2, y2 = PERSON_BOX
    assert (keypoints[:, 0] > x1 - 20).all() and (keypoints[:, 0] < x2 + 20).all()
    assert keypoints[:, 2].mean() > 0.5
    assert keypoints[NOSE, 1] < keypoints[[LEFT_ANKLE, RIGHT_ANKLE], 1].min() - 200  # head well above feet
    assert lying_score(keypoints[None], PERSON_BOX[None])[0] < 0.1


@needs_movenet
@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_the_same_person_turned_on_their_side_scores_lying(
    estimator: PoseEstimator, frame: Image, turn: int
) -> None:
    x1, y1, x2, y2 = PERSON_BOX.astype(int)
    crop = np.ascontiguousarray(frame[:, max(0, x1 - 150) : x2 + 150])
    lying = np.ascontiguousarray(cv2.rotate(crop, turn), dtype=np.uint8)
    height, width = crop.shape[:2]
    bx1, bx2 = x1 - max(0, x1 - 150), x2 - max(0, x1 - 150)
    if turn == cv2.ROTATE_90_CLOCKWISE:  # (x, y) -> (height - 1 - y, x)
        turned = np.array([[height - 1 - y2, bx1, height - 1 - y1, bx2]], np.float32)
    else:  # (x, y) -> (y, width - 1 - x)
        turned = np.array([[y1, width - 1 - bx2, y2, width - 1 - bx1]], np.float32)
    keypoints = estimator.estimate(lying, turned)
    assert lying_score(keypoints, turned)[0] > 0.8


@needs_movenet
def test_annotate_fills_lying_for_people_only_and_leaves_the_input_alone(
    estimator: PoseEstimator, frame: Image
) -> None:
    tracked = Detections(
        xyxy=np.array([PERSON_BOX, [10, 300, 200, 360], [600, 400, 610, 410]], np.float32),
        confidence=np.array([0.9, 0.8, 0.7]),
        class_id=np.array([0, 2, 0]),  # a person, a car-like wide box (class 2), a tiny person
        tracker_id=np.array([1, 2, 3]),
    )
    annotated = annotate_lying(frame, tracked, LyingAnnotator(estimator, person_class_ids=(0,)))
    assert "lying" not in tracked.data
    assert annotated is not tracked and annotated.tracker_id is not None
    lying = annotated.data["lying"]
    assert lying.shape == (3,) and lying.dtype == np.float32
    assert lying[0] < 0.1  # walking
    assert lying[1] == 0.0  # not a person: never scored
    assert lying[2] < 0.5  # tiny square box: no pose run, box cue only (aspect 1)


@needs_movenet
def test_annotate_scores_only_the_rows_asked_for(estimator: PoseEstimator, frame: Image) -> None:
    lying_box = np.array([100, 300, 400, 380], np.float32)  # wide: the box cue alone says lying
    tracked = Detections(
        xyxy=np.stack([lying_box, lying_box]), confidence=np.ones(2), class_id=np.zeros(2, np.int64)
    )
    annotator = LyingAnnotator(estimator)
    assert annotator.annotate(frame, tracked).data["lying"].min() > 0.5
    lying = annotator.annotate(frame, tracked, rows=np.array([True, False])).data["lying"]
    assert lying[0] > 0.5 and lying[1] == 0.0
    with pytest.raises(ValidationError, match="rows"):
        annotator.annotate(frame, tracked, rows=np.array([True]))


@needs_movenet
def test_annotate_handles_no_detections(estimator: PoseEstimator, frame: Image) -> None:
    annotated = LyingAnnotator(estimator).annotate(frame, Detections.empty())
    assert annotated.data["lying"].shape == (0,)


@pytest.mark.parametrize(
    ("image", "boxes"),
    [
        (np.zeros((10, 10), np.uint8), np.zeros((1, 4))),  # grey image
        (np.zeros((10, 10, 3), np.float32), np.zeros((1, 4))),  # float image
        (np.zeros((10, 10, 3), np.uint8), np.zeros((1, 3))),  # boxes with three columns
    ],
)
@needs_movenet
def test_estimate_rejects_bad_input(
    estimator: PoseEstimator, image: Image, boxes: npt.NDArray[np.float64]
) -> None:
    with pytest.raises(ValidationError):
        estimator.estimate(image, boxes)


def test_a_missing_model_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="fetch_human_models"):
        find_pose_model("thunder", models_dir=tmp_path)
