"""The composition root: build every component from the config, start, stop.

Start order: storage → bus → detector → per-camera processors → camera readers →
detection worker → API. Stop is the reverse, with bounded joins, sharing one stop
signal. Dependencies are passed in constructors; nothing reads globals.

Threads:
- one reader per camera (`ingest.sources.StreamSource`), keeping only its freshest frame;
- one detection worker that takes the freshest frame of every AI camera that has one,
  runs them through the shared detector as one batch, then tracks, builds sightings
  and evaluates rules per camera (`vigil.processing.CameraProcessor`);
- the bus dispatcher, which writes events to the database;
- the API server (uvicorn), when asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alerts import build_rules
from config.models import CameraConfig, CameraRole, VigilConfig
from detectors.base import Detector
from detectors.registry import build_detector
from ingest.sources import StreamSource
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker, VigilTrackerConfig
from vigil import bus as topics
from vigil.bus import MemoryBus
from vigil.db.store import Store
from vigil.errors import ServiceError
from vigil.masks import apply_privacy_masks
from vigil.processing import CameraProcessor
from vigil.types import CameraHealth, Frame, HealthState

log = logging.getLogger(__name__)

RECORD_ONLY_HEALTH_FPS = 0.2
"""Record-only cameras are read for health at this rate (recording arrives with the ingest issue)."""


@dataclass
class RunStats:
    """Counters shown as live progress and in the final summary."""

    frames: int = 0
    detections: int = 0
    sightings: int = 0
    alerts: int = 0
    batches: int = 0
    detect_seconds: float = 0.0


def database_url(config: VigilConfig) -> str:
    return config.database_url or f"sqlite:///{Path(config.data_dir) / 'vigil.db'}"


def build_tracker_config(config: VigilConfig) -> VigilTrackerConfig:
    """Tracker settings for the pipeline: its high-score stage starts at the detector's threshold."""
    floor = config.detector.score_threshold
    return VigilTrackerConfig(
        high_threshold=floor,
        new_track_threshold=min(1.0, floor + 0.05),
        track_buffer_s=config.tracker.track_buffer_s,
    )


class Runtime:
    """The whole single-box pipeline for one config.

    Args:
        config: Validated site config.
        detector: Detector to use; default built from ``config.detector``.
        store: Open store; default opened from ``config.database_url`` (or SQLite in data_dir).
        source_factory: Builds a camera reader; default `StreamSource` (tests pass their own).
    """

    def __init__(
        self,
        config: VigilConfig,
        *,
        detector: Detector | None = None,
        store: Store | None = None,
        source_factory: Callable[[CameraConfig, Callable[[CameraHealth], None]], StreamSource] | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or Store.open(database_url(config))
        self.bus = MemoryBus()
        self.stats = RunStats()
        self._detector = detector
        self._source_factory = source_factory or self._default_source
        self._sources: dict[str, StreamSource] = {}
        self._processors: dict[str, CameraProcessor] = {}
        self._health: dict[str, CameraHealth] = {}
        self._health_lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._api_server: object | None = None
        self._api_thread: threading.Thread | None = None
        self.store_counts_after_stop: tuple[int, int] = (0, 0)
        """(sightings, alerts) in the database when `stop` closed it."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.bus.subscribe(topics.SIGHTINGS, self.store.add_sighting)
        self.bus.subscribe(topics.ALERTS, self.store.add_alert)
        self.bus.subscribe(topics.CAMERA_HEALTH, self.store.upsert_health)
        self.bus.start()
        cameras = [camera for camera in self.config.cameras if camera.enabled]
        ai_cameras = [camera for camera in cameras if camera.role is CameraRole.AI]
        if ai_cameras and self._detector is None:
            self._detector = build_detector(self.config.detector)
        rules = build_rules(self.config)
        tracker_config = build_tracker_config(self.config)
        for camera in ai_cameras:
            self._processors[camera.id] = CameraProcessor(
                camera.id,
                VigilTracker(frame_rate=camera.detect_fps, config=tracker_config),
                SightingBuilder(
                    camera.id,
                    data_dir=self.data_dir,
                    finish_after_s=self.config.tracker.track_buffer_s + 1.0,
                    min_frames=self.config.tracker.min_sighting_frames,
                ),
                rules.get(camera.id, []),
            )
        for camera in cameras:
            source = self._source_factory(camera, self._on_health)
            self._sources[camera.id] = source
            source.start()
        self._stop.clear()
        self._worker = threading.Thread(target=self._detect_loop, name="detect", daemon=True)
        self._worker.start()
        log.info("started %d cameras (%d AI)", len(cameras), len(ai_cameras))

    def serve_api(self, host: str | None = None, port: int | None = None) -> str:
        """Serve the API in a background thread; returns its base URL once it accepts requests."""
        import uvicorn

        from api.app import create_app
        from api.deps import ApiServices

        app = create_app(
            self.config, ApiServices(store=self.store, health=self.health_snapshot, data_dir=self.data_dir)
        )
        host = host or self.config.api.host
        port = self.config.api.port if port is None else port
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        )
        self._api_server = server
        self._api_thread = threading.Thread(target=server.run, name="api", daemon=True)
        self._api_thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._api_thread.is_alive():
                raise ServiceError(f"the API could not listen on {host}:{port}: is the port in use? Choose another with --port")
            if time.monotonic() > deadline:
                raise ServiceError("the API did not start within 15 s")
            time.sleep(0.05)
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
        return f"http://{host}:{bound}"

    def stop(self) -> None:
        """Stop in reverse order; open tracks are stored as sightings."""
        self._stop.set()
        if self._api_server is not None:
            self._api_server.should_exit = True  # type: ignore[attr-defined]
        for source in self._sources.values():
            source.stop(timeout=3.0)
        if self._worker is not None:
            self._worker.join(timeout=30)
        for processor in self._processors.values():
            for sighting in processor.finish():
                self._publish_sighting(sighting)
        self.bus.stop()
        if self._api_thread is not None:
            self._api_thread.join(timeout=5)
        counts = self.store.counts()
        self.store_counts_after_stop = (counts.sightings, counts.alerts)
        self.store.close()

    # -- state --------------------------------------------------------------------------

    def health_snapshot(self) -> dict[str, CameraHealth]:
        with self._health_lock:
            live = dict(self._health)
        for camera_id, source in self._sources.items():
            live[camera_id] = source.health
        return live

    def cameras_online(self) -> int:
        return sum(h.state is HealthState.ONLINE for h in self.health_snapshot().values())

    # -- internals ----------------------------------------------------------------------

    def _default_source(
        self, camera: CameraConfig, on_health: Callable[[CameraHealth], None]
    ) -> StreamSource:
        fps = camera.detect_fps if camera.role is CameraRole.AI else RECORD_ONLY_HEALTH_FPS
        url = camera.detect_url if camera.role is CameraRole.AI and camera.detect_url else camera.url
        return StreamSource(
            camera.id,
            url,
            detect_fps=fps,
            on_health=on_health,
            stall_timeout=camera.stall_timeout_s,
            loop=True,
        )

    def _on_health(self, health: CameraHealth) -> None:
        with self._health_lock:
            self._health[health.camera_id] = health
        self.bus.publish(topics.CAMERA_HEALTH, health.camera_id, health)

    def _collect(self) -> list[Frame]:
        """The freshest waiting frame of every AI camera, masked, in camera order."""
        frames = []
        for camera_id in self._processors:
            frame = self._sources[camera_id].read(timeout=0)
            if frame is not None:
                masks = self.config.camera(camera_id).privacy_masks
                if masks:
                    image = apply_privacy_masks(frame.image, [mask.polygon for mask in masks])
                    frame = Frame(frame.camera_id, frame.index, frame.timestamp, image)
                frames.append(frame)
        return frames

    def _detect_loop(self) -> None:
        assert self._detector is not None or not self._processors
        while not self._stop.is_set():
            frames = self._collect()
            if not frames:
                self._stop.wait(0.01)
                continue
            started = time.perf_counter()
            detections = self._detector.detect([frame.image for frame in frames])  # type: ignore[union-attr]
            self.stats.detect_seconds += time.perf_counter() - started
            self.stats.batches += 1
            for frame, found in zip(frames, detections, strict=True):
                result = self._processors[frame.camera_id].process(frame, found)
                self.stats.frames += 1
                self.stats.detections += len(found)
                for sighting in result.sightings:
                    self._publish_sighting(sighting)
                for alert in result.alerts:
                    self.stats.alerts += 1
                    self.bus.publish(topics.ALERTS, alert.camera_id, alert)

    def _publish_sighting(self, sighting: object) -> None:
        self.stats.sightings += 1
        self.bus.publish(topics.SIGHTINGS, sighting.camera_id, sighting)  # type: ignore[attr-defined]
