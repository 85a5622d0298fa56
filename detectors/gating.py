"""Motion gating: where in a frame the detector should look, if anywhere.

One `RegionPlanner` per camera. Each frame it updates the camera's motion model and
covers the moving areas and the boxes of the camera's active tracks with as few
model-sized regions as it can (greedy cover, regions of `region_px` square frame pixels,
each later resized to the model input). Tracks that have not moved are only re-checked
every `recheck_interval_s` (long enough to save work, shorter than the tracker's
``track_buffer_s`` so they are not lost). No motion and no due track means no inference:
`plan` returns None.

With `coast` (the default), the planner looks at everything (all motion, every track)
only at those re-checks; in between it looks only at unconfirmed tracks and at motion
that nothing explains (motion outside every live track, its recent trail, and what was
already looked at since the re-check: someone new, or someone the tracker lost). The
first frame (no background yet) and a lighting change get a full tiled look. A frame
whose motion is all explained needs no inference: the tracker coasts its tracks, moved
by the image's optical flow (`VigilTracker.coast`, `tracker.flow`). This is DeepStream's
detection ``interval`` and Frigate's tracked-object regions: a crowd of tracked walkers
costs a full look every `recheck_interval_s`, not every frame.

This is Frigate's region-based detection: a 300-px model sees a person in a region at
about the size it was trained on, instead of a whole 1080p frame squashed 4x.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detectors.motion import Motion, MotionDetector
from detectors.tiling import tile_regions
from vigil.errors import ValidationError
from vigil.types import Image

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RegionPlan:
    """Where to detect in one frame, and why.

    Attributes:
        regions: (K, 4) int64 xyxy frame pixels, each to be resized to the model input.
        motion: The frame's motion.
        tracked: How many track boxes the regions had to cover.
        full_frame: True when covering needed as many regions as tiling the frame, so the
            frame was tiled instead.
        partial: True between re-checks when coasting: the regions cover only motion no
            track explains, so tracks outside them were not looked for and should coast
            (``VigilTracker.update(..., looked=plan.regions)``), not count a miss.
    """

    regions: IntArray
    motion: Motion
    tracked: int = 0
    full_frame: bool = False
    partial: bool = False

    def __len__(self) -> int:
        return int(self.regions.shape[0])


@dataclass
class _TrackMemory:
    last_checked: dict[int, float] = field(default_factory=dict)


class RegionPlanner:
    """Per-camera region planner: motion + active tracks → model-sized regions.

    Args:
        motion: The camera's motion detector (default: `MotionDetector()`).
        region_px: (width, height) of a region in frame pixels; the detector resizes it
            to its input (300x300 for SSDLite). Raising it covers more with fewer
            inferences and shows people smaller to the model. The default matches a 4x3
            tiling of 1280x720 (people shown ~1.1x taller than wide, as SSDLite likes them
            from above).
        margin: Each moving area and track box grows by this fraction of its size on
            every side before covering, so a person only partly moving, or moving
            between frames, stays inside the region. Raising it loses fewer people at
            region edges and costs regions.
        min_box_px: Moving areas are grown to at least this size: a moving hand stands
            for a person around it.
        recheck_interval_s: A track box without motion is covered only this often;
            with `coast`, everything (all motion, every track) is looked at only this
            often. Raising it saves inferences on people standing still (with `coast`,
            on everyone tracked) and lets coasted boxes drift longer; keep it below the
            tracker's ``track_buffer_s`` and ``max_coast_s``.
        coast: Between re-checks, detect only in motion no track box (grown by
            `margin`) touches, and nothing when all motion is explained. Turning it off
            detects in all motion on every frame (more inferences in busy scenes; a
            person entering next to a tracked one is found sooner).
        explained: Motion is news only where more than this many typical (median track)
            person areas of it lie outside every live track, the tracks' recent trail, and
            what was looked at since the last re-check. Raising it skips more inferences
            and finds newcomers beside tracked people later.
        trail_frames: Frames of track positions whose area explains motion (the background
            model still shows where a walker was). Raising it hides more trail and more
            newcomers walking in someone's wake.

    Raises:
        ValidationError: If an argument is out of range.
    """

    def __init__(
        self,
        motion: MotionDetector | None = None,
        region_px: tuple[int, int] = (384, 288),
        margin: float = 0.25,
        min_box_px: int = 48,
        recheck_interval_s: float = 1.0,
        coast: bool = True,
        explained: float = 0.5,
        trail_frames: int = 10,
    ) -> None:
        if min(region_px) < 32 or not 0 <= margin <= 2 or min_box_px < 0 or recheck_interval_s < 0:
            raise ValidationError(
                f"RegionPlanner: expected region_px >= 32, 0 <= margin <= 2, min_box_px >= 0, "
                f"recheck_interval_s >= 0, got {region_px}, {margin}, {min_box_px}, {recheck_interval_s}"
            )
        self.motion = motion or MotionDetector()
        self.region_px = region_px
        self.margin = margin
        self.min_box_px = min_box_px
        self.recheck_interval_s = recheck_interval_s
        self.coast = coast
        self.explained = explained
        self.trail_frames = trail_frames
        self._trail: list[FloatArray] = []
        self._looked: list[FloatArray] = []
        self._last_recheck: float | None = None

    def reset(self) -> None:
        """Forget the background and the re-check clock (the stream restarted)."""
        self.motion.reset()
        self._last_recheck = None
        self._trail = []
        self._looked = []

    def plan(
        self,
        image: Image,
        tracks_xyxy: npt.ArrayLike = (),
        timestamp: float | None = None,
        pending_xyxy: npt.ArrayLike | None = None,
    ) -> RegionPlan | None:
        """Decide where to detect in this frame.

        Args:
            image: BGR frame, (H, W, 3) uint8.
            tracks_xyxy: (T, 4) boxes of the camera's active tracks (last or predicted),
                frame pixels.
            timestamp: Frame time in seconds (drives the re-check interval); None re-checks
                on every frame.
            pending_xyxy: (P, 4) boxes of unconfirmed tracks: looked at on every frame
                until they confirm (a track needs consecutive hits).

        Returns:
            The regions to detect in, or None when nothing moved and no track is due (with
            `coast`: when no re-check is due and every moving area touches a track).
        """
        height, width = image.shape[:2]
        motion = self.motion.update(image)
        tracks = np.asarray(tracks_xyxy, np.float32).reshape(-1, 4)
        if motion.recalibrated:
            # No background yet, or a lighting change hid this frame's motion: look everywhere once.
            self._last_recheck = timestamp
            return self._tiled(width, height, motion, len(tracks))
        due = self._recheck_due(timestamp)
        grown = self._grow(tracks, 0)
        self._trail.append(grown)
        del self._trail[: -self.trail_frames]
        if due:
            self._looked = []
        # Motion inside where tracks are or lately were (the background still shows them), or where
        # the detector looked since the last re-check and found no one (a person it cannot see), is explained.
        known = np.concatenate([*self._trail, *self._looked])
        uncovered = 1.0 - _covered(motion.boxes, known, width, height)
        area = (motion.boxes[:, 2] - motion.boxes[:, 0]) * (motion.boxes[:, 3] - motion.boxes[:, 1])
        person = (
            float(np.median((grown[:, 2] - grown[:, 0]) * (grown[:, 3] - grown[:, 1]))) if len(grown) else 0.0
        )
        unexplained = motion.boxes[uncovered * area > self.explained * person]
        if self.coast and not due:
            kept_tracks = np.asarray(() if pending_xyxy is None else pending_xyxy, np.float32).reshape(-1, 4)
            if len(unexplained) == 0 and len(kept_tracks) == 0:
                return None
        else:
            kept_tracks = tracks if due else tracks[_touching(tracks, motion.boxes)]
        moving = _split(self._grow(unexplained, self.min_box_px), self._piece_px(grown))
        self._looked.append(self._grow(unexplained, self.min_box_px))
        boxes = np.concatenate([moving, self._grow(kept_tracks, 0)])
        if len(boxes) == 0:
            return None
        regions = cover(boxes, width, height, self.region_px)
        tiling = _tiling(width, height, self.region_px)
        if len(regions) >= len(tiling):
            return RegionPlan(tiling, motion, len(kept_tracks), full_frame=True)  # nothing coasts
        partial = self.coast and not due
        return RegionPlan(regions, motion, len(kept_tracks), partial=partial)

    def _piece_px(self, grown_tracks: FloatArray) -> tuple[int, int]:
        """Region size for cutting large moving areas: big enough for the biggest tracked person."""
        if len(grown_tracks) == 0:
            return self.region_px
        size = (grown_tracks[:, 2:] - grown_tracks[:, :2]).max(axis=0)
        scale = max(1.0, float(size[0]) / self.region_px[0], float(size[1]) / self.region_px[1])
        return round(self.region_px[0] * scale), round(self.region_px[1] * scale)

    def _recheck_due(self, timestamp: float | None) -> bool:
        if timestamp is None:
            return True
        if self._last_recheck is None or timestamp - self._last_recheck >= self.recheck_interval_s:
            self._last_recheck = timestamp
            return True
        return False

    def _tiled(self, width: int, height: int, motion: Motion, tracked: int) -> RegionPlan:
        return RegionPlan(_tiling(width, height, self.region_px), motion, tracked, full_frame=True)

    def _grow(self, boxes: FloatArray, min_px: int) -> FloatArray:
        size = boxes[:, 2:] - boxes[:, :2]
        centre = (boxes[:, 2:] + boxes[:, :2]) / 2
        half = np.maximum(size * (1 + 2 * self.margin), min_px) / 2
        return np.asarray(np.concatenate([centre - half, centre + half], axis=1), np.float32)


def cover(boxes: npt.ArrayLike, width: int, height: int, region_px: tuple[int, int]) -> IntArray:
    """Cover boxes with few regions of `region_px` (width, height) pixels (greedy), inside the frame.

    Each step takes the uncovered box nearest the top-left, tries a few placements of a
    region around it and keeps the one that wholly contains the most uncovered boxes. A
    box larger than a region gets a region of its own, squared up around it.

    Args:
        boxes: (N, 4) xyxy frame pixels; clipped to the frame.
        width: Frame width.
        height: Frame height.
        region_px: Region (width, height) in pixels (clamped to the frame).

    Returns:
        (K, 4) int64 regions xyxy, K <= N.
    """
    clipped = np.clip(np.asarray(boxes, np.float64).reshape(-1, 4), 0, [width, height, width, height])
    clipped = clipped[(clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])]
    side_w, side_h = min(region_px[0], width), min(region_px[1], height)
    uncovered = np.ones(len(clipped), bool)
    regions: list[tuple[int, int, int, int]] = []
    while uncovered.any():
        index = np.flatnonzero(uncovered)
        seed = clipped[index[np.argmin(clipped[index, 1] * width + clipped[index, 0])]]
        box_w, box_h = seed[2] - seed[0], seed[3] - seed[1]
        if box_w > side_w or box_h > side_h:
            # Keep the region's aspect: the box is shown smaller, not distorted.
            grow = max(box_w / side_w, box_h / side_h)
            cx, cy = (seed[0] + seed[2]) / 2, (seed[1] + seed[3]) / 2
            w, h = min(side_w * grow, width), min(side_h * grow, height)
            region = _place(cx - w / 2, cy - h / 2, w, h, width, height)
            candidates = [region]
        else:
            xs = (seed[0], (seed[0] + seed[2] - side_w) / 2, seed[2] - side_w)
            ys = (seed[1], (seed[1] + seed[3] - side_h) / 2)
            candidates = [_place(x, y, side_w, side_h, width, height) for y in ys for x in xs]
        inside = [_inside(clipped, region) & uncovered for region in candidates]
        best = int(np.argmax([mask.sum() for mask in inside]))
        # The seed is inside every candidate by construction; guard against rounding.
        uncovered &= ~inside[best]
        uncovered[index[np.argmin(clipped[index, 1] * width + clipped[index, 0])]] = False
        regions.append(candidates[best])
    return np.array(regions, np.int64).reshape(-1, 4)


def _place(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    x1 = int(round(min(max(0.0, x), width - w)))
    y1 = int(round(min(max(0.0, y), height - h)))
    return x1, y1, int(round(x1 + w)), int(round(y1 + h))


def _inside(boxes: npt.NDArray[np.float64], region: tuple[int, int, int, int]) -> npt.NDArray[np.bool_]:
    x1, y1, x2, y2 = region
    return np.asarray(
        (boxes[:, 0] >= x1 - 0.5)
        & (boxes[:, 1] >= y1 - 0.5)
        & (boxes[:, 2] <= x2 + 0.5)
        & (boxes[:, 3] <= y2 + 0.5)
    )


def _split(boxes: FloatArray, region_px: tuple[int, int]) -> FloatArray:
    """Cut moving areas larger than a region into overlapping region-sized pieces.

    A large moving area is usually many small people (a crowd), not one big one: shrinking
    it into one region would hide them from the model.
    """
    small = (boxes[:, 2] - boxes[:, 0] <= region_px[0]) & (boxes[:, 3] - boxes[:, 1] <= region_px[1])
    pieces = [boxes[small]]
    for box in boxes[~small]:
        x1, y1 = int(box[0]), int(box[1])
        width, height = int(np.ceil(box[2])) - x1, int(np.ceil(box[3])) - y1
        tiles = _tiling(width, height, region_px)
        pieces.append((tiles + np.array([x1, y1, x1, y1])).astype(np.float32))
    return np.asarray(np.concatenate(pieces), np.float32).reshape(-1, 4)


def _covered(boxes: FloatArray, cover_boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Fraction (N,) of each box's area inside the union of `cover_boxes`, on an 8-px grid."""
    if len(boxes) == 0 or len(cover_boxes) == 0:
        return np.zeros(len(boxes), np.float32)
    cell = 8
    grid = np.zeros((height // cell + 1, width // cell + 1), np.int32)
    cells = np.clip(np.round(cover_boxes / cell), 0, [grid.shape[1], grid.shape[0]] * 2).astype(np.int64)
    for x1, y1, x2, y2 in cells:
        grid[y1:y2, x1:x2] = 1
    integral = np.pad(grid.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    cells = np.clip(np.round(boxes / cell), 0, [grid.shape[1], grid.shape[0]] * 2).astype(np.int64)
    x1, y1, x2, y2 = cells.T
    inside = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    area = np.maximum(1, (x2 - x1) * (y2 - y1))
    return np.asarray(inside / area, np.float32)


def _touching(tracks: FloatArray, motion: FloatArray) -> npt.NDArray[np.bool_]:
    if len(tracks) == 0 or len(motion) == 0:
        return np.zeros(len(tracks), bool)
    overlap_w = np.minimum(tracks[:, None, 2], motion[None, :, 2]) - np.maximum(
        tracks[:, None, 0], motion[None, :, 0]
    )
    overlap_h = np.minimum(tracks[:, None, 3], motion[None, :, 3]) - np.maximum(
        tracks[:, None, 1], motion[None, :, 1]
    )
    return np.asarray(((overlap_w > 0) & (overlap_h > 0)).any(axis=1))


def tiling_grid(width: int, height: int, region_px: tuple[int, int] = (384, 288)) -> tuple[int, int]:
    """(columns, rows) of the fewest regions of about `region_px` that tile the frame, 20 % overlap."""
    cols = max(1, int(np.ceil((width / region_px[0] - 0.2) / 0.8)))
    rows = max(1, int(np.ceil((height / region_px[1] - 0.2) / 0.8)))
    return cols, rows


def _tiling(width: int, height: int, region_px: tuple[int, int]) -> IntArray:
    """The fewest regions of about `region_px` that tile the frame with a 20 % overlap."""
    cols, rows = tiling_grid(width, height, region_px)
    return tile_regions(width, height, cols, rows, 0.2 if cols * rows > 1 else 0.0)


def count_inferences(plans: Sequence[RegionPlan | None]) -> int:
    """Model inputs the plans ask for (one per region)."""
    return sum(len(plan) for plan in plans if plan is not None)
