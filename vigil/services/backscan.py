"""Back-scan: detection and tracking over record-only cameras' recordings, for one case.

Only the AI cameras detect live; the others only record. A back-scan job takes the
record-only cameras nearest (walking time on the camera graph) to where she was last
seen, decodes their recorded segments over the case window at each camera's
``detect_fps``, and runs the frames through the live pipeline itself: privacy masks,
then `vigil.pipeline.FramePipeline` around the shared detector, with the camera's
processor built by `vigil.pipeline.build_processor` exactly as for an AI camera (filters,
tracker, sighting builder; no rules: no alerts of the past) and the same descriptors.
Sightings carry the recording's wall time and leave through the live publish path (the
``sightings`` topic: stored, then scored against open cases, raising a case alert above
the case threshold), so they rank among the candidates with every other sighting.

Jobs run on one worker thread, in submission order, at most one queued or running per
case. Progress is readable at any time; a segment that cannot be decoded is reported and
skipped; cancel stops at the next frame and keeps what was found. Starts, cancels and
ends are written to the case's audit log. The scanned spans are held against retention
while the job runs.
"""

from __future__ import annotations

import enum
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from alerts.search.graph import CameraGraph, Reachable
from config.models import CameraConfig, CameraRole, VigilConfig
from detectors.base import Detector
from ingest.masks import Polygon
from vigil.core.errors import ValidationError, VigilError
from vigil.core.types import Frame, Image, Sighting
from vigil.infra.db.cases import AuditRecord, CaseRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex, SegmentRecord
from vigil.infra.db.store import Store
from vigil.pipeline import FrameOutput, FramePipeline, build_processor, mask_frame
from vigil.services.cases import CaseNotFound, CaseService

log = logging.getLogger(__name__)

SightingSink = Callable[[Sighting], None]
"""Publishes a described sighting where live ones go (the ``sightings`` topic)."""
DetectorProvider = Callable[[], Detector]
"""The shared detector, built on first use."""

SEEK_MIN_S = 2.0
"""Seek inside a segment only when the window starts this far into it (else decode from its start)."""
STORE_WAIT_S = 30.0
"""At the end of a job, wait this long at most for its sightings to be stored (the bus is asynchronous)."""


class BackscanError(VigilError):
    """A back-scan cannot start: the case is not scannable, or a job for it is already active."""


class BackscanBusy(BackscanError):
    """The case already has a queued or running back-scan."""


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class BackscanOptions:
    """How far a back-scan reaches.

    Attributes:
        max_cameras: Scan at most this many record-only cameras, nearest first. Raising it
            finds her farther away and costs scan time linearly.
        max_walk_minutes: Only cameras within this walking time of the last-seen place;
            None: whatever she could have walked within the case window.
        cameras: Only these cameras (the requesting user's camera scope, `api.scope`); None
            for every camera. Walking times are still measured from the last-seen place.
    """

    max_cameras: int = 10
    max_walk_minutes: float | None = None
    cameras: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.max_cameras < 1:
            raise ValidationError(f"max_cameras: expected >= 1, got {self.max_cameras}")
        if self.max_walk_minutes is not None and not (
            math.isfinite(self.max_walk_minutes) and self.max_walk_minutes > 0
        ):
            raise ValidationError(f"max_walk_minutes: expected > 0, got {self.max_walk_minutes}")


@dataclass(frozen=True)
class PlannedCamera:
    """A camera to scan: its walking time from the last-seen place and its segments in the window."""

    camera_id: str
    walk_s: float
    segments: tuple[SegmentRecord, ...]


@dataclass(frozen=True)
class BackscanPlan:
    """What a job scans: cameras nearest first, each over [start, end)."""

    case_id: str
    start: float
    end: float
    anchor_camera: str
    anchor_at: float
    cameras: tuple[PlannedCamera, ...]

    @property
    def segments(self) -> int:
        return sum(len(camera.segments) for camera in self.cameras)


@dataclass(frozen=True)
class SegmentError:
    """A segment that could not be scanned (corrupt, missing), and why; the job went on."""

    camera_id: str
    path: str
    start: float
    error: str


@dataclass(frozen=True)
class CameraProgress:
    camera_id: str
    walk_s: float
    segments: int
    segments_done: int = 0
    sightings: int = 0
    state: JobState = JobState.QUEUED


@dataclass(frozen=True)
class BackscanProgress:
    """A job as seen from outside, at one moment.

    Attributes:
        video_seconds: Recorded time scanned so far (window part of each segment).
        frames: Frames run through detection.
        segments_skipped: Segments whose span an earlier job already scanned (not scanned twice).
        sighting_ids: Sightings the job published (found by back-scan).
        cameras: Per camera, in visiting order (nearest first).
        message: Why it failed, or a note (nothing to scan).
    """

    job_id: str
    case_id: str
    state: JobState
    requested_by: str
    submitted_at: float
    window_start: float
    window_end: float
    anchor_camera: str
    cameras_total: int
    cameras_done: int
    segments_total: int
    segments_done: int
    segments_skipped: int
    video_seconds: float
    frames: int
    sightings: int
    sighting_ids: tuple[str, ...]
    current_camera: str | None
    cameras: tuple[CameraProgress, ...]
    errors: tuple[SegmentError, ...]
    started_at: float | None
    finished_at: float | None
    message: str = ""

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at


def rank_cameras(
    cameras: Sequence[CameraConfig], graph: CameraGraph, anchor: str, reach_s: float
) -> list[Reachable]:
    """Record-only cameras within `reach_s` walking seconds of `anchor`, nearest first.

    Cameras without a position on the map cannot be placed and are left out, as are AI
    cameras (already detected live) and disabled ones.
    """
    found = []
    for camera in cameras:
        if camera.role is not CameraRole.RECORD or not camera.enabled:
            continue
        metres = graph.distance(anchor, camera.id)
        if metres is None:
            continue
        walk_s = metres / graph.walking_speed
        if walk_s <= reach_s:
            found.append(Reachable(camera.id, round(walk_s, 1)))
    found.sort(key=lambda r: (r.walk_s, r.camera_id))
    return found


class SegmentDecoder:
    """Frames of one camera's consecutive segments at `fps`, timestamped by recording wall time.

    Decoding starts at the keyframe before the window (segments are keyframe-aligned, so a
    seek lands on a decodable frame) and stops at its end; inside it every frame is decoded,
    since inter frames depend on each other, but only the frames kept are converted to BGR
    and copied. Skipping non-reference frames (``skip_frame="NONREF"``, ~20 % of decode on
    B-frame streams) was tried and left out: the reference frames left are unevenly spaced
    (0.8 s / 0.2 s steps at 2 fps on the sample clip), which the tracker's motion model pays
    for, and decode is a small part of the cost next to detection.

    Args:
        fps: Frames per second to hand over (the camera's ``detect_fps``).
        width: Convert kept frames to this width (aspect kept, even height) in the same
            colour conversion; None: the recorded size.
    """

    def __init__(self, fps: float, width: int | None = None) -> None:
        self.period = 1.0 / fps
        self.fps = fps
        self.width = width
        self._next_due = -math.inf
        self.decoded = 0
        """Frames the codec produced (kept or not), for cost accounting."""

    def frames(
        self, path: Path, segment_start: float, start: float, end: float
    ) -> Generator[tuple[float, Image], None, None]:
        """(wall time, BGR image) of the frames due in ``[start, end)`` of one segment file.

        Raises:
            OSError / av.FFmpegError: The file is missing or cannot be decoded (possibly
                after some frames were yielded).
        """
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = float(stream.time_base or 1 / 90000)
            first_pts = stream.start_time
            if first_pts is None:
                first_pts = next(p.pts for p in container.demux(stream) if p.pts is not None)
                container.seek(first_pts, stream=stream, backward=True)
            if start - segment_start >= SEEK_MIN_S:
                container.seek(
                    first_pts + int((start - segment_start) / time_base), stream=stream, backward=True
                )
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                self.decoded += 1
                at = segment_start + (frame.pts - first_pts) * time_base
                if at >= end:
                    break
                if at < start:
                    continue
                if at < self._next_due - 1e-3:
                    continue
                # On the grid while frames keep up; after a gap, restart the grid at this frame.
                due = self._next_due + self.period
                self._next_due = due if at - self._next_due < self.period else at + self.period
                yield at, np.asarray(self._convert(frame), dtype=np.uint8)

    def _convert(self, frame: Any) -> Any:
        """BGR at the decoder's width (the frame's aspect, even height), or the recorded size."""
        if self.width is None or self.width >= frame.width:
            return frame.to_ndarray(format="bgr24")
        height = max(2, round(frame.height * self.width / frame.width / 2) * 2)
        return frame.to_ndarray(format="bgr24", width=self.width, height=height)


@dataclass(frozen=True)
class SegmentScan:
    """How the window part of one segment went: scanned up to `scanned_to`, or failed with `error`."""

    scanned_to: float
    error: Exception | None = None


FrameCallback = Callable[[float, list[FrameOutput]], None]
"""Called after each frame with its wall time and what the pipeline made of it."""


@dataclass
class RecordingScan:
    """One camera's recorded segments through a pipeline, in order: the decode path of back-scan and backtest.

    Frames are decoded at the decoder's fps, privacy-masked, and stepped through the pipeline
    one at a time; a recording gap longer than `gap_s` restarts the frame clock (so the
    camera's processor finishes the old tracks and restarts, as after a stream restart).
    """

    camera_id: str
    pipeline: FramePipeline
    decoder: SegmentDecoder
    masks: Sequence[Polygon]
    gap_s: float
    """A gap longer than this between frames (the tracker's ``track_buffer_s``) restarts the processor."""
    frame_index: int = 0
    """Frame index of the next frame; back to 0 after a recording gap (the processor restarts)."""
    last_at: float = -math.inf
    """Wall time of the last frame decoded."""
    decode_seconds: float = 0.0
    """Time spent decoding and converting frames (cost accounting)."""
    step_seconds: float = 0.0
    """Time spent in `FramePipeline.step` (detection included: see its stats)."""

    def frame(self, at: float, image: Image) -> Frame:
        """The next frame, masked; advances the clock."""
        frame = mask_frame(Frame(self.camera_id, self.frame_index, at, image), self.masks)
        self.frame_index, self.last_at = self.frame_index + 1, at
        return frame

    def scan_segment(
        self, path: Path, segment_start: float, window: tuple[float, float], cancel: threading.Event,
        on_frame: FrameCallback,
    ) -> SegmentScan:  # fmt: skip
        """Run ``window`` (a part of one segment file) through the pipeline; a decode error ends it.

        Args:
            path: The segment file.
            segment_start: Wall time of its first frame.
            window: ``[start, end)`` wall time to scan, inside the segment.
            cancel: Set: stop at the next frame.
            on_frame: Called after every frame.

        Returns:
            How far it got, and the error that stopped it (a corrupt or missing file), if any.
        """
        start, end = window
        if start - self.last_at > self.gap_s and self.frame_index > 0:
            self.frame_index = 0  # a recording gap: the processor finishes the old tracks and restarts
        frames = self.decoder.frames(path, segment_start, start, end)
        result = SegmentScan(end)
        while not cancel.is_set():
            began = time.perf_counter()
            try:
                at, image = next(frames)
            except StopIteration:
                break
            except Exception as error:  # corrupt or missing file: the caller reports it and goes on
                result = SegmentScan(max(start, self.last_at), error)
                break
            finally:
                self.decode_seconds += time.perf_counter() - began
            began = time.perf_counter()
            outputs = self.pipeline.step([self.frame(at, image)])
            self.step_seconds += time.perf_counter() - began
            on_frame(at, outputs)
        frames.close()
        if cancel.is_set() and result.error is None:
            result = SegmentScan(max(start, self.last_at))
        return result


@dataclass
class _Job:
    """A job's mutable state; read through `snapshot` under the service lock."""

    id: str
    case: CaseRecord
    user: str
    plan: BackscanPlan
    submitted_at: float
    cameras: list[CameraProgress]
    state: JobState = JobState.QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    segments_done: int = 0
    segments_skipped: int = 0
    video_seconds: float = 0.0
    frames: int = 0
    sighting_ids: list[str] = field(default_factory=list)
    current: int | None = None
    errors: list[SegmentError] = field(default_factory=list)
    message: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> BackscanProgress:
        return BackscanProgress(
            job_id=self.id,
            case_id=self.case.id,
            state=self.state,
            requested_by=self.user,
            submitted_at=self.submitted_at,
            window_start=self.plan.start,
            window_end=self.plan.end,
            anchor_camera=self.plan.anchor_camera,
            cameras_total=len(self.cameras),
            cameras_done=sum(c.state.finished for c in self.cameras),
            segments_total=self.plan.segments,
            segments_done=self.segments_done,
            segments_skipped=self.segments_skipped,
            video_seconds=round(self.video_seconds, 3),
            frames=self.frames,
            sightings=len(self.sighting_ids),
            sighting_ids=tuple(self.sighting_ids),
            current_camera=None if self.current is None else self.cameras[self.current].camera_id,
            cameras=tuple(self.cameras),
            errors=tuple(self.errors),
            started_at=self.started_at,
            finished_at=self.finished_at,
            message=self.message,
        )


class BackscanService:
    """Queues and runs back-scan jobs on one worker thread.

    Args:
        config: Site config: cameras (role, position, detect_fps, privacy masks) and tracker settings.
        cases: The case service (case, trail).
        case_store: Case tables, for the audit log.
        store: The sightings store (a job ends once its sightings are stored).
        recordings: The recording index.
        graph: Camera positions and walking speed.
        detector: The shared detector, built on first use.
        publish: Sends a described sighting down the live path.
        recording_root: Where relative segment paths live.
    """

    def __init__(
        self,
        *,
        config: VigilConfig,
        cases: CaseService,
        case_store: CaseStore,
        store: Store,
        recordings: RecordingIndex,
        graph: CameraGraph,
        detector: DetectorProvider,
        publish: SightingSink,
        recording_root: Path | None = None,
    ) -> None:
        self._config = config
        self._cases = cases
        self._case_store = case_store
        self._store = store
        self._recordings = recordings
        self._graph = graph
        self._detector = detector
        self._publish = publish
        self._recording_root = recording_root
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # latest job per case id
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._scanned: dict[int, list[tuple[float, float]]] = {}  # segment id -> spans already scanned

    # -- commands ------------------------------------------------------------------------------

    def plan(self, case_id: str, options: BackscanOptions | None = None) -> BackscanPlan:
        """The cameras and segments a job for this case would scan, nearest camera first.

        The last-seen place is the case's last-seen camera (else her first confirmed
        sighting); a camera is in reach when its walking time from there fits between the
        last-seen time and either end of the window (and `max_walk_minutes`). The nearest
        `max_cameras` cameras with recording in the window are taken; nearer ones without
        any recording are listed too (with no segments), so a gap is visible.

        Raises:
            CaseNotFound: No such case.
            BackscanError: The case has no last-seen camera and no confirmed sighting, or
                that camera has no position on the map.
        """
        options = options or BackscanOptions()
        view = self._cases.view(case_id)
        case = view.case
        end = case.window_end if case.window_end is not None else time.time()
        anchor, anchor_at = case.last_seen_camera, case.last_seen_at
        if anchor is None and view.trail:
            anchor, anchor_at = view.trail[0].camera_id, view.trail[0].start
        if anchor is None:
            raise BackscanError(
                f"case {case_id}: back-scan needs a last-seen camera (or a confirmed sighting) to start "
                "from; got neither"
            )
        if anchor not in self._graph.positions:
            raise BackscanError(
                f"case {case_id}: last-seen camera {anchor!r} has no position on the site map, so no "
                "walking times can be measured from it"
            )
        at = anchor_at if anchor_at is not None else case.window_start
        reach_s = max(end - at, at - case.window_start, 0.0)
        if options.max_walk_minutes is not None:
            reach_s = min(reach_s, options.max_walk_minutes * 60.0)
        cameras: list[PlannedCamera] = []
        recorded = 0
        for reachable in rank_cameras(self._config.cameras, self._graph, anchor, reach_s):
            if recorded == options.max_cameras:
                break
            if options.cameras is not None and reachable.camera_id not in options.cameras:
                continue
            segments = tuple(self._recordings.segments(reachable.camera_id, case.window_start, end))
            cameras.append(PlannedCamera(reachable.camera_id, reachable.walk_s, segments))
            recorded += bool(segments)
        return BackscanPlan(case.id, case.window_start, end, anchor, at, tuple(cameras))

    def submit(self, case_id: str, user: str, options: BackscanOptions | None = None) -> BackscanProgress:
        """Plan and queue a job; audited with the user and the case reason.

        Raises:
            CaseNotFound: No such case.
            BackscanBusy: The case already has a queued or running job.
            BackscanError: The case cannot be scanned (see `plan`), or the service is stopping.
        """
        options = options or BackscanOptions()
        plan = self.plan(case_id, options)
        case = self._cases.view(case_id).case
        with self._lock:
            if self._stopping:
                raise BackscanError("back-scan: the service is stopping")
            active = self._jobs.get(case_id)
            if active is not None and not active.state.finished:
                raise BackscanBusy(f"case {case_id}: back-scan {active.id} is already {active.state.value}")
            job = _Job(
                id=uuid.uuid4().hex,
                case=case,
                user=user,
                plan=plan,
                submitted_at=time.time(),
                cameras=[CameraProgress(c.camera_id, c.walk_s, len(c.segments)) for c in plan.cameras],
            )
            self._jobs[case_id] = job
            self._audit(
                job,
                "backscan_start",
                {
                    "job_id": job.id,
                    "cameras": [c.camera_id for c in plan.cameras],
                    "segments": plan.segments,
                    "window": [plan.start, plan.end],
                    "max_cameras": options.max_cameras,
                    "max_walk_minutes": options.max_walk_minutes,
                },
            )
            for camera in plan.cameras:
                if camera.segments:  # retention must not delete what the job is about to read
                    self._recordings.add_hold(camera.camera_id, plan.start, plan.end, f"backscan:{job.id}")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="backscan", daemon=True)
                self._thread.start()
            self._queue.put(job)
            return job.snapshot()

    def cancel(self, case_id: str, user: str) -> BackscanProgress:
        """Cancel the case's job: a queued one at once, a running one at its next frame (audited).

        Raises:
            CaseNotFound: No such case, or it never had a back-scan.
        """
        with self._lock:
            job = self._jobs.get(case_id)
            if job is None:
                self._cases.view(case_id)  # unknown case -> CaseNotFound
                raise CaseNotFound(f"case {case_id}: no back-scan to cancel")
            if job.state.finished:
                return job.snapshot()
            job.cancel.set()
            self._audit(job, "backscan_cancel", {"job_id": job.id}, user=user)
            if job.state is JobState.QUEUED:
                self._finish(job, JobState.CANCELLED)
            return job.snapshot()

    def progress(self, case_id: str) -> BackscanProgress | None:
        """The case's latest job, or None if it never had one."""
        with self._lock:
            job = self._jobs.get(case_id)
            return None if job is None else job.snapshot()

    def wait(self, case_id: str, timeout: float | None = None) -> BackscanProgress | None:
        """Block until the case's latest job has finished (or `timeout` passes); returns its progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress(case_id)
            if progress is None or progress.state.finished:
                return progress
            if deadline is not None and time.monotonic() > deadline:
                return progress
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every job and stop the worker (bounded join)."""
        with self._lock:
            self._stopping = True
            for job in self._jobs.values():
                job.cancel.set()
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.state.finished:  # cancelled while queued
                    continue
                if job.cancel.is_set():
                    self._finish(job, JobState.CANCELLED)
                    continue
                job.state, job.started_at = JobState.RUNNING, time.time()
            try:
                self._run(job)
                state = JobState.CANCELLED if job.cancel.is_set() else JobState.DONE
                self._await_stored(job)
            except Exception as error:  # a failed job is reported; the worker serves the next one
                log.exception("back-scan %s of case %s failed", job.id, job.case.id)
                with self._lock:
                    job.message = f"{type(error).__name__}: {error}"
                state = JobState.FAILED
            with self._lock:
                self._finish(job, state)

    def _run(self, job: _Job) -> None:
        if not job.plan.segments:
            job.message = "no recording of a reachable record-only camera in the window"
        for index, planned in enumerate(job.plan.cameras):
            if job.cancel.is_set():
                return
            with self._lock:
                job.current = index
                job.cameras[index] = replace(job.cameras[index], state=JobState.RUNNING)
            self._scan_camera(job, index, planned)
            with self._lock:
                state = JobState.CANCELLED if job.cancel.is_set() else JobState.DONE
                job.cameras[index] = replace(job.cameras[index], state=state)

    def _scan_camera(self, job: _Job, index: int, planned: PlannedCamera) -> None:
        if not planned.segments:
            return
        camera = self._config.camera(planned.camera_id)
        pipeline = FramePipeline(self._detector(), data_dir=Path(self._config.data_dir))
        pipeline.add(build_processor(self._config, camera, pipeline.detector))  # no rules: no past alerts
        masks = [mask.polygon for mask in camera.privacy_masks]
        scan = RecordingScan(
            camera.id, pipeline, SegmentDecoder(camera.detect_fps), masks, self._config.tracker.track_buffer_s
        )
        for segment in planned.segments:
            if job.cancel.is_set():
                break
            start, end = max(segment.start, job.plan.start), min(segment.end, job.plan.end)
            if self._already_scanned(segment.id, start, end):
                with self._lock:
                    job.segments_skipped += 1
                    job.segments_done += 1
                    job.cameras[index] = _bump(job.cameras[index], segments_done=1)
                continue
            self._scan_segment(job, index, scan, segment, (start, end))
        # Tracks still open at the end of the camera's window (or at cancel) are sightings too.
        self._emit(job, index, pipeline.finish())

    def _scan_segment(
        self, job: _Job, index: int, scan: RecordingScan, segment: SegmentRecord, window: tuple[float, float]
    ) -> None:
        """Run the window part of one segment through the camera's pipeline; a decode error skips the rest."""
        start = window[0]
        scanned_before = job.video_seconds

        def on_frame(at: float, outputs: list[FrameOutput]) -> None:
            for output in outputs:
                self._emit(job, index, output.sightings)
            with self._lock:
                job.frames += 1
                job.video_seconds = scanned_before + (at - start)

        result = scan.scan_segment(self._resolve(segment.path), segment.start, window, job.cancel, on_frame)
        if result.error is not None:
            self._segment_failed(job, segment, result.error)
        with self._lock:
            job.video_seconds = scanned_before + (result.scanned_to - start)
            job.segments_done += 1
            job.cameras[index] = _bump(job.cameras[index], segments_done=1)
        if not (result.error is not None or job.cancel.is_set()):  # a later job tries (and reports) it again
            self._mark_scanned(segment.id, *window)

    def _emit(self, job: _Job, index: int, sightings: Sequence[Sighting]) -> None:
        for sighting in sightings:
            self._publish(sighting)
            with self._lock:
                job.sighting_ids.append(sighting.id)
                job.cameras[index] = _bump(job.cameras[index], sightings=1)

    def _segment_failed(self, job: _Job, segment: SegmentRecord, error: Exception) -> None:
        log.warning("back-scan %s: segment %s skipped: %s", job.id, segment.path, error)
        with self._lock:
            job.errors.append(
                SegmentError(
                    segment.camera_id, str(segment.path), segment.start, f"{type(error).__name__}: {error}"
                )
            )

    def _await_stored(self, job: _Job) -> None:
        """Wait (bounded) until the job's sightings are in the store: done means searchable."""
        pending = list(job.sighting_ids)
        deadline = time.monotonic() + STORE_WAIT_S
        while pending and time.monotonic() < deadline:
            pending = [i for i in pending if self._store.get_sighting(i) is None]
            if pending:
                time.sleep(0.05)
        if pending:
            log.warning(
                "back-scan %s: %d sightings not stored after %.0f s", job.id, len(pending), STORE_WAIT_S
            )

    def _finish(self, job: _Job, state: JobState) -> None:
        """Close a job (caller holds the lock): final state, holds released, audited."""
        job.state, job.finished_at, job.current = state, time.time(), None
        failed = state is JobState.FAILED
        job.cameras = [
            c
            if c.state.finished
            else replace(
                c, state=JobState.FAILED if failed and c.state is JobState.RUNNING else JobState.CANCELLED
            )
            for c in job.cameras
        ]
        self._recordings.release_holds(f"backscan:{job.id}")
        snapshot = job.snapshot()
        self._audit(
            job,
            "backscan_end",
            {
                "job_id": job.id,
                "state": state.value,
                "segments_done": snapshot.segments_done,
                "video_seconds": snapshot.video_seconds,
                "sighting_ids": list(snapshot.sighting_ids),
                "errors": len(snapshot.errors),
                "message": job.message,
            },
        )

    # -- helpers -------------------------------------------------------------------------------

    def _audit(self, job: _Job, action: str, detail: dict[str, Any], user: str | None = None) -> None:
        self._case_store.audit(
            AuditRecord(time.time(), user or job.user, action, job.case.id, job.case.reason, detail)
        )

    def _resolve(self, path: Path) -> Path:
        if path.is_absolute() or self._recording_root is None or path.exists():
            return path
        return self._recording_root / path

    def _already_scanned(self, segment_id: int, start: float, end: float) -> bool:
        with self._lock:
            return any(a <= start and end <= b for a, b in self._scanned.get(segment_id, ()))

    def _mark_scanned(self, segment_id: int, start: float, end: float) -> None:
        with self._lock:
            self._scanned.setdefault(segment_id, []).append((start, end))


def _bump(progress: CameraProgress, *, segments_done: int = 0, sightings: int = 0) -> CameraProgress:
    return replace(
        progress,
        segments_done=progress.segments_done + segments_done,
        sightings=progress.sightings + sightings,
    )
