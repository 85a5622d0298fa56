"""`KafkaBus`: the event bus on Apache Kafka, for a site that outgrows one machine.

Same contract as `vigil.infra.bus.MemoryBus` — ``subscribe(topic, handler)``,
``publish(topic, key, event)``, ``start()``, ``stop()`` — and the same events: each
one travels as a `vigil.core.events` envelope (versioned JSON), keyed by camera id, so one
camera's events keep their order within their partition.

Delivery is at-least-once with exactly-once effects where it matters:

- the producer waits for every in-sync replica (``acks=all``), retries until its
  delivery timeout, and is idempotent, so a retry never writes a message twice;
- the consumer commits a partition's offsets only after every handler has returned for
  every event polled, and retries a failing handler (the database is down) instead of
  skipping the event; a crash between storing and committing replays events on restart;
- handlers must therefore be idempotent: the store ignores a sighting or alert whose
  id it already holds (`Store.add_sighting` returns False), and the event id is the
  sighting's / alert's own id.

With a ``spool`` (edge nodes) every published event is first written to a bounded
on-disk buffer and sent from there in order by one thread (`vigil.infra.spool_sender`),
so a broker outage of minutes, or a restart of the node during one, loses nothing and
sends nothing twice; without one, an event the brokers do not take within two minutes
is logged and lost (``publish_failed``).

Transport stays here: handlers see `vigil.core.types` dataclasses only.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vigil.core.errors import DependencyError, ServiceError, ValidationError
from vigil.core.events import Event, Topic, topic_of, wrap
from vigil.infra.codec import decode, encode
from vigil.infra.kafka_group import AssignmentGuard, OutagePoller, await_partitions, resubscribe
from vigil.infra.spool import Spool, SpoolStats
from vigil.infra.spool_sender import SendFuture, SpoolSender

log = logging.getLogger(__name__)

Handler = Callable[[Any], object]
BatchHandler = Callable[[list[Any]], object]

_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_POLL_TIMEOUT_MS = 100  # bounds how long `stop` waits for the consumer thread
_METADATA_MAX_AGE_MS = 5_000
_DELIVERY_TIMEOUT_MS = 120_000
_SPOOLED_DELIVERY_TIMEOUT_MS = 2**31 - 1  # ~25 days: with a spool the producer retries, never gives up
_SPOOLED_MAX_BLOCK_MS = 5_000  # the spool's sender thread stays responsive to stop


def ensure_topics(
    bootstrap_servers: str, partitions: Mapping[str, int], replication_factor: int, client_id: str
) -> None:
    """Create missing topics and grow ones with fewer partitions than asked; never shrinks.

    Several nodes may call this at once: a topic another node has just created is fine.

    Raises:
        DependencyError: The brokers do not answer.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=f"{client_id}-admin")
    except KafkaError as error:
        raise DependencyError(f"Kafka at {bootstrap_servers} does not answer: {error}") from error
    try:
        existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics() if not t["error_code"]}
        missing = {name: count for name, count in partitions.items() if name not in existing}
        if missing:
            spec = {
                name: {"num_partitions": n, "replication_factor": replication_factor}
                for name, n in missing.items()
            }
            result = admin.create_topics(spec, raise_errors=False, wait_for_metadata=True)
            for topic in result.get("topics", []):
                if topic["error_code"] not in (0, _TOPIC_EXISTS):
                    raise DependencyError(
                        f"Kafka refused to create topic {topic['name']!r}: error {topic['error_code']} "
                        f"{topic.get('error_message') or ''}"
                    )
        grow = {name: count for name, count in partitions.items() if existing.get(name, count) < count}
        if grow:
            admin.create_partitions(grow)
            log.info("grew partitions: %s", grow)
    finally:
        admin.close()


class KafkaBus:
    """Publish/subscribe through a Kafka cluster.

    Args:
        bootstrap_servers: ``host:port[,host:port...]`` of the cluster.
        group_id: Consumer group of this process's subscriptions, one per role
            (``vigil-central``); every member of a group gets a share of the partitions.
        client_id: Name shown in broker logs and metrics.
        partitions: Partitions of each event topic when Vigil creates it. Raising it lets
            more central consumers share the load; one camera always maps to one partition.
        replication_factor: Copies of each partition (3 on a production cluster).
        linger_ms: How long the producer waits to fill a batch. Raising it batches more
            (throughput) at the cost of latency.
        max_poll_records: Events handled and committed together. Raising it amortises
            commits and database transactions; a crash replays at most this many per partition.
        session_timeout_ms: A consumer silent this long is presumed dead and its
            partitions move to the other members of the group.
        fetch_max_wait_ms: Longest a fetch waits for data; bounds delivery latency when idle.
        retry_backoff_s: Pause before retrying a failing handler.
        topic_prefix: Prepended to every Kafka topic name (``site-a.sightings``), so that
            several sites or test runs can share one cluster.
        spool: On-disk buffer every published event goes through (see module docstring);
            the bus closes it on `stop`. None sends straight to the producer.
        spool_window: With a spool, events handed to the producer and not yet
            acknowledged, at most. Raising it drains a backlog faster over a slow link.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str = "vigil-central",
        client_id: str = "vigil",
        partitions: int = 12,
        replication_factor: int = 1,
        linger_ms: int = 5,
        max_poll_records: int = 1000,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 100,
        retry_backoff_s: float = 1.0,
        topic_prefix: str = "",
        spool: Spool | None = None,
        spool_window: int = 2000,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.client_id = client_id
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._linger_ms = linger_ms
        self._max_poll_records = max_poll_records
        self._session_timeout_ms = session_timeout_ms
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._retry_backoff_s = retry_backoff_s
        self.topic_prefix = topic_prefix
        self._handlers: dict[Topic, list[Handler]] = defaultdict(list)
        self._batch_handlers: dict[Topic, list[BatchHandler]] = defaultdict(list)
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.published = 0
        """Events the brokers acknowledged."""
        self._publish_failed = 0
        self._spool = (
            SpoolSender(spool, self._send_spooled, window=spool_window) if spool is not None else None
        )
        self.delivered = 0
        """Events handed to handlers that returned."""
        self.failed = 0
        """Handler failures; each is retried until it succeeds or the bus stops."""
        self.rejected = 0
        """Messages that were not valid events; logged and skipped."""
        self._poller: OutagePoller | None = None

    @property
    def publish_failed(self) -> int:
        """Events the producer gave up on (logged): after its delivery timeout, or with a spool
        only those the brokers rejected for good."""
        return self._publish_failed + (self._spool.failed if self._spool is not None else 0)

    def buffer_stats(self) -> SpoolStats | None:
        """Fill and counters of the on-disk buffer; None without a spool."""
        return self._spool.stats() if self._spool is not None else None

    @property
    def poll_errors(self) -> int:
        """Polls that raised because the brokers did not answer; each was retried."""
        return self._poller.errors if self._poller is not None else 0

    # -- MemoryBus contract ---------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler(event)` for every event on `topic`; register before `start`."""
        self._handlers[topic_of(topic)].append(handler)

    def subscribe_batch(self, topic: str, handler: BatchHandler) -> None:
        """Call `handler(events)` once per polled batch of `topic` (as `MemoryBus.subscribe_batch`).

        For handlers that are much cheaper per batch than per event, such as one
        database transaction for a thousand sightings. Offsets are committed after it returns.
        """
        self._batch_handlers[topic_of(topic)].append(handler)

    def publish(self, topic: str, key: str, event: Event) -> None:
        """Send an event. With a spool it is written behind the spooled events and never
        blocks (a full spool refuses it: counted in ``buffer_stats().dropped``, logged once).

        Raises:
            ServiceError: The bus is not started.
            ValidationError: The event does not belong on the topic.
        """
        if self._producer is None:
            raise ServiceError("KafkaBus.publish: the bus is not started")
        envelope = wrap(topic, event)
        if self._spool is not None:
            self._spool.publish(self._kafka_topic(envelope.topic), key.encode(), encode(envelope))
            return
        future = self._producer.send(
            self._kafka_topic(envelope.topic), key=key.encode(), value=encode(envelope)
        )
        future.add_callback(self._on_sent)
        future.add_errback(self._on_send_failed, envelope.topic, key, envelope.event_id)

    def start(self) -> None:
        """Create missing topics, connect the producer and start consuming subscribed topics.

        Raises:
            DependencyError: kafka-python is missing or the brokers do not answer.
        """
        try:
            from kafka import KafkaProducer
            from kafka.errors import KafkaError
        except ImportError as error:
            raise DependencyError(
                "the Kafka bus needs kafka-python: pip install 'kafka-python>=3.0'"
            ) from error
        ensure_topics(
            self.bootstrap_servers,
            {self._kafka_topic(topic): self.partitions for topic in Topic},
            self.replication_factor,
            self.client_id,
        )
        try:
            self._producer = self._start_producer(KafkaProducer)
        except KafkaError as error:
            raise DependencyError(f"Kafka at {self.bootstrap_servers} does not answer: {error}") from error
        topics = sorted({*self._handlers, *self._batch_handlers})
        if topics:
            consumer, guard = self._consumer(topics)
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._consume, args=(consumer, guard), name="kafka-bus", daemon=True
            )
            self._thread.start()
        log.info(
            "Kafka bus on %s: consuming %s as %s", self.bootstrap_servers, topics or "nothing", self.group_id
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is buffered, finish and commit the batch in hand, leave the group.

        With a spool, waits up to `timeout` for it to drain; what the brokers have not
        acknowledged by then stays in the spool and is sent after the next start.
        """
        if self._spool is not None and self._producer is not None:
            drained = self._spool.flush(timeout)
            self._spool.stop(timeout)
            # Not drained: the brokers are away, the records stay spooled; do not wait again.
            self._close_producer(timeout if drained else 0.0)
        elif self._producer is not None:
            self._close_producer(timeout)
        if self._spool is not None:
            self._spool.close()
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every published event is acknowledged or has failed.

        Returns:
            False if a spool still held events when `timeout` ran out.
        """
        if self._spool is not None:
            return self._spool.flush(timeout)
        if self._producer is not None:
            self._producer.flush(timeout=timeout)
        return True

    # -- internals ------------------------------------------------------------------------

    def _kafka_topic(self, topic: Topic) -> str:
        return self.topic_prefix + topic.value

    def _start_producer(self, factory: Any) -> Any:
        """The idempotent producer; with a spool it never gives up on a record and its sender starts."""
        spooled = self._spool is not None
        producer = factory(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-producer",
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,  # bounded by delivery_timeout_ms, not by count
            delivery_timeout_ms=_SPOOLED_DELIVERY_TIMEOUT_MS if spooled else _DELIVERY_TIMEOUT_MS,
            max_block_ms=_SPOOLED_MAX_BLOCK_MS if spooled else 60_000,
            linger_ms=self._linger_ms,
            batch_size=256 * 1024,
        )
        if self._spool is not None:
            from kafka import errors

            for topic in Topic:  # metadata now, while the brokers answer: send then never waits for it
                producer.partitions_for(self._kafka_topic(topic))
            self._spool.permanent = (
                errors.MessageSizeTooLargeError,
                errors.RecordListTooLargeError,
                errors.InvalidTopicError,
                errors.InvalidRecordError,
                errors.AuthorizationError,
            )
            self._producer = producer
            self._spool.start()
        return producer

    def _send_spooled(self, topic: str, key: bytes, value: bytes) -> SendFuture:
        future: SendFuture = self._producer.send(topic, key=key, value=value)
        future.add_callback(self._on_sent)
        return future

    def _close_producer(self, timeout: float) -> None:
        from kafka.errors import KafkaError

        producer, self._producer = self._producer, None
        try:
            producer.flush(timeout=timeout)
            producer.close(timeout=timeout)
        except KafkaError as error:
            # close() flushes first and raises before it would force-close its I/O thread.
            log.warning("Kafka producer closed with events unacknowledged: %s", error)
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()

    def _on_sent(self, _metadata: object) -> None:
        with self._lock:
            self.published += 1

    def _on_send_failed(self, topic: Topic, key: str, event_id: str, error: BaseException) -> None:
        with self._lock:
            self._publish_failed += 1
        log.error("event %s on %s keyed %s was not delivered: %s", event_id, topic.value, key, error)

    def _consumer(self, topics: Sequence[Topic]) -> tuple[Any, AssignmentGuard]:
        """A consumer subscribed only once the brokers list every partition of its topics."""
        from kafka import KafkaConsumer

        names = [self._kafka_topic(topic) for topic in topics]
        await_partitions(
            self.bootstrap_servers, dict.fromkeys(names, self.partitions), client_id=self.client_id
        )
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-consumer",
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_poll_records,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(100, self._session_timeout_ms // 3),
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            # Partitions added later (ensure_topics grows topics) are seen within seconds
            # rather than at the 5-minute default.
            metadata_max_age_ms=_METADATA_MAX_AGE_MS,
        )
        consumer.subscribe(names)
        grace_s = 2 * self._session_timeout_ms / 1000
        return consumer, AssignmentGuard(names, resubscribe(consumer, names), grace_s=grace_s)

    def _consume(self, consumer: Any, guard: AssignmentGuard) -> None:
        from kafka.errors import KafkaError

        poller = self._poller = OutagePoller(self._stop, f"{self.group_id} consumer")
        try:
            while not self._stop.is_set():
                polled = poller.poll(consumer, _POLL_TIMEOUT_MS)
                guard.check(consumer)
                if not polled:
                    continue
                if not self._handle(polled):
                    return  # stopping mid-retry: leave the batch uncommitted, it is replayed
                try:
                    consumer.commit()
                except KafkaError as error:
                    # The batch is stored; it will be replayed and deduplicated by event id.
                    log.warning("offset commit failed, events will be replayed: %s", error)
        except Exception:
            log.exception("Kafka consumer stopped on an unexpected error")
            raise
        finally:
            consumer.close(autocommit=False)

    def _handle(self, polled: Mapping[Any, Sequence[Any]]) -> bool:
        """Run the handlers over one poll; False if the bus stopped before they all succeeded."""
        by_topic: dict[Topic, list[Any]] = defaultdict(list)
        for partition, records in polled.items():
            topic = Topic(partition.topic.removeprefix(self.topic_prefix))
            for record in records:
                try:
                    by_topic[topic].append(decode(record.value, topic).event)
                except ValidationError as error:
                    self.rejected += 1
                    log.warning(
                        "skipped %s[%d]@%d: %s", topic.value, partition.partition, record.offset, error
                    )
        return all(self._retry(topic, events) for topic, events in by_topic.items())

    def _retry(self, topic: Topic, events: list[Any]) -> bool:
        while True:
            try:
                for batch_handler in self._batch_handlers.get(topic, []):
                    batch_handler(events)
                for handler in self._handlers.get(topic, []):
                    for event in events:
                        handler(event)
                self.delivered += len(events)
                return True
            except Exception:
                # Skipping would lose the events; the handlers are idempotent, so run them all again.
                self.failed += 1
                log.exception("handler for %s failed on %d events; retrying", topic.value, len(events))
                if self._stop.wait(self._retry_backoff_s):
                    return False
