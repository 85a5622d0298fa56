"""Build the configured detector backend: an explicit registry keyed by `DetectorConfig.type`."""

from __future__ import annotations

from collections.abc import Callable

from config.models import DetectorConfig
from detectors.base import Detector
from vigil.core.errors import ModelError


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


BACKENDS: dict[str, Callable[[DetectorConfig], Detector]] = {
    "ssdlite": _ssdlite,
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
