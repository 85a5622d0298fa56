"""Helpers shared by the Kafka tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.kafka.workers import make_sighting
from vigil.core.events import Topic
from vigil.core.types import Alert, AlertKind, Sighting
from vigil.infra.db.store import Store

REPO = Path(__file__).resolve().parents[2]
DRAIN_TIMEOUT_S = 90
HOG_LIMIT_S = 600
"""A CPU hog ends by itself after this long even if its test never stops it."""


def unique(name: str) -> str:
    """A name no other test in this session uses (topic prefix, group id)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class Worker:
    """A `tests.kafka.workers` process whose output lines are collected as they arrive."""

    def __init__(self, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.kafka.workers", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def wait_for(self, line: str, timeout: float = 30) -> bool:
        return wait_until(lambda: line in self.lines or self.process.poll() is not None, timeout) and (
            line in self.lines
        )

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no leaving the group, no last commit."""
        self.process.kill()
        self.process.wait(10)


def _alert(i: int) -> Alert:
    return Alert(
        AlertKind.ZONE_INTRUSION,
        "gate",
        f"cam{i % 8}",
        1_000.0 + i,
        "in gate",
        i,
        "gate",
        id=f"alert-{i:06d}",
    )


def workload(sightings: int = 10_000) -> list[tuple[Topic, Sighting | Alert]]:
    """`sightings` sightings over 8 cameras with an alert after every tenth."""
    events: list[tuple[Topic, Sighting | Alert]] = []
    for i in range(sightings):
        events.append((Topic.SIGHTINGS, make_sighting(f"cam{i % 8}", i, 1_000.0 + i)))
        if i % 10 == 9:
            events.append((Topic.ALERTS, _alert(i // 10)))
    return events


def ids(events: list[tuple[Topic, Sighting | Alert]], topic: Topic) -> set[str]:
    return {event.id for t, event in events if t is topic}


def assert_exactly_once(store: Store, sighting_ids: set[str], alert_ids: set[str]) -> None:
    """Wait for the store to hold every id, then check that it holds each exactly once."""

    def complete() -> bool:
        counts = store.counts()
        return counts.sightings >= len(sighting_ids) and counts.alerts >= len(alert_ids)

    wait_until(complete, timeout=DRAIN_TIMEOUT_S, interval=0.2)
    stored_sightings = [s.id for s in store.list_sightings(limit=10 * len(sighting_ids))[0]]
    stored_alerts = [a.id for a in store.list_alerts(limit=10 * len(alert_ids) + 10)[0]]
    assert len(stored_sightings) == len(set(stored_sightings)), "duplicated sightings"
    assert len(stored_alerts) == len(set(stored_alerts)), "duplicated alerts"
    assert set(stored_sightings) == sighting_ids, (
        f"lost {len(sighting_ids - set(stored_sightings))} sightings"
    )
    assert set(stored_alerts) == alert_ids, f"lost {len(alert_ids - set(stored_alerts))} alerts"


@contextmanager
def cpu_hog(processes: int | None = None) -> Iterator[None]:
    """Busy-loop processes on every core while the block runs: start-up races show under load."""
    count = processes or os.cpu_count() or 2
    spin = f"import time\nend = time.monotonic() + {HOG_LIMIT_S}\nwhile time.monotonic() < end: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(10)
