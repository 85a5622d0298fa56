"""The in-process event bus: the embedded default between pipeline stages and storage.

Topics and payloads are the same that a Kafka deployment carries (see README,
"Event topics"): ``sightings``, ``alerts`` and ``camera-health``, keyed by camera id.
Delivery is in publish order per bus; handlers run on one dispatcher thread so a
slow database never stalls frame processing, and the queue is bounded so a stalled
database applies back-pressure instead of growing memory without limit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], object]

SIGHTINGS = "sightings"
SIGHTING_UPDATES = "sighting-updates"
ALERTS = "alerts"
CAMERA_HEALTH = "camera-health"


@dataclass(frozen=True)
class Envelope:
    topic: str
    key: str
    event: Any


class MemoryBus:
    """Publish/subscribe within one process."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._queue: queue.Queue[Envelope | None] = queue.Queue(maxsize=capacity)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def publish(self, topic: str, key: str, event: Any) -> None:
        """Queue an event; blocks when the dispatcher is `capacity` events behind."""
        self._queue.put(Envelope(topic, key, event))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._dispatch, name="bus", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _dispatch(self) -> None:
        while (envelope := self._queue.get()) is not None:
            for handler in self._handlers.get(envelope.topic, []):
                try:
                    handler(envelope.event)
                    self.delivered += 1
                except Exception:
                    # One bad event must not stop storage of the next ones; it is counted and logged.
                    self.failed += 1
                    log.exception("handler for %s failed on event keyed %s", envelope.topic, envelope.key)
