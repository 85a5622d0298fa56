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
that nothing explains: what changed since the last frame, inside the moving areas but
outside every live track, its recent trail, and what was already looked at since the
re-check (someone new, or someone the tracker lost). The frame-to-frame change matters
in crowds: the background model's moving areas merge neighbours into blobs much larger
than the people in them, and still show where walkers were; a walker's own change stays
inside their track's box. The
first frame (no background yet) and a lighting change get a full tiled look. A frame
whose motion is all explained needs no inference: the tracker coasts its tracks, moved
by the image's optical flow (`VigilTracker.coast`, `tracker.flow`). This is DeepStream's
detection ``interval`` and Frigate's tracked-object regions: a crowd of tracked walkers
costs a full look every `recheck_interval_s`, not every frame.

This is Frigate's region-based detection: a 300-px model sees a person in a region at
about the size it was trained on, instead of a whole 1080p frame squashed 4x.

With `pack` (the default), boxes up to half a region wide (an unconfirmed track, a
newcomer) get narrow cells instead of whole regions: a region's height, as wide as what
they hold plus `cell_pad`, packed side by side into shared 300x300 inputs at a region's
scale (`detectors.tiling.pack_cells`, `SsdliteDetector.detect_packed`): the model sees each
person as large as in a region, and three or four of them cost one inference. A plan
uses cells only when they need fewer inputs than regions. On overhead_crowd at 5 fps
(`benchmarks/detection.py`): 3.07x fewer inputs than 4x3 tiles on every frame at 0.96 of
the tiled pipeline's recall (1.97x with whole regions and blob-level explanation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from detectors.motion import Motion, MotionDetector
from detectors.ssd_anchors import MODEL_SIZE
from detectors.tiling import Cells, packed_inputs, tile_regions
from vigil.core.errors import ValidationError
from vigil.core.types import Image

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
            (``VigilTracker.update(..., looked=plan.looked)``), not count a miss.
        cells: (M, 4) int64 xyxy frame pixels packed side by side into shared model inputs
            at `cell_scale` (`detectors.tiling.pack_cells`); empty without packing.
        cell_scale: (x, y) model-input pixels per frame pixel of the cells.
    """

    regions: IntArray
    motion: Motion
    tracked: int = 0
    full_frame: bool = False
    partial: bool = False
    cells: IntArray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    cell_scale: tuple[float, float] = (1.0, 1.0)

    def __len__(self) -> int:
        """Model inputs: one per region, and the mosaics the cells are packed into."""
        return int(self.regions.shape[0]) + packed_inputs(self.cells, _INPUT, self.cell_scale)

    @property
    def packed(self) -> Cells:
        """The cells and their scale, as `SsdliteDetector.detect_packed` takes them."""
        return Cells(self.cells, self.cell_scale)

    @property
    def looked(self) -> IntArray:
        """(K + M, 4) every frame area the detector sees: regions and cells."""
        return np.concatenate([self.regions, self.cells]).astype(np.int64)


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
            what was looked at since the last re-check (between re-checks with `coast`:
            of what changed since the last frame). Raising it skips more inferences and
            finds newcomers beside tracked people later.
        trail_frames: Frames of track positions whose area explains motion (the background
            model still shows where a walker was). Raising it hides more trail and more
            newcomers walking in someone's wake.
        pack: Cover boxes up to half a region wide with narrow cells packed several to a
            model input (`SsdliteDetector.detect_packed`; the plan's `cells`), where that
            needs fewer inputs. The detector call must pass `RegionPlan.packed`; turn it
            off for detectors without packing (`detectors.base.RegionDetector.packs_cells`).
        cell_pad: Frame pixels of context left and right of what a cell holds. Raising it
            shows the model more around each person (measured: 0 px cost 2 points of
            recall on overhead_crowd) and fits fewer cells into an input.

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
        pack: bool = True,
        cell_pad: int = 24,
    ) -> None:
        if (
            min(region_px) < 32
            or not 0 <= margin <= 2
            or min_box_px < 0
            or recheck_interval_s < 0
            or cell_pad < 0
        ):
            raise ValidationError(
                f"RegionPlanner: expected region_px >= 32, 0 <= margin <= 2, min_box_px >= 0, "
                f"recheck_interval_s >= 0, cell_pad >= 0, got {region_px}, {margin}, {min_box_px}, "
                f"{recheck_interval_s}, {cell_pad}"
            )
        self.motion = motion or MotionDetector()
        self.region_px = region_px
        self.margin = margin
        self.min_box_px = min_box_px
        self.recheck_interval_s = recheck_interval_s
        self.coast = coast
        self.explained = explained
        self.trail_frames = trail_frames
        self.pack = pack
        self.cell_pad = cell_pad
        self._trail: list[FloatArray] = []
        self._looked: list[FloatArray] = []
        self._last_recheck: float | None = None
        self._grey: npt.NDArray[np.int16] | None = None

    def reset(self) -> None:
        """Forget the background and the re-check clock (the stream restarted)."""
        self.motion.reset()
        self._last_recheck = None
        self._trail = []
        self._looked = []
        self._grey = None

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
        changed = self._changed(image)
        tracks = np.asarray(tracks_xyxy, np.float32).reshape(-1, 4)
        grown = self._extend_trail(tracks)
        if motion.recalibrated:
            # No background yet, or a lighting change hid this frame's motion: look everywhere once.
            self._last_recheck = timestamp
            return self._tiled(width, height, motion, len(tracks))
        due = self._recheck_due(timestamp)
        if due:
            self._looked = []
        # Motion inside where tracks are or lately were (the background still shows them), or where
        # the detector looked since the last re-check and found no one (a person it cannot see), is explained.
        known = np.concatenate([*self._trail, *self._looked])
        person = float(np.median(_areas(grown))) if len(grown) else 0.0
        between = self.coast and not due
        unexplained = self._unexplained(motion, changed if between else None, known, person, (width, height))
        if between:
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
        regions, cells = self._cover(boxes, width, height)
        tiling = _tiling(width, height, self.region_px)
        plan = RegionPlan(
            regions, motion, len(kept_tracks), partial=between, cells=cells, cell_scale=self.cell_scale
        )
        if len(plan) >= len(tiling):
            return RegionPlan(tiling, motion, len(kept_tracks), full_frame=True)  # nothing coasts
        return plan

    def _unexplained(
        self,
        motion: Motion,
        changed: npt.NDArray[np.bool_] | None,
        known: FloatArray,
        person: float,
        size: tuple[int, int],
    ) -> FloatArray:
        """Moving areas no known box explains, (K, 4): the news worth a look.

        Args:
            motion: This frame's motion.
            changed: Pixels changed since the last frame, between re-checks with `coast`; else None.
            known: Boxes whose motion is explained (tracks, their trail, what was looked at).
            person: Typical (median track) person area in pixels; 0 without tracks.
            size: Frame (width, height) in pixels.
        """
        if changed is not None:
            # Between re-checks only what changed since the last frame outside every known box is news:
            # a crowd merged into one moving blob is not looked at whole every frame.
            return _news(changed, motion.boxes, known, self.explained * person, self.region_px)
        uncovered = 1.0 - _covered(motion.boxes, known, *size)
        return motion.boxes[uncovered * _areas(motion.boxes) > self.explained * person]

    def _extend_trail(self, tracks: FloatArray) -> FloatArray:
        """The track boxes grown by `margin`, remembered for `trail_frames` frames."""
        grown = self._grow(tracks, 0)
        self._trail.append(grown)
        del self._trail[: -self.trail_frames]
        return grown

    @property
    def cell_scale(self) -> tuple[float, float]:
        """Model-input pixels per frame pixel of a region (and of a packed cell)."""
        return _INPUT[0] / self.region_px[0], _INPUT[1] / self.region_px[1]

    def _cover(self, boxes: FloatArray, width: int, height: int) -> tuple[IntArray, IntArray]:
        """Regions, and cells to pack, covering the boxes with the fewest model inputs."""
        plain = cover(boxes, width, height, self.region_px)
        empty = np.zeros((0, 4), np.int64)
        if not self.pack:
            return plain, empty
        cell_px = (round(self.region_px[0] * _CELL_WIDTH), self.region_px[1])
        clipped = np.clip(boxes, 0, [width, height, width, height])
        small = (clipped[:, 2] - clipped[:, 0] <= cell_px[0]) & (clipped[:, 3] - clipped[:, 1] <= cell_px[1])
        regions = cover(clipped[~small], width, height, self.region_px)
        cells = _shrink(cover(clipped[small], width, height, cell_px), clipped[small], self.cell_pad, width)
        if len(regions) + packed_inputs(cells, _INPUT, self.cell_scale) < len(plain):
            return regions, cells
        return plain, empty

    def _changed(self, image: Image) -> npt.NDArray[np.bool_] | None:
        """Pixels (at 1/`_CHANGE_SCALE`) that changed since the last frame; None on the first."""
        height, width = image.shape[:2]
        small = cv2.resize(
            image, (width // _CHANGE_SCALE, height // _CHANGE_SCALE), interpolation=cv2.INTER_AREA
        )
        grey = np.asarray(cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0), np.int16)
        grey -= int(grey.mean()) - 128
        previous, self._grey = self._grey, grey
        if previous is None or previous.shape != grey.shape:
            return None
        return np.asarray(np.abs(grey - previous) > self.motion.threshold)

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


def _areas(boxes: FloatArray) -> FloatArray:
    """Area (N,) of each xyxy box."""
    return np.asarray((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), np.float32)


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


_CHANGE_SCALE = 4  # the frame-to-frame change is measured at 1/4 of the frame size
_CELL_WIDTH = 0.5  # widest packed cell, as a fraction of a region's width (before narrowing)
_INPUT = (MODEL_SIZE, MODEL_SIZE)


def _shrink(cells: IntArray, boxes: FloatArray, pad: int, width: int) -> IntArray:
    """Narrow each cell to the boxes it holds (each box counted in the first cell holding it)."""
    shrunk = cells.copy()
    free = np.ones(len(boxes), bool)
    for k, cell in enumerate(cells):
        mine = free & _inside(
            boxes.astype(np.float64), (int(cell[0]), int(cell[1]), int(cell[2]), int(cell[3]))
        )
        free &= ~mine
        if mine.any():
            shrunk[k, 0] = max(0, max(int(cell[0]), int(np.floor(boxes[mine, 0].min()))) - pad)
            shrunk[k, 2] = min(width, min(int(cell[2]), int(np.ceil(boxes[mine, 2].max()))) + pad)
    return shrunk


def _news(
    changed: npt.NDArray[np.bool_],
    motion: FloatArray,
    known: FloatArray,
    min_area: float,
    region_px: tuple[int, int],
) -> FloatArray:
    """What changed since the last frame inside the moving areas but outside every known box.

    A walker's own change stays inside their track's box, and the ghost they leave in the
    background model does not change, so only newcomers (and people the tracker lost) show.

    Returns:
        (N, 4) boxes of the changed parts larger than `min_area` frame pixels; with no
        person size to go by (`min_area` 0: no tracks), the whole moving areas (up to a
        region's size) they lie in, so the region shows the whole person.
    """
    scale = _CHANGE_SCALE
    height, width = changed.shape
    inside = np.zeros(changed.shape, np.uint8)
    for x1, y1, x2, y2 in np.clip(np.round(motion / scale), 0, [width, height] * 2).astype(np.int64):
        inside[y1:y2, x1:x2] = 1
    for x1, y1, x2, y2 in np.clip(np.round(known / scale), 0, [width, height] * 2).astype(np.int64):
        inside[y1:y2, x1:x2] = 0
    news = (changed & inside.astype(bool)).astype(np.uint8)
    news = np.asarray(cv2.dilate(news, np.ones((3, 3), np.uint8), iterations=2), np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(news, connectivity=8)
    stats = stats[1:count]
    stats = stats[stats[:, cv2.CC_STAT_AREA] * scale * scale > max(min_area, 1.0)]
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    parts = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32).reshape(-1, 4) * scale
    if min_area > 0 or len(parts) == 0:
        return parts
    size = motion[:, 2:] - motion[:, :2]
    whole = motion[(size[:, 0] <= region_px[0]) & (size[:, 1] <= region_px[1]) & _touching(motion, parts)]
    return np.asarray(np.concatenate([whole, parts[~_touching(parts, whole)]]), np.float32).reshape(-1, 4)


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
    """Model inputs the plans ask for (one per region, one per mosaic of packed cells)."""
    return sum(len(plan) for plan in plans if plan is not None)
