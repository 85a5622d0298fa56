"""What the soak benchmark measures, read from /proc, and how it turns samples into growth per hour.

No psutil: everything comes from Linux's /proc, so the soak adds no dependency.

- `read_process(pid)`: RSS, PSS and USS (``/proc/PID/smaps_rollup``; RSS from ``status`` where
  the kernel has no rollup), threads, open file descriptors.
- `Sampler`: every process a workload started, found as the process tree under its roots and
  summed per group (the Vigil process, its worker processes, the camera simulator), plus the
  database size (with its WAL) and the recordings folder.
- `fit_growth(t, y, warmup_s)`: a least-squares line through the samples after warm-up; its
  slope per hour, and as a percentage of the fitted value where the warm-up ends.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOUR = 3600.0
KB = 1024
MB = 1024 * 1024
SIM_MARKER = "rtsp_server.py"
"""Command-line word of the camera simulator's server process (`ingest.sim`)."""
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class ProcessSample:
    """One process at one moment. Memory in bytes."""

    pid: int
    rss: int
    pss: int
    uss: int
    threads: int
    fds: int
    anon: int = 0
    """RssAnon: heap, stacks, arenas — where a leak in the process's own code grows."""
    file: int = 0
    """RssFile: mapped files (shared libraries, model weights) paged in as code paths are first used."""
    shmem: int = 0
    """RssShmem: shared memory (e.g. frames handed between processes)."""


def _status_fields(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _rollup(pid: int) -> dict[str, int] | None:
    """``smaps_rollup`` in bytes; None where the kernel lacks it or denies it."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * KB
    return values


def read_process(pid: int) -> ProcessSample | None:
    """Memory, threads and open fds of one process; None if it is gone (or not ours to read).

    USS is the private memory (``Private_Clean + Private_Dirty``): what would be freed if the
    process ended. Without ``smaps_rollup``, PSS and USS fall back to RSS.
    """
    try:
        status = _status_fields(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return None
    rss = int(status.get("VmRSS", "0 kB").split()[0]) * KB
    rollup = _rollup(pid)
    pss = rollup.get("Pss", rss) if rollup else rss
    uss = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0) if rollup else rss

    def kb(key: str) -> int:
        return int(status.get(key, "0 kB").split()[0]) * KB

    return ProcessSample(
        pid, rss, pss, uss, int(status.get("Threads", "0")), fds, kb("RssAnon"), kb("RssFile"), kb("RssShmem")
    )


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every process below `root` (children, grandchildren, ...), not `root` itself."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def open_files(pids: Iterable[int]) -> Counter[str]:
    """What the processes' fds point at, digits folded (``socket:[#]``, ``.../cam#/#.mp4``), counted.

    Folding digits makes a segment that replaced the previous one, or a new socket in place of a
    closed one, count as the same thing: what is left in a difference is what accumulates.
    """
    found: Counter[str] = Counter()
    for pid in pids:
        with contextlib.suppress(OSError):
            for entry in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    found[_DIGITS.sub("#", os.readlink(entry.path))] += 1
    return found


def path_bytes(path: Path) -> int:
    """Size of a file, or of every file under a folder; 0 if it does not exist."""
    try:
        if not path.is_dir():
            return path.stat().st_size if path.exists() else 0
        total = 0
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                total += path_bytes(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        return total
    except OSError:  # a segment deleted by retention between listing and stat
        return 0


GroupOf = Callable[[int, str], str]
"""(pid, command line) -> group name, for a process below a root."""


def default_group(pid: int, command: str) -> str:
    """Below the Vigil process: the simulator's server is "sim", anything else "workers"."""
    return "sim" if SIM_MARKER in command else "workers"


@dataclass
class Sampler:
    """Samples a workload: its processes per group, and its files.

    Args:
        roots: Group name -> pid of a process the workload started (e.g. ``{"vigil": ..}``);
            each root's descendants are grouped by `group_of`.
        files: Series name -> file or folder whose size is sampled (e.g. ``{"db": [..]}``);
            several paths under one name are summed (a database and its WAL).
        group_of: Group of a descendant process, from its pid and command line.
    """

    roots: dict[str, int]
    files: dict[str, list[Path]]
    group_of: GroupOf = default_group

    def groups(self) -> dict[str, list[int]]:
        """Group name -> pids alive now (a root first, then its descendants)."""
        parents = _parents()
        groups: dict[str, list[int]] = {name: [] for name in self.roots}
        for name, root in self.roots.items():
            if root in parents:
                groups[name].append(root)
            for pid in descendants(root, parents):
                groups.setdefault(self.group_of(pid, cmdline(pid)), []).append(pid)
        return groups

    def open_files(self, groups: Sequence[str]) -> Counter[str]:
        """`open_files` of every process in `groups` now."""
        pids = [pid for name, members in self.groups().items() if name in groups for pid in members]
        return open_files(pids)

    def sample(self, t_s: float) -> dict[str, float]:
        """One row: ``t_s``; per group ``_{rss,pss,uss}_mb``, ``_threads``, ``_fds``, ``_procs``; files."""
        row: dict[str, float] = {"t_s": round(t_s, 2)}
        for name, pids in sorted(self.groups().items()):
            row |= group_row(name, [s for s in map(read_process, pids) if s is not None])
        for name, paths in self.files.items():
            row[f"{name}_mb"] = round(sum(path_bytes(p) for p in paths) / MB, 3)
        return row


def group_row(name: str, samples: Iterable[ProcessSample]) -> dict[str, float]:
    """Sums over a group's processes: memory in MB, thread, fd and process counts."""
    items = list(samples)
    return {
        f"{name}_rss_mb": round(sum(s.rss for s in items) / MB, 3),
        f"{name}_pss_mb": round(sum(s.pss for s in items) / MB, 3),
        f"{name}_uss_mb": round(sum(s.uss for s in items) / MB, 3),
        f"{name}_anon_mb": round(sum(s.anon for s in items) / MB, 3),
        f"{name}_file_mb": round(sum(s.file for s in items) / MB, 3),
        f"{name}_shmem_mb": round(sum(s.shmem for s in items) / MB, 3),
        f"{name}_threads": float(sum(s.threads for s in items)),
        f"{name}_fds": float(sum(s.fds for s in items)),
        f"{name}_procs": float(len(items)),
    }


@dataclass(frozen=True)
class Growth:
    """A least-squares line through one series after warm-up.

    Attributes:
        series: Column name, e.g. ``vigil_rss_mb``.
        points: Samples fitted (those at or after the warm-up).
        start: Fitted value where the warm-up ends.
        end: Fitted value at the last sample.
        per_hour: Slope, in the series' unit per hour.
        percent_per_hour: Slope as a percentage of `start` per hour (None when `start` is ~0).
        window_s: Seconds between the first and the last fitted sample.
        noise: Standard deviation of the samples around the line (how much the series jitters).
    """

    series: str
    points: int
    start: float
    end: float
    per_hour: float
    percent_per_hour: float | None
    window_s: float
    noise: float = 0.0

    @property
    def increase(self) -> float:
        """Fitted growth over the measured window, in the series' unit (e.g. threads gained)."""
        return self.end - self.start


def fit_growth(series: str, t_s: Sequence[float], values: Sequence[float], warmup_s: float) -> Growth | None:
    """Fit ``value = a + b t`` over the samples at ``t >= warmup_s``; None with fewer than 3 of them.

    Growth in percent is relative to the fitted value at the warm-up's end, so a process that
    grew during warm-up is not credited with a larger base.
    """
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = (t >= warmup_s) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    t, y = t[keep], y[keep]
    slope, intercept = np.polyfit(t - t[0], y, 1)
    start, end = float(intercept), float(intercept + slope * (t[-1] - t[0]))
    per_hour = float(slope * HOUR)
    percent = 100.0 * per_hour / start if abs(start) > 1e-9 else None
    noise = float(np.std(y - (intercept + slope * (t - t[0]))))
    return Growth(series, int(keep.sum()), start, end, per_hour, percent, float(t[-1] - t[0]), noise)


@dataclass(frozen=True)
class Check:
    """The verdict on one series: passed True / False, or None where it is only reported."""

    series: str
    passed: bool | None
    rule: str


def judge(growths: Iterable[Growth], rss_limit_percent: float, judged: Sequence[str]) -> list[Check]:
    """Checks on the judged groups' series; every other series is reported only.

    - ``<group>_rss_mb``: growth at most `rss_limit_percent` % per hour;
    - ``<group>_threads`` / ``_fds``: the fitted line gains less than one over the window, or
      less than twice the series' jitter around it (a thread that comes and goes is noise, and so
      is 118 recorders' segment files opening and closing; one that stays, or one a minute, is a
      leak).
    """
    checks = []
    for growth in growths:
        group, _, kind = growth.series.partition("_")
        if group not in judged or kind not in ("rss_mb", "threads", "fds"):
            checks.append(Check(growth.series, None, "reported"))
        elif kind == "rss_mb":
            percent = growth.percent_per_hour
            ok = percent is not None and percent <= rss_limit_percent
            checks.append(Check(growth.series, ok, f"<= {rss_limit_percent:g} %/h"))
        else:
            allowed = max(1.0, 2 * growth.noise)
            checks.append(Check(growth.series, growth.increase < allowed, f"gains < {allowed:.3g}"))
    return checks
