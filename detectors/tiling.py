"""Overlapping tiles and the merge of per-tile detections, so a 300-px model sees small people.

A 300x300 model run on a whole 1280x720 frame sees each person 4x smaller than on a
tile. `tile_regions` cuts a frame into `cols` x `rows` overlapping regions; `merge_tiles`
maps per-tile boxes back and removes duplicates. A person cut by a tile's inner edge is
seen whole by the neighbouring tile when the overlap is larger than the person, so boxes
touching an inner edge ("truncated") lose to whole boxes: they are ranked after them in
the NMS, and dropped when they lie mostly inside a kept box even at a low IoU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from detectors.ssd_anchors import box_iou
from vigil.core.errors import ValidationError

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def tile_regions(width: int, height: int, cols: int, rows: int, overlap: float) -> IntArray:
    """Cut a width x height frame into cols x rows equal regions that overlap their neighbours.

    Args:
        width: Frame width in pixels.
        height: Frame height in pixels.
        cols: Tiles across.
        rows: Tiles down.
        overlap: Fraction of a tile shared with each neighbour, in [0, 0.5).

    Returns:
        (cols * rows, 4) int64 regions (x1, y1, x2, y2), row-major, covering the frame.

    Raises:
        ValidationError: If an argument is out of range.
    """
    if cols < 1 or rows < 1 or not 0.0 <= overlap < 0.5 or width < 1 or height < 1:
        raise ValidationError(
            f"tile_regions: expected cols, rows >= 1, 0 <= overlap < 0.5 and a non-empty frame, "
            f"got cols={cols} rows={rows} overlap={overlap} frame={width}x{height}"
        )
    xs = _spans(width, cols, overlap)
    ys = _spans(height, rows, overlap)
    return np.array([(x1, y1, x2, y2) for y1, y2 in ys for x1, x2 in xs], dtype=np.int64)


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    size = length / (count - (count - 1) * overlap)
    step = size * (1 - overlap)
    return [(round(i * step), min(length, round(i * step + size))) for i in range(count)]


MOSAIC_GAP_PX = 8  # blank model-input pixels between packed cells, so boxes do not join across them
MOSAIC_FILL = 128  # grey of the gaps and of the unused rest of an input


class Cells(NamedTuple):
    """Small regions of one frame to pack into shared model inputs (`pack_cells`).

    Attributes:
        regions: (M, 4) xyxy frame pixels.
        scale: (x, y) model-input pixels per frame pixel at which each is shown.
    """

    regions: npt.ArrayLike
    scale: tuple[float, float]


def pack_cells(
    cells: npt.ArrayLike, size: tuple[int, int], scale: tuple[float, float], gap: int = MOSAIC_GAP_PX
) -> tuple[IntArray, IntArray]:
    """Pack small regions (cells) side by side into as few model inputs as they fit (a mosaic).

    Each cell is shown at `scale` (input pixels per frame pixel, e.g. the scale at which a
    whole region fills an input, so a person looks as in a region), top-aligned, `gap`
    pixels from its neighbours; cells go widest first into the first input with room.

    Args:
        cells: (M, 4) xyxy frame regions.
        size: Model input (width, height).
        scale: (x, y) input pixels per frame pixel; a cell is clamped to the input.
        gap: Blank input pixels between neighbouring cells.

    Returns:
        (M,) int64 input index of each cell, and (M, 4) int64 its slot xyxy in input pixels.
    """
    boxes = np.asarray(cells, np.float64).reshape(-1, 4)
    widths = np.clip(np.round((boxes[:, 2] - boxes[:, 0]) * scale[0]), 1, size[0]).astype(np.int64)
    heights = np.clip(np.round((boxes[:, 3] - boxes[:, 1]) * scale[1]), 1, size[1]).astype(np.int64)
    index = np.zeros(len(boxes), np.int64)
    slots = np.zeros((len(boxes), 4), np.int64)
    free: list[int] = []  # next free x in each input
    for i in np.argsort(-widths, kind="stable"):
        k = next((k for k, x in enumerate(free) if x + widths[i] <= size[0]), len(free))
        if k == len(free):
            free.append(0)
        index[i] = k
        slots[i] = (free[k], 0, free[k] + widths[i], heights[i])
        free[k] += int(widths[i]) + gap
    return index, slots


def packed_inputs(cells: npt.ArrayLike, size: tuple[int, int], scale: tuple[float, float]) -> int:
    """Model inputs `pack_cells` needs for these cells."""
    index, _ = pack_cells(cells, size, scale)
    return int(index.max()) + 1 if len(index) else 0


def unpack_mosaic(
    xyxy: FloatArray, confidence: FloatArray, slots: IntArray, cells: IntArray
) -> list[TileDetections]:
    """Map boxes found in one mosaic input back to the frame, cell by cell.

    A box belongs to the slot holding its centre and is clipped to that slot, so a box the
    model drew across the gap cannot leak into a neighbouring cell; clipped boxes touch
    the cell's edge and count as truncated in `merge_tiles`.

    Args:
        xyxy: (N, 4) boxes in input pixels.
        confidence: (N,) scores.
        slots: (K, 4) slots in input pixels (`pack_cells`).
        cells: (K, 4) the frame regions shown in them.

    Returns:
        One `TileDetections` per cell, boxes in frame pixels.
    """
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    tiles = []
    for slot, cell in zip(slots, cells, strict=True):
        sx1, sy1, sx2, sy2 = (float(v) for v in slot)
        mine = (centre[:, 0] >= sx1) & (centre[:, 0] < sx2) & (centre[:, 1] >= sy1) & (centre[:, 1] < sy2)
        boxes = np.clip(xyxy[mine], [sx1, sy1, sx1, sy1], [sx2, sy2, sx2, sy2])
        x1, y1, x2, y2 = (int(v) for v in cell)
        scale = np.array([(x2 - x1) / (sx2 - sx1), (y2 - y1) / (sy2 - sy1)] * 2, np.float32)
        frame = (boxes - np.array([sx1, sy1, sx1, sy1], np.float32)) * scale + np.array(
            [x1, y1, x1, y1], np.float32
        )
        tiles.append(TileDetections((x1, y1, x2, y2), frame.astype(np.float32), confidence[mine]))
    return tiles


@dataclass(frozen=True)
class TileDetections:
    """Boxes found in one region, already in frame pixels.

    Attributes:
        region: The region (x1, y1, x2, y2) in frame pixels.
        xyxy: Boxes, (N, 4) float32.
        confidence: Scores, (N,) float32.
    """

    region: tuple[int, int, int, int]
    xyxy: FloatArray
    confidence: FloatArray


def truncated_mask(tile: TileDetections, width: int, height: int, margin: float) -> npt.NDArray[np.bool_]:
    """Boxes within `margin` pixels of an edge of the tile that is not an edge of the frame."""
    x1, y1, x2, y2 = tile.region
    boxes = tile.xyxy
    mask = np.zeros(len(boxes), bool)
    if x1 > 0:
        mask |= boxes[:, 0] <= x1 + margin
    if y1 > 0:
        mask |= boxes[:, 1] <= y1 + margin
    if x2 < width:
        mask |= boxes[:, 2] >= x2 - margin
    if y2 < height:
        mask |= boxes[:, 3] >= y2 - margin
    return mask


def merge_tiles(
    tiles: list[TileDetections],
    width: int,
    height: int,
    iou_threshold: float,
    containment_threshold: float = 0.6,
    edge_margin: float = 4.0,
) -> tuple[FloatArray, FloatArray]:
    """Merge per-tile boxes of one frame into one set without duplicates.

    Args:
        tiles: Boxes per region, in frame pixels.
        width: Frame width.
        height: Frame height.
        iou_threshold: A box whose IoU with a kept box exceeds this is a duplicate.
        containment_threshold: A truncated box is also dropped when this fraction of its
            area lies inside a kept box (a cut-off half of a person overlaps the whole box
            at a low IoU).
        edge_margin: Pixels from an inner tile edge within which a box counts as truncated.

    Returns:
        (xyxy (M, 4) float32, confidence (M,) float32), best first, boxes clipped to the frame.
    """
    if not tiles:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    boxes = np.concatenate([t.xyxy for t in tiles]).astype(np.float32)
    scores = np.concatenate([t.confidence for t in tiles]).astype(np.float32)
    truncated = np.concatenate([truncated_mask(t, width, height, edge_margin) for t in tiles])
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
    if len(boxes) == 0:
        return boxes, scores
    # Whole boxes first, then by score: a whole box is the better estimate of a cut person.
    order = np.lexsort((-scores, truncated))
    boxes, scores, truncated = boxes[order], scores[order], truncated[order]
    iou = box_iou(boxes, boxes)
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-9)
    inter = iou * (area[:, None] + area[None, :]) / (1 + iou)
    inside = inter / area[None, :]  # inside[i, j]: fraction of box j inside box i
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
        suppressed |= truncated & (inside[i] > containment_threshold)
    kept = np.array(keep, np.int64)
    kept = kept[np.argsort(-scores[kept], kind="stable")]
    return boxes[kept], scores[kept]
