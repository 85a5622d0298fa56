"""Detection benchmarks, each side by side in one run on the shared footage.

- gating: model inputs per frame and person recall of motion gating + regions, without and
  with coasting between full looks, against 4x3 tiled detection on every frame (the
  reference for recall: no ground truth here), on a crowded and a quiet clip.
- batching: throughput of K cameras through `DetectionService` vs K independent calls, for
  whole tiled frames (12 inputs per camera) and for a few motion regions per camera, at
  several `max_batch` caps.
- backends: latency per input size (SSDLite cv2-free onnxruntime, YOLO ONNX, ultralytics).

Run: ``python benchmarks/detection.py [--json] [--frames N]`` or ``vigil bench detect --json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import FOOTAGE, REPO, Meter, require


def read_frames(clip: Path, step: int, limit: int) -> list[Any]:
    import cv2

    capture = cv2.VideoCapture(str(clip))
    frames: list[Any] = []
    index = 0
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(image)
        index += 1
    capture.release()
    return frames


GATING_RECALL = (
    "recall: of the boxes tiled detection (the planner's full-frame tiling: 4x3 at 1280x720) "
    "finds on every frame (the reference; no ground truth here), the fraction some box the "
    "pipeline outputs that frame overlaps at IoU >= 0.5; the output is the tracker's (confirmed "
    "tracks: detected, or predicted where not detected), so the tiled pipeline's own recall is "
    "below 1 (new tracks wait for min_hits). of_tiled: recall / the tiled pipeline's recall. "
    "detected: the same against the raw detector boxes of that frame. A frame without inference "
    "counts 0 inputs."
)


@dataclass
class _Pipeline:
    """One way of running a camera: its processor, and what it cost and found."""

    name: str
    processor: Any
    inputs: int = 0
    seconds: float = 0.0
    hits: int = 0
    detected_hits: int = 0


def gating(frames: list[Any], fps: float, clip: str) -> list[dict[str, Any]]:
    """Tiled detection on every frame vs motion gating (old) vs gating that coasts (new), one run.

    Every pipeline is the live one (`CameraProcessor`: plan, detect, track); rows give model
    inputs per frame, the reduction against tiling, and recall as `GATING_RECALL` says.
    """
    from detectors import SsdliteDetector
    from detectors.gating import RegionPlanner, tiling_grid
    from detectors.ssd_anchors import box_iou
    from tracker.sighting import SightingBuilder
    from tracker.vigil_track import VigilTracker
    from vigil.processing import CameraProcessor
    from vigil.types import Detections, Frame

    # The planner's own full-frame tiling: 4x3 at 1280x720; a 4x3 grid on a smaller frame
    # would cut people into pieces that no region-sized detection overlaps.
    grid = tiling_grid(frames[0].shape[1], frames[0].shape[0])
    reference, detector = SsdliteDetector(tiles=grid), SsdliteDetector()
    tiles = grid[0] * grid[1]

    def make(name: str, planner: RegionPlanner | None) -> _Pipeline:
        tracker = VigilTracker(frame_rate=fps)
        return _Pipeline(name, CameraProcessor(clip, tracker, SightingBuilder(clip), [], planner=planner))

    pipelines = [
        make("tiled", None),
        make("gating (motion + tracks)", RegionPlanner(coast=False)),
        make("gating + coasting", RegionPlanner(coast=True)),
    ]
    ref_total = 0
    meter = Meter()

    def hits(expected: Detections, found: Detections) -> int:
        if not len(expected) or not len(found):
            return 0
        return int((box_iou(expected.xyxy, found.xyxy).max(axis=1) >= 0.5).sum())

    for index, image in enumerate(frames):
        frame = Frame(clip, index, index / fps, image)
        meter.start()
        expected = reference.detect([image])[0]
        tiled_s = meter.stop().wall
        ref_total += len(expected)
        for pipeline in pipelines:
            meter.start()
            plan = pipeline.processor.plan(frame)
            if plan is True:  # no planner: the tiled detections above
                found, inputs, seconds = expected, tiles, tiled_s
            elif plan is None:
                found, inputs, seconds = Detections.empty(), 0, 0.0
            else:
                found, inputs = detector.detect_regions(image, plan.regions), len(plan)
                seconds = meter.stop().wall
            pipeline.inputs += inputs
            pipeline.seconds += seconds
            pipeline.hits += hits(expected, pipeline.processor.process(frame, found).tracked)
            pipeline.detected_hits += hits(expected, found)
    n, base = len(frames), pipelines[0]
    return [
        {
            "clip": clip,
            "pipeline": p.name if p is not base else f"tiled {grid[0]}x{grid[1]} every frame",
            "frames": n,
            "inputs_per_frame": p.inputs / n,
            "reduction": base.inputs / max(1, p.inputs),
            "recall": p.hits / max(1, ref_total),
            "of_tiled": p.hits / max(1, base.hits),
            "detected": p.detected_hits / max(1, ref_total),
            "detect_ms_per_frame": 1000 * p.seconds / n,
        }
        for p in pipelines
    ]


def batching(
    frames: list[Any], cameras: int, max_batch: int, regions_per_camera: int | None
) -> dict[str, float]:
    """K cameras through one `DetectionService` vs K independent calls, in one run.

    `regions_per_camera` None: whole frames, 4x3 tiles (12 inputs each). A number: that many
    300x300 regions per frame (motion gating's typical request), spread along the frame.
    """
    from detectors import SsdliteDetector
    from detectors.service import DetectionService

    detector = SsdliteDetector(tiles=(4, 3))
    height, width = frames[0].shape[:2]
    regions = None
    if regions_per_camera is not None:
        xs = np.linspace(0, width - 300, regions_per_camera).round()
        regions = np.stack(
            [xs, np.full_like(xs, height // 3), xs + 300, np.full_like(xs, height // 3 + 300)], 1
        )
    rounds = max(1, len(frames) // cameras)
    detector.detect_many_regions(frames[:1], [regions])
    meter = Meter().start()
    for r in range(rounds):
        for k in range(cameras):
            detector.detect_many_regions([frames[(r * cameras + k) % len(frames)]], [regions])
    independent = meter.stop().wall
    service = DetectionService(detector, max_batch=max_batch, max_wait_s=0.05).start()
    meter = Meter().start()
    for r in range(rounds):
        futures = [
            service.submit(f"cam{k}", frames[(r * cameras + k) % len(frames)], regions)
            for k in range(cameras)
        ]
        for future in futures:
            future.result(timeout=60)
    batched = meter.stop().wall
    service.stop()
    return {
        "cameras": cameras,
        "inputs_per_camera": 12.0 if regions is None else float(len(regions)),
        "max_batch": max_batch,
        "independent_fps": rounds * cameras / independent,
        "batched_fps": rounds * cameras / batched,
        "speedup": independent / batched,
        "p95_wait_ms": 1000 * service.stats.wait_p95(),
    }


def backends(image: Any) -> list[dict[str, Any]]:
    import importlib.util

    from detectors import SsdliteDetector

    rows: list[dict[str, Any]] = []

    def time_it(name: str, size: str, call: Any) -> None:
        call()
        started = time.perf_counter()
        for _ in range(3):
            call()
        rows.append({"backend": name, "input": size, "ms": 1000 * (time.perf_counter() - started) / 3})

    for px in (640, 1024):
        ssd = SsdliteDetector(auto_input_px=px)
        time_it("ssdlite onnxruntime", f"{px} long side", lambda d=ssd: d.detect([image]))
    tiles = SsdliteDetector(tiles=(4, 3))
    time_it("ssdlite onnxruntime", "4x3 tiles of 300", lambda: tiles.detect([image]))
    spec = importlib.util.find_spec("fall_detection")
    if spec is not None and spec.origin is not None:
        models = Path(spec.origin).parent / "models"
        from detectors.onnx_yolo import OnnxYoloDetector

        onnx = OnnxYoloDetector(models / "best_fp16.onnx")
        time_it("YOLOv8 ONNX (fall model)", "640", lambda: onnx.detect([image]))
        if importlib.util.find_spec("ultralytics") is not None:
            from detectors.ultralytics import UltralyticsDetector

            for px in (640, 960):
                ultra = UltralyticsDetector(models / "best.pt", input_px=px)
                time_it("ultralytics .pt (fall model)", str(px), lambda u=ultra: u.detect([image]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--frames", type=int, default=34, help="frames of the overhead clip at 5 fps")
    parser.add_argument("--gating-frames", type=int, default=68, help="frames per clip at 5 fps for gating")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--only", choices=["gating"], help="run one section only")
    args = parser.parse_args(argv)
    clip = require(FOOTAGE / "overhead_crowd.avi")
    frames = read_frames(clip, step=10, limit=args.frames)  # 50 fps clip → 5 fps, as cameras detect
    quiet = require(REPO / "samples" / "one-by-one-person-detection.mp4")
    rows = gating(read_frames(clip, step=10, limit=args.gating_frames), 5.0, clip.name)
    rows += gating(read_frames(quiet, step=2, limit=args.gating_frames), 5.0, quiet.name)  # 10 fps → 5
    if args.only == "gating":
        _print_gating(rows)
        return 0
    cases = [(None, 12), (None, 24), (2, 16), (1, 8)]
    report: dict[str, Any] = {
        "gating": {"recall_definition": GATING_RECALL, "rows": rows},
        "batching": [batching(frames, args.cameras, cap, per) for per, cap in cases],
        "backends": backends(frames[0]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_gating(rows)
    print("batching")
    print("  " + "".join(f"{key[:16]:>17}" for key in report["batching"][0]))
    for row in report["batching"]:
        print("  " + "".join(f"{value:17.2f}" for value in row.values()))
    print("backends")
    for row in report["backends"]:
        print(f"  {row['backend']:<32}{row['input']:<20}{row['ms']:8.1f} ms")
    return 0


def _print_gating(rows: list[dict[str, Any]]) -> None:
    print("gating")
    print("  " + textwrap.fill(GATING_RECALL, 100, subsequent_indent="  "))
    print(f"  {'clip':<34}{'pipeline':<26}" + "".join(f"{key[:10]:>11}" for key in list(rows[0])[2:]))
    for row in rows:
        values = list(row.values())
        print(f"  {values[0]:<34}{values[1]:<26}" + "".join(f"{v:11.2f}" for v in values[2:]))


if __name__ == "__main__":
    raise SystemExit(main())
