"""The posture stage: ``data["lying"]`` for a camera's tracked people, on a budget.

`vigil.pipeline` runs it on a camera only while one of its rules reads posture (an enabled
``person_down`` rule, `alerts.person_down.PersonDown.posture_rows`), between tracking and the
rules. MoveNet (`detectors.pose.PoseEstimator`) costs about 6 ms a crop on one core
(lightning, ``benchmarks/pose.py``), so the stage bounds it:

- only person boxes in the rows the rules ask for (inside their zones, inside their
  schedules), and none mostly under a privacy mask (`MAX_MASKED`): nobody hidden by a mask
  is looked at, even when the tracker coasts a box into one;
- at most `MAX_POSES_PER_FRAME` crops a frame, largest boxes first (MoveNet is most
  reliable on big crops, and a near person matters most);
- each track rescored at most every `POSE_EVERY_FRAMES` frames; in between it keeps its
  last score. Lying down is a state that lasts `min_seconds` (10 s by default), so a score a
  few hundred ms old loses nothing and the cost falls by that factor;
- boxes under `min_height` pixels get the box-shape cue alone, which costs nothing.

`PoseModel` loads the model once for every camera, on first use: a site without a posture
rule never loads it. A model that cannot be loaded is reported once (naming
``./vigil.sh setup``) and the stage then adds no column, so the rule says once that it has
no posture scores instead of the detect thread failing every frame; the runtime loads it
before the cameras start when a rule needs it, so a missing model stops ``vigil run`` at once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from detectors.pose import KEYPOINT_NAMES, LyingCue, PoseEstimator, Variant, lying_score
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

MAX_POSES_PER_FRAME = 4
"""Pose crops per camera frame at most: 4 x ~6 ms = ~24 ms, a fifth of a 1080p detector pass."""
POSE_EVERY_FRAMES = 3
"""A track is rescored at most every this many frames (0.6 s at 5 fps); it keeps its score between."""
MAX_MASKED = 0.5
"""A box with at least this fraction of its area under privacy masks gets no pose (and scores 0)."""
LYING = "lying"
"""The `Detections.data` column the stage fills (float32 (N,), 0 upright .. 1 lying)."""

log = logging.getLogger(__name__)
MaskPolygon = Sequence[tuple[float, float]]
"""A privacy mask: vertices normalised to [0, 1] (as `ingest.masks`)."""


class PoseModel:
    """The pose estimator, built on first use and shared by every camera's `PostureStage`.

    Args:
        variant: MoveNet ``"lightning"`` (192 px, ~6 ms a crop) or ``"thunder"`` (256 px, ~19 ms).
        build: Builds the estimator; default ``PoseEstimator(variant)`` from the fetched model.
    """

    def __init__(
        self, variant: Variant = "lightning", build: Callable[[], PoseEstimator] | None = None
    ) -> None:
        self.variant = variant
        self._build = build or (lambda: PoseEstimator(variant))
        self._estimator: PoseEstimator | None = None
        self._failed: ModelError | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (it is only on first use)."""
        return self._estimator is not None

    def get(self) -> PoseEstimator:
        """The estimator, loaded now if it was not yet.

        Raises:
            ModelError: The model is missing or cannot be loaded; the message names
                ``./vigil.sh setup``. A failure is remembered: later calls raise it again at once.
        """
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._estimator is None:
                try:
                    self._estimator = self._build()
                except ModelError as error:
                    self._failed = ModelError(f"pose model (MoveNet {self.variant}): {error}")
                    if "vigil.sh setup" not in str(error):
                        self._failed = ModelError(f"{self._failed}; run `./vigil.sh setup`")
                    raise self._failed from error
            return self._estimator

    def available(self) -> PoseEstimator | None:
        """The estimator, or None if it cannot be loaded (logged once, not raised)."""
        if self._failed is not None:
            return None
        try:
            return self.get()
        except ModelError as error:
            log.error("posture stage off: %s", error)
            return None


@dataclasses.dataclass
class _Scored:
    score: float
    frame: int


class PostureStage:
    """One camera's posture scores (`LYING` column) under a per-frame pose budget.

    Args:
        model: The shared pose model (loaded on the first crop).
        person_class_ids: Class ids that are people in the detector's class map.
        max_per_frame: Pose crops per frame at most (largest boxes first). Raising it scores
            crowds faster and costs ~6 ms per extra crop.
        every_frames: A track is rescored at most every this many frames. Raising it costs
            less and follows a fall later (by that many frames).
        min_height: Boxes whose longer side is under this many pixels get the box cue only.
        masks: Privacy masks of the camera (normalised polygons).
        max_masked: Boxes at least this much under the masks get no pose and score 0.
        cue: Parameters of `detectors.pose.lying_score`.

    Raises:
        ValidationError: A budget under 1 or a fraction outside 0..1.
    """

    def __init__(
        self,
        model: PoseModel,
        person_class_ids: Sequence[int] = (0,),
        *,
        max_per_frame: int = MAX_POSES_PER_FRAME,
        every_frames: int = POSE_EVERY_FRAMES,
        min_height: float = 24.0,
        masks: Sequence[MaskPolygon] = (),
        max_masked: float = MAX_MASKED,
        cue: LyingCue | None = None,
    ) -> None:
        if max_per_frame < 1 or every_frames < 1 or not 0.0 < max_masked <= 1.0:
            raise ValidationError(
                "PostureStage: expected max_per_frame >= 1, every_frames >= 1, 0 < max_masked <= 1; got "
                f"{max_per_frame}, {every_frames}, {max_masked}"
            )
        self.model = model
        self.person_class_ids = tuple(person_class_ids)
        self.max_per_frame = max_per_frame
        self.every_frames = every_frames
        self.min_height = min_height
        self.max_masked = max_masked
        self.cue = cue or LyingCue()
        self.crops = 0
        """Pose crops run so far."""
        self.seconds = 0.0
        """Time spent in `annotate` so far (crops, scoring, masks)."""
        self.cpu_seconds = 0.0
        """CPU time of the calling thread in `annotate` (onnxruntime runs one thread: the caller's)."""
        self._masks: list[MaskPolygon] = list(masks)
        self._raster: tuple[tuple[int, int], npt.NDArray[np.float64]] | None = None
        self._scored: dict[int, _Scored] = {}
        self._frame = 0

    def set_masks(self, masks: Sequence[MaskPolygon]) -> None:
        """New privacy masks from the next frame on."""
        self._masks, self._raster = list(masks), None

    def reset(self) -> None:
        """Forget every track's score (the tracker was reset: its ids mean nothing now)."""
        self._scored.clear()

    def annotate(self, image: Image, tracked: Detections, rows: npt.NDArray[np.bool_]) -> Detections:
        """A copy of `tracked` with the `LYING` column; rows not asked for, non-people and masked boxes get 0.

        Args:
            image: The (masked) BGR frame the boxes are in, (H, W, 3) uint8.
            tracked: This frame's tracked detections (tracker ids set); not changed.
            rows: (N,) bool, the rows the rules read.

        Returns:
            The new detections; `tracked` itself (no column) when the model cannot be loaded.

        Raises:
            ValidationError: `rows` is not (N,) or the detections are not tracked.
        """
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            lying = self._lying(image, tracked, rows)
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.thread_time() - cpu
        if lying is None:
            return tracked
        return dataclasses.replace(tracked, data={**tracked.data, LYING: lying})

    def _lying(
        self, image: Image, tracked: Detections, rows: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float32] | None:
        if np.shape(rows) != (len(tracked),):
            raise ValidationError(f"PostureStage: rows must be ({len(tracked)},) bool, got {np.shape(rows)}")
        if tracked.tracker_id is None:
            raise ValidationError("PostureStage: detections must be tracked (tracker_id is None)")
        self._frame += 1
        ids = tracked.tracker_id.tolist()
        self._scored = {k: v for k, v in self._scored.items() if k in set(ids)}
        lying = np.zeros(len(tracked), np.float32)
        boxes = tracked.xyxy
        wanted = np.asarray(rows, bool) & np.isin(tracked.class_id, self.person_class_ids)
        if wanted.any() and self._masks:
            wanted &= self._masked_fraction(boxes, image.shape[1], image.shape[0]) < self.max_masked
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        small = wanted & (sizes < self.min_height)
        if small.any():  # no keypoints: the box shape alone speaks
            none = np.zeros((int(small.sum()), len(KEYPOINT_NAMES), 3), np.float32)
            lying[small] = lying_score(none, boxes[small], self.cue)
        large = np.flatnonzero(wanted & ~small)
        due = [row for row in large.tolist() if self._due(ids[row])]
        if due:
            areas = (boxes[due, 2] - boxes[due, 0]) * (boxes[due, 3] - boxes[due, 1])
            chosen = [due[i] for i in np.argsort(-areas, kind="stable")[: self.max_per_frame]]
            estimator = self.model.available()
            if estimator is None:
                return None
            keypoints = estimator.estimate(image, boxes[chosen])
            self.crops += len(chosen)
            for row, score in zip(
                chosen, lying_score(keypoints, boxes[chosen], self.cue).tolist(), strict=True
            ):
                self._scored[ids[row]] = _Scored(score, self._frame)
        for row in large.tolist():
            scored = self._scored.get(ids[row])
            lying[row] = scored.score if scored is not None else 0.0
        return lying

    def _due(self, track_id: int) -> bool:
        scored = self._scored.get(track_id)
        return scored is None or self._frame - scored.frame >= self.every_frames

    def _masked_fraction(
        self, boxes: npt.NDArray[np.float32], width: int, height: int
    ) -> npt.NDArray[np.float64]:
        """(N,) fraction of each box's area under the privacy masks (summed-area table of the mask)."""
        if self._raster is None or self._raster[0] != (width, height):
            mask = np.zeros((height, width), np.uint8)
            scale = np.array([width, height], np.float32)
            polygons = [np.round(np.asarray(m, np.float32) * scale).astype(np.int32) for m in self._masks]
            cv2.fillPoly(mask, polygons, 1)
            self._raster = ((width, height), np.asarray(cv2.integral(mask), np.float64))
        table = self._raster[1]
        x1 = np.clip(np.floor(boxes[:, 0]), 0, width).astype(int)
        y1 = np.clip(np.floor(boxes[:, 1]), 0, height).astype(int)
        x2 = np.clip(np.ceil(boxes[:, 2]), 0, width).astype(int)
        y2 = np.clip(np.ceil(boxes[:, 3]), 0, height).astype(int)
        covered = table[y2, x2] - table[y1, x2] - table[y2, x1] + table[y1, x1]
        area = np.maximum((x2 - x1) * (y2 - y1), 1)
        return np.asarray(covered / area, np.float64)
