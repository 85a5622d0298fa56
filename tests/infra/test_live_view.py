"""The live-view holder: latest analysed frame per camera, fed by the detect worker, encoded lazily."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from alerts import build_rules
from tests.factories import make_detections
from tests.test_detect_worker import Sink
from tests.test_pipeline import BrightDetector, site, walker
from vigil.core.types import Frame
from vigil.detect_worker import DetectWorker
from vigil.infra.live_view import MAX_WIDTH, LiveView
from vigil.pipeline import FramePipeline, build_processor


def frame(timestamp: float, size: tuple[int, int], camera_id: str = "cam1") -> Frame:
    width, height = size
    return Frame(camera_id, 0, timestamp, np.full((height, width, 3), 200, np.uint8))


@pytest.mark.parametrize(
    ("size", "served", "scale"),
    [
        ((640, 360), (640, 360), 1.0),  # a sub-stream: served as analysed
        ((320, 240), (320, 240), 1.0),  # smaller: never scaled up
        ((1280, 720), (640, 360), 0.5),  # HD: halved
        ((1920, 1080), (640, 360), 1 / 3),  # full HD
    ],
)
def test_served_size_and_boxes_scale_to_at_most_640_wide(
    size: tuple[int, int], served: tuple[int, int], scale: float
) -> None:
    live = LiveView()
    tracked = make_detections(xyxy=[[30, 60, 90, 300]], confidence=[0.8], tracker_id=[7])
    live.update(frame(5.0, size), tracked)
    held = live.current("cam1")
    assert held is not None and held.size == served and held.size[0] <= MAX_WIDTH
    (box,) = held.boxes()
    assert box.box == pytest.approx((30 * scale, 60 * scale, 90 * scale, 300 * scale), abs=0.05)
    assert box.tracker_id == 7 and box.confidence == pytest.approx(0.8) and not box.coasted
    image = cv2.imdecode(np.frombuffer(held.jpeg(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and (image.shape[1], image.shape[0]) == served


def test_update_keeps_references_and_encodes_once_per_frame() -> None:
    live = LiveView()
    analysed = frame(1.0, (640, 360))
    tracked = make_detections(xyxy=[[0, 0, 10, 10]])
    live.update(analysed, tracked)
    held = live.current("cam1")
    assert held is not None and held.image is analysed.image and held.tracked is tracked  # no copy
    calls: list[int] = []

    def prepare(image: np.ndarray) -> np.ndarray:
        calls.append(1)
        return image

    first = held.jpeg(prepare)
    assert held.jpeg(prepare) is first and calls == [1]  # the second request reuses the encoding
    assert live.current("cam2") is None  # another camera: nothing yet


def test_the_described_frame_stays_available_until_the_next_description() -> None:
    live = LiveView()
    live.update(frame(1.0, (320, 240)), make_detections())
    described = live.current("cam1")
    live.update(frame(2.0, (320, 240)), make_detections())  # a newer frame arrives meanwhile
    assert live.frame("cam1", 1.0) is described  # the image of the boxes just described
    newest = live.frame("cam1")
    assert newest is not None and newest.timestamp == 2.0
    assert live.frame("cam1", 0.5) is newest  # long gone: the latest
    live.remove("cam1")
    assert live.frame("cam1") is None and live.frame("cam1", 1.0) is None and live.camera_ids() == []


def test_detect_worker_feeds_the_live_view_and_forgets_removed_cameras(tmp_path: Path) -> None:
    config = site(tmp_path)
    detector = BrightDetector()
    live = LiveView()
    waiting: dict[str, Frame] = {}
    worker = DetectWorker(
        FramePipeline(detector, data_dir=tmp_path),
        lambda camera_id: waiting.pop(camera_id, None),
        {},
        Sink(),
        threading.Event(),
        live=live,
    )
    rules = build_rules(config)
    for camera in config.cameras:
        worker.add(build_processor(config, camera, detector, rules.get(camera.id, [])))
    for i in range(4):
        waiting.update(cam1=walker("cam1", i, 10.0 + 0.2 * i, 40 + 5 * i), cam2=walker("cam2", i, 10.0, None))
        worker.run_once()
    cam1 = live.current("cam1")
    assert cam1 is not None and cam1.timestamp == pytest.approx(10.6)
    (box,) = cam1.boxes()  # the bright walker, tracked, at its last place
    assert box.tracker_id is not None and box.box[0] == pytest.approx(55, abs=2)
    cam2 = live.current("cam2")
    assert cam2 is not None and cam2.boxes() == []  # analysed, nobody there
    worker.remove("cam1")
    assert live.current("cam1") is None and live.camera_ids() == ["cam2"]
