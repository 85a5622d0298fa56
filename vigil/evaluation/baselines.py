"""Trackers to compare against, behind Vigil's `Tracker` contract, plus the registry.

Each adapter converts Vigil's `Detections` into its library's input, runs the library's
tracker untouched at its published defaults (except the frame rate, which is the
sequence's), and converts the output back. Libraries are imported only when an
adapter is built, so the evaluation runs with whichever of them are installed.

- ``vigil``: `tracker.VigilTracker` at its defaults.
- ``supervision``: ``supervision.ByteTrack`` (roboflow/supervision < 0.31).
- ``ultralytics-bytetrack``: ``ultralytics.trackers.BYTETracker`` with ``bytetrack.yaml``.
- ``ultralytics-botsort``: ``ultralytics.trackers.BOTSORT`` with ``botsort.yaml`` but no
  ReID and no image-based motion compensation (``gmc_method: none``), since public
  detections come without images.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker.base import Tracker
from vigil.core.errors import DependencyError
from vigil.core.types import Detections


class SupervisionByteTrack:
    """``supervision.ByteTrack`` at its defaults."""

    def __init__(self, frame_rate: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # ByteTrack is deprecated in supervision 0.28+, still the reference
            import supervision as sv
        self._sv = sv
        self._frame_rate = frame_rate
        self.reset()

    def reset(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._tracker = self._sv.ByteTrack(frame_rate=round(self._frame_rate))

    def update(self, detections: Detections, frame: npt.NDArray[np.uint8] | None = None) -> Detections:
        sv_dets = self._sv.Detections(
            xyxy=np.array(detections.xyxy, dtype=np.float32),
            confidence=np.array(detections.confidence, dtype=np.float32),
            class_id=np.array(detections.class_id, dtype=int),
        )
        out = self._tracker.update_with_detections(sv_dets)
        return Detections(
            xyxy=np.asarray(out.xyxy, np.float32),
            confidence=np.asarray(out.confidence, np.float32),
            class_id=np.asarray(out.class_id, np.int64),
            tracker_id=np.asarray(out.tracker_id, np.int64),
        )


class _UltralyticsBoxes:
    """The slice of ``ultralytics.engine.results.Boxes`` that its trackers read."""

    def __init__(self, xyxy: npt.NDArray[Any], conf: npt.NDArray[Any], cls: npt.NDArray[Any]) -> None:
        self.xyxy = xyxy
        self.conf = conf
        self.cls = cls
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _UltralyticsBoxes:
        return _UltralyticsBoxes(self.xyxy[index], self.conf[index], self.cls[index])


class UltralyticsTracker:
    """Ultralytics' ``BYTETracker`` or ``BOTSORT`` (no ReID, no GMC) at their yaml defaults."""

    def __init__(self, frame_rate: float, kind: str) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        # Quiet: ultralytics otherwise prints its settings notice to stdout, breaking `--json`.
        os.environ.setdefault("YOLO_VERBOSE", "False")
        os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(tempfile.gettempdir(), "vigil-ultralytics"))
        try:
            from ultralytics.trackers import BOTSORT, BYTETracker
            from ultralytics.utils import ROOT, YAML
        except ImportError as exc:
            raise DependencyError("the ultralytics baselines need: pip install 'vigil[ultralytics]'") from exc
        yaml_name = "bytetrack.yaml" if kind == "bytetrack" else "botsort.yaml"
        load: Callable[[Any], dict[str, Any]] = YAML.load
        args = dict(load(ROOT / "cfg" / "trackers" / yaml_name))
        if kind == "botsort":
            args.update(with_reid=False, gmc_method="none")
        self._args = SimpleNamespace(**args)
        # Ultralytics 8.4 keeps lost tracks `track_buffer` frames whatever the frame rate.
        tracker_class: Callable[[Any], Any] = BYTETracker if kind == "bytetrack" else BOTSORT
        self._factory: Callable[[], Any] = lambda: tracker_class(self._args)
        self.reset()

    def reset(self) -> None:
        self._tracker = self._factory()

    def update(self, detections: Detections, frame: npt.NDArray[np.uint8] | None = None) -> Detections:
        boxes = _UltralyticsBoxes(
            np.array(detections.xyxy, dtype=np.float32),
            np.array(detections.confidence, dtype=np.float32),
            np.array(detections.class_id, dtype=np.float32),
        )
        out = self._tracker.update(boxes)
        if len(out) == 0:
            return Detections.empty().with_tracker_id(np.zeros(0, np.int64))
        return Detections(xyxy=out[:, :4], confidence=out[:, 5], class_id=out[:, 6], tracker_id=out[:, 4])


def _vigil(frame_rate: float) -> Tracker:
    from tracker import VigilTracker

    return VigilTracker(frame_rate=frame_rate)


TRACKERS: dict[str, Callable[[float], Tracker]] = {
    "vigil": _vigil,
    "supervision": SupervisionByteTrack,
    "ultralytics-bytetrack": lambda fps: UltralyticsTracker(fps, "bytetrack"),
    "ultralytics-botsort": lambda fps: UltralyticsTracker(fps, "botsort"),
}
"""Tracker name -> factory taking the camera's frame rate."""


def build_tracker(name: str, frame_rate: float) -> Tracker:
    """Build a registered tracker.

    Raises:
        KeyError: If ``name`` is not registered (the message lists the names).
    """
    if name not in TRACKERS:
        raise KeyError(f"unknown tracker {name!r}; expected one of {sorted(TRACKERS)}")
    return TRACKERS[name](frame_rate)
