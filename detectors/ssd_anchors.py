"""SSD anchors, box decoding and NMS for the SSDLite person model, in NumPy.

These replace the TF Object Detection API parts of the frozen graph that the ONNX builder
leaves out: `ssd_anchor_generator` (6 layers, scales 0.2-0.95 interpolated, aspect ratios
1, 2, 0.5, 3, 0.3333, three anchors in the lowest layer), the faster-rcnn box coder with
scale factors (10, 10, 5, 5), sigmoid score conversion (the graph's
``Postprocessor/convert_scores`` is a Sigmoid after ``scale_logits`` with logit scale 1.0)
and greedy NMS.

Anchors are generated in input pixels with the sizes of the 300x300 model, so an input of
another size (e.g. 600x340) keeps the anchor sizes the box predictor was trained for; at
300x300 they equal TF's anchors exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

MODEL_SIZE = 300
NUM_LAYERS = 6
MIN_SCALE = 0.2
MAX_SCALE = 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
# The lowest layer ("reduce_boxes_in_lowest_layer") uses three fixed anchors.
LOWEST_LAYER = ((0.1, 1.0), (0.2, 2.0), (0.2, 0.5))
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)
# MobileNetV2 feature strides of the six predictor layers: 16, 32, ..., 512 (in halvings).
_LAYER_HALVINGS = (4, 5, 6, 7, 8, 9)
# exp() of a larger code means a box > 1000x its anchor: clamp to keep the maths finite.
_MAX_LOG_SCALE = math.log(1000.0 / 16)

FloatArray = npt.NDArray[np.float32]


def feature_map_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Grid (rows, cols) of each predictor layer for an input of height x width pixels.

    Every stride-2 layer uses TF "SAME" padding: the output size is ceil(input / 2).
    """
    sizes = []
    for halvings in _LAYER_HALVINGS:
        h, w = height, width
        for _ in range(halvings):
            h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


def _layer_anchor_shapes() -> list[list[tuple[float, float]]]:
    """(scale, aspect ratio) pairs per layer, in TF's order."""
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (NUM_LAYERS - 1) for i in range(NUM_LAYERS)] + [1.0]
    layers = [list(LOWEST_LAYER)]
    for i in range(1, NUM_LAYERS):
        shapes = [(scales[i], ratio) for ratio in ASPECT_RATIOS]
        shapes.append((math.sqrt(scales[i] * scales[i + 1]), 1.0))  # the interpolated scale
        layers.append(shapes)
    return layers


@functools.lru_cache(maxsize=16)
def anchors(height: int = MODEL_SIZE, width: int = MODEL_SIZE) -> FloatArray:
    """Anchors for an input of height x width pixels, as TF orders them (layer, y, x, anchor).

    Returns:
        (N, 4) float32 array of (center y, center x, height, width) in input pixels; N = 1917
        for 300x300. Read-only (cached).
    """
    parts = []
    for (rows, cols), shapes in zip(feature_map_sizes(height, width), _layer_anchor_shapes(), strict=True):
        ratios = [(scale / math.sqrt(ratio), scale * math.sqrt(ratio)) for scale, ratio in shapes]
        sizes = np.array(ratios, np.float64) * MODEL_SIZE
        cy = (np.arange(rows) + 0.5) * (height / rows)
        cx = (np.arange(cols) + 0.5) * (width / cols)
        grid = np.zeros((rows, cols, len(shapes), 4), np.float64)
        grid[..., 0] = cy[:, None, None]
        grid[..., 1] = cx[None, :, None]
        grid[..., 2] = sizes[:, 0]
        grid[..., 3] = sizes[:, 1]
        parts.append(grid.reshape(-1, 4))
    result = np.concatenate(parts).astype(np.float32)
    result.setflags(write=False)
    return result


@functools.lru_cache(maxsize=16)
def anchor_layers(height: int = MODEL_SIZE, width: int = MODEL_SIZE) -> npt.NDArray[np.int64]:
    """Predictor layer (0 = finest, 5 = coarsest) of each anchor of `anchors(height, width)`.

    Returns:
        (N,) int64, read-only (cached).
    """
    counts = [
        rows * cols * len(shapes)
        for (rows, cols), shapes in zip(feature_map_sizes(height, width), _layer_anchor_shapes(), strict=True)
    ]
    result = np.repeat(np.arange(NUM_LAYERS, dtype=np.int64), counts)
    result.setflags(write=False)
    return result


def decode_boxes(encodings: FloatArray, anchor_boxes: FloatArray) -> FloatArray:
    """Faster-RCNN box decoding.

    Args:
        encodings: (..., N, 4) codes (ty, tx, th, tw).
        anchor_boxes: (N, 4) anchors (cy, cx, h, w) in pixels, from `anchors`.

    Returns:
        (..., N, 4) float32 boxes (x1, y1, x2, y2) in the same pixels as the anchors.
    """
    ty, tx, th, tw = (encodings[..., k] / BOX_CODER_SCALES[k] for k in range(4))
    a_cy, a_cx, a_h, a_w = (anchor_boxes[:, k] for k in range(4))
    cy = ty * a_h + a_cy
    cx = tx * a_w + a_cx
    half_h = np.exp(np.minimum(th, _MAX_LOG_SCALE)) * a_h / 2
    half_w = np.exp(np.minimum(tw, _MAX_LOG_SCALE)) * a_w / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1).astype(np.float32)


def person_scores(class_logits: FloatArray) -> FloatArray:
    """Sigmoid of the person logit (column 1; column 0 is background). Shape (..., N)."""
    logits = class_logits[..., 1].astype(np.float32)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes, shape (N, M)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou: FloatArray = (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)
    return iou


def nms(boxes: FloatArray, order: npt.NDArray[np.int64], iou_threshold: float) -> npt.NDArray[np.int64]:
    """Greedy NMS.

    Args:
        boxes: (N, 4) xyxy boxes.
        order: Indices into `boxes`, best first (the priority; usually by descending score).
        iou_threshold: A box is suppressed when its IoU with a kept box exceeds this.

    Returns:
        Indices of the kept boxes, in priority order.
    """
    if len(order) == 0:
        return np.zeros(0, np.int64)
    iou = box_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= iou[i] > iou_threshold
    return np.array(keep, np.int64)
