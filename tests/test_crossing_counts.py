"""Line counts end to end: the pipeline drains counting rules, the bus carries them, the store keeps them.

A small counting rule stands in for `alerts.lines.LineCrossing` here (the contract is
`vigil.pipeline.CountingRule`): a person's foot point passing the middle of the frame is one
crossing, 'in' left to right. The real rule's own tests are under tests/alerts/.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.test_detect_worker import Sink
from tests.test_pipeline import BrightDetector, site, walker
from vigil.core.types import Alert, CrossingCount, Detections
from vigil.detect_worker import BusPublisher, DetectWorker
from vigil.infra.bus import MemoryBus
from vigil.infra.db import Store
from vigil.pipeline import CountingRule, FramePipeline, build_processor


@dataclass
class MiddleCounter:
    """Counts foot points crossing x = width / 2 ('in' left to right) per `interval_s`."""

    name: str
    camera_id: str
    interval_s: float = 10.0
    _side: dict[int, bool] = field(default_factory=dict)
    _open: dict[float, list[int]] = field(default_factory=dict)  # interval start -> [in, out]

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        assert tracked.tracker_id is not None
        for track, (x, _) in zip(tracked.tracker_id.tolist(), tracked.bottom_center.tolist(), strict=True):
            right = x > frame_size[0] / 2
            before = self._side.get(track)
            self._side[track] = right
            if before is not None and before != right:
                start = math.floor(timestamp / self.interval_s) * self.interval_s
                self._open.setdefault(start, [0, 0])[0 if right else 1] += 1
        return []

    def drain_counts(self, now: float) -> list[CrossingCount]:
        done = sorted(start for start in self._open if start + self.interval_s <= now)
        counts = []
        for start in done:
            count_in, count_out = self._open.pop(start)
            end = start + self.interval_s
            counts.append(CrossingCount(self.name, self.camera_id, "middle", start, end, count_in, count_out))
        return counts

    def reset(self) -> None:
        self._side.clear()


def _worker(tmp_path: Path, sink: Sink, waiting: dict[str, object]) -> tuple[DetectWorker, MiddleCounter]:
    config = site(tmp_path)
    detector = BrightDetector()
    pipeline = FramePipeline(detector, data_dir=tmp_path)
    rule = MiddleCounter("middle-count", "cam1")
    worker = DetectWorker(pipeline, lambda c: waiting.pop(c, None), {}, sink, threading.Event())  # type: ignore[arg-type, return-value]
    worker.add(build_processor(config, config.camera("cam1"), detector, [rule]))
    worker.add(build_processor(config, config.camera("cam2"), detector, []))
    return worker, rule


def _walk(
    worker: DetectWorker, waiting: dict[str, object], t0: float, index0: int = 0, steps: int = 30
) -> None:
    """A person walks right across cam1 (crossing the middle once), 5 fps from `t0`."""
    for i in range(steps):
        waiting["cam1"] = walker("cam1", index0 + i, t0 + 0.2 * i, 10 + 9 * i)
        worker.run_once()


def test_counting_rules_are_recognised_by_their_drain_counts() -> None:
    assert isinstance(MiddleCounter("r", "cam1"), CountingRule)
    assert not isinstance(object(), CountingRule)


def test_closed_intervals_leave_with_the_frame_the_open_one_when_the_camera_stops(tmp_path: Path) -> None:
    sink, waiting = Sink(), dict[str, object]()
    worker, _ = _worker(tmp_path, sink, waiting)
    _walk(worker, waiting, 1001.0)  # crosses at ~1003 s: interval [1000, 1010) still open at 1006.8 s
    assert sink.counts == []
    _walk(worker, waiting, 1011.0, index0=30, steps=1)  # a frame after the interval ended
    assert [(c.start, c.end, c.count_in, c.count_out) for c in sink.counts] == [(1000.0, 1010.0, 1, 0)]
    # Crosses again in [1010, 1020); the camera stops before it ends: the count is not lost.
    _walk(worker, waiting, 1012.0, index0=100)
    worker.remove("cam1")
    assert [(c.start, c.count_in) for c in sink.counts] == [(1000.0, 1), (1010.0, 1)]
    assert {c.camera_id for c in sink.counts} == {"cam1"} and {c.rule for c in sink.counts} == {
        "middle-count"
    }


def test_replaced_rules_hand_over_their_open_interval_and_finish_flushes_every_camera(tmp_path: Path) -> None:
    sink, waiting = Sink(), dict[str, object]()
    worker, old = _worker(tmp_path, sink, waiting)
    _walk(worker, waiting, 997.0)  # crosses at ~1000.2 s
    new = MiddleCounter("middle-count", "cam1")
    worker.set_zones("cam1", [new], [])  # e.g. an admin moved the line: nothing restarts
    assert [(c.start, c.count_in) for c in sink.counts] == [(1000.0, 1)]
    _walk(
        worker, waiting, 1003.0, index0=30
    )  # crosses at ~1006.2 s: the same interval, counted by the new rule (a new track)
    worker.finish()
    # Two rows for [1000, 1010): before and after the change; readers sum them.
    assert [(c.start, c.count_in) for c in sink.counts] == [(1000.0, 1), (1000.0, 1)]
    assert len({c.id for c in sink.counts}) == 2 and old._open == {} and new._open == {}


def test_counts_travel_the_bus_into_the_store_once_and_survive_a_restart(tmp_path: Path) -> None:
    from vigil.roles import CentralConsumer

    def run(t0: float) -> None:
        bus = MemoryBus()
        store = Store.open(tmp_path / "vigil.db")
        CentralConsumer(bus, store).attach()
        bus.start()
        publisher = BusPublisher(bus)
        waiting: dict[str, object] = {}
        worker, _ = _worker(tmp_path, publisher, waiting)  # type: ignore[arg-type]
        _walk(worker, waiting, t0)
        worker.finish()  # the runtime's stop: the open interval is published
        for count in store.list_crossing_counts("middle-count"):
            bus.publish("crossing-counts", count.camera_id, count)  # a redelivery stores nothing
        bus.stop()
        assert publisher.counts == 1
        store.close()

    run(1001.0)
    run(1005.0)  # restarted within the same interval
    with Store.open(tmp_path / "vigil.db") as store:
        counts = store.list_crossing_counts("middle-count")
    assert [(c.start, c.end, c.count_in, c.count_out) for c in counts] == [(1000.0, 1010.0, 1, 0)] * 2
    assert np.sum([c.count_in for c in counts]) == 2
