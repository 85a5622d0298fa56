"""The per-frame pipeline: plan -> detect -> filter -> track -> sightings -> posture -> rules -> counts.

One pipeline serves the live runtime, back-scan and the benchmarks, so they cannot drift:

- `CameraProcessor`: one AI camera's own steps, a pure function of its inputs and its state
  (motion background, tracks): plan where to detect, filter, track, build sightings,
  evaluate rules. No threads, sockets or databases, so it is tested frame by frame.
- `FramePipeline`: every camera's processor around one shared detector. `step` takes a batch
  of (already masked) frames, asks each camera's `plan` where to look, detects all cameras'
  regions in a few batched calls (`detect_planned`), hands each camera its detections, and
  describes the sightings (appearance from the best crop) before they leave. Transport
  (which frames, where results go) is the caller's: `vigil.detect_worker` live,
  `vigil.services.backscan` over recordings.
- `build_processor`: a camera's processor from its `CameraConfig`, the one way to build one.

`process` follows the plan made for the same frame: when the planner coasts (see
`detectors.gating`) and said skip, the tracker coasts its tracks on their predictions and
those predicted boxes are this frame's ``tracked`` (rules and sightings keep working);
when it planned only some regions, tracks outside them coast while the rest are matched.

Posture: while one of a camera's rules reads posture (`PostureRule`: an enabled
``person_down`` rule), its `detectors.pose_stage.PostureStage` fills ``tracked.data["lying"]``
for the rows the rules ask for, on a budget of pose crops per frame, before the rules run.
A camera without such a rule never runs it, and a site without one never loads the model.

Line counts: after the rules ran, every rule that counts (`CountingRule`, e.g.
`alerts.lines.LineCrossing`) hands over its closed counting intervals
(`FrameResult.counts`). The interval still open is handed over as it stands when the camera
leaves the pipeline, the run ends or the camera's rules are replaced (`flush_counts`), so a
stop or a rule change loses no crossing; the interval it continues in afterwards is a second
row with the same start, and readers sum them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from alerts.base import Rule
from alerts.search.descriptors import describe
from config.models import CameraConfig, VigilConfig
from detectors.base import Detector, RegionDetector
from detectors.filters import ClassFilter, DetectionFilter, ScoreMedian
from detectors.gating import RegionPlan, RegionPlanner
from detectors.motion import MotionDetector
from detectors.pose_stage import PoseModel, PostureStage
from ingest.masks import Polygon, apply_privacy_masks
from tracker.base import CoastingTracker, Tracker
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker, VigilTrackerConfig
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import Alert, CrossingCount, Detections, Frame, Image, Sighting

log = logging.getLogger(__name__)

DETECT_CHUNK = 4
"""Frames per detector call. On CPU, one call over many cameras' frames was slower than a few
small ones (23 sub-stream frames: 1.05 s in one call, 0.76 s one by one, 0.79 s by 4)."""
LIVE_MIN_AGE_S = 1.0
"""A track seen this long is published as a provisional sighting (live case matching)."""
LIVE_REFRESH_S = 2.0
"""A live track's provisional sighting is refreshed this often (its best crop may improve)."""
ALERT_CROPS_DIR = "alert-crops"
"""Under the data directory: one JPEG per alert with a box, ``<alert id>.jpg`` (`save_alert_crop`)."""
ALERT_CROP_MARGIN = 0.2
"""Context around an alert's box in its crop, as a fraction of the box's width and height per side."""
ALERT_CROP_MAX_HEIGHT = 256
"""Alert crops taller than this many pixels are scaled down (the console shows thumbnails)."""


@runtime_checkable
class CountingRule(Protocol):
    """A rule that also counts (line crossings per direction per interval)."""

    def drain_counts(self, now: float) -> list[CrossingCount]:
        """Hand over (and forget) the counting intervals that ended by `now`, epoch seconds.

        ``drain_counts(math.inf)`` hands over every interval, the one still open included.
        """
        ...


@runtime_checkable
class PostureRule(Protocol):
    """A rule that reads posture (``tracked.data["lying"]``), e.g. `alerts.person_down.PersonDown`."""

    def posture_rows(
        self, tracked: Detections, frame_size: tuple[int, int], timestamp: float
    ) -> npt.NDArray[np.bool_]:
        """(N,) bool: the rows whose posture the rule reads in this frame (none: no pose needed)."""
        ...


def drain_counts(rules: Sequence[Rule], now: float) -> list[CrossingCount]:
    """The closed counting intervals of every counting rule among `rules` (`CountingRule`)."""
    return [count for rule in rules if isinstance(rule, CountingRule) for count in rule.drain_counts(now)]


def flush_counts(rules: Sequence[Rule]) -> list[CrossingCount]:
    """Every counting interval of `rules`, the open ones as they stand: before the rules are dropped."""
    return drain_counts(rules, math.inf)


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced."""

    tracked: Detections
    sightings: list[Sighting] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    counts: list[CrossingCount] = field(default_factory=list)
    """Counting intervals of the camera's line rules that closed by this frame's time."""


class CameraProcessor:
    """Turns one camera's detections into tracks, sightings and alerts.

    Args:
        camera_id: The camera.
        tracker: This camera's own tracker (one id counter per camera).
        sightings: This camera's sighting builder.
        rules: Rules watching this camera.
        planner: Motion gating; None detects the whole frame every time.
        detection_filter: Score / size / shape / object-mask filters applied before tracking.
        score_median: Drops tracks whose median score is too low (one-frame false positives).
        posture: Fills ``data["lying"]`` while a rule reads posture (`PostureRule`); None: never.
    """

    def __init__(
        self,
        camera_id: str,
        tracker: Tracker,
        sightings: SightingBuilder,
        rules: list[Rule],
        *,
        planner: RegionPlanner | None = None,
        detection_filter: DetectionFilter | None = None,
        score_median: ScoreMedian | None = None,
        posture: PostureStage | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.tracker = tracker
        self.sightings = sightings
        self.rules = rules
        self.planner = planner
        self.detection_filter = detection_filter
        self.score_median = score_median
        self.posture = posture
        self._last_index = -1
        self._last_tracked = Detections.empty()
        self._planned: tuple[int, RegionPlan | None] | None = None  # (frame index, its plan)

    def plan(self, frame: Frame) -> RegionPlan | None | bool:
        """Where to detect in this frame.

        Returns:
            A `RegionPlan`; None when nothing moved and no track is due (skip inference);
            True when there is no planner (detect the whole frame).
        """
        if self.planner is None:
            return True
        if frame.index < self._last_index:
            self.planner.reset()
        tracks, pending = self._last_tracked.xyxy, None
        if isinstance(self.tracker, CoastingTracker):
            # Unconfirmed and recently lost tracks explain motion too; unsettled ones (unconfirmed, or
            # confirmed but just missed) are looked at again.
            tracks, settled = self.tracker.live_boxes()
            pending = tracks[~settled]
        plan = self.planner.plan(frame.image, tracks, frame.timestamp, pending)
        self._planned = (frame.index, plan)
        return plan

    def process(self, frame: Frame, detections: Detections) -> FrameResult:
        """Track one frame's detections and return finished sightings and new alerts."""
        if frame.camera_id != self.camera_id:
            raise ValueError(f"CameraProcessor({self.camera_id}): got a frame of camera {frame.camera_id}")
        finished: list[Sighting] = []
        if frame.index < self._last_index:
            # The stream restarted: ids of the old session mean nothing in the new one.
            finished = self.sightings.flush()
            self.tracker.reset()
            if self.score_median is not None:
                self.score_median.reset()
            if self.posture is not None:
                self.posture.reset()
            for rule in self.rules:
                rule.reset()
        self._last_index = frame.index
        if self.detection_filter is not None:
            detections = self.detection_filter.apply(detections, frame.width, frame.height)
        tracked = self._track(frame, detections)
        self._last_tracked = tracked
        if self.score_median is not None:
            tracked = self.score_median.apply(tracked)
        finished += self.sightings.update(tracked, frame)
        if self.score_median is not None and finished:
            self.score_median.forget(tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0))
        size = (frame.width, frame.height)
        tracked = self._posture(frame, tracked, size)
        alerts = [alert for rule in self.rules for alert in rule.evaluate(tracked, size, frame.timestamp)]
        counts = drain_counts(self.rules, frame.timestamp)
        return FrameResult(tracked=tracked, sightings=finished, alerts=alerts, counts=counts)

    def _posture(self, frame: Frame, tracked: Detections, size: tuple[int, int]) -> Detections:
        """``tracked`` with posture scores for the rows the camera's posture rules read (if any)."""
        if self.posture is None or not len(tracked):
            return tracked
        wanted = [
            rule.posture_rows(tracked, size, frame.timestamp)
            for rule in self.rules
            if isinstance(rule, PostureRule)
        ]
        if not wanted:
            return tracked
        return self.posture.annotate(frame.image, tracked, np.logical_or.reduce(wanted))

    def _track(self, frame: Frame, detections: Detections) -> Detections:
        """Update the tracker as this frame's plan says: coast what the detector did not look at."""
        planned, self._planned = self._planned, None
        tracker = self.tracker
        if (
            not isinstance(tracker, CoastingTracker)
            or self.planner is None
            or not self.planner.coast
            # A frame processed without a plan of its own (e.g. in tests) is a full look.
            or planned is None
            or planned[0] != frame.index
        ):
            return tracker.update(detections, frame.image)
        plan = planned[1]
        if plan is None and len(self._last_tracked):
            return tracker.coast(frame.image)
        if plan is not None and plan.partial:
            return tracker.update(detections, frame.image, looked=plan.looked)
        return tracker.update(detections, frame.image)

    def finish(self) -> list[Sighting]:
        """End of the run: every open track becomes a sighting."""
        return self.sightings.flush()

    def set_rules(self, rules: Sequence[Rule]) -> list[CrossingCount]:
        """Replace the camera's rules; returns the replaced rules' counts (open intervals included)."""
        counts = flush_counts(self.rules)
        self.rules = list(rules)
        return counts

    def flush_counts(self) -> list[CrossingCount]:
        """Every counting interval of the camera's rules, the open ones as they stand (camera stops)."""
        return flush_counts(self.rules)


def detect_planned(
    detector: Detector, images: Sequence[Image], plans: Sequence[RegionPlan | bool], chunk: int = DETECT_CHUNK
) -> list[Detections]:
    """Detect in each image where its `CameraProcessor.plan` says, `chunk` images per model call.

    A `RegionPlan` is seen through its regions and packed looks; True (no planner) is the whole
    frame. A detector that is not a `RegionDetector` sees the whole frame of every image.

    Args:
        detector: The shared detector.
        images: BGR images of the frames to detect in (frames planned None are left out).
        plans: Their plans, one per image.
        chunk: Images per model call (batching does not pay past a few on a CPU).

    Returns:
        One `Detections` per image.
    """
    found: list[Detections] = []
    for at in range(0, len(images), chunk):
        part, planned = images[at : at + chunk], plans[at : at + chunk]
        if not isinstance(detector, RegionDetector):
            found += detector.detect(list(part))
            continue
        regions = [p.regions if isinstance(p, RegionPlan) else None for p in planned]
        cells = [p.packed if isinstance(p, RegionPlan) else None for p in planned]
        found += detector.detect_many_regions(list(part), regions, cells)
    return found


def alert_crop_path(alert_id: str) -> Path:
    """Where an alert's crop is saved, relative to the data directory."""
    return Path(ALERT_CROPS_DIR) / f"{alert_id}.jpg"


def save_alert_crop(data_dir: Path, alert: Alert, image: Image) -> Path | None:
    """Save the alert's box, with `ALERT_CROP_MARGIN` around it, as ``<data_dir>/alert-crops/<id>.jpg``.

    The image is the frame the rule fired on, privacy masks already applied (`mask_frame`), so
    a masked area stays black in the crop. The file appears whole or not at all (written
    aside, then renamed), since the API may serve it at once.

    Args:
        data_dir: The data directory.
        alert: The alert; one without a box, or whose box lies outside the image, gets no crop.
        image: BGR frame, shape (H, W, 3).

    Returns:
        The saved file, or None when there is nothing to crop or it could not be written
        (logged: the alert matters more than its picture).
    """
    if alert.box is None or "/" in alert.id or "\\" in alert.id or alert.id in ("", ".", ".."):
        return None
    height, width = image.shape[:2]
    x1, y1, x2, y2 = alert.box
    dx, dy = (x2 - x1) * ALERT_CROP_MARGIN, (y2 - y1) * ALERT_CROP_MARGIN
    left, top = max(0, int(np.floor(x1 - dx))), max(0, int(np.floor(y1 - dy)))
    right, bottom = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
    if right <= left or bottom <= top:
        return None
    pixels: Image = image[top:bottom, left:right]
    if pixels.shape[0] > ALERT_CROP_MAX_HEIGHT:
        scale = ALERT_CROP_MAX_HEIGHT / pixels.shape[0]
        size = (max(1, round(pixels.shape[1] * scale)), ALERT_CROP_MAX_HEIGHT)
        pixels = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    target = data_dir / alert_crop_path(alert.id)
    partial = target.with_name(f"{target.name}.part")
    try:
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise OSError("JPEG encoding failed")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(encoded.tobytes())
        partial.replace(target)
    except OSError as error:
        log.warning("camera %s: crop of alert %s not saved: %s", alert.camera_id, alert.id, error)
        return None
    return target


def mask_frame(frame: Frame, masks: Sequence[Polygon]) -> Frame:
    """The frame with its privacy masks blacked out (a new frame; the input is untouched)."""
    if not masks:
        return frame
    return dataclasses.replace(frame, image=apply_privacy_masks(frame.image, masks))


# -- building a camera's processor ----------------------------------------------------------


def build_tracker_config(config: VigilConfig) -> VigilTrackerConfig:
    """Tracker settings for the pipeline: its high-score stage starts at the detector's threshold."""
    floor = config.detector.score_threshold
    return VigilTrackerConfig(
        high_threshold=floor,
        new_track_threshold=min(1.0, floor + 0.05),
        track_buffer_s=config.tracker.track_buffer_s,
    )


def build_processor(
    config: VigilConfig,
    camera: CameraConfig,
    detector: Detector,
    rules: Sequence[Rule] = (),
    *,
    pose: PoseModel | None = None,
) -> CameraProcessor:
    """One camera's processor as its config says: motion gating, filters, tracker, sighting builder, posture.

    Args:
        config: The site config (tracker settings, the detector's score threshold, data_dir
            where best crops are saved).
        camera: The camera.
        detector: The detector it will be fed by (its class names; packing if it can).
        rules: Rules watching the camera; none for past footage (no alerts of the past).
        pose: The pose model the camera's posture stage uses, shared between cameras; default
            its own. It is loaded only when a posture rule first needs a crop.

    Raises:
        ConfigError: The camera's filters name a class the detector does not know.
    """
    score_median = camera.filters.score_median
    return CameraProcessor(
        camera.id,
        VigilTracker(frame_rate=camera.detect_fps, config=build_tracker_config(config)),
        SightingBuilder(
            camera.id,
            data_dir=Path(config.data_dir),
            finish_after_s=config.tracker.track_buffer_s + 1.0,
            min_frames=config.tracker.min_sighting_frames,
        ),
        list(rules),
        planner=_planner(camera, detector),
        detection_filter=_detection_filter(camera, detector),
        score_median=ScoreMedian(score_median) if score_median > 0 else None,
        posture=_posture_stage(camera, detector, pose),
    )


def _posture_stage(camera: CameraConfig, detector: Detector, pose: PoseModel | None) -> PostureStage | None:
    """The camera's posture stage; none for a detector without a ``person`` class."""
    people = [i for i, name in enumerate(detector.class_names) if name == "person"]
    if not people:
        return None
    masks = [mask.polygon for mask in camera.privacy_masks]
    return PostureStage(pose or PoseModel(), people, masks=masks)


def _planner(camera: CameraConfig, detector: Detector) -> RegionPlanner | None:
    motion = camera.motion
    if not motion.enabled:
        return None
    return RegionPlanner(
        MotionDetector(threshold=motion.threshold, alpha=motion.alpha, masks=motion.masks),
        region_px=motion.region_px,
        recheck_interval_s=motion.recheck_interval_s,
        # Packing small looks into shared inputs needs a detector that can unpack them.
        pack=isinstance(detector, RegionDetector) and detector.packs_cells,
    )


def _detection_filter(camera: CameraConfig, detector: Detector) -> DetectionFilter:
    names = list(detector.class_names)
    unknown = sorted(set(camera.filters.classes) - set(names))
    if unknown:
        raise ConfigError(
            f"camera {camera.id}: filters.classes names {unknown}, but detector "
            f"{detector.name!r} knows only {names}"
        )
    return DetectionFilter(
        per_class={
            names.index(name): ClassFilter(
                min_score=limits.min_score,
                min_area=limits.min_area,
                max_area=limits.max_area if limits.max_area is not None else float("inf"),
                min_ratio=limits.min_ratio,
                max_ratio=limits.max_ratio if limits.max_ratio is not None else float("inf"),
            )
            for name, limits in camera.filters.classes.items()
        },
        object_masks=tuple(camera.filters.object_masks),
    )


# -- every camera around one detector -------------------------------------------------------


@dataclass
class PipelineStats:
    """Counters of a `FramePipeline`, for progress and summaries."""

    frames: int = 0
    detections: int = 0
    """Detector boxes, before filters."""
    batches: int = 0
    """`step` calls that ran the detector."""
    skipped: int = 0
    """Frames where nothing moved and no track was due: no inference at all."""
    detect_seconds: float = 0.0
    pose_seconds: float = 0.0
    """Time in the posture stage (pose crops and scoring), every camera together."""
    pose_crops: int = 0
    """Pose crops run (`detectors.pose_stage.PostureStage`)."""


@dataclass(frozen=True)
class FrameOutput:
    """What one camera's frame produced, ready to publish.

    Attributes:
        frame: The frame (as given: masked).
        detections: What the detector found in it, before filters; empty when skipped.
        inferred: Whether the detector looked at it (False: nothing moved and no track was due).
        tracked: The tracker's output (coasted boxes included).
        sightings: Finished tracks, described (appearance from the saved best crop).
        updates: Provisional sightings of tracks still in view, described; refreshed every
            ``live_refresh_s`` under the id their finished sighting will have.
        alerts: New alerts of the camera's rules.
        counts: Counting intervals of the camera's line rules that closed by this frame's time.
    """

    frame: Frame
    detections: Detections
    inferred: bool
    tracked: Detections
    sightings: list[Sighting] = field(default_factory=list)
    updates: list[Sighting] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    counts: list[CrossingCount] = field(default_factory=list)


class FramePipeline:
    """Every camera's per-frame steps around one shared detector.

    Not thread-safe: one thread at a time calls it (live, `vigil.detect_worker.DetectWorker`
    serialises camera changes with its steps).

    Args:
        detector: The shared detector; a `RegionDetector` is shown only the planned regions.
        data_dir: Where the sighting builders save best crops (``crop_path`` is relative to it)
            and each alert's crop is saved (`save_alert_crop`); None: paths are used as they
            are, and alerts get no crop.
        chunk: Images per detector call.
        live_min_age_s: Tracks in view this long get provisional sightings
            (`FrameOutput.updates`, for live case matching); None: none (past footage, benchmarks).
        live_refresh_s: A track's provisional sighting is refreshed this often (its best crop may
            improve). Raising it publishes fewer updates; a better crop reaches cases later.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        data_dir: Path | None = None,
        chunk: int = DETECT_CHUNK,
        live_min_age_s: float | None = None,
        live_refresh_s: float = LIVE_REFRESH_S,
    ) -> None:
        if chunk < 1:
            raise ValidationError(f"FramePipeline: chunk expected >= 1, got {chunk}")
        self.detector = detector
        self.data_dir = data_dir
        self.chunk = chunk
        self.live_min_age_s = live_min_age_s
        self.live_refresh_s = live_refresh_s
        self.stats = PipelineStats()
        self._processors: dict[str, CameraProcessor] = {}
        self._heights: dict[str, int] = {}  # last frame height per camera: the descriptor's size cue
        self._live_sent: dict[str, float] = {}  # sighting id -> when its last update went out

    @property
    def camera_ids(self) -> list[str]:
        """Cameras in the pipeline, in the order they were added."""
        return list(self._processors)

    def add(self, processor: CameraProcessor) -> None:
        """Run a camera through the pipeline; a camera already in it keeps its processor."""
        self._processors.setdefault(processor.camera_id, processor)

    def set_rules(self, camera_id: str, rules: Sequence[Rule]) -> list[CrossingCount]:
        """Replace a running camera's rules (new zones); its tracks and sightings carry on. Absent: no-op.

        Returns:
            The replaced rules' counting intervals, the open ones as they stand (publish them).
        """
        processor = self._processors.get(camera_id)
        return processor.set_rules(rules) if processor is not None else []

    def set_privacy_masks(self, camera_id: str, masks: Sequence[Polygon]) -> None:
        """New privacy masks for a camera's posture stage (no pose under them); absent: no-op.

        The frames themselves are masked by the caller (`mask_frame`) before `step`.
        """
        processor = self._processors.get(camera_id)
        if processor is not None and processor.posture is not None:
            processor.posture.set_masks(masks)

    def flush_counts(self, camera_id: str | None = None) -> list[CrossingCount]:
        """Every counting interval of one camera's rules (None: every camera's), open ones included.

        Call it before `remove` or `finish` when the counts matter: they would be lost with the rules.
        """
        cameras = self.camera_ids if camera_id is None else [camera_id]
        return [
            count
            for camera in cameras
            if camera in self._processors
            for count in self._processors[camera].flush_counts()
        ]

    def remove(self, camera_id: str) -> list[Sighting]:
        """Take a camera out; its open tracks are returned as described sightings (none if absent)."""
        processor = self._processors.pop(camera_id, None)
        if processor is None:
            return []
        height = self._heights.pop(camera_id, 0)
        return [self._finished(sighting, height) for sighting in processor.finish()]

    def finish(self) -> list[Sighting]:
        """End of the run: every camera is taken out; all open tracks become sightings."""
        return [sighting for camera_id in self.camera_ids for sighting in self.remove(camera_id)]

    def step(self, frames: Sequence[Frame]) -> list[FrameOutput]:
        """Run a batch of frames, at most one per camera, through every step.

        Args:
            frames: Frames to process, privacy masks applied (`mask_frame`). Frames of cameras
                not in the pipeline (e.g. stopped meanwhile) are dropped.

        Returns:
            One `FrameOutput` per kept frame, in the order given.

        Raises:
            ValidationError: Two frames of one camera (a camera plans one frame at a time).
        """
        kept = [frame for frame in frames if frame.camera_id in self._processors]
        cameras = [frame.camera_id for frame in kept]
        if len(set(cameras)) < len(cameras):
            raise ValidationError(f"FramePipeline.step: expected one frame per camera, got cameras {cameras}")
        found = self._detect(kept)
        return [self._process(frame, detections) for frame, detections in zip(kept, found, strict=True)]

    def _detect(self, frames: list[Frame]) -> list[Detections | None]:
        """Detect in every camera's planned regions as one batch; None for frames planned skip."""
        plans = [self._processors[frame.camera_id].plan(frame) for frame in frames]
        wanted = [i for i, plan in enumerate(plans) if plan is not None]
        results: list[Detections | None] = [None] * len(frames)
        self.stats.skipped += len(frames) - len(wanted)
        if not wanted:
            return results
        started = time.perf_counter()
        found = detect_planned(
            self.detector,
            [frames[i].image for i in wanted],
            [plan for plan in plans if plan is not None],
            chunk=self.chunk,
        )
        self.stats.detect_seconds += time.perf_counter() - started
        self.stats.batches += 1
        for i, detections in zip(wanted, found, strict=True):
            results[i] = detections
        return results

    def _process(self, frame: Frame, found: Detections | None) -> FrameOutput:
        processor = self._processors[frame.camera_id]
        detections = Detections.empty() if found is None else found
        self._heights[frame.camera_id] = frame.height
        posture = processor.posture
        before = (posture.seconds, posture.crops) if posture is not None else (0.0, 0)
        result = processor.process(frame, detections)
        if posture is not None:
            self.stats.pose_seconds += posture.seconds - before[0]
            self.stats.pose_crops += posture.crops - before[1]
        self.stats.frames += 1
        self.stats.detections += len(detections)
        output = FrameOutput(
            frame=frame,
            detections=detections,
            inferred=found is not None,
            tracked=result.tracked,
            sightings=[self._finished(sighting, frame.height) for sighting in result.sightings],
            updates=self._updates(processor, frame),
            alerts=result.alerts,
            counts=result.counts,
        )
        if self.data_dir is not None:
            for alert in result.alerts:
                save_alert_crop(self.data_dir, alert, frame.image)
        return output

    def _finished(self, sighting: Sighting, image_height: int) -> Sighting:
        """A finished sighting with its descriptor filled from the saved best crop (search works on it).

        The saved JPEG is described, not the builder's in-memory crop: JPEG changes pixels, and
        the descriptor must be the one the stored crop gives.
        """
        self._live_sent.pop(sighting.id, None)
        if sighting.crop_path is None:
            return sighting
        path = Path(sighting.crop_path) if self.data_dir is None else self.data_dir / sighting.crop_path
        crop = cv2.imread(str(path))
        if crop is None or crop.ndim != 3 or crop.size == 0:
            log.warning(
                "camera %s: best crop %s unreadable; sighting stored without descriptor",
                sighting.camera_id,
                sighting.crop_path,
            )
            return sighting
        return describe(sighting, np.asarray(crop, dtype=np.uint8), image_height)

    def _updates(self, processor: CameraProcessor, frame: Frame) -> list[Sighting]:
        """Provisional sightings of tracks in view, so a case can match her while she is still there."""
        if self.live_min_age_s is None:
            return []
        updates = []
        for sighting, crop in processor.sightings.live(self.live_min_age_s):
            last = self._live_sent.get(sighting.id)
            if last is not None and frame.timestamp - last < self.live_refresh_s:
                continue
            self._live_sent[sighting.id] = frame.timestamp
            updates.append(describe(sighting, crop, frame.height))
        return updates
