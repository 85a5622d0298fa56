"""Backtest: what one rule would have raised over a camera's recorded footage.

An admin picks a configured rule (by name) or a *draft* that is not in the config yet, a
camera and a window. The job decodes the camera's recorded segments over the window with the
back-scan decode path (`vigil.services.backscan.RecordingScan`: decode at fps, privacy masks,
gap restart, corrupt segments reported and skipped) and runs detection, tracking and that one
rule exactly as live (`vigil.pipeline.build_processor`, `alerts.build_rule`). Nothing is
published or stored in the database: the result is the report itself, with

- every event the rule raised (time, kind, track, direction / value / phase, message), a crop
  JPEG of each under ``<data_dir>/backtests/<job id>/`` and a clip link (the clip export route);
- events per hour, and crossings per direction per hour for a line rule;
- gaps in the window, corrupt segments skipped, elapsed time, speed (x real time) and where
  the time went (decode / detect / track / rule).

A draft is validated like a config rule on its camera (``{rule: {...}, zone: {...}?, line:
{...}?}``: the draft may bring its own zone polygon or line, replacing the camera's of the same
name), with errors naming the YAML path (``rule.zone: camera 'gate' has no zone 'x'``).

One job runs at a time (a second is refused while one is queued or running). Starts, cancels
and ends are written to the audit log with the user and the reason; the window's recordings
are held against retention while the job runs.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pydantic

from alerts import build_rule
from alerts.base import Rule
from config.loader import format_location
from config.models import (
    CameraConfig,
    Line,
    LineCrossingRule,
    Polygon,
    RuleSpec,
    VigilConfig,
    _rule_camera_error,
)
from config.rules import Rule as RuleField
from detectors.base import Detector
from tracker.sighting import SightingBuilder
from vigil.core.errors import ValidationError, VigilError
from vigil.core.types import Alert, CrossingCount, Detections
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex, SegmentRecord
from vigil.pipeline import CountingRule, FrameOutput, FramePipeline, build_processor, save_alert_crop
from vigil.services.backscan import JobState, RecordingScan, SegmentDecoder, SegmentError

log = logging.getLogger(__name__)

DetectorProvider = Callable[[], Detector]
"""The shared detector, built on first use."""

MAX_WINDOW_S = 24 * 3600.0
"""Longest window one backtest may cover (a day: about 2.5 h of work at the 1 h / 6 min target)."""
CLIP_MARGIN_S = 5.0
"""An event's clip link spans this long before and after it."""
GAP_TOLERANCE_S = 1.0
"""Segments further apart than this leave a gap in the window (less is timestamp rounding)."""
HOUR_S = 3600.0
BACKTESTS_DIR = "backtests"
"""Under the data directory: one folder of event crops per job."""
JOBS_KEPT = 20
"""Finished jobs whose reports stay readable (oldest forgotten first)."""


class BacktestError(VigilError):
    """A backtest cannot run: bad window, nothing recorded, or another one is running."""


class BacktestNotFound(BacktestError):
    """No such rule, camera, job or event."""


class BacktestBusy(BacktestError):
    """Another backtest is queued or running (one at a time)."""


class DraftInvalid(BacktestError):
    """A draft rule does not validate; `problems` holds one 'yaml.path: message' line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("draft rule: " + "; ".join(problems))


class BacktestDraft(pydantic.BaseModel):
    """A rule to try before it is configured, with an optional zone or line of its own.

    Attributes:
        rule: The rule as it would appear under ``rules:`` (``camera`` may be left out when the
            backtest names the camera).
        zone: A zone polygon for the rule, replacing the camera's zone of that name if any.
        line: A line for a line_crossing rule, replacing the camera's line of that name if any.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    rule: RuleField
    zone: Polygon | None = None
    line: Line | None = None


@dataclass(frozen=True)
class BacktestTarget:
    """The rule under test on its camera (a draft's zone or line already on the camera)."""

    config: VigilConfig
    rule: RuleSpec
    camera: CameraConfig
    draft: bool


@dataclass(frozen=True)
class BacktestOptions:
    """Knobs of one backtest (the levers of its speed; see ``benchmarks/backtest.py``).

    Attributes:
        detect_fps: Frames per second through detection; None: the camera's ``detect_fps``.
            Lowering it makes the backtest faster in proportion and tracks coarser (a fast
            walker crossing a small zone between two frames is missed).
        decode_width: Convert decoded frames to this width (aspect kept) instead of the full
            recorded resolution, like a camera's detect sub-stream; None: full size. Lowering
            it cuts the colour conversion and the detector's resize; pixel filters
            (``min_height_px``) then refer to the smaller frame.
        motion: Force motion gating on or off; None: the camera's ``motion.enabled``. On,
            frames where nothing moved skip detection.
        max_window_s: Longest window accepted.
    """

    detect_fps: float | None = None
    decode_width: int | None = None
    motion: bool | None = None
    max_window_s: float = MAX_WINDOW_S

    def __post_init__(self) -> None:
        if self.detect_fps is not None and not (math.isfinite(self.detect_fps) and 0 < self.detect_fps <= 30):
            raise ValidationError(f"detect_fps: expected 0 < fps <= 30, got {self.detect_fps}")
        if self.decode_width is not None and not 64 <= self.decode_width <= 7680:
            raise ValidationError(f"decode_width: expected 64..7680 pixels, got {self.decode_width}")
        if not (math.isfinite(self.max_window_s) and self.max_window_s > 0):
            raise ValidationError(f"max_window_s: expected > 0, got {self.max_window_s}")


@dataclass(frozen=True)
class BacktestEvent:
    """One alert the rule would have raised.

    Attributes:
        id: The alert's id; its crop is ``crops/<id>.jpg`` in the job folder.
        at: Epoch seconds (recording wall time).
        kind: The rule type that raised it (`vigil.core.types.AlertKind` value).
        track: Track id on this backtest's tracker, if any.
        direction: Line crossings: 'in' or 'out'.
        value: Dwell seconds, people in the zone, or speed in m/s, by kind.
        phase: 'start' / 'end' for conditions that last (occupancy, person_down).
        message: The alert's line.
        box: Box of the triggering person, pixels of the analysed frame.
        crop: The crop's file relative to the job folder; None when none was saved.
        clip_start: Start of its clip link's span.
        clip_end: End of its clip link's span.
    """

    id: str
    at: float
    kind: str
    track: int | None
    direction: str | None
    value: float | None
    phase: str | None
    message: str
    box: tuple[float, float, float, float] | None
    crop: str | None
    clip_start: float
    clip_end: float

    def clip_url(self, camera_id: str) -> str:
        """The clip export route for this event's span (add ``reason``: exports are audited)."""
        return f"/cameras/{camera_id}/clip.mp4?start={self.clip_start:.3f}&end={self.clip_end:.3f}"


@dataclass(frozen=True)
class HourCount:
    """Events (and, for a line rule, crossings per direction) in one hour of the window."""

    start: float
    events: int = 0
    count_in: int = 0
    count_out: int = 0


@dataclass(frozen=True)
class WindowGap:
    """A part of the window with no recording, and why if the recorder said."""

    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class TimeSplit:
    """Where the job's time went, seconds.

    Attributes:
        decode: Decoding and converting frames.
        detect: The detector.
        track: Tracking, motion gating and detection filters (the pipeline step less the rest).
        rule: The rule's `evaluate` and its counting.
    """

    decode: float = 0.0
    detect: float = 0.0
    track: float = 0.0
    rule: float = 0.0


@dataclass(frozen=True)
class BacktestReport:
    """A backtest job as seen from outside, at one moment (its results once finished)."""

    job_id: str
    state: JobState
    rule: str
    rule_type: str
    camera_id: str
    draft: bool
    requested_by: str
    reason: str
    window_start: float
    window_end: float
    detect_fps: float
    segments_total: int
    segments_done: int
    video_seconds: float
    frames: int
    events: tuple[BacktestEvent, ...]
    hours: tuple[HourCount, ...]
    crossings_in: int | None
    crossings_out: int | None
    gaps: tuple[WindowGap, ...]
    errors: tuple[SegmentError, ...]
    split: TimeSplit
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    message: str = ""

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at

    @property
    def speed(self) -> float:
        """Recorded seconds analysed per second of work (x real time)."""
        return self.video_seconds / self.elapsed_s if self.elapsed_s > 0 else 0.0


# -- what to test ---------------------------------------------------------------------------------


def configured_rule(config: VigilConfig, name: str) -> BacktestTarget:
    """A rule of the config by name, on its camera.

    Raises:
        BacktestNotFound: No rule of that name.
    """
    for rule in config.rules:
        if rule.name == name:
            return BacktestTarget(config, rule, config.camera(rule.camera), draft=False)
    raise BacktestNotFound(f"rule {name!r} is not configured")


def draft_rule(config: VigilConfig, data: object, camera_id: str | None = None) -> BacktestTarget:
    """A draft ``{rule: {...}, zone: {...}?, line: {...}?}`` validated like a config rule on its camera.

    Args:
        config: The site config (the camera, its zones and lines, the time zone).
        data: The draft as parsed from YAML or JSON.
        camera_id: The camera asked for; fills ``rule.camera`` when the draft leaves it out.

    Raises:
        DraftInvalid: The draft does not validate (each problem names its YAML path).
        BacktestNotFound: The camera is not configured.
    """
    if not isinstance(data, Mapping):
        raise DraftInvalid([f"draft: expected a mapping with a 'rule' key, got {type(data).__name__}"])
    data = dict(data)
    if camera_id is not None and isinstance(data.get("rule"), Mapping):
        rule_data = dict(data["rule"])
        if rule_data.setdefault("camera", camera_id) != camera_id:
            raise DraftInvalid(
                [
                    f"rule.camera: the draft watches {rule_data['camera']!r}, "
                    f"the backtest asks for {camera_id!r}"
                ]
            )
        data["rule"] = rule_data
    try:
        draft = BacktestDraft.model_validate(data)
    except pydantic.ValidationError as error:
        raise DraftInvalid(_problems(error)) from None
    rule = draft.rule
    try:
        camera = config.camera(rule.camera)
    except KeyError:
        raise BacktestNotFound(f"rule.camera: unknown camera {rule.camera!r}") from None
    camera = _with_shapes(camera, draft.zone, draft.line)
    problem = _rule_camera_error(rule, camera)
    if problem is not None:
        raise DraftInvalid([f"rule.{problem}"])
    return BacktestTarget(config, rule, camera, draft=True)


def _with_shapes(camera: CameraConfig, zone: Polygon | None, line: Line | None) -> CameraConfig:
    """The camera with the draft's zone and line (replacing same-named ones), checked as a camera."""
    zones = [z for z in camera.zones if zone is None or z.name != zone.name] + ([zone] if zone else [])
    lines = [x for x in camera.lines if line is None or x.name != line.name] + ([line] if line else [])
    try:
        return CameraConfig.model_validate({**dict(camera), "zones": zones, "lines": lines})
    except pydantic.ValidationError as error:
        key = "zone" if zone is not None else "line"
        raise DraftInvalid([f"{key}: {problem}" for problem in _problems(error)]) from None


RULE_TYPES = frozenset(("zone_intrusion", "line_crossing", "dwell", "occupancy", "person_down"))


def _problems(error: pydantic.ValidationError) -> list[str]:
    """'yaml.path: message' per error, the union's type tag left out (rule.dwell.zone -> rule.zone)."""
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        loc = tuple(item["loc"])
        location = tuple(
            p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "rule" and p in RULE_TYPES)
        )
        where = format_location(location)
        problems.append(f"{where}: {message}" if where else message)
    return problems


# -- the window -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestPlan:
    """The segments of the camera over ``[start, end)`` and the window's gaps."""

    start: float
    end: float
    segments: tuple[SegmentRecord, ...]
    gaps: tuple[WindowGap, ...]


def plan_window(
    recordings: RecordingIndex, camera_id: str, start: float, end: float, options: BacktestOptions, tz: str
) -> BacktestPlan:
    """What a backtest of `camera_id` over ``[start, end)`` reads.

    Raises:
        BacktestError: End not after start, a window longer than ``options.max_window_s``, or
            nothing recorded in it (the message names the camera, the window and what is recorded).
    """
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise BacktestError(
            f"window: expected start < end, got start={local_time(start, tz)} end={local_time(end, tz)}"
        )
    if end - start > options.max_window_s:
        raise BacktestError(
            f"window: {end - start:.0f} s asked, at most {options.max_window_s:.0f} s; "
            "split it into shorter ones"
        )
    segments = tuple(recordings.segments(camera_id, start, end))
    if not segments:
        extent = recordings.extent(camera_id)
        recorded = (
            "nothing" if extent is None else f"{local_time(extent[0], tz)} .. {local_time(extent[1], tz)}"
        )
        raise BacktestError(
            f"camera {camera_id!r} has no recording between {local_time(start, tz)} and "
            f"{local_time(end, tz)}; recorded: {recorded}"
        )
    reasons = recordings.gaps(camera_id, start, end)
    return BacktestPlan(start, end, segments, tuple(window_gaps(segments, start, end, reasons)))


def window_gaps(
    segments: Sequence[SegmentRecord], start: float, end: float, recorded: Sequence[Any]
) -> list[WindowGap]:
    """The parts of ``[start, end)`` no segment covers, with the recorder's reason where it gave one."""
    holes: list[tuple[float, float]] = []
    covered = start
    for segment in segments:
        if segment.start - covered > GAP_TOLERANCE_S:
            holes.append((covered, min(segment.start, end)))
        covered = max(covered, segment.end)
    if end - covered > GAP_TOLERANCE_S:
        holes.append((covered, end))
    gaps = []
    for a, b in holes:
        reason = next((g.reason for g in recorded if g.start < b and g.end > a), "no recording")
        gaps.append(WindowGap(round(a, 3), round(b, 3), reason))
    return gaps


def local_time(at: float, tz: str) -> str:
    """ISO-8601 of epoch seconds in the site's time zone (to the second)."""
    if not math.isfinite(at):
        return str(at)
    return datetime.fromtimestamp(at, ZoneInfo(tz)).isoformat(timespec="seconds")


def parse_site_time(text: str, tz: str) -> float:
    """Epoch seconds from epoch seconds or ISO-8601; an ISO time without offset is in the site's zone.

    Raises:
        ValidationError: Neither a number nor an ISO-8601 time.
    """
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"expected epoch seconds or an ISO-8601 time, got {text!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(tz))
        seconds = moment.astimezone(UTC).timestamp()
    if not math.isfinite(seconds):
        raise ValidationError(f"expected a finite time, got {text!r}")
    return seconds


# -- running it -----------------------------------------------------------------------------------


class _TimedRule:
    """The rule under test, with its time counted (`evaluate` and the crossing counts)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.name = rule.name
        self.camera_id = rule.camera_id
        self.seconds = 0.0

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        began = time.perf_counter()
        try:
            return self.rule.evaluate(tracked, frame_size, timestamp)
        finally:
            self.seconds += time.perf_counter() - began

    def drain_counts(self, now: float) -> list[CrossingCount]:
        if not isinstance(self.rule, CountingRule):
            return []
        began = time.perf_counter()
        try:
            return self.rule.drain_counts(now)
        finally:
            self.seconds += time.perf_counter() - began

    def reset(self) -> None:
        self.rule.reset()


def _analysed_camera(camera: CameraConfig, options: BacktestOptions) -> CameraConfig:
    """The camera as the backtest runs it: its detect fps and motion gating as the options say."""
    update: dict[str, Any] = {}
    if options.detect_fps is not None:
        update["detect_fps"] = options.detect_fps
    if options.motion is not None:
        update["motion"] = camera.motion.model_copy(update={"enabled": options.motion})
    return camera.model_copy(update=update) if update else camera


@dataclass
class _Job:
    """A job's mutable state; read through `snapshot` under the service lock."""

    id: str
    target: BacktestTarget
    options: BacktestOptions
    plan: BacktestPlan
    user: str
    reason: str
    folder: Path
    submitted_at: float
    detect_fps: float
    state: JobState = JobState.QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    segments_done: int = 0
    video_seconds: float = 0.0
    frames: int = 0
    events: list[BacktestEvent] = field(default_factory=list)
    counts: list[CrossingCount] = field(default_factory=list)
    errors: list[SegmentError] = field(default_factory=list)
    split: TimeSplit = field(default_factory=TimeSplit)
    message: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> BacktestReport:
        line_rule = isinstance(self.target.rule, LineCrossingRule)
        return BacktestReport(
            job_id=self.id,
            state=self.state,
            rule=self.target.rule.name,
            rule_type=self.target.rule.type,
            camera_id=self.target.camera.id,
            draft=self.target.draft,
            requested_by=self.user,
            reason=self.reason,
            window_start=self.plan.start,
            window_end=self.plan.end,
            detect_fps=self.detect_fps,
            segments_total=len(self.plan.segments),
            segments_done=self.segments_done,
            video_seconds=round(self.video_seconds, 3),
            frames=self.frames,
            events=tuple(self.events),
            hours=tuple(hour_counts(self.plan.start, self.plan.end, self.events, self.counts)),
            crossings_in=sum(c.count_in for c in self.counts) if line_rule else None,
            crossings_out=sum(c.count_out for c in self.counts) if line_rule else None,
            gaps=self.plan.gaps,
            errors=tuple(self.errors),
            split=self.split,
            submitted_at=self.submitted_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            message=self.message,
        )


def hour_counts(
    start: float, end: float, events: Sequence[BacktestEvent], counts: Sequence[CrossingCount]
) -> list[HourCount]:
    """Events and crossings per hour of ``[start, end)``, hours aligned to the clock (UTC hours)."""
    first = math.floor(start / HOUR_S) * HOUR_S
    n = max(1, math.ceil((end - first) / HOUR_S))
    totals = [[0, 0, 0] for _ in range(n)]
    for event in events:
        k = int((event.at - first) // HOUR_S)
        if 0 <= k < n:
            totals[k][0] += 1
    for count in counts:
        k = min(n - 1, max(0, int((max(count.start, start) - first) // HOUR_S)))
        totals[k][1] += count.count_in
        totals[k][2] += count.count_out
    return [HourCount(first + k * HOUR_S, *row) for k, row in enumerate(totals)]


def _event(alert: Alert, crop: Path | None, folder: Path) -> BacktestEvent:
    return BacktestEvent(
        id=alert.id,
        at=alert.timestamp,
        kind=alert.kind.value,
        track=alert.tracker_id,
        direction=alert.direction.value if alert.direction is not None else None,
        value=alert.value,
        phase=alert.phase.value if alert.phase is not None else None,
        message=alert.message,
        box=alert.box,
        crop=crop.relative_to(folder).as_posix() if crop is not None else None,
        clip_start=round(alert.timestamp - CLIP_MARGIN_S, 3),
        clip_end=round(alert.timestamp + CLIP_MARGIN_S, 3),
    )


class BacktestService:
    """Runs backtest jobs, one at a time, each on its own thread.

    Args:
        recordings: The recording index.
        audit: The audit log (``case_id`` NULL; actions ``backtest_start``, ``_cancel``, ``_end``).
        detector: The shared detector, built on first use.
        data_dir: Where ``backtests/<job id>/`` folders of crops go.
        recording_root: Where relative segment paths live.
    """

    def __init__(
        self,
        *,
        recordings: RecordingIndex,
        audit: CaseStore,
        detector: DetectorProvider,
        data_dir: Path,
        recording_root: Path | None = None,
    ) -> None:
        self._recordings = recordings
        self._audit_log = audit
        self._detector = detector
        self._data_dir = data_dir
        self._recording_root = recording_root
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stopping = False

    # -- commands ------------------------------------------------------------------------------

    def submit(
        self, target: BacktestTarget, start: float, end: float, *, user: str, reason: str,
        options: BacktestOptions | None = None,
    ) -> BacktestReport:  # fmt: skip
        """Plan and start a job; audited with the user and the reason.

        Raises:
            BacktestError: A bad window or nothing recorded in it (see `plan_window`), or the
                service is stopping.
            BacktestBusy: Another job is queued or running.
        """
        options = options or BacktestOptions()
        camera = target.camera
        plan = plan_window(self._recordings, camera.id, start, end, options, target.config.timezone)
        with self._lock:
            if self._stopping:
                raise BacktestError("backtest: the service is stopping")
            self._refuse_if_busy()
            job_id = uuid.uuid4().hex
            job = _Job(
                id=job_id, target=target, options=options, plan=plan, user=user, reason=reason,
                folder=self._data_dir / BACKTESTS_DIR / job_id, submitted_at=time.time(),
                detect_fps=options.detect_fps or camera.detect_fps,
            )  # fmt: skip
            self._jobs[job.id] = job
            self._forget_old()
            self._audit(job, "backtest_start", _start_detail(job))
            self._recordings.add_hold(camera.id, plan.start, plan.end, f"backtest:{job.id}")
            thread = threading.Thread(
                target=self._work, args=(job,), name=f"backtest-{job.id[:8]}", daemon=True
            )
            self._threads[job.id] = thread
            thread.start()
            return job.snapshot()

    def progress(self, job_id: str) -> BacktestReport:
        """A job's progress, and its results once finished.

        Raises:
            BacktestNotFound: No such job (or it was forgotten: only the last `JOBS_KEPT` are kept).
        """
        with self._lock:
            return self._job(job_id).snapshot()

    def latest(self) -> BacktestReport | None:
        """The most recently submitted job, if any."""
        with self._lock:
            return next(reversed(self._jobs.values())).snapshot() if self._jobs else None

    def cancel(self, job_id: str, user: str) -> BacktestReport:
        """Cancel a job at its next frame (audited); what it found so far stays in its report.

        Raises:
            BacktestNotFound: No such job.
        """
        with self._lock:
            job = self._job(job_id)
            if not job.state.finished and not job.cancel.is_set():
                job.cancel.set()
                self._audit(job, "backtest_cancel", {"job_id": job.id}, user=user)
            return job.snapshot()

    def wait(self, job_id: str, timeout: float | None = None) -> BacktestReport:
        """Block until the job has finished (or `timeout` passes); returns its report."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.progress(job_id)

    def crop(self, job_id: str, event_id: str) -> Path:
        """The crop JPEG of one event of a job.

        Raises:
            BacktestNotFound: No such job, event, or no crop for it.
        """
        with self._lock:
            job = self._job(job_id)
            event = next((e for e in job.events if e.id == event_id), None)
        if event is None or event.crop is None or not (job.folder / event.crop).is_file():
            raise BacktestNotFound(f"backtest {job_id}: no crop for event {event_id!r}")
        return job.folder / event.crop

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every job and wait for their threads (bounded)."""
        with self._lock:
            self._stopping = True
            for job in self._jobs.values():
                job.cancel.set()
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------

    def _work(self, job: _Job) -> None:
        with self._lock:
            job.state, job.started_at = JobState.RUNNING, time.time()
        try:
            self._run(job)
            state = JobState.CANCELLED if job.cancel.is_set() else JobState.DONE
        except Exception as error:  # a failed job is reported, and the next one can start
            log.exception("backtest %s of rule %s failed", job.id, job.target.rule.name)
            with self._lock:
                job.message = f"{type(error).__name__}: {error}"
            state = JobState.FAILED
        with self._lock:
            self._finish(job, state)

    def _run(self, job: _Job) -> None:
        target = job.target
        camera = _analysed_camera(target.camera, job.options)
        detector = self._detector()
        rule = _TimedRule(build_rule(target.rule, camera, target.config.timezone, detector.class_names))
        pipeline = FramePipeline(detector)  # no data_dir: nothing saved where live crops go
        processor = build_processor(target.config, camera, detector, [rule])
        processor.sightings = SightingBuilder(camera.id)  # no best crops saved: no sightings of the past
        pipeline.add(processor)
        scan = RecordingScan(
            camera.id,
            pipeline,
            SegmentDecoder(job.detect_fps, width=job.options.decode_width),
            [mask.polygon for mask in camera.privacy_masks],
            target.config.tracker.track_buffer_s,
        )
        for segment in job.plan.segments:
            if job.cancel.is_set():
                break
            self._scan_segment(job, scan, segment)
            self._account(job, scan, rule)
        with self._lock:
            job.counts.extend(pipeline.flush_counts(camera.id))  # the interval still open at the end

    def _scan_segment(self, job: _Job, scan: RecordingScan, segment: SegmentRecord) -> None:
        start, end = max(segment.start, job.plan.start), min(segment.end, job.plan.end)
        scanned_before = job.video_seconds

        def on_frame(at: float, outputs: list[FrameOutput]) -> None:
            events = [self._record(job, output, alert) for output in outputs for alert in output.alerts]
            with self._lock:
                job.events.extend(events)
                job.counts.extend(count for output in outputs for count in output.counts)
                job.frames += 1
                job.video_seconds = scanned_before + (at - start)

        result = scan.scan_segment(
            self._resolve(segment.path), segment.start, (start, end), job.cancel, on_frame
        )
        with self._lock:
            if result.error is not None:
                log.warning("backtest %s: segment %s skipped: %s", job.id, segment.path, result.error)
                job.errors.append(
                    SegmentError(
                        segment.camera_id, str(segment.path), segment.start,
                        f"{type(result.error).__name__}: {result.error}",
                    )
                )  # fmt: skip
            job.video_seconds = scanned_before + (result.scanned_to - start)
            job.segments_done += 1

    def _record(self, job: _Job, output: FrameOutput, alert: Alert) -> BacktestEvent:
        """The event of one alert, its crop saved from the (masked) frame it fired on."""
        saved = save_alert_crop(job.folder, alert, output.frame.image)
        return _event(alert, saved, job.folder)

    def _account(self, job: _Job, scan: RecordingScan, rule: _TimedRule) -> None:
        detect = scan.pipeline.stats.detect_seconds
        with self._lock:
            job.split = TimeSplit(
                decode=round(scan.decode_seconds, 3),
                detect=round(detect, 3),
                track=round(max(0.0, scan.step_seconds - detect - rule.seconds), 3),
                rule=round(rule.seconds, 3),
            )

    def _finish(self, job: _Job, state: JobState) -> None:
        """Close a job (caller holds the lock): final state, hold released, audited."""
        job.state, job.finished_at = state, time.time()
        self._threads.pop(job.id, None)
        self._recordings.release_holds(f"backtest:{job.id}")
        report = job.snapshot()
        self._audit(
            job,
            "backtest_end",
            {
                "job_id": job.id,
                "state": state.value,
                "events": len(report.events),
                "segments_done": report.segments_done,
                "video_seconds": report.video_seconds,
                "elapsed_s": round(report.elapsed_s, 3),
                "errors": len(report.errors),
                "message": job.message,
            },
        )

    # -- helpers -------------------------------------------------------------------------------

    def _refuse_if_busy(self) -> None:
        active = next((j for j in self._jobs.values() if not j.state.finished), None)
        if active is not None:
            done = f"{active.video_seconds:.0f} of {active.plan.end - active.plan.start:.0f} s"
            raise BacktestBusy(
                f"backtest {active.id} of rule {active.target.rule.name!r} by {active.user} is "
                f"{active.state.value} ({done} done); one backtest runs at a time: wait or cancel it"
            )

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state.finished]
        for job_id in finished[: max(0, len(self._jobs) - JOBS_KEPT)]:
            del self._jobs[job_id]

    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise BacktestNotFound(f"backtest {job_id!r}: no such job")
        return job

    def _audit(self, job: _Job, action: str, detail: dict[str, Any], user: str | None = None) -> None:
        self._audit_log.audit(AuditRecord(time.time(), user or job.user, action, None, job.reason, detail))

    def _resolve(self, path: Path) -> Path:
        if path.is_absolute() or self._recording_root is None or path.exists():
            return path
        return self._recording_root / path


def _start_detail(job: _Job) -> dict[str, Any]:
    rule = job.target.rule
    return {
        "job_id": job.id,
        "rule": rule.name,
        "type": rule.type,
        "draft": job.target.draft,
        "spec": rule.model_dump(mode="json") if job.target.draft else None,
        "camera": job.target.camera.id,
        "window": [job.plan.start, job.plan.end],
        "segments": len(job.plan.segments),
        "detect_fps": job.detect_fps,
        "decode_width": job.options.decode_width,
        "motion": job.options.motion,
    }


def as_plain(report: BacktestReport) -> dict[str, Any]:
    """The report as JSON-ready data (enums by value), with each event's clip link."""
    import dataclasses

    def plain(value: object) -> object:
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data: dict[str, Any] = {k: plain(v) for k, v in dataclasses.asdict(report).items()}
    for event, raw in zip(report.events, data["events"], strict=True):
        raw["clip_url"] = event.clip_url(report.camera_id)
    data["elapsed_s"] = round(report.elapsed_s, 3)
    data["speed"] = round(report.speed, 2)
    return data


__all__ = [
    "BacktestBusy",
    "BacktestDraft",
    "BacktestError",
    "BacktestEvent",
    "BacktestNotFound",
    "BacktestOptions",
    "BacktestReport",
    "BacktestService",
    "BacktestTarget",
    "DraftInvalid",
    "HourCount",
    "JobState",
    "TimeSplit",
    "WindowGap",
    "as_plain",
    "configured_rule",
    "draft_rule",
    "hour_counts",
    "local_time",
    "parse_site_time",
    "plan_window",
    "window_gaps",
]
