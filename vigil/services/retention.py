"""Retention: recorded segments by tier and disk pressure, and stored records by age.

`enforce` runs two passes over recorded segments, each oldest first and never touching a
segment that overlaps a hold (an evidence export, a job in progress, a legal hold):

1. age: continuous segments older than ``continuous_days`` and event segments older than
   ``event_days`` are deleted, each camera by its own overrides (``cameras[].recording``); a
   segment inside an open case's window is kept too;
2. pressure: while free space is below ``min_free_percent``, the oldest unheld segments (any
   tier, open cases' windows included: a case that stays open must not stop recording) are
   deleted, in batches; segments recorded on edge nodes (`RecordingIndex.add_remote_segments`)
   keep their rows here, since their files are on the edge (it has its own retention).

`RetentionService.run` does that and then expires stored records (`vigil.infra.db.expiry`
says what is protected): sightings with their crop files and search rows after
``sightings_days``, alerts with their crops, triage rows and history after ``alerts_days``,
the photos of cases closed ``case_photos_days`` ago, line crossing counts after
``crossing_counts_days`` and camera health events after ``health_events_days`` (each camera's
latest event stays: it is its current state). Each run reports what it deleted and
what it kept past its age because it is protected (`RetentionReport`), counts both in metrics
(`RetentionCollector`) and writes one audit row (``retention.run``). The running service
(`RetentionService.run_periodically`) checks disk pressure and segment ages every minute and
runs the whole pass every hour; ``POST /retention/run`` and ``vigil retention`` run it on demand.

Files are deleted first, then their rows, so a crash in between leaves rows pointing at
missing files (clip export skips unreadable segments, a missing crop is a 404) rather than
files nothing refers to.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.core.errors import EdgeRecordingError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.expiry import RecordExpiry
from vigil.infra.db.recordings import CONTINUOUS, EVENT, RecordingIndex, SegmentRecord, Span
from vigil.infra.db.store import Store
from vigil.pipeline import alert_crop_path

if TYPE_CHECKING:
    from config.models import VigilConfig

logger = logging.getLogger(__name__)

DAY = 86400.0
_BATCH = 200
_PRESERVE_BATCH = 1000
RUN_ACTION = "retention.run"
"""The audit action of a retention run."""
RECORDINGS_INTERVAL_S = 60.0
"""The running service checks disk pressure and segment ages this often."""
RECORDS_INTERVAL_S = 3600.0
"""The running service runs the whole pass (records too, and one audit row) this often."""
KINDS = ("segments", "sightings", "alerts", "case_photos", "crossing_counts", "health_events")
"""What a run deletes, as named in reports, metrics and the audit row."""


@dataclass(frozen=True)
class CameraTiers:
    """A camera's own recording retention (``cameras[].recording``), in days."""

    continuous_days: float
    event_days: float


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind is kept, and the free-space floor.

    Attributes:
        continuous_days: Continuous segments older than this are deleted.
        event_days: Segments marked as event (`RecordingIndex.mark_event`) are kept this long.
        min_free_percent: Below this much free disk, oldest unheld segments go first.
        sightings_days / alerts_days: Unprotected sightings / alerts older than this are deleted.
        case_photos_days: Photos of a case closed this long ago (and not held) are deleted.
        crossing_counts_days: Crossing counts whose interval ended this long ago are deleted.
        health_events_days: Health events this old are deleted, each camera's latest excepted.
        cameras: Per camera id, tiers that replace the site's two.
    """

    continuous_days: float = 7.0
    event_days: float = 30.0
    min_free_percent: float = 10.0
    sightings_days: float = 30.0
    alerts_days: float = 90.0
    case_photos_days: float = 30.0
    cameras: Mapping[str, CameraTiers] = field(default_factory=dict)
    crossing_counts_days: float = 365.0
    health_events_days: float = 90.0

    @classmethod
    def from_config(cls, config: VigilConfig) -> RetentionPolicy:
        """The site's `recording:` and `retention:` with every camera's recording overrides."""
        rec, kept = config.recording, config.retention
        cameras = {}
        for camera in config.cameras:
            if camera.recording is not None and (
                camera.recording.continuous_days is not None or camera.recording.event_days is not None
            ):
                own = rec.for_camera(camera.recording)
                cameras[camera.id] = CameraTiers(own.continuous_days, own.event_days)
        return cls(
            rec.continuous_days, rec.event_days, rec.min_free_percent,
            kept.sightings_days, kept.alerts_days, kept.case_photos_days, cameras,
            kept.crossing_counts_days, kept.health_events_days,
        )  # fmt: skip

    def tier_days(self, camera_id: str | None) -> tuple[float, float]:
        """(continuous, event) days of a camera (None: the site's)."""
        own = self.cameras.get(camera_id) if camera_id is not None else None
        return (own.continuous_days, own.event_days) if own else (self.continuous_days, self.event_days)


@dataclass(frozen=True)
class RetentionReport:
    """What one run did.

    Attributes:
        at: When it ran (epoch seconds).
        seconds: How long it took.
        deleted: Per kind (`KINDS`), rows deleted.
        kept: Per kind, rows past their age kept because protected (held, an open case, an export).
        files: Files deleted (segments, sighting and alert crops, case photo crops).
        bytes_freed: Bytes of the segments deleted.
        segments_between_runs: Segments the minute checks deleted since the previous run.
    """

    at: float
    seconds: float
    deleted: dict[str, int]
    kept: dict[str, int]
    files: int
    bytes_freed: int
    segments_between_runs: int = 0


def free_percent_of(path: Path) -> Callable[[], float]:
    """A probe of the free space (percent) of the filesystem holding `path` (100 while it does not exist)."""

    def probe() -> float:
        try:
            usage = shutil.disk_usage(path)
        except FileNotFoundError:
            return 100.0  # nothing recorded here yet (a central node): no pressure to relieve
        return 100.0 * usage.free / usage.total

    return probe


def enforce(
    index: RecordingIndex,
    policy: RetentionPolicy,
    *,
    now: float,
    free_percent: Callable[[], float],
    spared: Sequence[Span] = (),
) -> list[SegmentRecord]:
    """Apply age limits (per camera), then disk pressure. Returns the segments deleted, oldest first.

    Args:
        index: The recording index.
        policy: The tiers, per-camera overrides and free-space floor.
        now: The time ages are measured from.
        free_percent: Probe of the recording filesystem's free space.
        spared: Spans kept from the age pass on every camera (open cases' windows).
    """
    deleted: list[SegmentRecord] = []
    own = sorted(policy.cameras)
    for camera in [None, *own]:
        continuous, event = policy.tier_days(camera)
        cameras = None if camera is None else [camera]
        exclude = own if camera is None else ()
        for tier, days in ((CONTINUOUS, continuous), (EVENT, event)):
            before = now - days * DAY
            while batch := index.unprotected_oldest(
                _BATCH, before=before, tier=tier, cameras=cameras, exclude_cameras=exclude, spared=spared
            ):
                deleted += _delete(index, batch)
    while free_percent() < policy.min_free_percent:
        # Segments edge nodes hold stay indexed: their files (all but fetched copies) are not here.
        batch = index.unprotected_oldest(_BATCH, local_only=True)
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


def kept_segments(index: RecordingIndex, policy: RetentionPolicy, now: float) -> int:
    """Segments past their tier's age still indexed (held, or in an open case's window)."""
    own = sorted(policy.cameras)
    total = 0
    for camera in [None, *own]:
        continuous, event = policy.tier_days(camera)
        cameras = None if camera is None else [camera]
        exclude = own if camera is None else ()
        for tier, days in ((CONTINUOUS, continuous), (EVENT, event)):
            total += index.count(before=now - days * DAY, tier=tier, cameras=cameras, exclude_cameras=exclude)
    return total


def run_periodically(
    index: RecordingIndex,
    policy: RetentionPolicy,
    directory: Path,
    stop: threading.Event,
    *,
    interval_s: float = 60.0,
) -> None:
    """Body of a recordings-only retention thread: `enforce` every `interval_s` until `stop` is set."""
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


class RetentionService:
    """Recordings and records retention over one site's database (see the module docstring).

    Args:
        store: The site database.
        policy: What is kept how long.
        data_dir: Root of stored crop paths (sighting crops, ``alert-crops/``).
        recording_dir: Where segments are written (its filesystem's free space is watched).
        forget: Told the ids of deleted sightings (the case index drops them at once).
        free_percent: Free-space probe; default the recording filesystem's.
    """

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy,
        data_dir: Path,
        recording_dir: Path,
        *,
        forget: Callable[[Sequence[str]], None] | None = None,
        free_percent: Callable[[], float] | None = None,
    ) -> None:
        self.policy = policy
        self._recordings = RecordingIndex.for_store(store)
        self._records = RecordExpiry.for_store(store)
        self._audit = CaseStore.for_store(store)
        self._data_dir = data_dir
        self._forget = forget
        self._free_percent = free_percent or free_percent_of(recording_dir)
        self._lock = threading.Lock()
        self._between_runs = 0
        self.last: RetentionReport | None = None
        """The latest full run's report."""
        self.deleted_total: dict[str, int] = dict.fromkeys(KINDS, 0)
        """Rows deleted per kind since start (minute checks included)."""
        self.files_total = 0
        self.runs = 0
        self.preserved_total = 0
        """Held segments copied here from edge nodes since start (`preserve_held_remote`)."""

    @classmethod
    def from_config(
        cls,
        config: VigilConfig,
        store: Store,
        data_dir: Path,
        *,
        forget: Callable[[Sequence[str]], None] | None = None,
    ) -> RetentionService:
        """The service for a site: its policy, crops under `data_dir`, its recording directory."""
        recording_dir = config.recording.directory or data_dir / "recordings"
        return cls(store, RetentionPolicy.from_config(config), data_dir, recording_dir, forget=forget)

    def run(
        self, *, now: float | None = None, user: str = "vigil", reason: str = "scheduled"
    ) -> RetentionReport:
        """One whole pass: segments, then sightings, alerts and case photos; audited once.

        Args:
            now: The time ages are measured from (default: now).
            user: Who asked (audited); ``vigil`` for the schedule.
            reason: Why (audited).
        """
        self.preserve_held_remote()
        with self._lock:
            started = time.monotonic()
            now = time.time() if now is None else now
            segments = enforce(
                self._recordings,
                self.policy,
                now=now,
                free_percent=self._free_percent,
                spared=self._records.open_case_windows(now),
            )
            self._recordings.forget_event_spans(now - max(self._all_event_days()) * DAY)
            records, files = self._expire_records(now)
            report = RetentionReport(
                at=now,
                seconds=time.monotonic() - started,
                deleted={"segments": len(segments), **records},
                kept=self._kept(now),
                files=files + len(segments),
                bytes_freed=sum(s.size for s in segments),
                segments_between_runs=self._between_runs,
            )
            self._between_runs = 0
            self._count(report.deleted, report.files)
            self.last, self.runs = report, self.runs + 1
        self._audit.audit(
            AuditRecord(
                at=now, user=user, action=RUN_ACTION, case_id=None, reason=reason, detail=_detail(report)
            )
        )
        return report

    def _expire_records(self, now: float) -> tuple[dict[str, int], int]:
        """Records past their age: rows deleted per kind, files deleted (crops and photos)."""
        p = self.policy
        records = self._records
        deleted = {
            "crossing_counts": records.delete_crossing_counts(before=now - p.crossing_counts_days * DAY),
            "health_events": records.delete_health_events(before=now - p.health_events_days * DAY),
        }
        files = 0
        for kind, expire in (
            ("sightings", self._expire_sightings),
            ("alerts", self._expire_alerts),
            ("case_photos", self._expire_case_photos),
        ):
            deleted[kind], removed = expire(now)
            files += removed
        return deleted, files

    def check_recordings(self, *, now: float | None = None) -> list[SegmentRecord]:
        """The minute check: segment ages and disk pressure only (counted, audited with the next run)."""
        self.preserve_held_remote()
        with self._lock:
            now = time.time() if now is None else now
            windows = self._records.open_case_windows(now)
            segments = enforce(
                self._recordings, self.policy, now=now, free_percent=self._free_percent, spared=windows
            )
            self._between_runs += len(segments)
            self._count({"segments": len(segments)}, len(segments))
        return segments

    def preserve_held_remote(self) -> int:
        """Copy here the held segments edge nodes hold (a legal hold or an export placed here).

        An edge node's retention does not know central's holds, so central keeps its own copy
        of every held span; a node that is down is logged and tried again at the next check.
        Returns how many files were fetched.
        """
        missing = [s for s in self._recordings.held_remote(_PRESERVE_BATCH) if not s.path.is_file()]
        fetched, failed = 0, []
        for segment in missing:
            try:
                self._recordings.bring_here([segment])
                fetched += 1
            except EdgeRecordingError as error:
                failed.append(str(error))
        if failed:
            logger.warning("%d held segment(s) not copied from their edge yet: %s", len(failed), failed[0])
        self.preserved_total += fetched
        return fetched

    def run_periodically(
        self,
        stop: threading.Event,
        *,
        recordings_interval_s: float = RECORDINGS_INTERVAL_S,
        records_interval_s: float = RECORDS_INTERVAL_S,
    ) -> None:
        """Body of the retention thread: a whole run every `records_interval_s`, minute checks between.

        The first whole run comes one `recordings_interval_s` after start, not at once: a node
        starting up has more urgent work than deleting last month.
        """
        next_run = time.monotonic()
        while not stop.wait(recordings_interval_s):
            try:
                if time.monotonic() >= next_run:
                    report = self.run()
                    next_run = time.monotonic() + records_interval_s
                    if any(report.deleted.values()):
                        logger.info("retention deleted %s; kept %s", report.deleted, report.kept)
                else:
                    self.check_recordings()
            except Exception:
                logger.exception("retention pass failed; retrying in %.0f s", recordings_interval_s)

    def _all_event_days(self) -> list[float]:
        return [self.policy.event_days, *(c.event_days for c in self.policy.cameras.values())]

    def _expire_sightings(self, now: float) -> tuple[int, int]:
        total = files = 0
        since = None
        before = now - self.policy.sightings_days * DAY
        while batch := self._records.sightings(_BATCH, before=before, since=since):
            since = batch[-1].at
            files += self._unlink(row.file for row in batch)
            ids = [row.id for row in batch]
            total += self._records.delete_sightings(ids)
            if self._forget is not None:
                self._forget(ids)
        return total, files

    def _expire_alerts(self, now: float) -> tuple[int, int]:
        total = files = 0
        since = None
        while batch := self._records.alerts(_BATCH, before=now - self.policy.alerts_days * DAY, since=since):
            since = batch[-1].at
            files += self._unlink(str(alert_crop_path(row.id)) for row in batch)
            total += self._records.delete_alerts([row.id for row in batch])
        return total, files

    def _expire_case_photos(self, now: float) -> tuple[int, int]:
        total = files = 0
        closed_before = now - self.policy.case_photos_days * DAY
        while batch := self._records.case_photos(_BATCH, closed_before=closed_before):
            files += self._unlink(row.file for row in batch)
            total += self._records.delete_case_photos([row.id for row in batch])
        return total, files

    def _unlink(self, paths: Iterable[str | None]) -> int:
        """Delete stored files (paths relative to the data directory); returns how many existed."""
        removed = 0
        for stored in paths:
            if not stored:
                continue
            path = Path(stored)
            path = path if path.is_absolute() else self._data_dir / path
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def _kept(self, now: float) -> dict[str, int]:
        p = self.policy
        return {
            "segments": kept_segments(self._recordings, p, now),
            "sightings": self._records.count_sightings(before=now - p.sightings_days * DAY),
            "alerts": self._records.count_alerts(before=now - p.alerts_days * DAY),
            "case_photos": self._records.count_case_photos(closed_before=now - p.case_photos_days * DAY),
            "crossing_counts": self._records.count_crossing_counts(before=now - p.crossing_counts_days * DAY),
            "health_events": self._records.count_health_events(before=now - p.health_events_days * DAY),
        }

    def _count(self, deleted: Mapping[str, int], files: int) -> None:
        for kind, n in deleted.items():
            self.deleted_total[kind] += n
        self.files_total += files


def _detail(report: RetentionReport) -> dict[str, object]:
    return {
        "deleted": report.deleted,
        "kept": report.kept,
        "files": report.files,
        "bytes_freed": report.bytes_freed,
        "segments_between_runs": report.segments_between_runs,
        "seconds": round(report.seconds, 3),
    }


class RetentionCollector(Collector):
    """Prometheus metrics of a `RetentionService`, read at scrape time (``GET /metrics``).

    Register while the service runs: ``REGISTRY.register(RetentionCollector(service))``.
    """

    def __init__(self, service: RetentionService) -> None:
        self.service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        service = self.service
        deleted = CounterMetricFamily(
            "vigil_retention_deleted", "Rows deleted by retention since start, per kind.", labels=["kind"]
        )
        for kind, n in service.deleted_total.items():
            deleted.add_metric([kind], float(n))
        yield deleted
        yield CounterMetricFamily(
            "vigil_retention_files_deleted", "Files (segments, crops) deleted by retention since start.",
            value=float(service.files_total),
        )  # fmt: skip
        yield CounterMetricFamily(
            "vigil_retention_runs", "Whole retention runs since start.", value=service.runs
        )
        last = service.last
        if last is None:
            return
        kept = GaugeMetricFamily(
            "vigil_retention_kept",
            "Rows past their age that the latest run kept because they are protected, per kind.",
            labels=["kind"],
        )
        for kind, n in last.kept.items():
            kept.add_metric([kind], float(n))
        yield kept
        yield GaugeMetricFamily(
            "vigil_retention_last_run_timestamp_seconds", "When the latest run ran.", value=last.at
        )
        yield GaugeMetricFamily("vigil_retention_last_run_seconds", "How long it took.", value=last.seconds)
