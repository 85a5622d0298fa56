"""The composition root: build every component from the config, start, stop.

Start order: storage → bus → detector → camera workers (`ingest.workers.IngestSupervisor`)
→ detection worker → API. Stop is the reverse, with bounded joins, sharing one stop
signal. Dependencies are passed in constructors; nothing reads globals. The role
(`vigil.roles.Role`) decides which half runs here: edge (cameras), central (store, cases,
API) or all.

Threads and processes:
- the ingest supervisor: recording in shard processes, one decoding reader per AI camera
  keeping only its freshest frame;
- one detection worker (`vigil.detect_worker.DetectWorker`) that takes the freshest frame
  of every AI camera that has one and runs them through the per-frame pipeline
  (`vigil.pipeline.FramePipeline`: shared detector, then per camera tracking, sightings,
  descriptors, rules), publishing what comes out on the bus;
- the bus dispatcher, which writes events to the database;
- the back-scan worker (`vigil.services.backscan`), started on a case's first back-scan;
- one sender thread per notification destination (`vigil.services.notify`: webhooks, MQTT),
  fed by the bus thread through bounded queues, stopped after the bus with a bounded drain;
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

from prometheus_client import REGISTRY

from alerts import build_rules
from alerts.base import Rule
from alerts.search.graph import CameraGraph
from config.models import CameraConfig, CameraRole, VigilConfig
from detectors.base import Detector
from detectors.pose_stage import PoseModel
from detectors.registry import LazyDetector
from ingest.metrics import IngestCollector
from ingest.workers import IngestSupervisor, record_shard_count
from vigil.core.errors import ServiceError
from vigil.core.events import Topic
from vigil.core.types import Alert, CameraHealth, Frame, HealthState, Sighting
from vigil.detect_worker import EVENT_MARGIN_S, BusPublisher, DetectWorker
from vigil.infra.bus import MemoryBus
from vigil.infra.bus_metrics import BusBufferCollector
from vigil.infra.db.alerts import AlertGroupLookup
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.infra.kafka_bus import KafkaBus
from vigil.infra.live_view import LiveView
from vigil.infra.segment_server import EdgeSegmentFetcher, SegmentAnnouncer, SegmentServer, node_token
from vigil.pipeline import LIVE_MIN_AGE_S, FramePipeline, PipelineStats, PostureRule, build_processor
from vigil.roles import Bus, CentralConsumer, EdgeNode, Role, build_bus
from vigil.services.alert_feed import AlertFeed
from vigil.services.alert_groups import AlertGrouper
from vigil.services.backscan import BackscanService
from vigil.services.backtest import BacktestService
from vigil.services.cases import CaseService
from vigil.services.notify import AlertNotifier, NotifyCollector
from vigil.services.retention import RetentionCollector, RetentionPolicy, RetentionService
from vigil.services.sighting_search import SightingSearch
from vigil.services.site_config import SiteConfigService, SiteControl, SiteDiff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
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
    pose_seconds: float = 0.0
    """Time in the posture stage (only cameras with a person_down rule run it)."""
    pose_crops: int = 0


def database_url(config: VigilConfig) -> str:
    return config.database_url or f"sqlite:///{Path(config.data_dir) / 'vigil.db'}"


class Runtime:
    """The whole single-box pipeline for one config.

    Args:
        config: Validated site config.
        detector: Detector to use; default built from ``config.detector`` on first use.
        store: Open store; default opened from ``config.database_url`` (or SQLite in data_dir),
            none on an edge node.
        role: Which half runs in this process (`vigil.roles.Role`).
        bus: Event bus; default built from ``config.bus`` for the role.
        config_path: The YAML file `config` was loaded from; with it (role all) admins change
            cameras, zones and privacy masks through the API (`vigil.services.site_config`).
    """

    def __init__(
        self,
        config: VigilConfig,
        *,
        detector: Detector | None = None,
        store: Store | None = None,
        role: Role = Role.ALL,
        bus: Bus | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.role = role
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or (Store.open(database_url(config)) if role is not Role.EDGE else None)
        self.node = config.bus.node or socket.gethostname()
        """This node's name on the bus (an edge node's recordings are kept under it centrally)."""
        self.bus = bus or build_bus(config.bus, role, node=self.node, data_dir=self.data_dir)
        self._bus_collector: BusBufferCollector | None = None
        self.detector = LazyDetector(config.detector, detector)
        """The shared detector, built on first use (a central node may never need it)."""
        self.pose = PoseModel()
        """The shared pose model, loaded only when a camera has a posture rule (person_down)."""
        self.ingest: IngestSupervisor | None = None
        self.recordings: RecordingIndex | None = None
        self._edge_store: Store | None = None
        """An edge node's own recording index and retention state (``<data_dir>/edge-recordings.db``)."""
        self.segment_server: SegmentServer | None = None
        """An edge node's server of its recorded segments to central (with ``VIGIL_NODE_TOKEN``)."""
        self._collector: IngestCollector | None = None
        self._publisher = BusPublisher(self.bus)
        self._worker: DetectWorker | None = None
        self.live_view = LiveView()
        """Each AI camera's latest analysed frame and boxes (the console's camera wall)."""
        self._rules: dict[str, list[Rule]] = {}
        self._health: dict[str, CameraHealth] = {}
        self._health_lock = threading.Lock()
        self._stop = threading.Event()
        self._edge: EdgeNode | None = None
        self._api_server: object | None = None
        self._api_thread: threading.Thread | None = None
        self._stopped = False
        self.cases: CaseService | None = None
        """Lost-person search (central and all roles)."""
        self.backscan: BackscanService | None = None
        self.backtest: BacktestService | None = None
        """Rule backtests over recordings (central and all roles)."""
        self.retention: RetentionService | None = None
        """Recordings and records retention, on a schedule (central and all roles)."""
        self._retention_collector: RetentionCollector | None = None
        self.alert_feed = AlertFeed()
        self.notifier: AlertNotifier | None = None
        """Webhooks and MQTT for new alerts (central and all roles, when configured)."""
        self._notify_collector: NotifyCollector | None = None
        """New alerts as the central consumer stores them, and triage changes (``/alerts/live``)."""
        """Detection over record-only cameras' recordings for a case (central and all roles)."""
        self.store_counts_after_stop: tuple[int, int] = (0, 0)
        """(sightings, alerts) in the database when `stop` closed it."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the stages of this process's role (see `vigil.roles`)."""
        if self.store is not None:
            self._start_central(self.store)
        self.bus.start()
        if isinstance(self.bus, KafkaBus) and self.bus.buffer_stats() is not None:
            self._bus_collector = BusBufferCollector(self.bus.buffer_stats)
            REGISTRY.register(self._bus_collector)
        if self.role is Role.CENTRAL:
            log.info("central role: storing events from the bus")
            return
        cameras = [camera for camera in self.config.cameras if camera.enabled]
        detects = any(camera.role is CameraRole.AI for camera in cameras)
        if detects:
            self.detector.get()  # the model loads before the cameras start, not on the first frame
        self._rules = build_rules(self.config)
        if self._needs_pose():
            self.pose.get()  # a missing model stops the start here, naming ./vigil.sh setup
        self._start_ingest()
        if detects:
            self._worker = self._build_worker()
            self._worker.start()
        if self.config.bus.type == "kafka" and self.role is Role.EDGE:
            self._start_edge(cameras)
            return
        for camera in cameras:
            self.start_camera(camera.id)
        log.info("started %d cameras", len(cameras))

    def start_camera(self, camera_id: str) -> None:
        """Start recording (and for AI cameras, detecting on) one configured camera; others are untouched."""
        assert self.ingest is not None, "start() first"
        camera = self.config.camera(camera_id)
        if camera.role is CameraRole.AI:
            if self._worker is None:  # the site's first AI camera, added while running
                self._worker = self._build_worker()
                self._worker.start()
            rules = self._rules.get(camera.id, [])
            self._worker.add(build_processor(self.config, camera, self.detector.get(), rules, pose=self.pose))
        self.ingest.add_camera(camera)

    def stop_camera(self, camera_id: str) -> None:
        """Stop one camera; its open tracks are published as sightings, its recordings stay."""
        if self.ingest is not None:
            self.ingest.remove_camera(camera_id)
        if self._worker is not None:
            self._worker.remove(camera_id)

    def restart_camera(self, camera_id: str) -> None:
        """Stop one camera and start it again from the current config (if enabled); others are untouched."""
        self.stop_camera(camera_id)
        if self.config.camera(camera_id).enabled:
            self.start_camera(camera_id)

    def reconfigure(self, config: VigilConfig, diff: SiteDiff) -> None:
        """Run `config` from now on: only the cameras `diff` names are started, stopped or restarted.

        Re-zoned cameras keep running and take their new rules and privacy masks from the next
        frame on. Settings outside cameras and rules (`SiteDiff.sections`) wait for the next start.
        """
        self.config = config
        self._rules = build_rules(config)
        if self.retention is not None:  # a camera's own recording retention applies from the next pass
            self.retention.policy = RetentionPolicy.from_config(config)
        if self.ingest is None:
            return  # not started, or cameras run elsewhere (central role)
        if self._needs_pose():
            self.pose.available()  # load it here, not in the detect thread; a failure is logged once
        for camera_id in diff.removed:
            self.stop_camera(camera_id)
        for camera_id in diff.restarted:
            self.restart_camera(camera_id)
        for camera_id in diff.added:
            if config.camera(camera_id).enabled:
                self.start_camera(camera_id)
        if self._worker is not None:
            for camera_id in (*diff.added, *diff.restarted, *diff.rezoned):
                camera = config.camera(camera_id)
                masks = [mask.polygon for mask in camera.privacy_masks]
                self._worker.set_zones(camera_id, self._rules.get(camera_id, []), masks)

    def serve_api(
        self, host: str | None = None, port: int | None = None, *, site: SiteControl | None = None
    ) -> str:
        """Serve the API in a background thread; returns its base URL once it accepts requests.

        Args:
            host: Address to bind; default ``api.host`` of the config.
            port: Port to bind (0: any free one); default ``api.port``.
            site: Camera administration to serve; default this runtime's own (role all, started
                with ``config_path``), else none (its routes answer 503).
        """
        import uvicorn  # the API's server is optional: only a node that serves loads it

        from api.app import create_app
        from api.deps import ApiServices

        if self.store is None:
            raise ServiceError(
                "the API runs on the central node (role 'central' or 'all'), not on an edge node"
            )
        services = ApiServices(
            store=self.store,
            health=self.health_snapshot,
            data_dir=self.data_dir,
            cases=self.cases,
            alert_feed=self.alert_feed,
            live=self.live_view,
            site=site or self._site_control(),
            detector=self.detector,
        )
        app = create_app(self.config, services)
        app.state.backscan = self.backscan
        app.state.backtest = self.backtest
        app.state.retention = self.retention
        app.state.bus_buffer = self.bus.buffer_stats if isinstance(self.bus, KafkaBus) else None
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
        self._stop_jobs()  # back-scan publishes on the bus, both read the store: before both stop
        if self._api_server is not None:
            self._api_server.should_exit = True  # type: ignore[attr-defined]
        self._stop_cameras()
        self._stop_edge_recordings()
        self.bus.stop()
        if self.notifier is not None:  # after the bus: what it delivered last is queued by now
            self.notifier.stop(timeout=5.0)
        if self._notify_collector is not None:
            REGISTRY.unregister(self._notify_collector)
            self._notify_collector = None
        if self._bus_collector is not None:
            REGISTRY.unregister(self._bus_collector)
            self._bus_collector = None
        if self._retention_collector is not None:
            REGISTRY.unregister(self._retention_collector)
            self._retention_collector = None
        if self._api_thread is not None:
            self._api_thread.join(timeout=5)
        if self.store is not None:
            counts = self.store.counts()
            self.store_counts_after_stop = (counts.sightings, counts.alerts)
            self.store.close()

    def _stop_edge_recordings(self) -> None:
        """After the last segment closed (central may still fetch it until here)."""
        if self.segment_server is not None:
            self.segment_server.stop()
        if self._edge_store is not None:
            self._edge_store.close()

    def _stop_jobs(self) -> None:
        """Cancel and join the back-scan and backtest workers."""
        for jobs in (self.backscan, self.backtest):
            if jobs is not None:
                jobs.stop()

    # -- state --------------------------------------------------------------------------

    @property
    def stats(self) -> RunStats:
        """Counters so far (a snapshot)."""
        pipeline = self._worker.pipeline.stats if self._worker is not None else PipelineStats()
        return RunStats(
            frames=pipeline.frames,
            detections=pipeline.detections,
            sightings=self._publisher.sightings,
            alerts=self._publisher.alerts,
            batches=pipeline.batches,
            skipped=pipeline.skipped,
            detect_seconds=pipeline.detect_seconds,
            pose_seconds=pipeline.pose_seconds,
            pose_crops=pipeline.pose_crops,
        )

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

    # -- building -----------------------------------------------------------------------

    def _start_central(self, store: Store) -> None:
        """Store, cases and back-scan: what a central (or all-in-one) node runs on the bus."""
        # Segments edge nodes announce are indexed here; reading one brings its file from its node.
        store.segment_fetch = EdgeSegmentFetcher(node_token())
        notifications = self.config.notifications
        if notifications.webhooks or notifications.mqtt is not None:
            self.notifier = AlertNotifier.from_config(notifications, self.config.site)
            self.notifier.start()
            self._notify_collector = NotifyCollector(self.notifier.stats)
            REGISTRY.register(self._notify_collector)
        grouper = AlertGrouper(AlertGroupLookup.for_store(store), self.config.alerts)
        edge_cache = self._recording_root() / "edges"
        recordings = RecordingIndex.for_store(store)
        CentralConsumer(
            self.bus, store, on_alerts=self._alerts_stored, group=grouper.assign,
            segments=lambda segments: recordings.add_remote_segments(segments, edge_cache),
            gaps=recordings.add_gaps,
        ).attach()  # fmt: skip
        self.cases = CaseService(
            store,
            CaseStore.for_store(store),
            CameraGraph.from_config(self.config),
            # Cases need the detector only to find the person in an uploaded photo.
            self.detector,
        )
        self.backscan = BackscanService(
            config=self.config,
            cases=self.cases,
            case_store=CaseStore.for_store(store),
            store=store,
            recordings=RecordingIndex.for_store(store),
            graph=CameraGraph.from_config(self.config),
            detector=self.detector.get,
            publish=lambda sighting: self.bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting),
            recording_root=self.config.recording.directory or self.data_dir / "recordings",
        )
        self.backtest = BacktestService(
            recordings=RecordingIndex.for_store(store),
            audit=CaseStore.for_store(store),
            detector=self.detector.get,
            data_dir=self.data_dir,
            recording_root=self.config.recording.directory or self.data_dir / "recordings",
        )
        self._start_search(store)
        self._start_retention(store, self.cases)
        # The candidates' in-memory first pass: filled from the store, then kept current.
        threading.Thread(
            target=self.cases.index.run, args=(self._stop,), name="case-index", daemon=True
        ).start()
        # After the store handlers: a case alert may point at the sighting just stored.
        self.bus.subscribe(Topic.SIGHTINGS, self._match_cases)
        self.bus.subscribe(Topic.SIGHTING_UPDATES, self._match_cases)

    def _start_retention(self, store: Store, cases: CaseService) -> None:
        """Segments, sightings, alerts and case photos expire by policy, in the retention thread."""
        self.retention = RetentionService.from_config(
            self.config, store, self.data_dir, forget=cases.index.forget
        )
        collector = RetentionCollector(self.retention)
        try:
            REGISTRY.register(collector)
            self._retention_collector = collector
        except ValueError:  # another runtime in this process (a test) has them: its counts are served
            log.warning("retention metrics are already registered in this process; not registering twice")
        threading.Thread(
            target=self.retention.run_periodically, args=(self._stop,), name="retention", daemon=True
        ).start()

    def _start_search(self, store: Store) -> None:
        """The sighting search index follows the sightings topic; what is older is caught up."""
        search = SightingSearch.for_store(store)
        if isinstance(self.bus, KafkaBus | MemoryBus):
            self.bus.subscribe_batch(Topic.SIGHTINGS, search.index)
        else:
            self.bus.subscribe(Topic.SIGHTINGS, lambda sighting: search.index([sighting]))
        threading.Thread(
            target=search.catch_up, kwargs={"stop": self._stop}, name="search-catch-up", daemon=True
        ).start()

    def _recording_root(self) -> Path:
        return Path(self.config.recording.directory or self.data_dir / "recordings")

    def _start_ingest(self) -> None:
        """Camera workers by role: AI cameras decoded for detection, every camera recorded."""
        index: RecordingIndex | SegmentAnnouncer | None = None
        if self.store is not None:
            self.recordings = index = RecordingIndex.for_store(self.store)
            self._publisher.recordings = self.recordings
        else:
            index = self._start_edge_recordings()
        # Cameras are added after start (by ownership), so the shard count comes from the config.
        enabled = sum(camera.enabled for camera in self.config.cameras)
        self.ingest = IngestSupervisor(
            [],
            data_dir=self.data_dir,
            recording=self.config.recording,
            shards=record_shard_count(self.config.recording, enabled),
            index=index,
            on_health=self._on_health,
        )
        self.ingest.start()
        self._collector = IngestCollector(self.ingest)
        REGISTRY.register(self._collector)

    def _start_edge_recordings(self) -> SegmentAnnouncer:
        """An edge node (no site database): its own recording index, retention and segment server.

        Segments are indexed here first (this node's retention and the event tier of its alerts
        work from it), then announced on the bus for central to index; with ``VIGIL_NODE_TOKEN``
        the segment server lets central fetch them.
        """
        root = self._recording_root()
        self._edge_store = Store.open(self.data_dir / "edge-recordings.db")
        self.recordings = RecordingIndex.for_store(self._edge_store)
        self._publisher.recordings = self.recordings  # an alert keeps its minute at the event tier here
        token, url = node_token(), None
        if token is None:
            log.warning(
                "VIGIL_NODE_TOKEN is not set: this edge node announces its recordings but serves none, so "
                "central cannot export clips of its cameras; set the same token on central and every edge"
            )
        else:
            served = self.config.bus.segments
            advertise = served.advertise or socket.gethostname()
            self.segment_server = SegmentServer(
                self.recordings, root, token, served.host, served.port, advertise
            )
            self.segment_server.start()
            url = self.segment_server.url
        self.retention = RetentionService(
            self._edge_store, RetentionPolicy.from_config(self.config), self.data_dir, root
        )
        threading.Thread(
            target=self.retention.run_periodically, args=(self._stop,), name="edge-retention", daemon=True
        ).start()
        return SegmentAnnouncer(self.recordings, self.bus, self.node, root, url)

    def _needs_pose(self) -> bool:
        """Whether an enabled AI camera has a rule that reads posture (the pose model is needed)."""
        return any(
            isinstance(rule, PostureRule)
            for camera in self.config.cameras
            if camera.enabled and camera.role is CameraRole.AI
            for rule in self._rules.get(camera.id, [])
        )

    def _build_worker(self) -> DetectWorker:
        pipeline = FramePipeline(self.detector.get(), data_dir=self.data_dir, live_min_age_s=LIVE_MIN_AGE_S)
        masks = {camera.id: [mask.polygon for mask in camera.privacy_masks] for camera in self.config.cameras}
        return DetectWorker(
            pipeline, self._read_frame, masks, self._publisher, self._stop, live=self.live_view
        )

    def _site_control(self) -> SiteConfigService | None:
        """Camera administration over the API: needs the YAML file and the cameras in this process."""
        if self.config_path is None or self.role is not Role.ALL or self.store is None:
            return None
        return SiteConfigService(self.config_path, self.config, self, CaseStore.for_store(self.store))

    def _start_edge(self, cameras: list[CameraConfig]) -> None:
        """Kafka's consumer-group assignment decides which cameras this node runs."""
        self._edge = EdgeNode(
            [camera.id for camera in cameras],
            self.config.bus.bootstrap_servers,
            start_camera=self.start_camera,
            stop_camera=self.stop_camera,
            node=socket.gethostname(),
        )
        self._edge.start()
        log.info("edge role: waiting for Kafka to assign cameras")

    def _stop_cameras(self) -> None:
        """Ingest, then detection; the open tracks left are published as sightings."""
        if self.ingest is not None:
            self.ingest.stop(timeout=10.0)  # closes the open segments
        if self._collector is not None:
            REGISTRY.unregister(self._collector)
            self._collector = None
        if self._worker is not None:
            self._worker.join(timeout=30)
            self._worker.finish()

    # -- callbacks ----------------------------------------------------------------------

    def _read_frame(self, camera_id: str) -> Frame | None:
        source = self.ingest.source(camera_id) if self.ingest is not None else None
        return source.read(timeout=0) if source is not None else None

    def _on_health(self, health: CameraHealth) -> None:
        with self._health_lock:
            self._health[health.camera_id] = health
        self.bus.publish(Topic.CAMERA_HEALTH, health.camera_id, health)

    def _alerts_stored(self, alerts: Sequence[Alert]) -> None:
        """New stored alerts (bus thread): the consoles' live feed, then the notifications queue.

        On a central node the minute around each alert is also kept at the event tier in the
        central index (the edge node that recorded it does the same in its own).
        """
        if self.role is Role.CENTRAL and self.store is not None:
            recordings = RecordingIndex.for_store(self.store)
            for alert in alerts:
                recordings.mark_event(
                    alert.camera_id, alert.timestamp - EVENT_MARGIN_S, alert.timestamp + EVENT_MARGIN_S
                )
        self.alert_feed.publish_alerts(alerts)
        if self.notifier is not None:
            self.notifier.notify(alerts)

    def _match_cases(self, sighting: Sighting) -> None:
        if self.cases is None:
            return
        for alert in self.cases.on_sighting(sighting):
            self._publisher.alert(alert)
