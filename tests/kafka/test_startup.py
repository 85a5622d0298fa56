"""The start-up race on a real broker: consumers that come up before their topics lose nothing.

On a fresh machine a central node's consumer group once formed before the broker listed
its topics' partitions; kafka-python assigned it nothing and never rebalanced, and all
10,000 sightings of the fault test went unstored. Each test here makes that order happen
on purpose — the consumer first, the topics seconds later — with every core busy.
"""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

import vigil.infra.kafka_bus as kafka_bus
from tests.kafka.conftest import Broker
from tests.kafka.helpers import assert_exactly_once, cpu_hog, ids, unique, wait_until, workload
from vigil.core.errors import DependencyError
from vigil.core.events import Topic
from vigil.infra.db.store import Store
from vigil.infra.kafka_bus import KafkaBus, ensure_topics
from vigil.infra.kafka_group import AssignmentGuard, await_partitions, resubscribe
from vigil.roles import CentralConsumer

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FORMED_S = 6.0
"""How long a consumer polls before its topics are created: its group has formed by then."""


def test_group_formed_before_its_topics_exist_is_rebalanced_onto_them(kafka_broker: Broker) -> None:
    prefix = unique("early") + "."
    topics = [f"{prefix}a", f"{prefix}b"]
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        group_id=unique("g"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    consumer.subscribe(topics)  # no await_partitions: the group forms on topics nobody created
    guard = AssignmentGuard(topics, resubscribe(consumer, topics))
    received = 0
    try:
        with cpu_hog():
            deadline = time.monotonic() + FORMED_S
            while time.monotonic() < deadline:
                consumer.poll(timeout_ms=100)
                guard.check(consumer)
            assert not consumer.assignment()  # the race has happened: a member of a group on nothing
            ensure_topics(kafka_broker.bootstrap_servers, dict.fromkeys(topics, 3), 1, "test")
            producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
            for i in range(1000):
                producer.send(topics[i % 2], b"x")
            producer.flush(30)
            producer.close()
            deadline = time.monotonic() + 60
            while received < 1000 and time.monotonic() < deadline:
                received += sum(map(len, consumer.poll(timeout_ms=100).values()))
                guard.check(consumer)
    finally:
        consumer.close(autocommit=False)
    assert received == 1000, f"received {received} of 1000; the guard asked {guard.rejoins} rebalances"
    print(f"guard rebalances: {guard.rejoins}")


def test_central_started_before_its_topics_exist_stores_everything(
    kafka_broker: Broker, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Central's own topic creation is switched off, so its topics appear only when the edge starts."""
    prefix = unique("latetopics") + "."
    create = kafka_bus.ensure_topics
    monkeypatch.setattr(kafka_bus, "ensure_topics", lambda *args, **kwargs: None)
    central = KafkaBus(kafka_broker.bootstrap_servers, group_id=unique("central"), topic_prefix=prefix)
    CentralConsumer(central, store).attach()
    started = threading.Event()
    failure: list[BaseException] = []

    def start_central() -> None:
        try:
            central.start()  # blocks until the partitions exist
            started.set()
        except BaseException as error:  # reported by the test below
            failure.append(error)

    producer = KafkaBus(kafka_broker.bootstrap_servers, topic_prefix=prefix)
    events = workload()
    with cpu_hog():
        thread = threading.Thread(target=start_central, daemon=True)
        thread.start()
        time.sleep(FORMED_S)
        assert not started.is_set() and not failure, "central started on topics that did not exist"
        create(
            kafka_broker.bootstrap_servers, {prefix + t.value: central.partitions for t in Topic}, 1, "edge"
        )
        producer.start()
        try:
            for topic, event in events:
                producer.publish(topic, event.camera_id, event)
            producer.flush(60)
            assert wait_until(started.is_set, timeout=30), f"central did not start: {failure}"
            assert_exactly_once(store, ids(events, Topic.SIGHTINGS), ids(events, Topic.ALERTS))
        finally:
            producer.stop()
            central.stop()


def test_topics_that_never_appear_fail_start_loudly(kafka_broker: Broker) -> None:
    missing = unique("never") + ".sightings"
    started = time.monotonic()
    with pytest.raises(DependencyError, match=rf"{missing} has 0 of 12"):
        await_partitions(kafka_broker.bootstrap_servers, {missing: 12}, timeout_s=2.0)
    assert time.monotonic() - started < 10
