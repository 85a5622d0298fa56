"""Helpers shared by the Kafka tests."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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
