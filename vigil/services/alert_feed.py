"""`AlertFeed`: the live alert feed, fanned out in-process to every subscriber (``/alerts/live``).

Two kinds of events go in: every new alert the central consumer stores (`publish_alerts`,
called on the bus thread) and every triage action (`publish_triage`, called by the API after
the action is committed). Each subscriber has its own bounded queue; a subscriber that falls
`max_queue` events behind is dropped (its `Subscription.dropped` turns True and it gets
nothing more), so one slow client never blocks the bus or the other clients. The dropped
client reconnects and reloads ``GET /alerts``.

Publishing never blocks and never raises into the publisher: a failing wake-up callback is
logged and its subscriber dropped.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.core.types import Alert
from vigil.infra.db.alerts import Triage, TriagedAlert

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 256
"""Events a subscriber may fall behind before it is dropped. Raising it tolerates slower clients
for longer, at the cost of memory per client and staler pushes before the drop."""
_RECENT_IDS = 4096  # new-alert ids remembered, so a replayed batch is not pushed twice


class FeedKind(enum.StrEnum):
    ALERT = "alert"
    """A new alert was stored."""
    TRIAGE = "triage"
    """An alert's triage state changed."""


@dataclass(frozen=True)
class FeedEvent:
    kind: FeedKind
    item: TriagedAlert


class Subscription:
    """One subscriber's queue. Read it with `drain`; `close` it when done.

    Args:
        feed: The feed it is subscribed to.
        max_queue: Events it may hold before it is dropped.
        wake: Called (on the publisher's thread) after each event is queued; must not block.
    """

    def __init__(self, feed: AlertFeed, max_queue: int, wake: Callable[[], None]) -> None:
        self._feed = feed
        self._max_queue = max_queue
        self._wake = wake
        self._queue: deque[FeedEvent] = deque()
        self._lock = threading.Lock()
        self.dropped = False
        """True once it fell `max_queue` events behind: the feed no longer serves it."""

    def drain(self) -> list[FeedEvent]:
        """Every queued event, oldest first (empty if none)."""
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
        return events

    def close(self) -> None:
        """Unsubscribe; safe to call twice."""
        self._feed._remove(self)  # noqa: SLF001 - the feed and its subscriptions are one unit

    def _offer(self, event: FeedEvent) -> bool:
        """Queue an event and wake the reader; False when the subscriber is too far behind."""
        with self._lock:
            if self.dropped:
                return False
            if len(self._queue) >= self._max_queue:
                self.dropped = True
                self._queue.clear()
            else:
                self._queue.append(event)
        try:
            self._wake()  # a dropped subscriber is woken too, to see it was dropped
        except Exception:
            logger.exception("alert feed: a subscriber's wake-up failed; dropping it")
            self.dropped = True
        return not self.dropped


class AlertFeed:
    """In-process fan-out of new alerts and triage changes. Thread-safe.

    Args:
        max_queue: Per-subscriber queue bound (`DEFAULT_MAX_QUEUE`).
    """

    def __init__(self, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError(f"AlertFeed: max_queue expected >= 1, got {max_queue}")
        self.max_queue = max_queue
        self._subscriptions: list[Subscription] = []
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0
        """Subscribers dropped for falling behind, since start."""

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def subscribe(self, wake: Callable[[], None]) -> Subscription:
        """A new subscription; `wake` is called on the publisher's thread after each queued event."""
        subscription = Subscription(self, self.max_queue, wake)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def publish_alerts(self, alerts: Sequence[Alert]) -> None:
        """New alerts, as the central consumer stored them; an id pushed recently is skipped."""
        for alert in alerts:
            with self._lock:
                if alert.id in self._recent:
                    continue
                self._recent[alert.id] = None
                if len(self._recent) > _RECENT_IDS:
                    self._recent.popitem(last=False)
            self.publish(FeedEvent(FeedKind.ALERT, TriagedAlert(alert, Triage())))

    def publish_triage(self, item: TriagedAlert) -> None:
        """An alert's new triage state, once the action is committed."""
        self.publish(FeedEvent(FeedKind.TRIAGE, item))

    def publish(self, event: FeedEvent) -> None:
        """Queue `event` for every subscriber; those too far behind are dropped."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        behind = [s for s in subscriptions if not s._offer(event)]  # noqa: SLF001
        if behind:
            with self._lock:
                for subscription in behind:
                    if subscription in self._subscriptions:
                        self._subscriptions.remove(subscription)
                        self.dropped += 1
            logger.warning("alert feed: dropped %d subscriber(s) too far behind", len(behind))

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
