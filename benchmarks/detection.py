"""Detection benchmarks, each side by side in one run on the shared footage.

- gating: model inputs per second and person recall of motion gating + regions against
  4x3 tiled detection on every frame (the reference for recall: no ground truth here).
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
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import FOOTAGE, Meter, require


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


def gating(frames: list[Any], fps: float) -> dict[str, float]:
    from detectors import SsdliteDetector
    from detectors.gating import RegionPlanner
    from detectors.ssd_anchors import box_iou
    from tracker.vigil_track import VigilTracker
    from vigil.types import Detections

    reference, detector = SsdliteDetector(tiles=(4, 3)), SsdliteDetector()
    planner, tracker = RegionPlanner(), VigilTracker(frame_rate=fps)
    tracks = np.zeros((0, 4), np.float32)
    ref_total = hits = gated_inputs = 0
    ref_meter, gate_meter = Meter(), Meter()
    ref_s = gate_s = 0.0
    for index, image in enumerate(frames):
        ref_meter.start()
        expected = reference.detect([image])[0]
        ref_s += ref_meter.stop().wall
        gate_meter.start()
        plan = planner.plan(image, tracks, index / fps)
        found = Detections.empty() if plan is None else detector.detect_regions(image, plan.regions)
        gate_s += gate_meter.stop().wall
        gated_inputs += 0 if plan is None else len(plan)
        tracks = tracker.update(found, image).xyxy
        ref_total += len(expected)
        if len(expected) and len(found):
            hits += int((box_iou(expected.xyxy, found.xyxy).max(axis=1) >= 0.5).sum())
    n = len(frames)
    return {
        "frames": n,
        "tiled_inputs_per_frame": 12.0,
        "gated_inputs_per_frame": gated_inputs / n,
        "inference_reduction": 12.0 * n / max(1, gated_inputs),
        "recall_vs_tiled": hits / max(1, ref_total),
        "tiled_ms_per_frame": 1000 * ref_s / n,
        "gated_ms_per_frame": 1000 * gate_s / n,
    }


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
    parser.add_argument("--cameras", type=int, default=8)
    args = parser.parse_args(argv)
    clip = require(FOOTAGE / "overhead_crowd.avi")
    frames = read_frames(clip, step=10, limit=args.frames)  # 50 fps clip → 5 fps, as cameras detect
    cases = [(None, 12), (None, 24), (2, 16), (1, 8)]
    report: dict[str, Any] = {
        "gating": gating(frames, 5.0),
        "batching": [batching(frames, args.cameras, cap, per) for per, cap in cases],
        "backends": backends(frames[0]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("gating")
    for key, value in report["gating"].items():
        print(f"  {key:<26}{value:10.2f}")
    print("batching")
    print("  " + "".join(f"{key[:16]:>17}" for key in report["batching"][0]))
    for row in report["batching"]:
        print("  " + "".join(f"{value:17.2f}" for value in row.values()))
    print("backends")
    for row in report["backends"]:
        print(f"  {row['backend']:<32}{row['input']:<20}{row['ms']:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
