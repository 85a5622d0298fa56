"""Association helpers: pairwise box costs and one-to-one assignment, pure NumPy/SciPy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]


def iou_matrix(a: Array, b: Array, buffer: float | Array = 0.0) -> Array:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Args:
        a: Boxes (N, 4) as x1, y1, x2, y2.
        b: Boxes (M, 4) as x1, y1, x2, y2.
        buffer: Grow each box by this fraction of its width and height on every side
            before comparing (buffered IoU, C-BIoU): boxes that moved further than their
            own size between two frames still overlap. A scalar, or one value per row
            of ``a`` (N,).

    Returns:
        IoU, shape (N, M), in [0, 1].
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = _grow(a, buffer)
    b = _grow(b, 0.0 if isinstance(buffer, np.ndarray) else buffer)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou: Array = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return iou


def _grow(boxes: Array, buffer: float | Array) -> Array:
    if np.isscalar(buffer) and buffer == 0.0:
        return boxes
    margin = (boxes[:, 2:] - boxes[:, :2]) * np.reshape(buffer, (-1, 1))
    return np.concatenate([boxes[:, :2] - margin, boxes[:, 2:] + margin], axis=1)


def height_ratio(a: Array, b: Array) -> Array:
    """Smaller over larger box height for every pair, shape (N, M), in (0, 1]."""
    ha = np.maximum(a[:, 3] - a[:, 1], 1e-9)[:, None]
    hb = np.maximum(b[:, 3] - b[:, 1], 1e-9)[None, :]
    return np.minimum(ha, hb) / np.maximum(ha, hb)


def direction_consistency(velocity: Array, seen: Array, centres: Array) -> Array:
    """How well a step from where a track was last seen to a detection continues its motion.

    OC-SORT's observation-centric momentum: the angle between a track's velocity and
    the direction from its last observed centre to a detection's centre. Computed per
    candidate pair (K pairs, usually only the overlapping ones), not for all N x M.

    Args:
        velocity: Track velocities (K, 2), pixels per frame.
        seen: Centres (K, 2) where the tracks were last observed.
        centres: Detection centres (K, 2).

    Returns:
        Consistency (K,) in [-0.5, 0.5]: 0.5 straight ahead, 0 sideways or undefined,
        -0.5 straight back.
    """
    step = centres - seen
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    length = np.hypot(step[:, 0], step[:, 1])
    cosine = (velocity * step).sum(axis=1) / np.maximum(speed * length, 1e-9)
    # A standing track (under half a pixel per frame) or a detection on the spot has no direction.
    defined = (speed > 0.5) & (length > 1.0)
    consistency: Array = np.where(defined, np.arcsin(np.clip(cosine, -1.0, 1.0)) / np.pi, 0.0)
    return consistency


def cosine_distance(a: Array, b: Array) -> Array:
    """1 - cosine similarity of every row of ``a`` (N, D) with every row of ``b`` (M, D)."""
    if len(a) == 0 or len(b) == 0:
        return np.ones((len(a), len(b)))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - a @ b.T, 0.0, 2.0)


def assign(cost: Array, max_cost: float) -> tuple[Index, Index, Index]:
    """Minimum-cost one-to-one assignment, keeping only pairs with cost <= ``max_cost``.

    Args:
        cost: Cost matrix (N rows, M columns); ``inf`` forbids a pair.
        max_cost: Largest cost an accepted pair may have.

    Returns:
        matched pairs (K, 2) as (row, column), unmatched rows, unmatched columns.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n), np.arange(m)
    # Solve only over the rows and columns that have at least one allowed pair:
    # in a busy scene most of the matrix is far apart and this keeps the problem small.
    allowed = cost <= max_cost
    rows = np.flatnonzero(allowed.any(axis=1))
    cols = np.flatnonzero(allowed.any(axis=0))
    matches = np.zeros((0, 2), dtype=np.int64)
    if len(rows) and len(cols):
        sub = np.where(allowed[np.ix_(rows, cols)], cost[np.ix_(rows, cols)], max_cost + 1.0)
        r, c = linear_sum_assignment(sub)
        keep = sub[r, c] <= max_cost
        matches = np.stack([rows[r[keep]], cols[c[keep]]], axis=1).astype(np.int64)
    return matches, _unused(n, matches[:, 0]), _unused(m, matches[:, 1])


def _unused(n: int, used: Index) -> Index:
    free = np.ones(n, dtype=bool)
    free[used] = False
    return np.flatnonzero(free)
