"""Detector candidates side by side on the same labelled frames: SSDLite int8 vs NanoDet.

Three real sets with ground truth (`benchmarks/data/detect_sets/PROVENANCE.md`):

- ``mot17``: the MOT17-02 development frames (1920x1080, MOTChallenge ground truth, MOT17
  conventions of `vigil.evaluation.detect`);
- ``crowd``: 3 frames of ``overhead_crowd.avi`` (1280x720, a hall seen from above), 112 people
  labelled for this benchmark (`benchmarks/data/detect_sets/overhead_crowd.gt.txt`);
- ``cars``: 21 frames of ``car-detection.mp4`` (768x432, a car park seen from above), 24 cars
  labelled by hand (`benchmarks/data/detect_sets/car-detection.gt.txt`).

Person candidates: SSDLite int8 as today's default builds it (`vigil eval detect`: whole frame
at 1024 px + a coarse pass), SSDLite int8 on 4x3 tiles (the issue's tiled reference), NanoDet
whole frame, 2x2 and 3x2 tiles (20 % overlap) at 416x416, and whole frame at a 768 / 1088 / 1280
px long side (`detectors.nanodet.ensure_any_size_onnx`). Car candidates: the NanoDet ones with
``classes=["car"]`` (SSDLite is person-only). Per candidate and set: AP50 (pycocotools, 101
points), recall at score >= 0.3, recall of people under 64 px tall (score >= 0.3, IoU >= 0.5),
ms per frame on ONE onnxruntime thread (one untimed warm-up per set). Ratios are against the
first candidate of the set in the same run: absolute ms move with the machine's load.

Run: ``python benchmarks/detect_coco.py [--json] [--sets mot17 crowd cars] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.common import FOOTAGE, SHARED, require

SMALL_PX = 64
ANY_SIZE_PX = (768, 1088, 1280)  # NanoDet's any-size graph: long side of the whole-frame input
LABELS = Path(__file__).resolve().parent / "data" / "detect_sets"
MOT17_DIR = SHARED / "data" / "mot17_frames"
MOT_CAR = 3  # MOT17 class ids: 1 pedestrian, 3 car, 8 distractor (= ignore)
MOT_IGNORE = 8

GroundTruth = dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]]


@dataclass(frozen=True)
class LabelledSet:
    """Frames and their ground truth: (xywh boxes, ignore flags) per frame; one target class."""

    name: str
    target: str
    frames: dict[int, npt.NDArray[np.uint8]]
    truth: GroundTruth


def load_labels(gt_path: Path, target_class: int) -> GroundTruth:
    """MOT-style rows ``frame,id,x,y,w,h,consider,class,visibility``: targets and ignore regions.

    A row of `target_class` with consider 1 is an object to find; a row of class 8 (or consider
    0) is an ignore region (a detection on it is neither a hit nor a false positive).
    """
    rows = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    truth: GroundTruth = {}
    for frame in sorted({int(f) for f in rows[:, 0]}):
        mine = rows[rows[:, 0] == frame]
        target = (mine[:, 7] == target_class) & (mine[:, 6] == 1)
        ignore = (mine[:, 7] == MOT_IGNORE) | (mine[:, 6] == 0)
        keep = target | ignore
        truth[frame] = (mine[keep, 2:6], ignore[keep])
    return truth


def video_frames(video: Path, wanted: Sequence[int]) -> dict[int, npt.NDArray[np.uint8]]:
    """The 1-based frames `wanted` of a video, read in order (seeking is not exact in AVI)."""
    capture = cv2.VideoCapture(str(require(video)))
    frames: dict[int, npt.NDArray[np.uint8]] = {}
    index, last = 0, max(wanted)
    while index < last:
        ok, image = capture.read()
        if not ok:
            break
        index += 1
        if index in wanted:
            frames[index] = np.asarray(image, np.uint8)
    capture.release()
    missing = sorted(set(wanted) - set(frames))
    if missing:
        raise SystemExit(f"{video}: frames {missing[:5]} not found (the file is shorter than labelled)")
    return frames


def mot17_set() -> LabelledSet:
    """The MOT17-02 development frames that have images, MOT17 conventions."""
    from vigil.evaluation.detect import list_sequences, load_ground_truth

    frames: dict[int, npt.NDArray[np.uint8]] = {}
    truth: GroundTruth = {}
    for index, sequence in enumerate(list_sequences(require(MOT17_DIR))):
        numbers = [sequence.frame_number(p) for p in sequence.images]
        offset = (index + 1) * 1_000_000  # COCO image ids must be unique across sequences
        for number, path in zip(numbers, sequence.images, strict=True):
            frames[offset + number] = np.asarray(cv2.imread(str(path)), np.uint8)
        truth.update({offset + f: v for f, v in load_ground_truth(sequence.gt_path, numbers).items()})
    return LabelledSet("mot17", "person", frames, truth)


def video_set(name: str, video: str, target: str, target_class: int) -> LabelledSet:
    truth = load_labels(LABELS / f"{Path(video).stem}.gt.txt", target_class)
    return LabelledSet(name, target, video_frames(FOOTAGE / video, sorted(truth)), truth)


SETS: dict[str, Callable[[], LabelledSet]] = {
    "mot17": mot17_set,
    "crowd": lambda: video_set("crowd", "overhead_crowd.avi", "person", 1),
    "cars": lambda: video_set("cars", "car-detection.mp4", "car", MOT_CAR),
}


def candidates(target: str) -> dict[str, Callable[[], Any]]:
    """Builders of the candidates for one target class, today's default first."""
    from config.models import DetectorConfig
    from detectors.nanodet import NanodetDetector
    from detectors.registry import build_detector
    from detectors.ssdlite import SsdliteDetector

    def nanodet(tiles: tuple[int, int], input_px: int | None = None) -> Callable[[], Any]:
        return lambda: NanodetDetector(
            score_threshold=0.1, tiles=tiles, classes=[target], intra_op_threads=1, input_px=input_px
        )

    found = {
        "nanodet whole": nanodet((1, 1)),
        "nanodet 2x2": nanodet((2, 2)),
        "nanodet 3x2": nanodet((3, 2)),
        **{f"nanodet whole @{px}": nanodet((1, 1), px) for px in ANY_SIZE_PX},
    }
    if target != "person":
        return found
    return {
        "ssdlite int8 (default)": lambda: build_detector(DetectorConfig(score_threshold=0.1, threads=1)),
        "ssdlite int8 4x3": lambda: SsdliteDetector(score_threshold=0.1, tiles=(4, 3), intra_op_threads=1),
        **found,
    }


def small_recall(truth: GroundTruth, detections: dict[int, Any]) -> tuple[float, int]:
    """Fraction of objects < 64 px tall (not ignored) matched by a box scoring >= 0.3 at IoU >= 0.5."""
    from detectors.ssd_anchors import box_iou

    found = total = 0
    for frame, (boxes, ignore) in truth.items():
        small = boxes[(~ignore) & (boxes[:, 3] < SMALL_PX)]
        if len(small) == 0:
            continue
        total += len(small)
        dets = detections[frame]
        kept = dets.xyxy[dets.confidence >= 0.3]
        if len(kept):
            xyxy = np.concatenate([small[:, :2], small[:, :2] + small[:, 2:]], axis=1).astype(np.float32)
            found += int((box_iou(xyxy, kept).max(axis=1) >= 0.5).sum())
    return (found / total if total else float("nan")), total


def measure(build: Callable[[], Any], labelled: LabelledSet, repeat: int) -> dict[str, Any]:
    """Detect on every frame of the set (best of `repeat` timings per frame) and score."""
    from vigil.evaluation.detect import score

    detector = build()
    detector.detect([next(iter(labelled.frames.values()))])  # warm-up: allocation and planning
    detections: dict[int, Any] = {}
    seconds = 0.0
    for frame, image in labelled.frames.items():
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            detections[frame] = detector.detect([image])[0]
            best = min(best, time.perf_counter() - started)
        seconds += best
    ap50, recall, objects = score(labelled.truth, detections)
    small, small_objects = small_recall(labelled.truth, detections)
    height, width = next(iter(labelled.frames.values())).shape[:2]
    return {
        "ap50": ap50,
        "recall": recall,
        "small_recall": small,
        "small_objects": small_objects,
        "objects": objects,
        "frames": len(detections),
        "frame_size": f"{width}x{height}",
        "ms_per_frame": 1000 * seconds / max(1, len(detections)),
    }


def table(set_names: Sequence[str], repeat: int) -> list[dict[str, Any]]:
    """One row per (set, candidate), with ratios against the set's first candidate."""
    rows: list[dict[str, Any]] = []
    for set_name in set_names:
        labelled = SETS[set_name]()
        results = {
            name: measure(build, labelled, repeat) for name, build in candidates(labelled.target).items()
        }
        base = next(iter(results.values()))
        for name, value in results.items():
            rows.append(
                {
                    "set": set_name,
                    "target": labelled.target,
                    "candidate": name,
                    **value,
                    "ap50_ratio": _ratio(value["ap50"], base["ap50"]),
                    "small_recall_ratio": _ratio(value["small_recall"], base["small_recall"]),
                    "ms_ratio": _ratio(value["ms_per_frame"], base["ms_per_frame"]),
                }
            )
    return rows


def _ratio(value: float, base: float) -> float:
    return value / base if base and np.isfinite(base) else float("nan")


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'set':<7}{'target':<7}{'candidate':<24}{'AP50':>6}{'rec@.3':>7}{'rec<64':>7}{'ms/frame':>9}"
        f"{'xAP':>6}{'xrec<64':>8}{'xms':>6}"
    )
    for row in rows:
        print(
            f"{row['set']:<7}{row['target']:<7}{row['candidate']:<24}{row['ap50']:6.3f}{row['recall']:7.3f}"
            f"{row['small_recall']:7.3f}{row['ms_per_frame']:9.1f}{row['ap50_ratio']:6.2f}"
            f"{row['small_recall_ratio']:8.2f}{row['ms_ratio']:6.2f}"
        )
    seen = set()
    for row in rows:
        if row["set"] not in seen:
            seen.add(row["set"])
            print(
                f"({row['set']}: {row['frames']} frames of {row['frame_size']}, {row['objects']} "
                f"{row['target']}s to find, {row['small_objects']} of them < {SMALL_PX} px tall)"
            )
    print("(ms: one onnxruntime thread, best of --repeat per frame; ratios vs the first row of each set)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sets", nargs="*", choices=sorted(SETS), default=["mot17", "crowd", "cars"])
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per frame (the best counts)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = table(args.sets, max(1, args.repeat))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
