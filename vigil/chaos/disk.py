"""Disk full during recording, on a small tmpfs of its own.

The real recorder writes 2 s segments onto a 6 MB tmpfs while the real retention thread
watches free space. Ballast files then eat the disk: first past retention's floor (the oldest
unprotected segments must go, a held one must stay), then completely with every segment held
(recording must stop with a clear health reason), then the ballast goes (recording resumes,
the pause is a recorded gap). Needs root (``mount -t tmpfs``); skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from config.ingest import RecordingConfig
from config.models import CameraConfig
from ingest.recorder import PARTIAL_SUFFIX
from ingest.sim import Simulator
from ingest.workers import IngestSupervisor
from vigil.chaos.base import ChaosSettings, Checks, HealthLog, Outcome, ffprobe_error, skipped, wait_until
from vigil.core.types import HealthState
from vigil.infra.db.recordings import RecordingIndex, SegmentRecord
from vigil.infra.db.store import Store
from vigil.services.retention import RetentionPolicy, run_periodically

NAME = "disk-full"
DID = "6 MB tmpfs filled by ballast: past retention's floor, then to the last byte with every segment held"
TMPFS_BYTES = 6 * 1024 * 1024
MIN_FREE_PERCENT = 40.0
RESERVE_MB = 0.3


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[str | None]:
    """Mount a tmpfs of `size` bytes at `path`; yields None, or why it could not be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        yield f"cannot run mount: {exc}"
        return
    if result.returncode != 0:
        yield f"mount -t tmpfs not permitted here ({result.stderr.strip()[:120] or result.returncode})"
        return
    try:
        yield None
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(path: Path, leave_free: int) -> None:
    """Write `path` until the filesystem has at most `leave_free` bytes free (0: to ENOSPC)."""
    chunk = b"\0" * 65536
    with path.open("ab") as ballast:
        while shutil.disk_usage(path.parent).free > leave_free:
            room = shutil.disk_usage(path.parent).free - leave_free
            try:
                ballast.write(chunk[: max(4096, min(len(chunk), room))])
                ballast.flush()
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    return
                raise


def _all(index: RecordingIndex) -> list[SegmentRecord]:
    return index.segments("cam1", 0.0, float("inf"))


def _pressure(checks: Checks, index: RecordingIndex, disk: Path) -> None:
    """Ballast to just under retention's floor: the oldest unprotected segments go, the held one stays."""
    segments = _all(index)
    oldest, held = segments[0], segments[1]
    index.add_hold("cam1", held.start, held.end, "chaos-evidence")
    total = shutil.disk_usage(disk).total
    _fill(disk / "ballast-1", int(total * MIN_FREE_PERCENT / 100) - 2 * max(s.size for s in segments))
    gone = wait_until(lambda: not oldest.path.exists(), timeout=10)
    checks.expect(gone, "under pressure the oldest unprotected segment was deleted first")
    kept = {s.id for s in _all(index)}
    checks.expect(held.id in kept and held.path.exists(), "the segment held as evidence survived")
    deleted_newer = [s for s in segments[2:] if s.id not in kept and s.start < oldest.start]
    checks.expect(not deleted_newer, "no segment was deleted before an older unprotected one")


def _full(
    checks: Checks, index: RecordingIndex, disk: Path, ingest: IngestSupervisor, log: HealthLog
) -> None:
    """Every segment held, disk filled to the last byte: recording stops with a clear reason, then resumes."""
    index.add_hold("cam1", 0.0, time.time() + 86400, "chaos-case")
    _fill(disk / "ballast-2", 0)

    def paused() -> bool:
        health = ingest.health_snapshot()["cam1"]
        return health.state is HealthState.DEGRADED and "disk full" in health.reason

    stopped = wait_until(paused, timeout=15)
    reason = ingest.health_snapshot()["cam1"].reason
    checks.expect(stopped, f"disk full: camera degraded, reason '{reason}'", f"disk full: health '{reason}'")
    count = len(_all(index))
    for ballast in disk.glob("ballast-*"):
        ballast.unlink()
    resumed = wait_until(lambda: len(_all(index)) >= count + 2 and log.is_("cam1", HealthState.ONLINE), 30)
    checks.expect(resumed, "space back: camera online and recording again")
    gaps = index.gaps("cam1", 0.0, float("inf"))
    checks.expect(
        any("disk full" in gap.reason for gap in gaps),
        "the pause is a recorded gap ('disk full')",
        f"no disk-full gap recorded: {[g.reason for g in gaps]}",
    )


def disk_full(settings: ChaosSettings) -> Outcome:
    disk = settings.workdir / "disk"
    with tmpfs(disk, TMPFS_BYTES) as why:
        if why is not None:
            return skipped(NAME, DID, why)
        return _run(settings, disk)
    raise AssertionError("unreachable")  # pragma: no cover - the context manager yields once


def _run(settings: ChaosSettings, disk: Path) -> Outcome:
    checks = Checks()
    store = Store.open(settings.workdir / "vigil.db")
    index = RecordingIndex.for_store(store)
    log = HealthLog()
    stop = threading.Event()
    recording = RecordingConfig(directory=disk, segment_seconds=2.0, min_free_mb=RESERVE_MB)
    policy = RetentionPolicy(min_free_percent=MIN_FREE_PERCENT)
    retention = threading.Thread(
        target=run_periodically, args=(index, policy, disk, stop), kwargs={"interval_s": 0.5}, daemon=True
    )
    with Simulator([settings.clip], cameras=1) as sim:
        camera = CameraConfig.model_validate({"id": "cam1", "url": sim.urls[0]})
        ingest = IngestSupervisor(
            [camera], data_dir=settings.workdir, recording=recording, index=index, on_health=log
        )
        ingest.start()
        retention.start()
        try:
            if checks.expect(wait_until(lambda: len(_all(index)) >= 4, 40), "recording onto the tmpfs"):
                _pressure(checks, index, disk)
                _full(checks, index, disk, ingest, log)
        finally:
            ingest.stop()
            stop.set()
            retention.join(5)
    _check_files(checks, index, disk)
    store.close()
    return checks.outcome(NAME, DID)


def _check_files(checks: Checks, index: RecordingIndex, disk: Path) -> None:
    segments = _all(index)
    bad = [f"{s.path.name}: {err}" for s in segments if (err := ffprobe_error(s.path))]
    checks.expect(not bad, f"all {len(segments)} indexed segments pass ffprobe", f"ffprobe fails: {bad[:3]}")
    parts = sorted(disk.rglob(f"*{PARTIAL_SUFFIX}"))
    checks.expect(not parts, "no .part file left", f".part left: {[p.name for p in parts]}")
    on_disk = {str(p) for p in disk.rglob("*.mp4")}
    orphans = on_disk - {str(s.path) for s in segments}
    checks.expect(not orphans, "every segment file on disk is indexed", f"{len(orphans)} untracked files")
    os.sync()
