"""Person-detection quality on MOTChallenge sequences: AP50 and recall via pycocotools.

MOT17 conventions: ground-truth rows of class 1 (pedestrian) with the "consider" flag set
and visibility >= 0.25 are the people to find. Everything else the ground truth marks
(class-1 rows under 0.25 visibility, persons on vehicles, static persons, distractors,
reflections) is "ignore": a detection on it is neither a hit nor a false positive. They
are given to COCOeval as ``iscrowd`` boxes, whose matching (intersection over the
detection's area) is exactly an ignore region. Only frames whose image is present are
evaluated, so a folder of a few frames per sequence works.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Detector
from vigil.core.errors import ValidationError
from vigil.core.types import Detections

PEDESTRIAN = 1
IGNORED_CLASSES = frozenset({2, 7, 8, 12})  # person on vehicle, static person, distractor, reflection
MIN_VISIBILITY = 0.25
RECALL_SCORE = 0.3


@dataclass(frozen=True)
class MotSequence:
    """One MOTChallenge sequence on disk: its name, frame images and ground truth."""

    name: str
    images: tuple[Path, ...]
    gt_path: Path

    def frame_number(self, image: Path) -> int:
        return int(image.stem)


@dataclass(frozen=True)
class DetectionScore:
    """Quality of one sequence (or all together).

    Attributes:
        ap50: COCO-style average precision at IoU 0.5 (101-point), 0..1.
        recall: Fraction of people found at IoU 0.5 among detections scoring >= 0.3.
        ms_per_frame: Mean detector wall time per frame (detection only, no I/O).
        frames: Frames evaluated.
        people: People to find (visibility >= 0.25).
    """

    ap50: float
    recall: float
    ms_per_frame: float
    frames: int
    people: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def list_sequences(root: Path) -> list[MotSequence]:
    """Every folder under `root` (or `root` itself) with ``img1/*.jpg`` and ``gt/gt.txt``.

    Raises:
        ValidationError: If none is found.
    """
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    sequences = [
        MotSequence(folder.name, tuple(sorted((folder / "img1").glob("*.jpg"))), folder / "gt" / "gt.txt")
        for folder in candidates
        if (folder / "gt" / "gt.txt").is_file() and any((folder / "img1").glob("*.jpg"))
    ]
    if not sequences:
        raise ValidationError(f"--mot {root}: expected MOTChallenge sequences with img1/*.jpg and gt/gt.txt")
    return sequences


def detect_sequence(detector: Detector, sequence: MotSequence) -> tuple[dict[int, Detections], float]:
    """Run the detector on every frame image of a sequence (one untimed warm-up run first).

    Returns:
        (detections per frame number, total detector seconds).
    """
    found: dict[int, Detections] = {}
    seconds = 0.0
    for index, path in enumerate(sequence.images):
        image = cv2.imread(str(path))
        if image is None:
            raise ValidationError(f"{path}: not a readable image")
        if index == 0:  # warm-up: the first run of an input size allocates and plans
            detector.detect([np.asarray(image, np.uint8)])
        started = time.perf_counter()
        found[sequence.frame_number(path)] = detector.detect([np.asarray(image, np.uint8)])[0]
        seconds += time.perf_counter() - started
    return found, seconds


def write_mot_detections(path: Path, detections: dict[int, Detections]) -> None:
    """Write ``frame,-1,x,y,w,h,score,-1,-1,-1`` rows (MOTChallenge det format, 1-based frames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for frame in sorted(detections):
        dets = detections[frame]
        for (x1, y1, x2, y2), score in zip(dets.xyxy.tolist(), dets.confidence.tolist(), strict=True):
            lines.append(f"{frame},-1,{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1")
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def load_ground_truth(
    gt_path: Path, frames: Sequence[int]
) -> dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]]:
    """Ground truth per frame: (boxes (G, 4) xywh, ignore (G,) bool), MOT17 conventions."""
    rows = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    result = {}
    for frame in frames:
        mine = rows[rows[:, 0] == frame]
        cls, consider, visibility = mine[:, 7], mine[:, 6], mine[:, 8]
        person = (cls == PEDESTRIAN) & (consider == 1) & (visibility >= MIN_VISIBILITY)
        ignore = np.isin(cls, list(IGNORED_CLASSES)) | ((cls == PEDESTRIAN) & ~person)
        keep = person | ignore
        result[frame] = (mine[keep, 2:6], ignore[keep])
    return result


def score(
    ground_truth: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]],
    detections: dict[int, Detections],
) -> tuple[float, float, int]:
    """(AP50, recall at score >= 0.3, people) by pycocotools' COCOeval, one category 'person'."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (boxes, ignore) in ground_truth.items():
        images.append({"id": image_id})
        for (x, y, w, h), crowd in zip(boxes.tolist(), ignore.tolist(), strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(crowd),
                }
            )
    people = sum(int((~ignore).sum()) for _, ignore in ground_truth.values())

    def evaluate(min_score: float) -> COCOeval:
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}],
        }
        results: list[dict[str, Any]] = [
            {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            for image_id, dets in detections.items()
            if image_id in ground_truth
            for (x1, y1, x2, y2), s in zip(dets.xyxy.tolist(), dets.confidence.tolist(), strict=True)
            if s >= min_score
        ]
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            gt.createIndex()
            dt = gt.loadRes(results) if results else COCO()
            evaluator = COCOeval(gt, dt, "bbox")
            evaluator.params.iouThrs = np.array([0.5])
            evaluator.params.maxDets = [1000]
            evaluator.params.areaRng = [[0.0, 1e10]]
            evaluator.params.areaRngLbl = ["all"]
            evaluator.evaluate()
            evaluator.accumulate()
        return evaluator

    if people == 0:
        return 0.0, 0.0, 0
    if not any(len(d) for d in detections.values()):
        return 0.0, 0.0, people
    precision = evaluate(0.0).eval["precision"][0, :, 0, 0, 0]  # (101 recall points)
    ap50 = float(np.mean(np.maximum(precision, 0)))
    recall = float(max(0.0, evaluate(RECALL_SCORE).eval["recall"][0, 0, 0, 0]))
    return ap50, recall, people


def evaluate_detector(
    detector: Detector, sequences: Sequence[MotSequence], out_dir: Path | None
) -> dict[str, DetectionScore]:
    """Detect, write ``OUT/<seq>.txt`` (when `out_dir`), score each sequence and all together.

    Returns:
        Scores keyed by sequence name, plus ``"COMBINED"`` when there is more than one.
    """
    scores: dict[str, DetectionScore] = {}
    all_gt: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = {}
    all_dets: dict[int, Detections] = {}
    total_seconds = 0.0
    for index, sequence in enumerate(sequences):
        detections, seconds = detect_sequence(detector, sequence)
        if out_dir is not None:
            write_mot_detections(out_dir / f"{sequence.name}.txt", detections)
        ground_truth = load_ground_truth(sequence.gt_path, sorted(detections))
        ap50, recall, people = score(ground_truth, detections)
        frames = len(detections)
        scores[sequence.name] = DetectionScore(ap50, recall, 1000 * seconds / max(1, frames), frames, people)
        # COCO image ids must be unique across sequences.
        offset = (index + 1) * 1_000_000
        all_gt.update({offset + f: v for f, v in ground_truth.items()})
        all_dets.update({offset + f: v for f, v in detections.items()})
        total_seconds += seconds
    if len(sequences) > 1:
        ap50, recall, people = score(all_gt, all_dets)
        frames = len(all_dets)
        scores["COMBINED"] = DetectionScore(
            ap50, recall, 1000 * total_seconds / max(1, frames), frames, people
        )
    return scores
