"""KafkaBus keeps MemoryBus's contract: the same events arrive, in order per camera."""

from __future__ import annotations

import pytest

from tests.kafka.conftest import Broker
from tests.kafka.helpers import unique, wait_until
from tests.kafka.workers import make_sighting
from vigil.core.events import Command, CommandAction, Event, Topic
from vigil.core.types import (
    Alert,
    AlertKind,
    CameraHealth,
    CrossingCount,
    HealthState,
    RecordedGap,
    RecordedSegment,
)
from vigil.infra.bus import MemoryBus
from vigil.infra.kafka_bus import KafkaBus

pytestmark = pytest.mark.kafka

EVENTS: list[tuple[Topic, Event]] = [
    (Topic.SIGHTINGS, make_sighting("cam1", 1, 1_000.0)),
    (Topic.SIGHTING_UPDATES, make_sighting("cam1", 3, 1_000.0)),
    (Topic.ALERTS, Alert(AlertKind.ZONE_INTRUSION, "gate", "cam2", 1_000.0, "person in gate", 3, "gate")),
    (Topic.CAMERA_HEALTH, CameraHealth("cam2", HealthState.DEGRADED, "stalled", 1_000.0, 999.0, 10, 1)),
    (Topic.COMMANDS, Command("cam2", CommandAction.PTZ_PRESET, 1_000.0, "harbour", "operator1")),
    (Topic.CROSSING_COUNTS, CrossingCount("north-gate", "cam1", "north", 900.0, 960.0, 4, 2)),
    (Topic.SEGMENTS, RecordedSegment("cam1", "edge1", "cam1/a.mp4", 990.0, 1_000.0, 52_000, 250, None)),
    (Topic.RECORDING_GAPS, RecordedGap("cam1", "edge1", 1_000.0, 1_012.5, "stream lost")),
]


def _round_trip(bus: MemoryBus | KafkaBus) -> dict[Topic, list[object]]:
    received: dict[Topic, list[object]] = {topic: [] for topic in Topic}
    for topic in Topic:
        bus.subscribe(topic, received[topic].append)
    bus.start()
    for topic, event in EVENTS:
        bus.publish(topic, event.camera_id, event)
    wait_until(lambda: sum(map(len, received.values())) >= len(EVENTS), timeout=30)
    bus.stop()
    return received


def test_kafka_bus_delivers_what_memory_bus_delivers(kafka_broker: Broker) -> None:
    memory = _round_trip(MemoryBus())
    kafka = _round_trip(
        KafkaBus(kafka_broker.bootstrap_servers, group_id=unique("g"), topic_prefix=unique("t") + ".")
    )
    assert kafka == memory
    assert memory == {topic: [event] for topic, event in EVENTS}


def test_per_camera_order_and_poison_messages(kafka_broker: Broker) -> None:
    prefix = unique("order") + "."
    received: list[str] = []
    consumer = KafkaBus(kafka_broker.bootstrap_servers, group_id=unique("g"), topic_prefix=prefix)
    consumer.subscribe(Topic.SIGHTINGS, lambda s: received.append(s.id))
    producer = KafkaBus(kafka_broker.bootstrap_servers, topic_prefix=prefix)
    producer.start()
    producer._producer.send(
        f"{prefix}sightings", key=b"cam1", value=b"not json"
    )  # a foreign writer's garbage
    sent = [make_sighting(f"cam{i % 4}", i, 1_000.0 + i) for i in range(400)]
    for sighting in sent:
        producer.publish(Topic.SIGHTINGS, sighting.camera_id, sighting)
    producer.stop()
    consumer.start()
    assert wait_until(lambda: len(received) == len(sent), timeout=30), f"{len(received)} of {len(sent)}"
    consumer.stop()
    assert consumer.rejected == 1
    for camera in ("cam0", "cam1", "cam2", "cam3"):
        assert [i for i in received if i.startswith(camera)] == [s.id for s in sent if s.camera_id == camera]
