"""What every chaos scenario shares: its settings, its outcome, invariant checks and probes.

A scenario is a function ``(ChaosSettings) -> Outcome``. It injects one fault into real
components (the simulator's RTSP server, the recorder writing MP4 segments, SQLite), then
checks invariants with `Checks`: each check that holds is a line of what survived, each that
fails is a broken invariant. Clean-up (child processes, mounts, temporary files) is the
scenario's own, in ``finally`` blocks or `contextlib.ExitStack`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vigil.core.types import CameraHealth, HealthState

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PERSON_CLIP = SAMPLES / "one-by-one-person-detection.mp4"
"""768x432 H.264, 10 fps, a keyframe every second: segments cut on time, health quickly online."""


@dataclass(frozen=True)
class ChaosSettings:
    """How a scenario runs.

    Attributes:
        workdir: An empty directory of its own (removed afterwards by the runner).
        long: The issue's full durations (flapping for 5 minutes) instead of the short ones.
        clip: Footage the simulated cameras loop.
    """

    workdir: Path
    long: bool = False
    clip: Path = PERSON_CLIP


@dataclass(frozen=True)
class Outcome:
    """What one scenario did and what survived it.

    Attributes:
        name: Scenario name.
        did: The fault injected, in a sentence.
        survived: Invariants that held, one per line.
        broken: Invariants that did not hold (empty: the scenario passed).
        skipped: Why the scenario could not run here, or None.
        seconds: Wall time it took.
    """

    name: str
    did: str
    survived: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()
    skipped: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.broken


class Checks:
    """Collects a scenario's invariants as they are checked."""

    def __init__(self) -> None:
        self.survived: list[str] = []
        self.broken: list[str] = []

    def expect(self, condition: bool, holds: str, broke: str | None = None) -> bool:
        """Record one invariant: `holds` if `condition`, else `broke` (default: "NOT " + holds)."""
        if condition:
            self.survived.append(holds)
        else:
            self.broken.append(broke or f"NOT {holds}")
        return condition

    def outcome(self, name: str, did: str) -> Outcome:
        return Outcome(name, did, tuple(self.survived), tuple(self.broken))


def skipped(name: str, did: str, why: str) -> Outcome:
    return Outcome(name, did, skipped=why)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def ffprobe_error(path: Path) -> str | None:
    """None if ffprobe reads `path` as a video with a duration and no error, else what it said."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return "ffprobe not installed"
    command = [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0 or result.stderr.strip():
        return (result.stderr.strip() or f"exit {result.returncode}")[:200]
    try:
        duration = float(result.stdout.strip())
    except ValueError:
        return f"no duration ({result.stdout.strip()!r})"
    return None if duration > 0 else "zero duration"


@dataclass
class HealthLog:
    """Every camera health change a supervisor reports (its ``on_health`` callback)."""

    changes: list[CameraHealth] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, health: CameraHealth) -> None:
        with self._lock:
            self.changes.append(health)

    def of(self, camera_id: str) -> list[CameraHealth]:
        with self._lock:
            return [h for h in self.changes if h.camera_id == camera_id]

    def last(self, camera_id: str) -> CameraHealth | None:
        mine = self.of(camera_id)
        return mine[-1] if mine else None

    def is_(self, camera_id: str, state: HealthState) -> bool:
        last = self.last(camera_id)
        return last is not None and last.state is state

    def transitions(self, camera_id: str, state: HealthState) -> int:
        """How many times the camera entered `state`."""
        count, previous = 0, None
        for health in self.of(camera_id):
            if health.state is state and previous is not state:
                count += 1
            previous = health.state
        return count


def process_resources(pid: int) -> tuple[int, int]:
    """(open file descriptors, threads) of a process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return fds, threads


def child_command(*args: str) -> list[str]:
    """The command line of a chaos child process (`vigil.chaos.child`)."""
    return [sys.executable, "-m", "vigil.chaos.child", *args]


@contextlib.contextmanager
def child_process(command: Sequence[str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """A child in its own process group (so kill -9 reaches its shard processes too), killed on exit."""
    with log.open("a") as err:
        process = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
    try:
        yield process
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Send `sig` to a child's whole process group and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    if process.stdout is not None:
        with contextlib.suppress(OSError):
            process.stdout.close()


def read_lines(process: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    """Collect a child's stdout lines into `into` from a daemon thread."""

    def pump() -> None:
        assert process.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in process.stdout:
                into.append(line.strip())

    thread = threading.Thread(target=pump, name="chaos-child-stdout", daemon=True)
    thread.start()
    return thread
