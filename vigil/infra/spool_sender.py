"""`SpoolSender`: every event written ahead to the on-disk `Spool`, sent from there in order.

The edge node's answer to a broker outage longer than the producer's own retries. It
is a write-ahead log, not a fallback: `publish` appends to the spool and returns (it
never blocks on the brokers), and one sender thread reads the spool in order, hands
each record to the Kafka producer, and commits (removes) the oldest records once the
brokers acknowledged them. The same path runs in every second of normal operation,
so the outage path is never one that only runs in an outage.

Why this gives 0 lost and 0 duplicated at the topic level:

- nothing leaves the spool before its acknowledgement, so an outage of any length
  (bounded by the spool's ``max_bytes``), a stop or a crash keeps every event;
- each record is handed to the producer exactly once per process. The producer is
  idempotent and retries for as long as it takes (its delivery timeout is weeks, not
  two minutes), so the brokers drop the producer's own retries of a batch they had
  already written; no record is ever both in the producer and sent again from the spool;
- records reach the producer in spool order from one thread, and the producer keeps
  send order per partition, so each camera's (key's) order holds across the outage;
- at most ``window`` records are with the producer at a time: during an outage the
  rest wait on disk, not in memory.

Two cases do send a record twice, both logged: a stop (or crash) after the brokers
acknowledged a record but before its commit reached the head file replays it at the
next start, and a batch the producer fails with a transient error after its own
retries (an epoch bump, KIP-360) is sent again, which may place it after later events
of its camera. The central store ignores an event id it already holds, so neither
changes what is stored. A record the brokers reject for good (too large, bad topic, no
permission) is logged, counted in `failed` and removed so that it cannot stall the rest.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.infra.spool import Spool, SpoolStats

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<HH")
"""Spool record: topic length, key length, then topic, key and the event's encoded bytes."""


class SendFuture(Protocol):
    """What kafka-python's ``send`` returns (`FutureRecordMetadata`)."""

    def add_callback(self, f: Callable[..., Any], *args: Any) -> Any: ...
    def add_errback(self, f: Callable[..., Any], *args: Any) -> Any: ...


Send = Callable[[str, bytes, bytes], SendFuture]
"""Hands one record (topic, key, value) to the producer; raises if it cannot take it now."""


@dataclass(eq=False)
class _Pending:
    """A record read from the spool and handed to the producer, awaiting its acknowledgement."""

    topic: str
    key: bytes
    value: bytes
    done: bool = False


def pack(topic: str, key: bytes, value: bytes) -> bytes:
    """One spool record from a Kafka topic name, a key and a value."""
    name = topic.encode()
    return _HEADER.pack(len(name), len(key)) + name + key + value


def unpack(record: bytes) -> tuple[str, bytes, bytes]:
    """(topic, key, value) of a record made by `pack`."""
    topic_len, key_len = _HEADER.unpack_from(record)
    start = _HEADER.size
    topic = record[start : start + topic_len].decode()
    key = record[start + topic_len : start + topic_len + key_len]
    return topic, key, record[start + topic_len + key_len :]


class SpoolSender:
    """Publishes through a `Spool` in front of a producer; one sender thread.

    Args:
        spool: The open spool; records left in it by an earlier run are sent first.
        send: Hands a record to the producer (``KafkaProducer.send`` with its arguments bound).
        window: Records handed to the producer and not yet acknowledged, at most. Raising it
            drains a backlog faster over a slow link, and holds more records in memory.
        permanent: Errors that mean the brokers will never take the record; it is dropped
            (counted in `failed`) rather than sent again.
        retry_backoff_s: Pause before handing a record to the producer again after it refused.
        sync_interval_s: How often the idle sender thread gives the spool a chance to fsync.
    """

    def __init__(
        self,
        spool: Spool,
        send: Send,
        *,
        window: int = 2000,
        permanent: tuple[type[BaseException], ...] = (),
        retry_backoff_s: float = 0.5,
        sync_interval_s: float = 0.5,
    ) -> None:
        self.spool = spool
        self._send = send
        self._window = window
        self.permanent = permanent
        """Set before `start` (the bus sets kafka-python's error types once it has imported them)."""
        self._retry_backoff_s = retry_backoff_s
        self._sync_interval_s = sync_interval_s
        self._cond = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._retries: deque[_Pending] = deque()
        self._stopping = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self.replayed = 0
        """Records the brokers acknowledged and the spool released."""
        self.failed = 0
        """Records the brokers rejected for good (logged, removed)."""
        self.resent = 0
        """Records handed to the producer again after it failed them with a transient error."""
        self._full_since: float | None = None

    def stats(self) -> SpoolStats:
        """Buffer fill and counters, for health and metrics."""
        spool = self.spool
        return SpoolStats(
            records=spool.records,
            bytes=spool.size,
            max_bytes=spool.max_bytes,
            spooled=spool.appended,
            replayed=self.replayed,
            dropped=spool.dropped,
        )

    def publish(self, topic: str, key: bytes, value: bytes) -> bool:
        """Append a record behind everything spooled; False if the spool is full (counted, dropped)."""
        if not self.spool.append(pack(topic, key, value)):
            self._note_full()
            return False
        if self._full_since is not None:
            log.warning(
                "spool %s accepts events again after %.0f s full; %d refused so far",
                self.spool.directory,
                time.monotonic() - self._full_since,
                self.spool.dropped,
            )
            self._full_since = None
        with self._cond:
            self._cond.notify_all()
        return True

    def start(self) -> None:
        """Start the sender thread."""
        self._stopping = self._closing = False
        self._thread = threading.Thread(target=self._run, name="kafka-spool", daemon=True)
        self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the spool is empty (every event acknowledged); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.spool.records:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.1 if left is None else min(left, 0.1))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop handing records to the producer; what is in flight may still be acknowledged.

        Call `close` once the producer is closed, to commit those acknowledgements.
        """
        with self._cond:
            self._stopping = True
            self._closing = True  # failures from here on are the producer closing: keep the record
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Commit what the producer got acknowledged before it closed; close the spool."""
        with self._cond:
            self._commit_acknowledged()
        if self.spool.records:
            log.info("spool %s keeps %d events for the next start", self.spool.directory, self.spool.records)
        self.spool.close()

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._commit_acknowledged()
                    if self._stopping:
                        return
                    batch = self._next_batch()
                    if not batch:
                        self._cond.wait(self._sync_interval_s)
                if not batch:
                    self.spool.sync()
                    continue
                for entry in batch:
                    if not self._hand_over(entry):
                        return
        except Exception:
            log.exception(
                "spool sender stopped on an unexpected error; events stay in %s", self.spool.directory
            )
            raise

    def _next_batch(self) -> list[_Pending]:
        """Records to hand to the producer now: failed ones first, then new ones within the window."""
        if self._retries:
            batch = list(self._retries)
            self._retries.clear()
            return batch
        room = self._window - len(self._pending)
        if room <= 0 or not self.spool.unread:
            return []
        batch = [_Pending(*unpack(record)) for record in self.spool.read(room)]
        self._pending.extend(batch)
        return batch

    def _hand_over(self, entry: _Pending) -> bool:
        """Give one record to the producer, retrying while it refuses; False if stopping first."""
        refused = 0
        while True:
            try:
                future = self._send(entry.topic, entry.key, entry.value)
            except Exception as error:
                refused += 1
                if refused == 1:
                    log.warning(
                        "producer refused a record (%s); retrying every %.1f s", error, self._retry_backoff_s
                    )
                with self._cond:
                    if self._stopping or self._cond.wait_for(lambda: self._stopping, self._retry_backoff_s):
                        return False
                continue
            future.add_callback(self._on_acknowledged, entry)
            future.add_errback(self._on_failed, entry)
            return True

    def _commit_acknowledged(self) -> None:
        """Remove from the spool the longest run of oldest records that are done (caller holds the lock)."""
        count = 0
        while self._pending and self._pending[0].done:
            self._pending.popleft()
            count += 1
        if count:
            self.spool.commit(count)
            self._cond.notify_all()

    # -- producer callbacks (the producer's I/O thread) -----------------------------------

    def _on_acknowledged(self, entry: _Pending, _metadata: object) -> None:
        with self._cond:
            if not entry.done:
                entry.done = True
                self.replayed += 1
            self._cond.notify_all()

    def _on_failed(self, entry: _Pending, error: BaseException) -> None:
        with self._cond:
            if self._closing:
                return  # the producer is closing: the record stays in the spool for the next start
            if isinstance(error, self.permanent):
                entry.done = True
                self.failed += 1
                log.error("the brokers rejected an event on %s for good, dropped: %s", entry.topic, error)
            else:
                self._retries.append(entry)
                self.resent += 1
                log.warning("an event on %s failed (%s); sending it again", entry.topic, error)
            self._cond.notify_all()

    def _note_full(self) -> None:
        if self._full_since is None:
            self._full_since = time.monotonic()
            log.error(
                "spool %s is full (%d bytes): new events are refused and counted as dropped",
                self.spool.directory,
                self.spool.max_bytes,
            )
