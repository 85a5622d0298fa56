"""Camera ownership across edge nodes, decided by Kafka's consumer-group assignment.

Every edge node joins one consumer group on a control topic that has one partition per
camera (partition *i* is the *i*-th camera id in sorted order, so every node running the
same config agrees on the mapping). Kafka assigns the partitions among the live members;
a node runs the cameras whose partitions it holds. When a node dies its session times out
and Kafka hands its partitions — its cameras — to the survivors; when a node joins, the
group rebalances and cameras move back. There is no scheduler or leader election of our own.

The group uses the cooperative-sticky assignor: a rebalance moves only the cameras that
must move, and a camera is revoked from its old owner before it is assigned to the new
one, so two nodes never run the same camera at once and the others keep running.
Nothing is ever written to the control topic; it exists for its partitions.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vigil.core.errors import DependencyError, ValidationError
from vigil.infra.kafka_bus import ensure_topics
from vigil.infra.kafka_group import OutagePoller, await_partitions

log = logging.getLogger(__name__)

CONTROL_TOPIC = "vigil-camera-ownership"
_POLL_TIMEOUT_MS = 100

CamerasCallback = Callable[[list[str]], object]


class CameraOwnership:
    """This node's share of the cameras, kept up to date by Kafka.

    Callbacks run on the ownership thread, one at a time: ``on_revoke`` for cameras this
    node must stop running, ``on_assign`` for cameras it must start. A callback that
    raises is logged; the camera stays owned (Kafka does not know about the failure).

    Kafka's rebalance listener only queues the change: kafka-python 3 runs listeners on the
    consumer's IO loop, so starting or stopping cameras there stalled the heartbeats and got
    the node evicted mid-rebalance (another node then ran its cameras too). The queue is
    applied after each poll returns, before the next one, so a revoked camera is stopped
    before this node rejoins the group and the camera can be handed to another node.

    Args:
        bootstrap_servers: Kafka cluster.
        camera_ids: Every camera that edge nodes share (the same list on every node).
        on_assign: Called with the camera ids this node now owns in addition.
        on_revoke: Called with the camera ids this node no longer owns.
        group_id: Consumer group of the edge nodes.
        topic: Control topic; it gets at least one partition per camera.
        session_timeout_ms: A node silent this long is presumed dead and its cameras
            move. Lowering it speeds failover and risks moving cameras on a GC pause.
        replication_factor: Copies of the control topic's partitions.
        client_id: Name shown in broker logs.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        camera_ids: Iterable[str],
        *,
        on_assign: CamerasCallback,
        on_revoke: CamerasCallback,
        group_id: str = "vigil-edge",
        topic: str = CONTROL_TOPIC,
        session_timeout_ms: int = 10_000,
        replication_factor: int = 1,
        client_id: str = "vigil-edge",
    ) -> None:
        self.cameras: Sequence[str] = sorted(set(camera_ids))
        if not self.cameras:
            raise ValidationError("CameraOwnership: expected at least one camera id, got none")
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topic = topic
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._session_timeout_ms = session_timeout_ms
        self._replication_factor = replication_factor
        self._client_id = client_id
        self._owned: set[str] = set()
        self._owned_lock = threading.Lock()
        self._changes: collections.deque[tuple[bool, set[str]]] = collections.deque()
        """(assigned?, cameras) queued by the rebalance listener, applied by `_apply_changes`."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def owned(self) -> frozenset[str]:
        """Camera ids this node owns now."""
        with self._owned_lock:
            return frozenset(self._owned)

    def start(self) -> None:
        """Create the control topic if needed and join the group; cameras arrive through `on_assign`.

        Raises:
            DependencyError: The brokers do not answer.
        """
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.errors import KafkaError

        ensure_topics(
            self.bootstrap_servers, {self.topic: len(self.cameras)}, self._replication_factor, self._client_id
        )
        await_partitions(self.bootstrap_servers, {self.topic: len(self.cameras)}, client_id=self._client_id)
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self._client_id,
                group_id=self.group_id,
                enable_auto_commit=False,
                session_timeout_ms=self._session_timeout_ms,
                heartbeat_interval_ms=max(100, self._session_timeout_ms // 3),
                partition_assignment_strategy=(CooperativeStickyAssignor,),
            )
        except KafkaError as error:
            raise DependencyError(f"Kafka at {self.bootstrap_servers} does not answer: {error}") from error
        listener = _Listener(self)
        consumer.subscribe([self.topic], listener=listener)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(consumer,), name="ownership", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the group: this node's cameras are revoked here and move to the others at once."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    # -- internals ------------------------------------------------------------------------

    def _run(self, consumer: Any) -> None:
        poller = OutagePoller(self._stop, f"{self.group_id} ownership")
        try:
            while not self._stop.is_set():
                # Nothing is ever written here: polling drives heartbeats and rebalances.
                poller.poll(consumer, _POLL_TIMEOUT_MS)
                # No AssignmentGuard here: more edge nodes than cameras leaves some legitimately
                # idle, and probing the group consumer's metadata upset kafka-python's
                # cooperative protocol (see kafka_group.await_partitions).
                self._apply_changes()
        finally:
            consumer.close(autocommit=False)  # revokes every partition, then leaves the group
            self._apply_changes()
            self._revoke(list(self._owned))

    def _queue(self, assigned: bool, partitions: Iterable[Any]) -> None:
        self._changes.append((assigned, self._cameras(partitions)))

    def _apply_changes(self) -> None:
        while self._changes:
            assigned, cameras = self._changes.popleft()
            if assigned:
                self._assign(cameras)
            else:
                self._revoke(cameras)

    def _cameras(self, partitions: Iterable[Any]) -> set[str]:
        # A control topic with more partitions than cameras (the list shrank) leaves the rest idle.
        return {
            self.cameras[tp.partition]
            for tp in partitions
            if tp.topic == self.topic and tp.partition < len(self.cameras)
        }

    def _assign(self, cameras: Iterable[str]) -> None:
        with self._owned_lock:
            added = sorted(set(cameras) - self._owned)
            self._owned.update(added)
        if added:
            log.info("now own cameras %s", added)
            _call(self._on_assign, added)

    def _revoke(self, cameras: Iterable[str]) -> None:
        with self._owned_lock:
            removed = sorted(set(cameras) & self._owned)
            self._owned.difference_update(removed)
        if removed:
            log.info("gave up cameras %s", removed)
            _call(self._on_revoke, removed)


def _call(callback: CamerasCallback, cameras: list[str]) -> None:
    try:
        callback(cameras)
    except Exception:
        log.exception("camera ownership callback %s failed for %s", callback, cameras)


def _listener_base() -> type:
    from kafka import ConsumerRebalanceListener

    return ConsumerRebalanceListener  # type: ignore[no-any-return]


class _Listener(_listener_base()):  # type: ignore[misc]
    """Translates partition callbacks into camera callbacks (diffed, so eager rebalances work too)."""

    def __init__(self, ownership: CameraOwnership) -> None:
        self._ownership = ownership

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._ownership._queue(False, revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._ownership._queue(True, assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        # Evicted (session expired): another node may already run these cameras; stop at once.
        self._ownership._queue(False, lost)
