"""One detector shared by many cameras: requests are batched with a bounded wait.

Cameras (or the runtime's per-camera processing) `submit` a frame, optionally with the
regions their `RegionPlanner` chose, and get a `Future[Detections]`. One worker thread
takes requests round-robin across cameras, up to `max_batch` model inputs, waiting at
most `max_wait_s` after the first request for others to join, and runs them as one
batched call, so the per-call overhead is shared (DeepStream's nvstreammux idea).
Measured (`python benchmarks/detection.py --only batching`, 2 cores): 8 cameras at 5 fps
with two 384x288 motion regions each get 2.0x the capacity of one detector per camera
(each its own onnxruntime session, oversubscribing the cores) at 49 ms p95 added latency
(max_batch 16, max_wait 20 ms) against 159 ms for the per-camera detectors.

Fairness: each camera has its own bounded queue of `per_camera_queue` requests. A busy
camera that submits faster than its share only ever replaces its own oldest request
(cancelled and counted in `stats.dropped[camera]`); it cannot push out another camera's.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.base import Detector
from vigil.core.errors import ValidationError
from vigil.core.types import Detections, Image


class RegionDetector(Protocol):
    """A detector that can run given regions of many images in one call (e.g. `SsdliteDetector`)."""

    def detect_many_regions(
        self, images: Sequence[Image], regions: Sequence[npt.ArrayLike | None]
    ) -> list[Detections]: ...


@dataclass
class ServiceStats:
    """Counters of the service (read them; they are updated by the worker).

    Attributes:
        batches: Model calls made.
        requests: Requests answered.
        inputs: Model inputs (regions, or frames) run.
        dropped: Requests replaced by a newer one of the same camera, per camera.
        waits: Seconds each answered request spent queued (the last 4096).
    """

    batches: int = 0
    requests: int = 0
    inputs: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def wait_p95(self) -> float:
        """95th percentile of the queueing + batching delay, seconds (0 when none)."""
        return float(np.percentile(list(self.waits), 95)) if self.waits else 0.0


@dataclass
class _Request:
    camera_id: str
    image: Image
    regions: npt.NDArray[np.int64] | None
    submitted: float
    future: Future[Detections]

    @property
    def inputs(self) -> int:
        return 1 if self.regions is None else max(1, len(self.regions))


class DetectionService:
    """Batched, fair detection for many cameras on one detector.

    Args:
        detector: The shared detector. With `detect_many_regions` (SSDLite) regions of
            many cameras go into one model run; otherwise whole frames go through
            `detect` and region requests are cropped and offset here.
        max_batch: Most model inputs per call. Raising it shares overhead better and
            makes each call longer.
        max_wait_s: After the first waiting request, how long to wait for more before
            running. Raising it fills batches better and adds latency.
        per_camera_queue: Requests a camera may have waiting; a newer one replaces its
            oldest (counted as dropped). Raising it smooths bursts, adds latency.

    Raises:
        ValidationError: If an argument is out of range.
    """

    def __init__(
        self,
        detector: Detector,
        max_batch: int = 16,
        max_wait_s: float = 0.02,
        per_camera_queue: int = 1,
    ) -> None:
        if max_batch < 1 or max_wait_s < 0 or per_camera_queue < 1:
            raise ValidationError(
                f"DetectionService: expected max_batch >= 1, max_wait_s >= 0, per_camera_queue >= 1, "
                f"got {max_batch}, {max_wait_s}, {per_camera_queue}"
            )
        self.detector = detector
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.per_camera_queue = per_camera_queue
        self.stats = ServiceStats()
        self._queues: OrderedDict[str, deque[_Request]] = OrderedDict()
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DetectionService:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="detect-service", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; requests still waiting are cancelled."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._condition:
            for queue in self._queues.values():
                while queue:
                    queue.popleft().future.cancel()

    def submit(
        self, camera_id: str, image: Image, regions: npt.ArrayLike | None = None
    ) -> Future[Detections]:
        """Queue one frame (whole, or only `regions` (K, 4) xyxy) of one camera.

        Returns:
            A future with the frame's detections in frame pixels; cancelled if a newer
            frame of the same camera replaced it, or the service stopped.
        """
        boxes = None if regions is None else np.asarray(regions, np.int64).reshape(-1, 4)
        request = _Request(camera_id, image, boxes, time.perf_counter(), Future())
        with self._condition:
            queue = self._queues.setdefault(camera_id, deque())
            if len(queue) >= self.per_camera_queue:
                queue.popleft().future.cancel()
                self.stats.dropped[camera_id] = self.stats.dropped.get(camera_id, 0) + 1
            queue.append(request)
            self._condition.notify()
        return request.future

    def _take_batch(self) -> list[_Request]:
        """Round-robin over cameras until `max_batch` inputs or nothing waits."""
        batch: list[_Request] = []
        inputs = 0
        progressed = True
        while progressed and inputs < self.max_batch:
            progressed = False
            for camera_id in list(self._queues):
                queue = self._queues[camera_id]
                if not queue or (batch and inputs + queue[0].inputs > self.max_batch):
                    continue
                request = queue.popleft()
                batch.append(request)
                inputs += request.inputs
                progressed = True
                # The camera served goes to the back: the next batch starts with the others.
                self._queues.move_to_end(camera_id)
                if inputs >= self.max_batch:
                    break
        return batch

    def _waiting_inputs(self) -> int:
        return sum(request.inputs for queue in self._queues.values() for request in queue)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._condition:
                while not self._stop.is_set() and self._waiting_inputs() == 0:
                    self._condition.wait(0.1)
                deadline = time.perf_counter() + self.max_wait_s
                while not self._stop.is_set() and self._waiting_inputs() < self.max_batch:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self._condition.wait(left)
                batch = self._take_batch()
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        live = [request for request in batch if request.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._detect(live)
        except Exception as error:  # handed to every caller through its future
            for request in live:
                request.future.set_exception(error)
            return
        now = time.perf_counter()
        self.stats.batches += 1
        for request, found in zip(live, results, strict=True):
            self.stats.requests += 1
            self.stats.inputs += request.inputs
            self.stats.waits.append(now - request.submitted)
            request.future.set_result(found)

    def _detect(self, batch: list[_Request]) -> list[Detections]:
        images = [request.image for request in batch]
        regions = [request.regions for request in batch]
        many = getattr(self.detector, "detect_many_regions", None)
        if many is not None:
            return list(many(images, regions))
        if all(r is None for r in regions):
            return self.detector.detect(images)
        return _detect_crops(self.detector, images, regions)


def _detect_crops(
    detector: Detector, images: list[Image], regions: list[npt.NDArray[np.int64] | None]
) -> list[Detections]:
    """Regions for a detector without region support: crop, detect all crops at once, offset back."""
    crops: list[Image] = []
    owners: list[tuple[int, int, int]] = []
    for index, (image, boxes) in enumerate(zip(images, regions, strict=True)):
        height, width = image.shape[:2]
        for x1, y1, x2, y2 in np.array([[0, 0, width, height]]) if boxes is None else boxes:
            crops.append(np.ascontiguousarray(image[y1:y2, x1:x2]))
            owners.append((index, int(x1), int(y1)))
    parts: list[list[Detections]] = [[] for _ in images]
    for (index, x1, y1), found in zip(owners, detector.detect(crops) if crops else [], strict=True):
        offset = np.array([x1, y1, x1, y1], np.float32)
        parts[index].append(Detections(found.xyxy + offset, found.confidence, found.class_id))
    return [Detections.merge(p) if p else Detections.empty() for p in parts]
