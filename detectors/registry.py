"""Build the configured detector backend: an explicit registry keyed by `DetectorConfig.type`.

`build_detector` builds one now; `LazyDetector` builds it on first use (a central node may
never need the model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from config.classes import STREET_CLASSES
from config.models import DetectorConfig
from detectors.base import Detector
from vigil.core.errors import ModelError
from vigil.core.types import Detections, Image


def _ssdlite(config: DetectorConfig) -> Detector:
    from detectors.ssdlite import SsdliteDetector

    return SsdliteDetector(
        score_threshold=config.score_threshold,
        intra_op_threads=config.threads,
        model_path=config.model_path,
        precision=config.precision,
    )


def _onnx(config: DetectorConfig) -> Detector:
    from detectors.onnx_yolo import OnnxYoloDetector

    if config.model_path is None:
        raise ModelError("detector.model_path: type 'onnx' needs a YOLO .onnx export")
    return OnnxYoloDetector(
        config.model_path, score_threshold=config.score_threshold, intra_op_threads=config.threads
    )


def _ultralytics(config: DetectorConfig) -> Detector:
    from detectors.ultralytics import UltralyticsDetector

    if config.model_path is None:
        raise ModelError("detector.model_path: type 'ultralytics' needs a .pt / .engine file")
    return UltralyticsDetector(config.model_path, score_threshold=config.score_threshold)


def _nanodet(tiles: tuple[int, int]) -> Callable[[DetectorConfig], Detector]:
    def build(config: DetectorConfig) -> Detector:
        from detectors.nanodet import NanodetDetector

        return NanodetDetector(
            score_threshold=config.score_threshold,
            tiles=tiles,
            classes=STREET_CLASSES if config.classes is None else config.classes,
            input_px=config.input_px,
            intra_op_threads=config.threads,
            model_path=config.model_path,
        )

    return build


BACKENDS: dict[str, Callable[[DetectorConfig], Detector]] = {
    "ssdlite": _ssdlite,
    "nanodet": _nanodet((1, 1)),
    "nanodet_3x2": _nanodet((3, 2)),
    "onnx": _onnx,
    "ultralytics": _ultralytics,
}


def build_detector(config: DetectorConfig) -> Detector:
    """Instantiate the backend named by ``config.type``.

    Raises:
        ModelError: The backend is not available in this installation, or its model fails to load.
    """
    factory = BACKENDS.get(config.type)
    if factory is None:
        raise ModelError(
            f"detector.type {config.type!r} is not available in this version; "
            f"available: {', '.join(BACKENDS)}"
        )
    return factory(config)


class LazyDetector:
    """The configured detector, built on first use; a `Detector` itself.

    `get` returns the built backend, with its optional features (`detectors.base.RegionDetector`):
    hand that to code that uses them. Building is serialised, so threads asking at once share
    one model.

    Args:
        config: What to build.
        detector: An already built detector to hand out instead (tests, a caller's own backend).
    """

    def __init__(self, config: DetectorConfig, detector: Detector | None = None) -> None:
        self._config = config
        self._detector = detector
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The configured backend's name (known without building it)."""
        return self._config.type

    @property
    def class_names(self) -> Sequence[str]:
        return self.get().class_names

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        return self.get().detect(images)

    def get(self) -> Detector:
        """The detector, built now if it was not yet.

        Raises:
            ModelError: The backend is not available, or its model fails to load.
        """
        with self._lock:
            if self._detector is None:
                self._detector = build_detector(self._config)
            return self._detector
