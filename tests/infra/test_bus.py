"""The in-process bus: publish order, back-pressure, batch handlers, handlers that publish."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.kafka.workers import make_sighting
from vigil.core.events import Topic
from vigil.core.types import Sighting
from vigil.infra.bus import MemoryBus


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_memory_bus_batches_before_per_event_handlers_and_isolates_a_bad_event() -> None:
    bus = MemoryBus()
    calls: list[tuple[str, int]] = []

    def store(events: list[object]) -> None:
        if any(isinstance(event, Sighting) and event.tracker_id == 13 for event in events):
            raise RuntimeError("bad event")
        calls.append(("batch", len(events)))

    bus.subscribe_batch(Topic.SIGHTINGS, store)
    bus.subscribe(Topic.SIGHTINGS, lambda s: calls.append(("event", s.tracker_id)))
    sent = [make_sighting("cam1", i, 1_000.0 + i) for i in range(20)]
    for sighting in sent:
        bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting)
    bus.start()  # everything is queued: one batch
    bus.stop()
    batched = sum(n for kind, n in calls if kind == "batch")
    assert batched == 19 and bus.failed == 1  # only the bad one is lost to the batch handler
    assert [n for kind, n in calls if kind == "event"] == list(range(20))  # publish order
    assert calls.index(("event", 0)) > max(i for i, (kind, _) in enumerate(calls) if kind == "batch")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("before_start", "capacity", "fan_out"),
    [
        (2, 2, 3),  # the queue is full when the dispatcher starts: the first handler's publish would wait
        (0, 1, 5),  # published while running, one slot: every handler publish finds the queue full
        (0, 4, 1),  # one event per event, racing a publisher on another thread for the slots
    ],
)
def test_a_handler_publishing_onto_a_full_queue_does_not_deadlock(
    before_start: int, capacity: int, fan_out: int
) -> None:
    bus = MemoryBus(capacity=capacity, max_batch=capacity)
    received: list[tuple[str, int, int]] = []
    sources = 12

    def match(seq: int) -> None:  # like the case matcher: a sighting in, alerts out
        received.append(("in", seq, -1))
        for k in range(fan_out):
            bus.publish("out", "cam1", (seq, k))

    bus.subscribe("in", match)
    bus.subscribe("out", lambda event: received.append(("out", *event)))
    for seq in range(before_start):
        bus.publish("in", "cam1", seq)
    bus.start()
    publisher = threading.Thread(
        target=lambda: [bus.publish("in", "cam1", seq) for seq in range(before_start, sources)], daemon=True
    )
    publisher.start()
    expected = sources * (1 + fan_out)
    assert _wait_until(lambda: len(received) == expected), f"{len(received)} of {expected}: deadlocked"
    publisher.join(5)
    bus.stop()
    assert [seq for topic, seq, _ in received if topic == "in"] == list(range(sources))
    outs = [(seq, k) for topic, seq, k in received if topic == "out"]
    assert outs == [(seq, k) for seq in range(sources) for k in range(fan_out)]  # publish order
    # An alert follows the sighting that caused it.
    assert all(received.index(("out", seq, 0)) > received.index(("in", seq, -1)) for seq in range(sources))


@pytest.mark.timeout(20)
def test_external_publishers_wait_for_room() -> None:
    bus = MemoryBus(capacity=3, max_batch=1)
    gate = threading.Event()
    received: list[int] = []
    sent = 0

    def slow_store(event: int) -> None:
        gate.wait(10)
        received.append(event)

    def publish_all() -> None:
        nonlocal sent
        for seq in range(10):
            bus.publish("in", "cam1", seq)
            sent += 1

    bus.subscribe("in", slow_store)
    bus.start()
    publisher = threading.Thread(target=publish_all, daemon=True)
    publisher.start()
    # One event in the stalled handler, `capacity` queued; the publisher waits on the fifth.
    assert _wait_until(lambda: sent == 4)
    time.sleep(0.2)
    assert sent == 4 and publisher.is_alive()
    gate.set()
    publisher.join(5)
    bus.stop()
    assert received == list(range(10))


@pytest.mark.timeout(20)
def test_stop_delivers_what_handlers_publish_meanwhile() -> None:
    bus = MemoryBus()
    entered, gate = threading.Event(), threading.Event()
    received: list[str] = []

    def match(event: str) -> None:
        entered.set()
        gate.wait(10)  # stop() is called while this handler runs
        bus.publish("alerts", "cam1", f"alert for {event}")

    bus.subscribe("sightings", match)
    bus.subscribe("alerts", received.append)
    bus.start()
    bus.publish("sightings", "cam1", "s1")  # e.g. the last sighting flushed at shutdown
    assert entered.wait(5)
    stopper = threading.Thread(target=bus.stop)
    stopper.start()
    time.sleep(0.2)  # the stop mark is queued before the handler publishes
    gate.set()
    stopper.join(10)
    assert received == ["alert for s1"]
