"""The batched cross-camera detection service, with a fake detector (no model)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from detectors.service import DetectionService
from vigil.core.types import Detections, Image


class FakeDetector:
    """Counts calls; each input yields one box at the region's top-left."""

    name = "fake"
    class_names: Sequence[str] = ("person",)

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append(len(images))
        return [
            Detections(xyxy=np.array([[0.0, 0, 5, 5]]), confidence=np.array([0.9]), class_id=np.array([0]))
            for _ in images
        ]


def image() -> Image:
    return np.zeros((60, 80, 3), np.uint8)


def test_requests_of_many_cameras_share_one_call() -> None:
    detector = FakeDetector()
    service = DetectionService(detector, max_batch=8, max_wait_s=0.2).start()
    futures = [service.submit(f"cam{i}", image()) for i in range(4)]
    results = [f.result(timeout=5) for f in futures]
    service.stop()
    assert detector.calls == [4] and all(len(r) == 1 for r in results)


def test_regions_come_back_in_frame_pixels() -> None:
    service = DetectionService(FakeDetector(), max_wait_s=0.0).start()
    regions: npt.NDArray[np.int64] = np.array([[10, 20, 40, 50]])
    found = service.submit("cam", image(), regions).result(timeout=5)
    service.stop()
    np.testing.assert_allclose(found.xyxy, [[10, 20, 15, 25]])


def test_a_busy_camera_only_drops_its_own_frames() -> None:
    gate = threading.Event()
    detector = FakeDetector(gate)
    service = DetectionService(detector, max_batch=2, max_wait_s=0.0).start()
    first = service.submit("busy", image())  # taken by the worker, blocked on the gate
    while not first.running():
        threading.Event().wait(0.005)
    busy = [service.submit("busy", image()) for _ in range(5)]
    quiet = service.submit("quiet", image())
    gate.set()
    assert len(quiet.result(timeout=5)) == 1 and len(first.result(timeout=5)) == 1
    assert busy[-1].result(timeout=5) is not None
    service.stop()
    assert service.stats.dropped.get("busy", 0) >= 3 and "quiet" not in service.stats.dropped
    assert all(f.cancelled() for f in busy[:-2])
