"""Joining a Kafka consumer group only once its topics have partitions, and noticing when it got none.

The start-up race this closes: a consumer that subscribes while the broker does not yet
list its topics' partitions (just created by this node or another, metadata not yet
propagated) joins a group whose leader assigns it nothing ("No partition metadata for
topic ..."). kafka-python rejoins when a later metadata refresh shows the partitions, but
nothing guarantees that refresh comes before events are due, and a group formed that way
has been seen to sit on zero partitions while 10,000 events waited. So:

- `await_partitions` blocks before ``subscribe`` until the brokers list every partition of
  every topic the consumer will subscribe to (or fails loudly after a timeout);
- `AssignmentGuard` watches the poll loop: a member holding no partition while its topics
  have some asks the group to rebalance, with a growing pause, and logs each time;
- `OutagePoller` keeps the poll loop alive while the brokers are away: kafka-python 3 raises
  from ``poll`` when it cannot find the group coordinator, and a consumer thread that died
  on that stored nothing more (the fault test once lost all 10,000 sightings that way).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from vigil.core.errors import DependencyError

log = logging.getLogger(__name__)

PARTITIONS_TIMEOUT_S = 60.0
"""How long a consumer waits for its topics' partitions before start fails."""
EMPTY_GRACE_S = 5.0
"""Least time a member holds no partition before it asks for a rebalance (callers pass
about two session timeouts: a rebalance in progress under load can take that long)."""
EMPTY_BACKOFF_MAX_S = 60.0
"""Longest pause between such requests (more members than partitions is legitimate)."""
OUTAGE_BACKOFF_MAX_S = 5.0
"""Longest pause between polls while the brokers do not answer."""
OUTAGE_LOG_EVERY_S = 30.0
"""While an outage lasts, one warning this often (not one per failed poll)."""


def await_partitions(
    bootstrap_servers: str,
    expected: Mapping[str, int],
    timeout_s: float = PARTITIONS_TIMEOUT_S,
    client_id: str = "vigil",
) -> None:
    """Block until the brokers list at least `expected[topic]` partitions of each topic.

    Asks through a short-lived consumer of its own, outside any group: forcing a full
    metadata fetch on the group consumer itself (``topics()``) before it subscribed left
    kafka-python 3's cooperative group stuck in a later rebalance (edge fault test, 1 in 3).

    Args:
        bootstrap_servers: The cluster the group consumer will use.
        expected: Partitions each topic must show (what `ensure_topics` asked for).
        timeout_s: Give up after this long.
        client_id: Prefix of the probe's client id in broker logs.

    Raises:
        DependencyError: A topic still lacks partitions after `timeout_s`; says which.
    """
    probe = KafkaConsumer(bootstrap_servers=bootstrap_servers, client_id=f"{client_id}-probe")
    try:
        _await_partitions(probe, expected, timeout_s)
    finally:
        probe.close()


def _await_partitions(consumer: Any, expected: Mapping[str, int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pause = 0.05
    while True:
        consumer.topics()  # always a remote call: refreshes the consumer's own metadata cache
        have = {topic: len(consumer.partitions_for_topic(topic) or ()) for topic in expected}
        missing = {topic: (have[topic], count) for topic, count in expected.items() if have[topic] < count}
        if not missing:
            return
        if time.monotonic() > deadline:
            shown = ", ".join(
                f"{topic} has {have} of {want}" for topic, (have, want) in sorted(missing.items())
            )
            raise DependencyError(
                f"Kafka topics have no partitions after {timeout_s:.0f} s ({shown}): "
                "is the broker healthy and does it let this client create and describe topics?"
            )
        time.sleep(pause)
        pause = min(1.0, pause * 2)


class AssignmentGuard:
    """Asks the group to rebalance while this member holds no partition but its topics have some.

    Call `check` from the poll loop after each ``poll``. Eager or cooperative rebalances
    both work: the check reads ``consumer.assignment()`` only.

    Args:
        topics: The Kafka topics the consumer subscribed to.
        rejoin: Makes the member rejoin the group (e.g. unsubscribe, then subscribe again).
        grace_s: How long it may hold nothing before the first request; doubles after each.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        topics: Sequence[str],
        rejoin: Callable[[], object],
        grace_s: float = EMPTY_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topics = list(topics)
        self._rejoin = rejoin
        self._clock = clock
        self._grace = max(EMPTY_GRACE_S, grace_s)
        self._empty_since: float | None = None
        self._wait = self._grace
        self.rejoins = 0
        """Rebalances this guard asked for."""

    def check(self, consumer: Any) -> None:
        """Rejoin when the member has held nothing for the current wait while its topics have partitions."""
        if consumer.assignment():
            self._empty_since, self._wait = None, self._grace
            return
        now = self._clock()
        if self._empty_since is None:
            self._empty_since = now
            return
        if now - self._empty_since < self._wait:
            return
        available = sum(len(consumer.partitions_for_topic(topic) or ()) for topic in self._topics)
        if available == 0:
            return  # nothing to be assigned: topics without partitions are await_partitions' failure
        self.rejoins += 1
        log.warning(
            "consumer holds none of %d partitions of %s after %.0f s: asking the group to rebalance "
            "(more members than partitions would explain it; otherwise the group formed before the "
            "partitions were known)",
            available,
            ", ".join(self._topics),
            now - self._empty_since,
        )
        self._rejoin()
        self._empty_since = now
        self._wait = min(EMPTY_BACKOFF_MAX_S, self._wait * 2)


def resubscribe(consumer: Any, topics: Sequence[str]) -> Callable[[], None]:
    """A `rejoin` for `AssignmentGuard`: a new subscription makes kafka-python rejoin the group."""

    def rejoin() -> None:
        consumer.unsubscribe()
        consumer.subscribe(list(topics))

    return rejoin


class OutagePoller:
    """``consumer.poll`` that survives the brokers going away: back off, log, and poll again.

    Args:
        stop: Set when the loop must end; the back-off waits on it.
        name: What is polling, for the log (``central consumer``).
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(self, stop: threading.Event, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._stop = stop
        self._name = name
        self._clock = clock
        self._pause = 0.0
        self._since: float | None = None
        self._logged = -OUTAGE_LOG_EVERY_S
        self.errors = 0
        """Polls that raised (the brokers did not answer); each was retried."""

    def poll(self, consumer: Any, timeout_ms: int) -> Mapping[Any, Sequence[Any]]:
        """What one poll returned; empty after a failed poll (once the back-off has passed)."""
        try:
            polled: Mapping[Any, Sequence[Any]] = consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as error:
            self._failed(error)
            return {}
        if self._since is not None:
            log.warning("%s: brokers answer again after %.0f s", self._name, self._clock() - self._since)
            self._since, self._pause = None, 0.0
        return polled

    def _failed(self, error: KafkaError) -> None:
        self.errors += 1
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._logged >= OUTAGE_LOG_EVERY_S:
            self._logged = now
            log.warning(
                "%s: poll failed (%s: %s), retrying; nothing is skipped, offsets stay uncommitted",
                self._name,
                type(error).__name__,
                error,
            )
        self._pause = min(OUTAGE_BACKOFF_MAX_S, max(0.1, self._pause * 2))
        self._stop.wait(self._pause)
