"""YOLO-format ONNX models (Ultralytics v8 / 11 export layout) on onnxruntime, CPU or CUDA.

The export takes a letterboxed RGB image scaled to 0..1, NCHW, and returns
``(B, 4 + num_classes, anchors)``: box centre x, y, width, height in input pixels, then
one score per class (no objectness, no NMS inside). The class map comes from the model's
``names`` metadata, the input size from its ``imgsz`` (or the input shape). Boxes are
filtered by score, de-duplicated per class by NMS and mapped back to image pixels here;
nothing of the model's layout leaves this module.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from detectors.ssd_anchors import nms
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

_PAD_VALUE = 114  # Ultralytics' letterbox grey
_MAX_CANDIDATES = 1000


class OnnxYoloDetector:
    """Any Ultralytics-layout YOLO ONNX export; implements `detectors.base.Detector`.

    Args:
        model_path: The ``.onnx`` file.
        score_threshold: Minimum class score. Raising it drops weak boxes.
        nms_iou: Boxes of one class overlapping more than this are duplicates.
        classes: Class ids to keep (default: all the model knows).
        device: ``"cpu"`` or ``"cuda"`` (CUDA provider when onnxruntime has it, else CPU
            with a ModelError).
        intra_op_threads: onnxruntime CPU threads.

    Raises:
        ModelError: If the model cannot be loaded or has not the YOLO layout.
    """

    name = "onnx"

    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.3,
        nms_iou: float = 0.7,
        classes: Sequence[int] | None = None,
        device: str = "cpu",
        intra_op_threads: int = 2,
    ) -> None:
        if not Path(model_path).is_file():
            raise ModelError(f"onnx detector: model file {model_path} not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError(
                    "onnx detector: device 'cuda' asked for, but this onnxruntime has no CUDA provider "
                    "(pip install onnxruntime-gpu)"
                )
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnx detector: cannot load {model_path}: {exc}") from exc
        meta = self._session.get_modelmeta().custom_metadata_map
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._dtype = np.float16 if "float16" in model_input.type else np.float32
        shape = model_input.shape
        self._fixed_batch = isinstance(shape[0], int)
        size = _literal(meta.get("imgsz"), None)
        if isinstance(size, list) and len(size) == 2:
            self.input_size = (int(size[1]), int(size[0]))
        elif isinstance(shape[2], int) and isinstance(shape[3], int):
            self.input_size = (int(shape[3]), int(shape[2]))
        else:
            self.input_size = (640, 640)
        names = _literal(meta.get("names"), None)
        outputs = self._session.get_outputs()[0].shape
        count = int(outputs[1]) - 4 if isinstance(outputs[1], int) else None
        if isinstance(names, dict):
            self.class_names: Sequence[str] = [str(names[k]) for k in sorted(names)]
        else:
            self.class_names = [f"class{i}" for i in range(count or 1)]
        if count is not None and count != len(self.class_names):
            raise ModelError(
                f"onnx detector: expected output (B, 4 + {len(self.class_names)} classes, N) for "
                f"{model_path}, got {outputs}"
            )
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.classes = None if classes is None else np.asarray(list(classes), np.int64)

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect in each image; boxes in image pixels, class ids of `class_names`.

        Raises:
            ValidationError: If an image is not (H, W, 3) uint8.
            ModelError: If onnxruntime fails.
        """
        blobs, transforms = [], []
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValidationError(
                    f"images[{index}]: expected (H, W, 3) uint8, got {image.shape} {image.dtype}"
                )
            blob, transform = letterbox(image, self.input_size)
            blobs.append(blob)
            transforms.append(transform)
        if not blobs:
            return []
        batch = np.stack(blobs).astype(self._dtype)
        try:
            if self._fixed_batch:
                raw = np.concatenate([self._session.run(None, {self._input_name: b[None]})[0] for b in batch])
            else:
                raw = self._session.run(None, {self._input_name: batch})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnx detector: inference on {batch.shape} failed: {exc}") from exc
        return [
            self._decode(np.asarray(out, np.float32), transform, image.shape[1], image.shape[0])
            for out, transform, image in zip(raw, transforms, images, strict=True)
        ]

    def _decode(
        self, output: npt.NDArray[np.float32], transform: tuple[float, float, float], width: int, height: int
    ) -> Detections:
        # output: (4 + C, N) → rows of cx, cy, w, h, scores...
        rows = output.T
        scores = rows[:, 4:]
        class_id = scores.argmax(axis=1)
        confidence = scores[np.arange(len(rows)), class_id]
        keep = confidence >= self.score_threshold
        if self.classes is not None:
            keep &= np.isin(class_id, self.classes)
        candidates = np.flatnonzero(keep)
        candidates = candidates[np.argsort(-confidence[candidates], kind="stable")[:_MAX_CANDIDATES]]
        cx, cy, w, h = rows[candidates, :4].T
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        # Per-class NMS by offsetting each class into its own coordinate range.
        shifted = boxes + (class_id[candidates] * 10_000.0)[:, None].astype(np.float32)
        kept = nms(shifted, np.arange(len(candidates)), self.nms_iou)
        scale, pad_x, pad_y = transform
        boxes = (boxes[kept] - np.array([pad_x, pad_y, pad_x, pad_y], np.float32)) / scale
        boxes = np.clip(boxes, 0, [width, height, width, height])
        return Detections(
            xyxy=boxes, confidence=confidence[candidates][kept], class_id=class_id[candidates][kept]
        )


def letterbox(
    image: Image, size: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], tuple[float, float, float]]:
    """Resize keeping the aspect, pad to `size` (width, height) centred, RGB, CHW, 0..1.

    Returns:
        (blob (3, H, W) float32, (scale, pad x, pad y)) to map boxes back.
    """
    height, width = image.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    new_w, new_h = round(width * scale), round(height * scale)
    pad_x, pad_y = (size[0] - new_w) // 2, (size[1] - new_h) // 2
    canvas = np.full((size[1], size[0], 3), _PAD_VALUE, np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    blob = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), (scale, float(pad_x), float(pad_y))


def _literal(text: str | None, default: object) -> object:
    if text is None:
        return default
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return default
