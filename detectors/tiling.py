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

import numpy as np
import numpy.typing as npt

from detectors.ssd_anchors import box_iou
from vigil.errors import ValidationError

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
