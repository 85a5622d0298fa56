"""The two halves of a distributed Vigil, and the bus each runs on.

- **edge** (`EdgeNode`): ingest, detection and tracking for the cameras Kafka gives
  this node (`vigil.infra.ownership`); publishes sightings, live tracks, alerts and health.
- **central** (`CentralConsumer`): stores every event from every edge node, runs the
  site-wide stages (case matching) and serves the API.
- **all**: both halves in one process, today's single box; on the memory bus the edge
  half simply runs every camera.

Both halves take their dependencies in their constructors; `vigil.runtime` wires them.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from config.models import BusConfig
from vigil.core.events import Topic
from vigil.core.types import Alert, CameraHealth, RecordedGap, RecordedSegment, Sighting
from vigil.infra.bus import MemoryBus
from vigil.infra.kafka_bus import KafkaBus
from vigil.infra.ownership import CONTROL_TOPIC, CameraOwnership
from vigil.infra.spool import Spool

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    EDGE = "edge"
    CENTRAL = "central"
    ALL = "all"


class Bus(Protocol):
    """What both buses offer (`MemoryBus`, `KafkaBus`)."""

    def subscribe(self, topic: str, handler: Callable[[Any], object]) -> None: ...
    def publish(self, topic: str, key: str, event: Any) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...


class EventStore(Protocol):
    """The store methods the central half needs (`vigil.infra.db.store.Store`)."""

    def add_sighting(self, sighting: Sighting) -> bool: ...
    def add_alert(self, alert: Alert) -> bool: ...
    def upsert_health(self, health: CameraHealth) -> None: ...


def _memory_bus(config: BusConfig, role: Role, node: str, data_dir: Path) -> MemoryBus:
    return MemoryBus()


def _kafka_bus(config: BusConfig, role: Role, node: str, data_dir: Path) -> KafkaBus:
    # The nodes that run cameras buffer on disk what the brokers cannot take now; a central
    # node publishes only what it derives from consumed events, which it can consume again.
    settings = config.spool
    spool = None
    if settings.enabled and role in (Role.EDGE, Role.ALL):
        spool = Spool.open(
            data_dir / (settings.path or "bus-spool"),
            settings.max_bytes,
            fsync_interval_s=settings.fsync_interval_s,
        )
    # One consumer group per role: every central process shares the event partitions.
    return KafkaBus(
        config.bootstrap_servers,
        group_id="vigil-central",
        client_id=f"vigil-{role.value}-{node}",
        spool=spool,
    )


BUSES: dict[str, Callable[[BusConfig, Role, str, Path], Bus]] = {"memory": _memory_bus, "kafka": _kafka_bus}
"""Bus backends keyed by ``bus.type`` in the config."""


def build_bus(config: BusConfig, role: Role, node: str = "0", data_dir: Path = Path("vigil-data")) -> Bus:
    """The bus named by the config, for a process in `role`; `node` names it in broker logs.

    `data_dir` holds what the bus keeps on disk (the edge node's spool).
    """
    return BUSES[config.type](config, role, node, data_dir)


class CentralConsumer:
    """The central half: every event from every edge node goes into the store (line counts too).

    The store ignores an event id it already holds, so a replay after a crash or a
    rebalance stores nothing twice. Sightings and alerts are written one transaction per
    batch when the store offers ``add_sightings`` / ``add_alerts``: per polled batch on
    Kafka, per run of queued events on the memory bus.

    Args:
        bus: The bus to consume; subscribe before it starts (`attach`).
        store: Where events go.
        on_alerts: Called on the bus thread with alerts once stored (the live alert feed,
            `vigil.services.alert_feed`, and notifications); a batch that was all replays is not
            passed on. With `group`, only the new alerts of a batch are passed on; without it,
            one partly new is passed whole (the feed skips ids it pushed recently).
        group: Sets each new alert's group before it is stored and leaves out those already
            stored (`vigil.services.alert_groups.AlertGrouper.assign`); None stores alerts as
            they come.
        segments: Indexes the recording segments edge nodes announce (a batch at a time;
            `vigil.infra.db.recordings.RecordingIndex.add_remote_segments`); None ignores them.
        gaps: Records the gaps edge nodes announce (a batch at a time); None ignores them.
    """

    def __init__(
        self,
        bus: Bus,
        store: EventStore,
        on_alerts: Callable[[Sequence[Alert]], object] | None = None,
        group: Callable[[Sequence[Alert]], list[Alert]] | None = None,
        segments: Callable[[Sequence[RecordedSegment]], object] | None = None,
        gaps: Callable[[Sequence[RecordedGap]], object] | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.segments = segments
        self.gaps = gaps
        self.on_alerts = on_alerts
        self.group = group
        self.stored = 0
        """Sightings and alerts newly inserted (replays not counted)."""

    def attach(self) -> None:
        """Subscribe the store to the event topics; call before `bus.start()`."""
        batch_sightings = getattr(self.store, "add_sightings", None)
        batch_alerts = getattr(self.store, "add_alerts", None)
        if isinstance(self.bus, KafkaBus | MemoryBus) and batch_sightings and batch_alerts:
            self.bus.subscribe_batch(Topic.SIGHTINGS, lambda events: self._count(batch_sightings(events)))
            self.bus.subscribe_batch(Topic.ALERTS, lambda events: self._store_alerts(events, batch_alerts))
        else:
            self.bus.subscribe(Topic.SIGHTINGS, lambda event: self._count(self.store.add_sighting(event)))
            self.bus.subscribe(Topic.ALERTS, lambda event: self._store_alerts([event], self._add_each))
        self.bus.subscribe(Topic.CAMERA_HEALTH, self.store.upsert_health)
        self._attach_counts()
        for topic, index in ((Topic.SEGMENTS, self.segments), (Topic.RECORDING_GAPS, self.gaps)):
            if index is not None:
                self._attach_batches(topic, index)

    def _attach_batches(self, topic: Topic, handler: Callable[[Sequence[Any]], object]) -> None:
        if isinstance(self.bus, KafkaBus | MemoryBus):
            self.bus.subscribe_batch(topic, handler)
        else:
            self.bus.subscribe(topic, lambda event: handler([event]))

    def _attach_counts(self) -> None:
        """Line counts go into the store (one transaction per batch); a store without them ignores them."""
        add_counts = getattr(self.store, "add_crossing_counts", None)
        if add_counts is None:
            return
        if isinstance(self.bus, KafkaBus | MemoryBus):
            self.bus.subscribe_batch(Topic.CROSSING_COUNTS, add_counts)
        else:
            self.bus.subscribe(Topic.CROSSING_COUNTS, lambda count: add_counts([count]))

    def _count(self, inserted: bool | int) -> None:
        self.stored += int(inserted)

    def _add_each(self, alerts: Sequence[Alert]) -> int:
        return sum(self.store.add_alert(alert) for alert in alerts)

    def _store_alerts(self, alerts: Sequence[Alert], add: Callable[[Sequence[Alert]], int]) -> None:
        # Grouping reads the stored alerts; a failure here fails the batch, which the bus retries.
        fresh = alerts if self.group is None else self.group(alerts)
        self._alerts(fresh, add(fresh) if fresh else 0)

    def _alerts(self, alerts: Sequence[Alert], inserted: bool | int) -> None:
        self._count(inserted)
        if self.on_alerts is None or not inserted:
            return
        try:
            self.on_alerts(alerts)
        except Exception:
            # They are stored; a failing listener must not make the bus retry the batch.
            log.exception("alert listener failed on %d stored alert(s)", len(alerts))


class EdgeNode:
    """The edge half: runs the cameras Kafka assigns to this node, and only those.

    Args:
        camera_ids: Every camera the edge nodes share (the same list on every node).
        bootstrap_servers: Kafka cluster.
        start_camera: Starts ingest, detection and tracking for one camera.
        stop_camera: Stops it and publishes its open tracks as sightings.
        session_timeout_ms: How long a dead node keeps its cameras before they move.
        group_id: Consumer group of the edge nodes.
        node: Name of this node in broker logs.
        topic: Ownership control topic (one partition per camera).
    """

    def __init__(
        self,
        camera_ids: Iterable[str],
        bootstrap_servers: str,
        *,
        start_camera: Callable[[str], object],
        stop_camera: Callable[[str], object],
        session_timeout_ms: int = 10_000,
        group_id: str = "vigil-edge",
        node: str = "0",
        topic: str = CONTROL_TOPIC,
    ) -> None:
        self._start_camera = start_camera
        self._stop_camera = stop_camera
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self.ownership = CameraOwnership(
            bootstrap_servers,
            camera_ids,
            on_assign=self._assign,
            on_revoke=self._revoke,
            group_id=group_id,
            session_timeout_ms=session_timeout_ms,
            client_id=f"vigil-edge-{node}",
            topic=topic,
        )

    @property
    def running(self) -> frozenset[str]:
        """Cameras this node runs now."""
        with self._lock:
            return frozenset(self._running)

    def start(self) -> None:
        """Join the edge group; cameras start as Kafka assigns them."""
        self.ownership.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every camera and leave the group, so the other nodes take them over at once."""
        self.ownership.stop(timeout)

    def _assign(self, cameras: list[str]) -> None:
        for camera_id in cameras:
            try:
                self._start_camera(camera_id)
            except Exception:
                # The others still start; this one stays owned, idle, until a rebalance moves it.
                log.exception("camera %s could not start on this node", camera_id)
                continue
            with self._lock:
                self._running.add(camera_id)

    def _revoke(self, cameras: list[str]) -> None:
        for camera_id in cameras:
            with self._lock:
                if camera_id not in self._running:
                    continue
                self._running.discard(camera_id)
            try:
                self._stop_camera(camera_id)
            except Exception:
                log.exception("camera %s did not stop cleanly", camera_id)
