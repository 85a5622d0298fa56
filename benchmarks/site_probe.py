"""What the site benchmark measures inside a running `vigil.runtime.Runtime`, from the harness.

Nothing here changes what the pipeline does: `StageProbe` wraps the bound methods of the
running pipeline's objects (one instance attribute each, set after `Runtime.start`) with
timers, and listens on the bus like any other subscriber.

- Stage CPU: each wrapped call adds the calling thread's CPU time (`time.thread_time`) to
  its stage, minus the time of the wrapped calls nested in it, so the stages add up to the
  detect thread's own CPU without counting anything twice. The detector's worker threads
  (onnxruntime's intra-op pool) are separate native threads: `ThreadCpu` finds them as the
  threads its load created and adds their CPU to ``detection``.
- Latency: capture time (`Frame.timestamp`, the sender's clock estimate) of every analysed
  frame to the end of its pipeline step; a provisional sighting's last-seen time to its
  delivery on the bus (live case matching); a finished sighting's last-seen time to the
  moment it is stored (a per-event handler runs after the store's batch transaction).
- Per-thread and per-process CPU from ``/proc`` (`thread_cpu_seconds`), grouped by the
  threads' Python names (``source-cam1`` decodes cam1's sub-stream, ``bus`` stores events).
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.core.events import Topic
from vigil.core.types import Alert, Frame, Sighting

_TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("gating", "detection", "tracking", "sightings", "describe", "rules", "pipeline_other")
"""Stages inside the detect thread, in pipeline order (``pipeline_other``: the step's own bookkeeping)."""


def thread_cpu_seconds(tid: int, pid: int | None = None) -> float:
    """utime + stime of one thread of `pid` (default this process); 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid or os.getpid()}/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def native_tids() -> set[int]:
    """Every thread id of this process, Python's and native ones."""
    return {int(tid) for tid in os.listdir("/proc/self/task")}


@dataclass
class ThreadCpu:
    """CPU seconds of this process's threads, grouped by what they do.

    Args:
        detector_tids: Native threads the detector's load created (its inference pool).
    """

    detector_tids: set[int] = field(default_factory=set)

    def sample(self) -> dict[str, float]:
        """Seconds so far per group: ``decode:<camera>``, ``detect``, ``detector_pool``, ``bus``,
        ``ingest_supervisor``, ``other`` (main thread, API, retention, search, this harness)."""
        named = {thread.native_id: thread.name for thread in threading.enumerate() if thread.native_id}
        groups: dict[str, float] = defaultdict(float)
        for tid in native_tids():
            groups[self._group(tid, named.get(tid))] += thread_cpu_seconds(tid)
        return dict(groups)

    def _group(self, tid: int, name: str | None) -> str:
        if tid in self.detector_tids:
            return "detector_pool"
        if name is None:
            return "native_other"
        if name.startswith("source-"):
            return "decode:" + name.removeprefix("source-")
        if name in ("detect", "bus"):
            return name
        if name.startswith("ingest-"):
            return "ingest_supervisor"
        return "other"


@dataclass
class Latencies:
    """(when, camera, seconds) rows, filtered to the measured window afterwards."""

    rows: list[tuple[float, str, float]] = field(default_factory=list)

    def add(self, camera_id: str, seconds: float) -> None:
        self.rows.append((time.time(), camera_id, seconds))

    def within(self, t0: float, t1: float) -> dict[str, list[float]]:
        """Camera id -> latencies recorded between `t0` and `t1` (epoch seconds)."""
        found: dict[str, list[float]] = defaultdict(list)
        for when, camera_id, seconds in list(self.rows):
            if t0 <= when <= t1:
                found[camera_id].append(seconds)
        return dict(found)


@dataclass
class FrameLog:
    """One row per analysed frame: (step finished, camera, capture-to-result seconds, inferred)."""

    rows: list[tuple[float, str, float, bool]] = field(default_factory=list)

    def within(self, t0: float, t1: float) -> list[tuple[float, str, float, bool]]:
        return [row for row in list(self.rows) if t0 <= row[0] <= t1]


class StageProbe:
    """Times a running pipeline's stages per camera and records latencies, from outside.

    Attach after `Runtime.start` (every camera's processor exists then); the detect thread may
    already be running: each wrapper is one attribute assignment.
    """

    def __init__(self) -> None:
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        """(stage, camera or "") -> CPU seconds of the calling thread, nested calls excluded."""
        self.frames = FrameLog()
        self.live = Latencies()
        self.stored = Latencies()
        self.alerts = Latencies()
        self.samples: list[Frame] = []
        """A few analysed frames, kept for the detector-only comparison after the run."""
        self.keep_samples = 0
        self.unwrapped: list[str] = []
        """Methods that could not be wrapped (their time lands in ``pipeline_other``)."""
        self._local = threading.local()

    def snapshot(self) -> dict[tuple[str, str], float]:
        return dict(self.cpu)

    # -- wrapping -----------------------------------------------------------------------------

    def _timed(self, fn: Callable[..., Any], stage: str, camera: str = "") -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack: list[float] = self._local.__dict__.setdefault("stack", [])
            started = time.thread_time()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                nested = stack.pop()
                spent = time.thread_time() - started
                self.cpu[(stage, camera)] += spent - nested
                if stack:
                    stack[-1] += spent

        return timed

    def attach(self, pipeline: Any, bus: Any) -> None:
        """Wrap `pipeline` (a `vigil.pipeline.FramePipeline`) and listen on `bus`."""
        for camera_id, processor in list(pipeline._processors.items()):
            self.attach_processor(camera_id, processor)
        pipeline._detect = self._detect_wrapper(pipeline._detect)
        pipeline._finished = self._timed(pipeline._finished, "describe")
        pipeline._updates = self._timed(pipeline._updates, "describe")
        pipeline.step = self._step_wrapper(self._timed(pipeline.step, "pipeline_other"))
        bus.subscribe(Topic.SIGHTINGS, self._on_sighting)
        bus.subscribe(Topic.SIGHTING_UPDATES, self._on_update)
        bus.subscribe(Topic.ALERTS, self._on_alert)

    def attach_processor(self, camera_id: str, processor: Any) -> None:
        """Wrap one camera's steps; the detection filter (frozen, and cheap) stays in ``pipeline_other``."""
        self._wrap(processor, "plan", "gating", camera_id)
        self._wrap(processor.tracker, "update", "tracking", camera_id)
        if hasattr(processor.tracker, "coast"):
            self._wrap(processor.tracker, "coast", "tracking", camera_id)
        self._wrap(processor.sightings, "update", "sightings", camera_id)
        self._wrap(processor.sightings, "live", "sightings", camera_id)
        if processor.posture is not None:
            self._wrap(processor.posture, "annotate", "rules", camera_id)
        for rule in processor.rules:
            self._wrap(rule, "evaluate", "rules", camera_id)

    def _wrap(self, owner: Any, method: str, stage: str, camera: str) -> None:
        """Replace ``owner.method`` by its timed self; an object that refuses is left as it is."""
        try:
            object.__setattr__(owner, method, self._timed(getattr(owner, method), stage, camera))
        except (AttributeError, TypeError):
            self.unwrapped.append(f"{type(owner).__name__}.{method}")

    def _detect_wrapper(
        self, detect: Callable[[list[Frame]], list[Any]]
    ) -> Callable[[list[Frame]], list[Any]]:
        """Detection CPU (planning excluded: it is ``gating``) shared among the frames inferred."""
        timed = self._timed(detect, "detection_batch")

        def wrapped(frames: list[Frame]) -> list[Any]:
            before = self.cpu[("detection_batch", "")]
            found: list[Any] = timed(frames)
            spent = self.cpu.pop(("detection_batch", ""), 0.0) - before
            inferred = [
                frame.camera_id for frame, dets in zip(frames, found, strict=True) if dets is not None
            ]
            for camera_id in inferred:
                self.cpu[("detection", camera_id)] += spent / len(inferred)
            return found

        return wrapped

    def _step_wrapper(self, step: Callable[[list[Frame]], list[Any]]) -> Callable[[list[Frame]], list[Any]]:
        def wrapped(frames: list[Frame]) -> list[Any]:
            outputs = step(frames)
            done = time.time()
            for output in outputs:
                frame = output.frame
                self.frames.rows.append((done, frame.camera_id, done - frame.timestamp, output.inferred))
                if len(self.samples) < self.keep_samples and output.inferred:
                    self.samples.append(frame)
            return outputs

        return wrapped

    # -- bus listeners (the bus thread, after the store's batch handler) ------------------------

    def _on_sighting(self, sighting: Sighting) -> None:
        self.stored.add(sighting.camera_id, time.time() - sighting.end)

    def _on_update(self, sighting: Sighting) -> None:
        self.live.add(sighting.camera_id, time.time() - sighting.end)

    def _on_alert(self, alert: Alert) -> None:
        self.alerts.add(alert.camera_id, time.time() - alert.timestamp)


def diff(after: dict[Any, float], before: dict[Any, float]) -> dict[Any, float]:
    """Per key, `after` - `before` (a key missing before counts from 0)."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def group_sum(values: dict[str, float], prefix: str) -> float:
    return sum(value for key, value in values.items() if key.startswith(prefix))


def processes_cpu(pids: Iterable[int]) -> dict[int, float]:
    from benchmarks.ingest import proc_cpu_seconds

    return {pid: proc_cpu_seconds(pid) for pid in pids}
