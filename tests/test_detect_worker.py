"""The live detection worker, driven one batch at a time (`run_once`) without its thread."""

from __future__ import annotations

import threading
from pathlib import Path

from alerts import build_rules
from tests.test_pipeline import BrightDetector, site, walker
from vigil.core.events import Topic
from vigil.core.types import Alert, AlertKind, CrossingCount, Frame, Sighting
from vigil.detect_worker import EVENT_MARGIN_S, BusPublisher, DetectWorker
from vigil.pipeline import FramePipeline, build_processor


class Sink:
    def __init__(self) -> None:
        self.sightings: list[Sighting] = []
        self.updates: list[Sighting] = []
        self.alerts: list[Alert] = []
        self.counts: list[CrossingCount] = []

    def sighting(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)

    def sighting_update(self, sighting: Sighting) -> None:
        self.updates.append(sighting)

    def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def crossing_count(self, count: CrossingCount) -> None:
        self.counts.append(count)


def test_worker_masks_the_freshest_frames_runs_them_and_publishes(tmp_path: Path) -> None:
    config = site(tmp_path)
    detector = BrightDetector()
    pipeline = FramePipeline(detector, data_dir=tmp_path, live_min_age_s=1.0)
    waiting: dict[str, Frame | None] = {}
    sink = Sink()
    # cam2's left half is private: the person walking there is never seen.
    left = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    worker = DetectWorker(
        pipeline, lambda camera_id: waiting.pop(camera_id, None), {"cam2": [left]}, sink, threading.Event()
    )
    rules = build_rules(config)
    for camera in config.cameras:
        worker.add(build_processor(config, camera, detector, rules.get(camera.id, [])))
    assert worker.run_once() == 0 and detector.calls == []  # nothing waiting: nothing run
    for i in range(25):
        at = 0.2 * i
        waiting.update(cam1=walker("cam1", i, at, 20 + 10 * i), cam2=walker("cam2", i, at, 20 + 4 * i))
        assert worker.run_once() == 2
    assert len(sink.alerts) == 1 and sink.updates and {u.camera_id for u in sink.updates} == {"cam1"}
    worker.remove("cam1")  # open tracks leave as sightings
    assert [s.camera_id for s in sink.sightings] == ["cam1"] and pipeline.camera_ids == ["cam2"]
    worker.finish()
    assert len(sink.sightings) == 1 and pipeline.stats.detections == 25  # cam2's walker stayed masked


class Bus:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, object]] = []

    def publish(self, topic: str, key: str, event: object) -> None:
        self.published.append((topic, key, event))


class Recordings:
    def __init__(self) -> None:
        self.events: list[tuple[str, float, float]] = []

    def mark_event(self, camera_id: str, start: float, end: float) -> None:
        self.events.append((camera_id, start, end))


def test_bus_publisher_keeps_the_recording_around_an_alert() -> None:
    bus, recordings = Bus(), Recordings()
    publisher = BusPublisher(bus, recordings)  # type: ignore[arg-type]
    alert = Alert(AlertKind.ZONE_INTRUSION, "r", "cam1", 1000.0, "in the zone")
    publisher.alert(alert)
    assert recordings.events == [("cam1", 1000.0 - EVENT_MARGIN_S, 1000.0 + EVENT_MARGIN_S)]
    assert bus.published == [(Topic.ALERTS, "cam1", alert)] and publisher.alerts == 1
