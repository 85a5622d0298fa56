"""The spool in front of a producer, against a fake producer whose brokers come and go."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.infra.spool import Spool
from vigil.infra.spool_sender import SpoolSender, pack, unpack


class Rejected(Exception):
    """What a broker answers for a record it will never take."""


class FakeFuture:
    def __init__(self) -> None:
        self.callbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.errbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def add_callback(self, f: Callable[..., Any], *args: Any) -> None:
        self.callbacks.append((f, args))

    def add_errback(self, f: Callable[..., Any], *args: Any) -> None:
        self.errbacks.append((f, args))


class FakeProducer:
    """Holds sends while its brokers are down; acknowledges them in send order once up."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.log: list[tuple[str, bytes, bytes]] = []
        self.waiting: list[tuple[FakeFuture, tuple[str, bytes, bytes]]] = []
        self.fail_next: list[BaseException] = []
        self.max_waiting = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, topic: str, key: bytes, value: bytes) -> FakeFuture:
        future = FakeFuture()
        with self._lock:
            self.waiting.append((future, (topic, key, value)))
            self.max_waiting = max(self.max_waiting, len(self.waiting))
        return future

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if not self.up.is_set():
                continue
            with self._lock:
                batch, self.waiting = self.waiting, []
            for future, record in batch:
                error = self.fail_next.pop(0) if self.fail_next else None
                if error is None:
                    self.log.append(record)
                    for f, args in future.callbacks:
                        f(*args, None)
                else:
                    for f, args in future.errbacks:
                        f(*args, error)


def values(records: list[tuple[str, bytes, bytes]]) -> list[bytes]:
    return [value for _, _, value in records]


def events(count: int) -> list[tuple[str, bytes, bytes]]:
    return [("sightings", f"cam{i % 4}".encode(), f"event-{i:05d}".encode()) for i in range(count)]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def producer() -> Any:
    fake = FakeProducer()
    yield fake
    fake.close()


def make_sender(path: Path, producer: FakeProducer, max_bytes: int = 1 << 20) -> SpoolSender:
    spool = Spool.open(path, max_bytes, fsync_interval_s=0)
    sender = SpoolSender(spool, producer.send, window=50, permanent=(Rejected,), retry_backoff_s=0.01)
    sender.start()
    return sender


def test_pack_round_trip() -> None:
    assert unpack(pack("site.sightings", b"cam1", b"{}")) == ("site.sightings", b"cam1", b"{}")


def test_outage_is_buffered_on_disk_and_replayed_once_in_order(
    tmp_path: Path, producer: FakeProducer
) -> None:
    sender = make_sender(tmp_path, producer)
    sent = events(500)
    for record in sent:
        assert sender.publish(*record)
    assert wait_until(lambda: producer.max_waiting == 50)
    assert sender.stats().records == 500  # only the window is with the producer, all of it on disk
    producer.up.set()
    assert sender.flush(10)
    sender.stop()
    sender.close()
    assert producer.log == sent
    assert producer.max_waiting == 50
    stats = sender.stats()
    assert (stats.records, stats.bytes, stats.spooled, stats.replayed, stats.dropped) == (0, 0, 500, 500, 0)


@pytest.mark.parametrize(
    ("errors", "delivered", "failed", "resent"),
    [
        ([TimeoutError("epoch bump")], 20, 0, 1),  # transient: sent again, delivered once
        ([Rejected("too large")], 19, 1, 0),  # for good: dropped, counted, the rest goes on
        ([TimeoutError(), TimeoutError()], 20, 0, 2),  # twice in a row
    ],
)
def test_failed_sends(
    tmp_path: Path,
    producer: FakeProducer,
    errors: list[BaseException],
    delivered: int,
    failed: int,
    resent: int,
) -> None:
    producer.fail_next = list(errors)
    sender = make_sender(tmp_path, producer)
    sent = events(20)
    for record in sent:
        sender.publish(*record)
    producer.up.set()
    assert sender.flush(10)
    sender.stop()
    sender.close()
    assert len(set(values(producer.log))) == len(producer.log) == delivered
    assert set(values(producer.log)) <= set(values(sent))
    assert (sender.failed, sender.resent) == (failed, resent)


def test_stop_during_an_outage_keeps_the_events_for_the_next_start(
    tmp_path: Path, producer: FakeProducer
) -> None:
    sender = make_sender(tmp_path, producer)
    sent = events(300)
    for record in sent[:100]:
        sender.publish(*record)
    producer.up.set()
    assert sender.flush(10)
    producer.up.clear()
    for record in sent[100:]:
        sender.publish(*record)
    assert not sender.flush(0.2)
    sender.stop()
    sender.close()  # the window handed to the producer was never acknowledged: it stays too
    restarted = FakeProducer()
    try:
        again = make_sender(tmp_path, restarted)
        assert again.stats().records == 200
        restarted.up.set()
        assert again.flush(10)
        again.stop()
        again.close()
        assert producer.log + restarted.log == sent
    finally:
        restarted.close()


def test_full_spool_refuses_and_counts(tmp_path: Path, producer: FakeProducer) -> None:
    record = events(1)[0]
    framed = 8 + len(pack(*record))
    sender = make_sender(tmp_path, producer, max_bytes=100 * framed)
    accepted = [sender.publish(*r) for r in events(150)]
    assert accepted.count(True) == 100
    assert sender.stats().dropped == 50
    assert sender.stats().fill == 1.0
    producer.up.set()
    assert sender.flush(10)
    assert values(producer.log) == values(events(100))
    sender.stop()
    sender.close()
