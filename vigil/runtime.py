"""The composition root: build every component from the config, start, stop.

Start order: storage → bus → detector → camera workers (`ingest.workers.IngestSupervisor`)
→ detection worker → API. Stop is the reverse, with bounded joins, sharing one stop
signal. Dependencies are passed in constructors; nothing reads globals. The role
(`vigil.roles.Role`) decides which half runs here: edge (cameras), central (store, cases,
API) or all.

Threads and processes:
- the ingest supervisor: recording in shard processes, one decoding reader per AI camera
  keeping only its freshest frame;
- one detection worker that takes the freshest frame of every AI camera that has one,
  runs them through the shared detector in small chunks, then tracks, builds sightings
  and evaluates rules per camera (`vigil.pipeline.CameraProcessor`);
- the bus dispatcher, which writes events to the database;
- the back-scan worker (`vigil.services.backscan`), started on a case's first back-scan;
- the API server (uvicorn), when asked for.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from prometheus_client import REGISTRY

from alerts import build_rules
from alerts.base import Rule
from alerts.search.descriptors import describe
from config.models import CameraConfig, CameraRole, VigilConfig
from detectors.base import Detector
from detectors.filters import ClassFilter, DetectionFilter, ScoreMedian
from detectors.gating import RegionPlanner
from detectors.motion import MotionDetector
from detectors.registry import build_detector
from ingest.masks import apply_privacy_masks
from ingest.metrics import IngestCollector
from ingest.workers import IngestSupervisor
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker, VigilTrackerConfig
from vigil.core.errors import ConfigError, ServiceError
from vigil.core.events import Topic
from vigil.core.types import Alert, CameraHealth, Detections, Frame, HealthState, Image, Sighting
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.pipeline import CameraProcessor, detect_planned
from vigil.roles import Bus, CentralConsumer, EdgeNode, Role, build_bus
from vigil.services.retention import RetentionPolicy, run_periodically

if TYPE_CHECKING:
    from vigil.services.backscan import BackscanService
    from vigil.services.cases import CaseService

log = logging.getLogger(__name__)

LIVE_MIN_AGE_S = 1.0
"""A track seen this long is published as a provisional sighting (live case matching)."""
LIVE_REFRESH_S = 2.0
"""A live track's provisional sighting is refreshed this often (its best crop may improve)."""

DETECT_CHUNK = 4
"""Frames per detector call. On CPU, one call over many cameras' frames was slower than a few
small ones (23 sub-stream frames: 1.05 s in one call, 0.76 s one by one, 0.79 s by 4)."""

EVENT_MARGIN_S = 30.0
"""Recording kept at the event retention tier on each side of an alert."""


@dataclass
class RunStats:
    """Counters shown as live progress and in the final summary."""

    frames: int = 0
    detections: int = 0
    sightings: int = 0
    alerts: int = 0
    batches: int = 0
    skipped: int = 0
    """Frames where nothing moved and no track was due: no inference at all."""
    detect_seconds: float = 0.0


def database_url(config: VigilConfig) -> str:
    return config.database_url or f"sqlite:///{Path(config.data_dir) / 'vigil.infra.db'}"


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
        role: Role = Role.ALL,
        bus: Bus | None = None,
    ) -> None:
        self.config = config
        self.role = role
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or (Store.open(database_url(config)) if role is not Role.EDGE else None)
        self.bus = bus or build_bus(config.bus, role, node=socket.gethostname())
        self.stats = RunStats()
        self._detector = detector
        self.ingest: IngestSupervisor | None = None
        self.recordings: RecordingIndex | None = None
        self._collector: IngestCollector | None = None
        self._processors: dict[str, CameraProcessor] = {}
        self._cameras_lock = threading.Lock()
        self._detector_lock = threading.Lock()
        self._health: dict[str, CameraHealth] = {}
        self._health_lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._edge: EdgeNode | None = None
        self._api_server: object | None = None
        self._api_thread: threading.Thread | None = None
        self._rules: dict[str, list[Rule]] = {}
        self._stopped = False
        self._frame_heights: dict[str, int] = {}
        self._live_published: dict[str, float] = {}
        self.cases: CaseService | None = None
        """Lost-person search (central and all roles)."""
        self.backscan: BackscanService | None = None
        """Detection over record-only cameras' recordings for a case (central and all roles)."""
        self._tracker_config = build_tracker_config(config)
        self.store_counts_after_stop: tuple[int, int] = (0, 0)
        """(sightings, alerts) in the database when `stop` closed it."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the stages of this process's role (see `vigil.roles`)."""
        if self.store is not None:
            CentralConsumer(self.bus, self.store).attach()
            self.cases = self._build_case_service(self.store)
            self.backscan = self._build_backscan(self.store, self.cases)
            # After the store handlers: a case alert may point at the sighting just stored.
            self.bus.subscribe(Topic.SIGHTINGS, self._match_cases)
            self.bus.subscribe(Topic.SIGHTING_UPDATES, self._match_cases)
        self.bus.start()
        if self.role is Role.CENTRAL:
            log.info("central role: storing events from the bus")
            return
        cameras = [camera for camera in self.config.cameras if camera.enabled]
        if any(camera.role is CameraRole.AI for camera in cameras):
            self._ensure_detector()
        self._rules = build_rules(self.config)
        self._start_ingest()
        self._stop.clear()
        self._worker = threading.Thread(target=self._detect_loop, name="detect", daemon=True)
        self._worker.start()
        if self.config.bus.type == "kafka" and self.role is Role.EDGE:
            # Kafka's consumer-group assignment decides which cameras this node runs.
            self._edge = EdgeNode(
                [camera.id for camera in cameras],
                self.config.bus.bootstrap_servers,
                start_camera=self.start_camera,
                stop_camera=self.stop_camera,
                node=socket.gethostname(),
            )
            self._edge.start()
            log.info("edge role: waiting for Kafka to assign cameras")
            return
        for camera in cameras:
            self.start_camera(camera.id)
        log.info("started %d cameras", len(cameras))

    def start_camera(self, camera_id: str) -> None:
        """Start recording (and for AI cameras, detecting on) one configured camera; others are untouched."""
        assert self.ingest is not None, "start() first"
        camera = self.config.camera(camera_id)
        if camera.role is CameraRole.AI:
            processor = self._build_processor(camera, self._tracker_config, self._rules.get(camera.id, []))
            with self._cameras_lock:
                self._processors.setdefault(camera_id, processor)
        self.ingest.add_camera(camera)

    def stop_camera(self, camera_id: str) -> None:
        """Stop one camera; its open tracks are published as sightings, its recordings stay."""
        if self.ingest is not None:
            self.ingest.remove_camera(camera_id)
        with self._cameras_lock:
            processor = self._processors.pop(camera_id, None)
        if processor is not None:
            for sighting in processor.finish():
                self._publish_sighting(sighting)

    def _start_ingest(self) -> None:
        """Camera workers by role: AI cameras decoded for detection, every camera recorded."""
        if self.store is not None:
            self.recordings = RecordingIndex.for_store(self.store)
        # On an edge node (no database) segments are written to disk but not indexed centrally yet.
        self.ingest = IngestSupervisor(
            [],
            data_dir=self.data_dir,
            recording=self.config.recording,
            index=self.recordings,
            on_health=self._on_health,
        )
        self.ingest.start()
        self._collector = IngestCollector(self.ingest)
        REGISTRY.register(self._collector)
        if self.recordings is not None:
            rec = self.config.recording
            threading.Thread(
                target=run_periodically,
                name="retention",
                daemon=True,
                args=(
                    self.recordings,
                    RetentionPolicy(rec.continuous_days, rec.event_days, rec.min_free_percent),
                    rec.directory or self.data_dir / "recordings",
                    self._stop,
                ),
            ).start()

    def serve_api(self, host: str | None = None, port: int | None = None) -> str:
        """Serve the API in a background thread; returns its base URL once it accepts requests."""
        import uvicorn

        from api.app import create_app
        from api.deps import ApiServices

        if self.store is None:
            raise ServiceError(
                "the API runs on the central node (role 'central' or 'all'), not on an edge node"
            )
        services = ApiServices(
            store=self.store, health=self.health_snapshot, data_dir=self.data_dir, cases=self.cases
        )
        app = create_app(self.config, services)
        app.state.backscan = self.backscan
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
                raise ServiceError(
                    f"the API could not listen on {host}:{port}: is the port in use? "
                    "Choose another with --port."
                )
            if time.monotonic() > deadline:
                raise ServiceError("the API did not start within 15 s")
            time.sleep(0.05)
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
        return f"http://{host}:{bound}"

    def stop(self) -> None:
        """Stop in reverse order; open tracks are stored as sightings. A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._edge is not None:
            self._edge.stop()  # hands this node's cameras back to the group
        self._stop.set()
        if self.backscan is not None:
            self.backscan.stop()  # publishes on the bus and reads the store: before both stop
        if self._api_server is not None:
            self._api_server.should_exit = True  # type: ignore[attr-defined]
        if self.ingest is not None:
            self.ingest.stop(timeout=10.0)  # closes the open segments
        if self._collector is not None:
            REGISTRY.unregister(self._collector)
            self._collector = None
        if self._worker is not None:
            self._worker.join(timeout=30)
        with self._cameras_lock:
            processors = list(self._processors.values())
        for processor in processors:
            for sighting in processor.finish():
                self._publish_sighting(sighting)
        self.bus.stop()
        if self._api_thread is not None:
            self._api_thread.join(timeout=5)
        if self.store is not None:
            counts = self.store.counts()
            self.store_counts_after_stop = (counts.sightings, counts.alerts)
            self.store.close()

    def _build_processor(
        self, camera: CameraConfig, tracker_config: VigilTrackerConfig, rules: list[Rule]
    ) -> CameraProcessor:
        motion = camera.motion
        planner = None
        if motion.enabled:
            planner = RegionPlanner(
                MotionDetector(threshold=motion.threshold, alpha=motion.alpha, masks=motion.masks),
                region_px=motion.region_px,
                recheck_interval_s=motion.recheck_interval_s,
                # Packing small looks into shared inputs needs a detector that can unpack them.
                pack=hasattr(self._detector, "detect_packed"),
            )
        assert self._detector is not None
        names = list(self._detector.class_names)
        unknown = sorted(set(camera.filters.classes) - set(names))
        if unknown:
            raise ConfigError(
                f"camera {camera.id}: filters.classes names {unknown}, but detector "
                f"{self._detector.name!r} knows only {names}"
            )
        detection_filter = DetectionFilter(
            per_class={
                names.index(name): ClassFilter(
                    min_score=limits.min_score,
                    min_area=limits.min_area,
                    max_area=limits.max_area if limits.max_area is not None else float("inf"),
                    min_ratio=limits.min_ratio,
                    max_ratio=limits.max_ratio if limits.max_ratio is not None else float("inf"),
                )
                for name, limits in camera.filters.classes.items()
            },
            object_masks=tuple(camera.filters.object_masks),
        )
        score_median = ScoreMedian(camera.filters.score_median) if camera.filters.score_median > 0 else None
        return CameraProcessor(
            camera.id,
            VigilTracker(frame_rate=camera.detect_fps, config=tracker_config),
            SightingBuilder(
                camera.id,
                data_dir=self.data_dir,
                finish_after_s=self.config.tracker.track_buffer_s + 1.0,
                min_frames=self.config.tracker.min_sighting_frames,
            ),
            rules,
            planner=planner,
            detection_filter=detection_filter,
            score_median=score_median,
        )

    # -- state --------------------------------------------------------------------------

    def health_snapshot(self) -> dict[str, CameraHealth]:
        if self.ingest is None and self.store is not None and not self._stopped:
            # Central node: cameras run elsewhere; their health arrives over the bus into the store.
            return {health.camera_id: health for health in self.store.list_health()}
        with self._health_lock:
            live = dict(self._health)
        if self.ingest is not None:
            live.update(self.ingest.health_snapshot())
        return live

    def cameras_online(self) -> int:
        return sum(h.state is HealthState.ONLINE for h in self.health_snapshot().values())

    # -- internals ----------------------------------------------------------------------

    def _on_health(self, health: CameraHealth) -> None:
        with self._health_lock:
            self._health[health.camera_id] = health
        self.bus.publish(Topic.CAMERA_HEALTH, health.camera_id, health)

    def _collect(self) -> list[Frame]:
        """The freshest waiting frame of every AI camera, masked, in camera order."""
        frames = []
        with self._cameras_lock:
            camera_ids = list(self._processors)
        for camera_id in camera_ids:
            source = self.ingest.source(camera_id) if self.ingest is not None else None
            frame = source.read(timeout=0) if source is not None else None
            if frame is not None:
                masks = self.config.camera(camera_id).privacy_masks
                if masks:
                    image = apply_privacy_masks(frame.image, [mask.polygon for mask in masks])
                    frame = Frame(frame.camera_id, frame.index, frame.timestamp, image)
                frames.append(frame)
        return frames

    def _detect_loop(self) -> None:
        while not self._stop.is_set():
            frames = self._collect()
            if not frames:
                self._stop.wait(0.01)
                continue
            detections = self._detect(frames)
            for frame, found in zip(frames, detections, strict=True):
                processor = self._processors.get(frame.camera_id)
                if processor is None:  # the camera was stopped (moved to another node) meanwhile
                    continue
                self._frame_heights[frame.camera_id] = frame.height
                result = processor.process(frame, found)
                self.stats.frames += 1
                self.stats.detections += len(found)
                for sighting in result.sightings:
                    self._live_published.pop(sighting.id, None)
                    self._publish_sighting(sighting)
                self._publish_live(processor, frame)
                for alert in result.alerts:
                    self._publish_alert(alert)

    def _detect(self, frames: list[Frame]) -> list[Detections]:
        """Detect in every camera's planned regions as one batch; skipped frames get no detections."""
        assert self._detector is not None
        processors = [self._processors.get(frame.camera_id) for frame in frames]
        plans = [
            p.plan(frame) if p is not None else None for p, frame in zip(processors, frames, strict=True)
        ]
        wanted = [i for i, plan in enumerate(plans) if plan is not None]
        results = [Detections.empty() for _ in frames]
        self.stats.skipped += len(frames) - len(wanted)
        if not wanted:
            return results
        started = time.perf_counter()
        found = detect_planned(
            self._detector,
            [frames[i].image for i in wanted],
            [plan for plan in plans if plan is not None],
            chunk=DETECT_CHUNK,
        )
        self.stats.detect_seconds += time.perf_counter() - started
        self.stats.batches += 1
        for i, detections in zip(wanted, found, strict=True):
            results[i] = detections
        return results

    def _build_case_service(self, store: Store) -> CaseService:
        """Cases need the detector only to find the person in an uploaded photo: built on first upload."""
        from alerts.search.graph import CameraGraph
        from vigil.infra.db.cases import CaseStore
        from vigil.services.cases import CaseService

        return CaseService(
            store,
            CaseStore.for_store(store),
            CameraGraph.from_cameras(self.config.cameras),
            self._lazy_detector(),
        )

    def _build_backscan(self, store: Store, cases: CaseService) -> BackscanService:
        """Back-scan runs record-only cameras' recordings through the AI cameras' own processors."""
        from alerts.search.graph import CameraGraph
        from vigil.infra.db.cases import CaseStore
        from vigil.services.backscan import BackscanService

        def processor(camera: CameraConfig) -> CameraProcessor:
            self._ensure_detector()
            return self._build_processor(camera, self._tracker_config, [])  # no rules: no alerts of the past

        return BackscanService(
            config=self.config,
            cases=cases,
            case_store=CaseStore.for_store(store),
            store=store,
            recordings=RecordingIndex.for_store(store),
            graph=CameraGraph.from_cameras(self.config.cameras),
            detector=self._ensure_detector,
            processors=processor,
            publish=lambda sighting: self.bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting),
            data_dir=self.data_dir,
            recording_root=self.config.recording.directory or self.data_dir / "recordings",
        )

    def _lazy_detector(self) -> Detector:
        runtime = self

        class _Lazy:
            """Builds the configured detector on first use (a central node may never need it)."""

            @property
            def name(self) -> str:
                return runtime.config.detector.type

            @property
            def class_names(self) -> Sequence[str]:
                return runtime._ensure_detector().class_names

            def detect(self, images: Sequence[Image]) -> list[Detections]:
                return runtime._ensure_detector().detect(images)

        return _Lazy()

    def _ensure_detector(self) -> Detector:
        with self._detector_lock:
            if self._detector is None:
                self._detector = build_detector(self.config.detector)
            return self._detector

    def _match_cases(self, sighting: Sighting) -> None:
        if self.cases is None:
            return
        for alert in self.cases.on_sighting(sighting):
            self._publish_alert(alert)

    def _describe(self, sighting: Sighting) -> Sighting:
        """Fill the appearance descriptor from the saved best crop (search works on it)."""
        if sighting.crop_path is None:
            return sighting
        crop = np.asarray(cv2.imread(str(self.data_dir / sighting.crop_path)), dtype=np.uint8)
        if crop.ndim != 3 or crop.size == 0:
            log.warning(
                "camera %s: best crop %s unreadable; sighting stored without descriptor",
                sighting.camera_id,
                sighting.crop_path,
            )
            return sighting
        height = self._frame_heights.get(sighting.camera_id, 0)
        return describe(sighting, crop, height)

    def _publish_live(self, processor: CameraProcessor, frame: Frame) -> None:
        """Provisional sightings of tracks in view, so a case can match her while she is still there."""
        for sighting, crop in processor.sightings.live(LIVE_MIN_AGE_S):
            last = self._live_published.get(sighting.id)
            if last is not None and frame.timestamp - last < LIVE_REFRESH_S:
                continue
            self._live_published[sighting.id] = frame.timestamp
            update = describe(sighting, crop, frame.height)
            self.bus.publish(Topic.SIGHTING_UPDATES, update.camera_id, update)

    def _publish_alert(self, alert: Alert) -> None:
        self.stats.alerts += 1
        if self.recordings is not None:
            # The minute around an alert is evidence: kept for the event tier, not the continuous one.
            self.recordings.mark_event(
                alert.camera_id, alert.timestamp - EVENT_MARGIN_S, alert.timestamp + EVENT_MARGIN_S
            )
        self.bus.publish(Topic.ALERTS, alert.camera_id, alert)

    def _publish_sighting(self, sighting: Sighting) -> None:
        sighting = self._describe(sighting)
        self.stats.sightings += 1
        self.bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting)
