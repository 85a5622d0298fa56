"""Ultralytics models (``.pt`` checkpoints, TensorRT ``.engine``, any format it loads).

Needs the optional ``ultralytics`` extra (AGPL-3.0; pulls torch). It is made safe
offline before it is imported: ``YOLO_OFFLINE=1`` (no DNS probe, no downloads) and
``YOLO_CONFIG_DIR`` under Vigil's data directory (its settings file must be writable).
A weight *name* such as ``yolo11n.pt`` is downloaded by Ultralytics only when the
machine is online and ``YOLO_OFFLINE`` is unset; Vigil passes file paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image


def prepare_offline(config_dir: Path) -> None:
    """Set the environment Ultralytics reads at import: offline, settings under `config_dir`."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))


class UltralyticsDetector:
    """A model run through the ``ultralytics`` package; implements `detectors.base.Detector`.

    Args:
        model_path: ``.pt`` / ``.engine`` / ``.onnx`` file.
        score_threshold: Minimum class score.
        input_px: Inference size (long side, multiple of 32). Raising it finds smaller
            objects at quadratic cost.
        classes: Class ids to keep (default: all).
        device: ``"cpu"``, ``"cuda:0"``, ... (default: Ultralytics picks).
        config_dir: Ultralytics' settings directory (default ``vigil-data/ultralytics``).

    Raises:
        ModelError: If ultralytics is not installed or the model cannot be loaded.
    """

    name = "ultralytics"

    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.3,
        input_px: int = 640,
        classes: Sequence[int] | None = None,
        device: str | None = None,
        config_dir: Path | None = None,
    ) -> None:
        if input_px < 32:
            raise ValidationError(f"input_px: expected >= 32, got {input_px}")
        if not Path(model_path).is_file():
            raise ModelError(f"ultralytics detector: model file {model_path} not found")
        prepare_offline(config_dir or Path("vigil-data") / "ultralytics")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ModelError(
                "detector.type 'ultralytics' needs the ultralytics package: pip install 'vigil[ultralytics]'"
            ) from exc
        try:
            self._model: Any = YOLO(str(model_path), task="detect")
        except Exception as exc:  # ultralytics raises many untyped errors
            raise ModelError(f"ultralytics detector: cannot load {model_path}: {exc}") from exc
        names = self._model.names
        self.class_names: Sequence[str] = [str(names[k]) for k in sorted(names)]
        self.score_threshold = score_threshold
        self.input_px = input_px
        self.classes = None if classes is None else list(classes)
        self.device = device

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect in each image (one batched predict call).

        Raises:
            ValidationError: If an image is not (H, W, 3) uint8.
            ModelError: If inference fails.
        """
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValidationError(
                    f"images[{index}]: expected (H, W, 3) uint8, got {image.shape} {image.dtype}"
                )
        if not images:
            return []
        try:
            results = self._model.predict(
                list(images),
                imgsz=self.input_px,
                conf=self.score_threshold,
                classes=self.classes,
                device=self.device,
                verbose=False,
            )
        except Exception as exc:  # ultralytics raises many untyped errors
            raise ModelError(f"ultralytics detector: inference failed: {exc}") from exc
        found = []
        for result in results:
            boxes = result.boxes
            found.append(
                Detections(
                    xyxy=boxes.xyxy.cpu().numpy(),
                    confidence=boxes.conf.cpu().numpy(),
                    class_id=boxes.cls.cpu().numpy().astype(np.int64),
                )
            )
        return found
