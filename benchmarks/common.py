"""Helpers shared by the benchmarks: where the reference data lives, CPU accounting."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED", REPO.parent / "shared"))
FOOTAGE = SHARED / "data" / "footage"


def require(path: Path) -> Path:
    """The path, or SystemExit with a message saying where the data is expected."""
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (set VIGIL_SHARED to the shared/ folder)")
    return path


@dataclass
class Meter:
    """Wall and CPU seconds of this process (all threads) between `start` and `stop`."""

    wall: float = 0.0
    cpu: float = 0.0

    def start(self) -> Meter:
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu()
        return self

    def stop(self) -> Meter:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = _cpu() - self._cpu0
        return self


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
