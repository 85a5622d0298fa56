"""Per-camera motion detection: a cheap, lighting-robust background model.

The frame is shrunk to `work_height` rows, turned grey and blurred; each frame is
normalised to its own mean brightness before it is compared, so a camera's auto-exposure
or a cloud does not read as motion. The background is a running average; pixels that
differ from it by more than `threshold` grey levels are motion. When more than
`lighting_fraction` of the picture changes at once (lights switched, camera
re-exposing) the background is reset to the current frame and no motion is reported for
that frame, as Frigate does. Motion masks (polygons in normalised coordinates) are
ignored areas: a flag, a clock, a tree.

One `MotionDetector` per camera; `update(image)` is its only verb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vigil.core.errors import ValidationError
from vigil.core.types import Image

NormalisedPolygon = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Motion:
    """What moved in one frame.

    Attributes:
        boxes: Moving areas, (M, 4) float32 xyxy in frame pixels.
        fraction: Fraction of the (unmasked) picture that moved, 0..1.
        recalibrated: True when the background was reset (lighting change, first frame).
    """

    boxes: npt.NDArray[np.float32]
    fraction: float
    recalibrated: bool

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


class MotionDetector:
    """Running-average background subtraction on a small grey copy of each frame.

    Args:
        threshold: Grey-level difference (0..255, after brightness normalisation) that
            counts as motion. Raising it ignores noise and shadows, and misses people
            dressed like the floor.
        alpha: Background learning rate per frame. Raising it absorbs parked objects and
            slow movers into the background sooner.
        work_height: Rows of the analysed copy. Raising it finds smaller movers and costs
            more CPU (still well under 1 ms at 180 rows).
        min_area: Smallest moving blob kept, as a fraction of the frame area. Raising it
            ignores leaves and rain, and far-away people.
        lighting_fraction: A change over more than this fraction of the picture is a
            lighting change, not motion: the background is reset.
        dilate: Dilation iterations joining the parts of one moving person. Raising it
            merges blobs of people walking together.
        masks: Polygons (normalised x, y in 0..1) where motion is ignored.

    Raises:
        ValidationError: If an argument is out of range.
    """

    def __init__(
        self,
        threshold: float = 20.0,
        alpha: float = 0.05,
        work_height: int = 180,
        min_area: float = 2e-4,
        lighting_fraction: float = 0.6,
        dilate: int = 2,
        masks: Sequence[NormalisedPolygon] = (),
    ) -> None:
        if not 0 < threshold < 255 or not 0 < alpha <= 1 or work_height < 16:
            raise ValidationError(
                f"MotionDetector: expected 0 < threshold < 255, 0 < alpha <= 1, work_height >= 16, "
                f"got {threshold}, {alpha}, {work_height}"
            )
        if not 0 <= min_area < 1 or not 0 < lighting_fraction <= 1 or dilate < 0:
            raise ValidationError(
                f"MotionDetector: expected 0 <= min_area < 1, 0 < lighting_fraction <= 1, dilate >= 0, "
                f"got {min_area}, {lighting_fraction}, {dilate}"
            )
        self.threshold = threshold
        self.alpha = alpha
        self.work_height = work_height
        self.min_area = min_area
        self.lighting_fraction = lighting_fraction
        self.dilate = dilate
        self.masks = [list(polygon) for polygon in masks]
        self._background: npt.NDArray[np.float32] | None = None
        self._keep: npt.NDArray[np.bool_] | None = None
        self._frame_size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the background (a stream restarted or the camera moved)."""
        self._background = None

    def update(self, image: Image) -> Motion:
        """Compare one frame with the background, then learn it.

        Args:
            image: BGR frame, (H, W, 3) uint8. A frame of another size resets the model.

        Returns:
            The moving areas in frame pixels.
        """
        height, width = image.shape[:2]
        if self._frame_size != (width, height):
            self._frame_size = (width, height)
            self._keep = None
            self._background = None
        grey = self._prepare(image)
        if self._keep is None:
            self._keep = self._mask_keep(grey.shape[1], grey.shape[0])
        if self._background is None:
            self._background = grey
            return Motion(np.zeros((0, 4), np.float32), 0.0, recalibrated=True)
        moving = (np.abs(grey - self._background) > self.threshold) & self._keep
        fraction = float(moving.sum()) / max(1, int(self._keep.sum()))
        if fraction > self.lighting_fraction:
            self._background = grey
            return Motion(np.zeros((0, 4), np.float32), fraction, recalibrated=True)
        cv2.accumulateWeighted(grey, self._background, self.alpha)
        return Motion(self._blobs(moving, width, height), fraction, recalibrated=False)

    def _prepare(self, image: Image) -> npt.NDArray[np.float32]:
        height, width = image.shape[:2]
        work_width = max(16, round(width * self.work_height / height))
        small = cv2.resize(image, (work_width, self.work_height), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        grey = np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), np.float32)
        # Brightness normalisation: a global exposure change shifts the mean, not the difference.
        return np.asarray(grey - grey.mean() + 128.0, dtype=np.float32)

    def _mask_keep(self, width: int, height: int) -> npt.NDArray[np.bool_]:
        keep = np.ones((height, width), np.uint8)
        for polygon in self.masks:
            points = np.round(np.asarray(polygon, np.float64) * [width, height]).astype(np.int32)
            cv2.fillPoly(keep, [points], 0)
        return keep.astype(bool)

    def _blobs(self, moving: npt.NDArray[np.bool_], width: int, height: int) -> npt.NDArray[np.float32]:
        binary = moving.astype(np.uint8)
        if self.dilate:
            binary = np.asarray(
                cv2.dilate(binary, np.ones((3, 3), np.uint8), iterations=self.dilate), np.uint8
            )
        count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        work_h, work_w = moving.shape
        min_pixels = self.min_area * work_w * work_h
        stats = stats[1:count]
        stats = stats[stats[:, cv2.CC_STAT_AREA] >= min_pixels]
        x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32).reshape(-1, 4)
        return np.asarray(boxes * np.array([width / work_w, height / work_h] * 2, np.float32), np.float32)
