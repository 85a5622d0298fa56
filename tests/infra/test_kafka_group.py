"""`AssignmentGuard` and `OutagePoller` on a clock and consumer the test controls (no broker)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from kafka.errors import KafkaConnectionError

from vigil.infra.kafka_group import EMPTY_BACKOFF_MAX_S, EMPTY_GRACE_S, AssignmentGuard, OutagePoller


@dataclass
class _Consumer:
    """What the guard reads of a `KafkaConsumer`: its assignment and the topics' partitions."""

    assigned: set[int] = field(default_factory=set)
    partitions: dict[str, set[int]] = field(default_factory=dict)

    def assignment(self) -> set[int]:
        return self.assigned

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)


def _guard(now: list[float], rejoins: list[float]) -> AssignmentGuard:
    return AssignmentGuard(["t"], lambda: rejoins.append(now[0]), clock=lambda: now[0])


@pytest.mark.parametrize(
    ("partitions", "expected_rejoins"),
    [
        ({"t": {0, 1}}, 1),  # partitions exist, none held for the grace period: rebalance
        ({}, 0),  # the topic is unknown: nothing a rebalance could assign
        ({"t": set()}, 0),  # known but without partitions: likewise
    ],
)
def test_rejoins_only_when_there_is_something_to_hold(
    partitions: dict[str, set[int]], expected_rejoins: int
) -> None:
    now, rejoins = [0.0], []
    guard, consumer = _guard(now, rejoins), _Consumer(partitions=partitions)
    guard.check(consumer)
    now[0] = EMPTY_GRACE_S - 0.1
    guard.check(consumer)
    assert rejoins == []  # still within the grace period
    now[0] = EMPTY_GRACE_S
    guard.check(consumer)
    assert len(rejoins) == expected_rejoins == guard.rejoins


def test_pauses_double_up_to_the_cap_and_reset_once_assigned() -> None:
    now, rejoins = [0.0], []
    guard, consumer = _guard(now, rejoins), _Consumer(partitions={"t": {0}})
    guard.check(consumer)
    for _ in range(400):  # 200 s, one look every half second
        now[0] += 0.5
        guard.check(consumer)
    pauses = [b - a for a, b in zip([0.0, *rejoins], rejoins, strict=False)]
    assert pauses[:4] == [EMPTY_GRACE_S, 2 * EMPTY_GRACE_S, 4 * EMPTY_GRACE_S, 8 * EMPTY_GRACE_S]
    assert max(pauses) == EMPTY_BACKOFF_MAX_S
    consumer.assigned = {0}
    guard.check(consumer)
    consumer.assigned = set()
    count = len(rejoins)
    guard.check(consumer)
    now[0] += EMPTY_GRACE_S
    guard.check(consumer)
    assert len(rejoins) == count + 1  # back to the first pause after holding something


class _FlakyConsumer:
    """Raises like kafka-python 3 does while the coordinator cannot be found, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.polls = 0

    def poll(self, timeout_ms: int) -> dict[str, list[int]]:
        self.polls += 1
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("socket disconnected")
        return {"t-0": [1, 2]}


def test_outage_poller_keeps_polling_through_broker_errors() -> None:
    stop, consumer = threading.Event(), _FlakyConsumer(failures=3)
    waits: list[float] = []
    stop.wait = lambda timeout=None: bool(waits.append(timeout or 0.0))  # type: ignore[method-assign]
    poller = OutagePoller(stop, "test consumer")
    results = [poller.poll(consumer, 100) for _ in range(4)]
    assert results == [{}, {}, {}, {"t-0": [1, 2]}]  # the loop never died; the fourth poll delivers
    assert poller.errors == 3 and waits == [0.1, 0.2, 0.4]  # backing off between failed polls


def test_outage_poller_lets_other_errors_through() -> None:
    class Broken:
        def poll(self, timeout_ms: int) -> None:
            raise RuntimeError("a bug, not an outage")

    with pytest.raises(RuntimeError, match="a bug"):
        OutagePoller(threading.Event(), "test").poll(Broken(), 100)
