"""The in-process event bus: the embedded default between pipeline stages and storage.

Topics and payloads are the same that a Kafka deployment carries (see README,
"Event topics", and `vigil.core.events.Topic`), keyed by camera id.
Delivery is in publish order per bus; handlers run on one dispatcher thread so a
slow database never stalls frame processing, and the queue is bounded so a stalled
database applies back-pressure instead of growing memory without limit.

A handler may publish (the case matcher publishes a case alert when it sees a sighting).
Its events join the same queue in publish order but never wait for room: only the
dispatcher drains the queue, so a handler waiting on a full one would wait forever.
Publishers on other threads wait while the queue holds `capacity` events or more, so the
queue outgrows `capacity` only by what handlers publish.

Batch handlers (`MemoryBus.subscribe_batch`) get every event of their topic that was
waiting in the queue, up to ``max_batch`` at once, so the store writes one transaction
per batch rather than per event; the dispatcher never waits to fill a batch.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], object]
BatchHandler = Callable[[list[Any]], object]


@dataclass(frozen=True)
class Envelope:
    topic: str
    key: str
    event: Any


class MemoryBus:
    """Publish/subscribe within one process.

    Args:
        capacity: Events queued before `publish` blocks (except on the dispatcher thread, where
            it never blocks). Raising it absorbs longer database stalls and holds more memory.
        max_batch: Most events handed to a batch handler at once.
    """

    def __init__(self, capacity: int = 10_000, max_batch: int = 1000) -> None:
        # One sequence for every publisher keeps publish order; None is the stop mark.
        self._queue: deque[Envelope | None] = deque()
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)
        self._capacity = capacity
        self._dispatcher: int | None = None
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._batch_handlers: dict[str, list[BatchHandler]] = defaultdict(list)
        self._max_batch = max_batch
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def subscribe_batch(self, topic: str, handler: BatchHandler) -> None:
        """Call `handler(events)` with the events of `topic` queued together, in publish order.

        For handlers much cheaper per batch than per event, such as one database transaction
        for many sightings. A batch's handlers run before the per-event handlers of its events.
        If a batch fails, its events are retried one at a time, so one bad event is counted,
        logged and skipped without losing the others.
        """
        self._batch_handlers[topic].append(handler)

    def publish(self, topic: str, key: str, event: Any) -> None:
        """Queue an event; blocks while the dispatcher is `capacity` events behind.

        From a handler (the dispatcher thread) it never blocks: the event is queued behind
        everything published before it.
        """
        envelope = Envelope(topic, key, event)
        with self._not_full:
            if threading.get_ident() != self._dispatcher:
                while len(self._queue) >= self._capacity:
                    self._not_full.wait()
            self._queue.append(envelope)
            self._not_empty.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._dispatch, name="bus", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued and what handlers publish meanwhile, then stop."""
        if self._thread is None:
            return
        with self._not_empty:
            self._queue.append(None)  # past `capacity`: stopping must not wait on a stalled handler
            self._not_empty.notify()
        self._thread.join(timeout)
        self._thread = None

    def _dispatch(self) -> None:
        self._dispatcher = threading.get_ident()
        stopping = False
        while True:
            envelopes, stopping = self._take(stopping)
            if not envelopes:
                self._dispatcher = None
                return
            if self._batch_handlers:
                self._deliver_batches(envelopes)
            for envelope in envelopes:
                for handler in self._handlers.get(envelope.topic, ()):
                    self._call(handler, envelope.event, envelope)

    def _take(self, stopping: bool) -> tuple[list[Envelope], bool]:
        """What is queued, up to `max_batch` events, and whether a stop mark was seen.

        Waits for the first event unless stopping; empty only when stopping and nothing is left,
        so what the last events' handlers publish is delivered before the dispatcher stops.
        """
        envelopes: list[Envelope] = []
        with self._not_empty:
            while not self._queue and not stopping:
                self._not_empty.wait()
            while self._queue and len(envelopes) < self._max_batch:
                envelope = self._queue.popleft()
                if envelope is None:
                    stopping = True
                else:
                    envelopes.append(envelope)
            self._not_full.notify_all()  # room for waiting publishers
        return envelopes, stopping

    def _deliver_batches(self, envelopes: list[Envelope]) -> None:
        by_topic: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            if envelope.topic in self._batch_handlers:
                by_topic[envelope.topic].append(envelope)
        for topic, batch in by_topic.items():
            events = [envelope.event for envelope in batch]
            for handler in self._batch_handlers[topic]:
                try:
                    handler(events)
                    self.delivered += len(events)
                except Exception:
                    log.exception("batch handler for %s failed on %d events: one by one", topic, len(events))
                    for envelope in batch:
                        self._call(handler, [envelope.event], envelope)

    def _call(self, handler: Callable[[Any], object], argument: Any, envelope: Envelope) -> None:
        try:
            handler(argument)
            self.delivered += 1
        except Exception:
            # One bad event must not stop storage of the next ones; it is counted and logged.
            self.failed += 1
            log.exception("handler for %s failed on event keyed %s", envelope.topic, envelope.key)
