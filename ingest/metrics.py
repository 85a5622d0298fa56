"""Prometheus metrics of the camera workers, read from `IngestSupervisor.stats` at scrape time.

`IngestCollector` is a custom collector: nothing is counted twice and the workers never touch
Prometheus objects on their hot path. Register it while the supervisor runs::

    collector = IngestCollector(supervisor)
    REGISTRY.register(collector)      # served by GET /metrics
    ...
    REGISTRY.unregister(collector)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.workers import CameraStats
from vigil.core.types import CameraHealth, HealthState


class _Source(Protocol):
    def stats(self) -> Mapping[str, CameraStats]: ...

    def health_snapshot(self) -> Mapping[str, CameraHealth]: ...


class IngestCollector(Collector):
    """Per-camera ingest counters for Prometheus.

    Args:
        supervisor: Anything with ``stats()`` and ``health_snapshot()`` (an `IngestSupervisor`).
    """

    def __init__(self, supervisor: _Source) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.supervisor.stats()
        labels = ["camera", "role"]
        counters = {
            "packets": ("vigil_camera_frames_in", "Main-stream packets (frames) received."),
            "decoded": (
                "vigil_camera_frames_decoded",
                "Frames decoded (detect stream; keyframes for health).",
            ),
            "delivered": ("vigil_camera_frames_delivered", "Frames handed to detection."),
            "dropped": (
                "vigil_camera_frames_dropped",
                "Frames dropped (stale detect frames, pre-keyframe packets).",
            ),
            "reconnects": ("vigil_camera_reconnects", "Stream sessions reopened after a failure."),
            "bytes_recorded": ("vigil_camera_recording_bytes", "Bytes written to recording segments."),
            "segments": ("vigil_camera_recording_segments", "Recording segments closed."),
            "cpu_seconds": ("vigil_camera_record_cpu_seconds", "CPU time of the camera's record thread."),
        }
        for attr, (name, doc) in counters.items():
            family = CounterMetricFamily(name, doc, labels=labels)
            for s in stats.values():
                family.add_metric([s.camera_id, s.role], float(getattr(s, attr)))
            yield family
        age = GaugeMetricFamily(
            "vigil_camera_last_frame_age_seconds", "Seconds since the newest frame or packet.", labels=labels
        )
        for s in stats.values():
            if s.last_frame_age_s is not None:
                age.add_metric([s.camera_id, s.role], s.last_frame_age_s)
        yield age
        state = GaugeMetricFamily(
            "vigil_camera_health", "1 for the camera's current health state.", labels=["camera", "state"]
        )
        for camera_id, health in self.supervisor.health_snapshot().items():
            for option in HealthState:
                state.add_metric([camera_id, option.value], 1.0 if health.state is option else 0.0)
        yield state
