"""Retention tiers and the disk-pressure policy for recorded segments.

`enforce` runs two passes, each oldest first and never touching a segment that overlaps a
hold (a case or an evidence export):

1. age: continuous segments older than ``continuous_days`` and event segments older than
   ``event_days`` are deleted;
2. pressure: while free space is below ``min_free_percent``, the oldest unprotected segments
   (any tier) are deleted, in batches.

Files are deleted first, then their index rows, so a crash in between leaves rows pointing at
missing files (clip export skips unreadable segments) rather than untracked files.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.infra.db.recordings import CONTINUOUS, EVENT, RecordingIndex, SegmentRecord

logger = logging.getLogger(__name__)

DAY = 86400.0
_BATCH = 200


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each tier is kept, and the free-space floor.

    Attributes:
        continuous_days: Continuous segments older than this are deleted.
        event_days: Segments marked as event (`RecordingIndex.mark_event`) are kept this long.
        min_free_percent: Below this much free disk, oldest unprotected segments go first.
    """

    continuous_days: float = 7.0
    event_days: float = 30.0
    min_free_percent: float = 10.0


def free_percent_of(path: Path) -> Callable[[], float]:
    """A probe of the free space (percent) of the filesystem holding `path`."""

    def probe() -> float:
        usage = shutil.disk_usage(path)
        return 100.0 * usage.free / usage.total

    return probe


def enforce(
    index: RecordingIndex, policy: RetentionPolicy, *, now: float, free_percent: Callable[[], float]
) -> list[SegmentRecord]:
    """Apply age limits, then disk pressure. Returns the segments deleted, oldest first."""
    deleted: list[SegmentRecord] = []
    for tier, days in ((CONTINUOUS, policy.continuous_days), (EVENT, policy.event_days)):
        while batch := index.unprotected_oldest(_BATCH, before=now - days * DAY, tier=tier):
            deleted += _delete(index, batch)
    while free_percent() < policy.min_free_percent:
        batch = index.unprotected_oldest(_BATCH)
        if not batch:
            logger.warning(
                "disk below %.0f %% free and every remaining segment is held", policy.min_free_percent
            )
            break
        for segment in batch:
            deleted += _delete(index, [segment])
            if free_percent() >= policy.min_free_percent:
                break
    return deleted


def _delete(index: RecordingIndex, segments: list[SegmentRecord]) -> list[SegmentRecord]:
    for segment in segments:
        segment.path.unlink(missing_ok=True)
    index.delete_segments([segment.id for segment in segments])
    return segments


def run_periodically(
    index: RecordingIndex,
    policy: RetentionPolicy,
    directory: Path,
    stop: threading.Event,
    *,
    interval_s: float = 60.0,
) -> None:
    """Body of a retention thread: `enforce` every `interval_s` until `stop` is set. Errors are logged."""
    probe = free_percent_of(directory)
    while not stop.wait(interval_s):
        try:
            deleted = enforce(index, policy, now=time.time(), free_percent=probe)
        except Exception:
            logger.exception("retention pass failed; retrying in %.0f s", interval_s)
            continue
        if deleted:
            logger.info(
                "retention deleted %d segments (%.1f MB)", len(deleted), sum(s.size for s in deleted) / 1e6
            )
