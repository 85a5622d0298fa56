"""The live detection thread: the freshest frame of every AI camera through `FramePipeline`.

Transport only. The worker takes the freshest waiting frame of every camera in the
pipeline (the readers already dropped older ones), blacks out its privacy masks, runs
the batch through `vigil.pipeline.FramePipeline` and hands what came out to a
`PipelineSink`; `BusPublisher` is the sink that puts it on the bus. The per-frame work
itself is the pipeline's, tested without this thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from alerts.base import Rule
from ingest.masks import Polygon
from vigil.core.events import Topic
from vigil.core.types import Alert, CrossingCount, Frame, Sighting
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.live_view import LiveView
from vigil.pipeline import CameraProcessor, FrameOutput, FramePipeline, mask_frame
from vigil.roles import Bus

EVENT_MARGIN_S = 30.0
"""Recording kept at the event retention tier on each side of an alert."""

FrameReader = Callable[[str], Frame | None]
"""Camera id -> its freshest waiting frame, without blocking; None when there is none."""


class PipelineSink(Protocol):
    """Where the pipeline's results go."""

    def sighting(self, sighting: Sighting) -> None:
        """A finished, described sighting."""
        ...

    def sighting_update(self, sighting: Sighting) -> None:
        """A provisional sighting of a track still in view (same id as its finished sighting)."""
        ...

    def alert(self, alert: Alert) -> None:
        """A new alert."""
        ...

    def crossing_count(self, count: CrossingCount) -> None:
        """A line rule's counts over one interval (closed, or cut short by a stop or rule change)."""
        ...


class BusPublisher:
    """Publishes results on the bus; the recording around an alert is kept as evidence.

    Args:
        bus: The event bus.
        recordings: The recording index (None on an edge node: segments are not indexed here).
    """

    def __init__(self, bus: Bus, recordings: RecordingIndex | None = None) -> None:
        self.bus = bus
        self.recordings = recordings
        self.sightings = 0
        """Sightings published so far."""
        self.alerts = 0
        """Alerts published so far."""
        self.counts = 0
        """Crossing counts (one per line rule and interval) published so far."""

    def sighting(self, sighting: Sighting) -> None:
        self.sightings += 1
        self.bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting)

    def sighting_update(self, sighting: Sighting) -> None:
        self.bus.publish(Topic.SIGHTING_UPDATES, sighting.camera_id, sighting)

    def alert(self, alert: Alert) -> None:
        self.alerts += 1
        if self.recordings is not None:
            # The minute around an alert is evidence: kept for the event tier, not the continuous one.
            self.recordings.mark_event(
                alert.camera_id, alert.timestamp - EVENT_MARGIN_S, alert.timestamp + EVENT_MARGIN_S
            )
        self.bus.publish(Topic.ALERTS, alert.camera_id, alert)

    def crossing_count(self, count: CrossingCount) -> None:
        self.counts += 1
        self.bus.publish(Topic.CROSSING_COUNTS, count.camera_id, count)


class DetectWorker:
    """One thread running the pipeline over the cameras' freshest frames until `stop` is set.

    Cameras join and leave while it runs (`add`, `remove`: e.g. a Kafka rebalance); a change
    waits for the batch in progress, so a camera's last frame and its final sightings are
    published in order.

    Args:
        pipeline: The per-frame pipeline (its detector, its cameras' processors).
        read: Gives a camera's freshest waiting frame, or None.
        masks: Privacy masks per camera id (normalised polygons), applied before anything else.
        sink: Where sightings, provisional sightings, alerts and line counts go.
        stop: The runtime's shared stop signal.
        idle_s: Wait this long when no camera had a new frame.
        live: Keeps each camera's latest analysed frame and tracked boxes for the camera wall.
    """

    def __init__(
        self,
        pipeline: FramePipeline,
        read: FrameReader,
        masks: Mapping[str, Sequence[Polygon]],
        sink: PipelineSink,
        stop: threading.Event,
        *,
        idle_s: float = 0.01,
        live: LiveView | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._read = read
        self._masks = dict(masks)  # a copy: `set_zones` replaces a camera's masks
        self._sink = sink
        self._stop = stop
        self._idle_s = idle_s
        self._live = live
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="detect", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait (bounded) for the thread to end once `stop` is set."""
        if self._thread is not None:
            self._thread.join(timeout)

    def add(self, processor: CameraProcessor) -> None:
        """Detect on a camera from the next batch on; a camera already running is left as it is."""
        with self._lock:
            self.pipeline.add(processor)

    def set_zones(self, camera_id: str, rules: Sequence[Rule], masks: Sequence[Polygon]) -> None:
        """New rules (zones) and privacy masks for a camera from the next batch on; nothing restarts.

        The replaced rules' counts, the open interval as it stands, are published first.
        """
        with self._lock:
            for count in self.pipeline.set_rules(camera_id, rules):
                self._sink.crossing_count(count)
            self._masks[camera_id] = list(masks)
            self.pipeline.set_privacy_masks(camera_id, masks)

    def remove(self, camera_id: str) -> None:
        """Stop detecting on a camera; its open tracks and counting intervals are published."""
        with self._lock:
            for count in self.pipeline.flush_counts(camera_id):
                self._sink.crossing_count(count)
            for sighting in self.pipeline.remove(camera_id):
                self._sink.sighting(sighting)
            if self._live is not None:
                self._live.remove(camera_id)

    def finish(self) -> None:
        """End of the run: every camera's open tracks and counting intervals are published."""
        with self._lock:
            for count in self.pipeline.flush_counts():
                self._sink.crossing_count(count)
            for sighting in self.pipeline.finish():
                self._sink.sighting(sighting)

    def run_once(self) -> int:
        """One batch: collect, run, publish. Returns how many frames it took (0: none waiting)."""
        with self._lock:
            frames = self._collect()
            if frames:
                for output in self.pipeline.step(frames):
                    self._publish(output)
            return len(frames)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.run_once():
                self._stop.wait(self._idle_s)

    def _collect(self) -> list[Frame]:
        """The freshest waiting frame of every camera, masked, in camera order."""
        frames = []
        for camera_id in self.pipeline.camera_ids:
            frame = self._read(camera_id)
            if frame is not None:
                frames.append(mask_frame(frame, self._masks.get(camera_id, ())))
        return frames

    def _publish(self, output: FrameOutput) -> None:
        if self._live is not None:
            self._live.update(output.frame, output.tracked)
        for sighting in output.sightings:
            self._sink.sighting(sighting)
        for update in output.updates:
            self._sink.sighting_update(update)
        for alert in output.alerts:
            self._sink.alert(alert)
        for count in output.counts:
            self._sink.crossing_count(count)
