"""Detection benchmarks, each side by side in one run on the shared footage.

- gating: model inputs per frame and person recall of motion gating + regions, without and
  with coasting between full looks, against 4x3 tiled detection on every frame (the
  reference for recall: no ground truth here), on a crowded and a quiet clip.
- batching: K cameras at 5 fps with motion regions detected as the runtime does (one detect
  thread batching every camera's newest frame through `vigil.pipeline.detect_planned`) vs one
  detector per camera in its own thread (the naive deployment): capacity, p95 added latency
  and frames dropped per camera (`BATCHING`).
- backends: latency per input size (SSDLite cv2-free onnxruntime, YOLO ONNX, ultralytics).

Run: ``python benchmarks/detection.py [--json] [--frames N] [--only gating|batching] [--seconds S]``
or ``vigil bench detect --json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import textwrap
import threading
import time
from collections.abc import Callable
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
    "recall: of the boxes tiled detection (the planner's full-frame tiling of the camera's "
    "region_px: 4x3 at 1280x720) finds on every frame (the reference; no ground truth here), the "
    "fraction some box the pipeline outputs that frame overlaps at IoU >= 0.5; the output is the "
    "tracker's (confirmed tracks: detected, or, while gated, moved by optical flow where not looked "
    "at), so the tiled pipeline's own recall is below 1 (new tracks wait for min_hits). of_tiled: "
    "recall / the tiled pipeline's recall. detected: the same against the raw detector boxes of "
    "that frame. inputs: model inputs, one per 300x300 input the model runs on: a region resized to "
    "it, or a mosaic of narrow cells packed side by side into it (gating + coasting: cells around "
    "unconfirmed tracks and newcomers, each shown at a region's scale; one mosaic = one inference); "
    "a frame without inference counts 0. ms_per_frame: plan + detect + track, wall time. "
    "The quiet clip's camera has region_px 296x432 (3x1 tiles as tall as the 432-px frame), on "
    "both sides: 4x3-style 288-px rows cut its 380-px person in two, and the reference held two "
    "half-person boxes that no whole-person box matches."
)

# Per clip: (file, frames skipped per frame kept to reach 5 fps, the camera's region_px).
GATING_CLIPS = (
    (FOOTAGE / "overhead_crowd.avi", 10, (384, 288)),  # 50 fps
    (REPO / "samples" / "one-by-one-person-detection.mp4", 2, (296, 432)),  # 10 fps
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


def gating(
    frames: list[Any], fps: float, clip: str, region_px: tuple[int, int] = (384, 288)
) -> list[dict[str, Any]]:
    """Tiled detection on every frame vs motion gating vs gating that coasts, in one run.

    Every pipeline is the live one (`CameraProcessor`: plan, detect, track; the coasting one's
    tracker follows unlooked tracks by optical flow); rows give model inputs per frame, the
    reduction against tiling, and recall as `GATING_RECALL` says.
    """
    from detectors import SsdliteDetector
    from detectors.gating import RegionPlanner, tiling_grid
    from detectors.ssd_anchors import box_iou
    from tracker.sighting import SightingBuilder
    from tracker.vigil_track import VigilTracker
    from vigil.core.types import Detections, Frame
    from vigil.pipeline import CameraProcessor

    # The planner's own full-frame tiling: 4x3 at 1280x720; a 4x3 grid on a smaller frame
    # would cut people into pieces that no region-sized detection overlaps.
    grid = tiling_grid(frames[0].shape[1], frames[0].shape[0], region_px)
    reference, detector = SsdliteDetector(tiles=grid), SsdliteDetector()
    tiles = grid[0] * grid[1]

    def make(name: str, planner: RegionPlanner | None) -> _Pipeline:
        tracker = VigilTracker(frame_rate=fps)
        return _Pipeline(name, CameraProcessor(clip, tracker, SightingBuilder(clip), [], planner=planner))

    pipelines = [
        make("tiled", None),
        make("gating (motion + tracks)", RegionPlanner(region_px=region_px, coast=False)),
        make("gating + coasting", RegionPlanner(region_px=region_px, coast=True)),
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
                found, inputs = expected, tiles
            elif plan is None:
                found, inputs = Detections.empty(), 0
            else:
                found, inputs = detector.detect_packed(image, plan.regions, plan.packed), len(plan)
            tracked = pipeline.processor.process(frame, found).tracked
            pipeline.seconds += meter.stop().wall + (tiled_s if plan is True else 0.0)
            pipeline.inputs += inputs
            pipeline.hits += hits(expected, tracked)
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
            "ms_per_frame": 1000 * p.seconds / n,
        }
        for p in pipelines
    ]


BATCHING = (
    "K cameras, each arriving at `fps`, each frame carrying `regions` motion regions of "
    "`region_px` (MotionSettings.region_px) resized to the 300x300 model input, detected through "
    "`vigil.pipeline.detect_planned` on both sides (planning and tracking, the same on both, are "
    "left out). batched: what the runtime does, one detect thread and one SsdliteDetector taking "
    "the newest waiting frame of every camera and detecting them together, `chunk` frames per model "
    "call (vigil.pipeline.DETECT_CHUNK), waiting 10 ms when none waits. independent: the naive "
    "deployment, one SsdliteDetector (own onnxruntime session, the default 2 threads) per camera in "
    "its own thread. capacity_fps: frames per second all cameras together get through when every "
    "camera's next frame is always waiting (closed loop); speedup = batched / independent. At `fps` "
    "(open loop): a camera whose frame is not taken before the next one arrives keeps only its "
    "newest; the others are dropped and counted per camera. added_p95_ms: 95th percentile of "
    "(detections - arrival) minus the time of one frame on an idle detector (solo_ms)."
)

_POLL_S = 0.01
"""How long the runtime's detect thread waits when no camera has a new frame (`DetectWorker` idle_s)."""


def _solo_ms(detector: Any, frame: Any, plan: Any) -> float:
    from vigil.pipeline import detect_planned

    detect_planned(detector, [frame], [plan])
    times = []
    for _ in range(15):
        started = time.perf_counter()
        detect_planned(detector, [frame], [plan])
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def _independent(
    frames: list[Any], cameras: int, plan: Any, fps: float | None, seconds: float
) -> tuple[list[float], list[int]]:
    """One detector per camera thread. Returns (latencies s, dropped per camera); fps None: closed loop."""
    from detectors import SsdliteDetector
    from vigil.pipeline import detect_planned

    detectors = [SsdliteDetector() for _ in range(cameras)]
    for detector in detectors:
        detect_planned(detector, frames[:1], [plan])
    latencies: list[list[float]] = [[] for _ in range(cameras)]
    dropped = [0] * cameras
    start = time.perf_counter() + 0.1

    def camera(k: int) -> None:
        time.sleep(max(0.0, start - time.perf_counter()))  # every camera starts timing together
        index = 0
        period = 0.0 if fps is None else 1.0 / fps
        phase = 0.0 if fps is None else k * period / cameras
        while True:
            now = time.perf_counter()
            if now - start >= seconds:
                return
            if fps is None:
                arrival = now
            else:
                # The newest frame that has arrived (or the next one); frames skipped are dropped.
                due = max(index, int(np.floor((now - start - phase) / period)))
                dropped[k] += due - index
                index = due
                arrival = start + phase + index * period
                if arrival > now:
                    time.sleep(arrival - now)
            detect_planned(detectors[k], [frames[(index * cameras + k) % len(frames)]], [plan])
            latencies[k].append(time.perf_counter() - arrival)
            index += 1

    _run_cameras(camera, cameras)
    return [x for per in latencies for x in per], dropped


def _batched(
    frames: list[Any], cameras: int, plan: Any, fps: float | None, seconds: float, chunk: int
) -> tuple[list[float], list[int]]:
    """All cameras in one thread on one detector, as `vigil.runtime` detects; returns as `_independent`."""
    from detectors import SsdliteDetector
    from vigil.pipeline import detect_planned

    detector = SsdliteDetector()
    detect_planned(detector, frames[:1], [plan], chunk)
    latencies: list[float] = []
    dropped = [0] * cameras
    taken = [0] * cameras  # per camera, the index of the next frame not yet taken
    period = 0.0 if fps is None else 1.0 / fps
    start = time.perf_counter() + 0.1
    time.sleep(0.1)
    while (now := time.perf_counter()) - start < seconds:
        images, arrivals = [], []
        for k in range(cameras):
            if fps is None:
                index, arrival = taken[k], now
            else:
                phase = k * period / cameras
                newest = int(np.floor((now - start - phase) / period))
                if newest < taken[k]:
                    continue  # no new frame from this camera yet
                dropped[k] += newest - taken[k]
                index, arrival = newest, start + phase + newest * period
            taken[k] = index + 1
            images.append(frames[(index * cameras + k) % len(frames)])
            arrivals.append(arrival)
        if not images:
            time.sleep(_POLL_S)
            continue
        detect_planned(detector, images, [plan] * len(images), chunk)
        done = time.perf_counter()
        latencies += [done - arrival for arrival in arrivals]
    return latencies, dropped


def _run_cameras(camera: Callable[[int], None], cameras: int) -> None:
    """Run ``camera(k)`` for every camera k in its own thread, until all return."""
    threads = [threading.Thread(target=camera, args=(k,)) for k in range(cameras)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def batching(
    frames: list[Any],
    cameras: int,
    regions_per_camera: int,
    chunk: int,
    fps: float = 5.0,
    seconds: float = 6.0,
    region_px: tuple[int, int] = (384, 288),
) -> dict[str, Any]:
    """K cameras in the runtime's one detect thread vs one detector per camera, as `BATCHING` says."""
    from detectors import SsdliteDetector
    from detectors.gating import RegionPlan
    from detectors.motion import Motion

    height, width = frames[0].shape[:2]
    xs = np.linspace(0, width - region_px[0], regions_per_camera).round()
    ys = np.full_like(xs, (height - region_px[1]) // 2)
    regions = np.stack([xs, ys, xs + region_px[0], ys + region_px[1]], 1).astype(np.int64)
    plan = RegionPlan(regions, Motion(np.zeros((0, 4), np.float32), 0.0, False))
    solo = _solo_ms(SsdliteDetector(), frames[0], plan)

    def settle() -> None:
        # Let the previous phase's sessions and thread pools go before timing the next one.
        gc.collect()
        time.sleep(0.5)

    settle()
    closed_ind, _ = _independent(frames, cameras, plan, None, seconds)
    settle()
    closed_bat, _ = _batched(frames, cameras, plan, None, seconds, chunk)
    settle()
    open_bat, dropped_bat = _batched(frames, cameras, plan, fps, seconds, chunk)
    settle()
    open_ind, dropped_ind = _independent(frames, cameras, plan, fps, seconds)

    def added_p95(latencies: list[float]) -> float:
        return float(np.percentile(latencies, 95)) * 1000 - solo if latencies else float("nan")

    return {
        "cameras": cameras,
        "regions": regions_per_camera,
        "chunk": chunk,
        "fps": fps,
        "solo_ms": solo,
        "independent_capacity_fps": len(closed_ind) / seconds,
        "batched_capacity_fps": len(closed_bat) / seconds,
        "speedup": len(closed_bat) / max(1, len(closed_ind)),
        "independent_added_p95_ms": added_p95(open_ind),
        "batched_added_p95_ms": added_p95(open_bat),
        "independent_dropped": dropped_ind,
        "batched_dropped": dropped_bat,
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

    for precision, px in (("fp32", 960), ("fp32", 1024), ("int8", 1024)):
        ssd = SsdliteDetector(auto_input_px=px, precision=precision)  # type: ignore[arg-type]
        time_it(f"ssdlite onnxruntime {precision}", f"{px} long side", lambda d=ssd: d.detect([image]))
    for precision in ("fp32", "int8"):
        tiles = SsdliteDetector(tiles=(4, 3), precision=precision)  # type: ignore[arg-type]
        time_it(f"ssdlite onnxruntime {precision}", "4x3 tiles of 300", lambda d=tiles: d.detect([image]))
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
    parser.add_argument("--seconds", type=float, default=6.0, help="batching: seconds per timed phase")
    parser.add_argument("--only", choices=["gating", "batching"], help="run one section only")
    args = parser.parse_args(argv)
    from vigil.pipeline import DETECT_CHUNK

    clip = require(FOOTAGE / "overhead_crowd.avi")
    frames = read_frames(clip, step=10, limit=args.frames)  # 50 fps clip → 5 fps, as cameras detect
    if args.only == "batching":
        _print_batching(
            [
                batching(frames, args.cameras, 2, DETECT_CHUNK, fps, args.seconds)
                for fps in (5.0, 15.0)  # as deployed; 15 fps overloads
            ]
        )
        return 0
    rows = [
        row
        for path, step, region_px in GATING_CLIPS
        for row in gating(read_frames(require(path), step, args.gating_frames), 5.0, path.name, region_px)
    ]
    if args.only == "gating":
        _print_gating(rows)
        return 0
    # (regions per camera, frames per model call, fps): the runtime's chunk, every camera in one
    # call, one region each, and 15 fps (overload).
    cases = [(2, DETECT_CHUNK, 5.0), (2, args.cameras, 5.0), (1, DETECT_CHUNK, 5.0), (2, DETECT_CHUNK, 15.0)]
    report: dict[str, Any] = {
        "gating": {"recall_definition": GATING_RECALL, "rows": rows},
        "batching": {
            "definition": BATCHING,
            "rows": [
                batching(frames, args.cameras, per, chunk, fps, args.seconds) for per, chunk, fps in cases
            ],
        },
        "backends": backends(frames[0]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_gating(rows)
    _print_batching(report["batching"]["rows"])
    print("backends")
    for row in report["backends"]:
        print(f"  {row['backend']:<32}{row['input']:<20}{row['ms']:8.1f} ms")
    return 0


def _print_batching(rows: list[dict[str, Any]]) -> None:
    print("batching")
    print("  " + textwrap.fill(BATCHING, 100, subsequent_indent="  "))
    for row in rows:
        print(
            f"  K={row['cameras']} regions={row['regions']} chunk={row['chunk']} at {row['fps']:.0f} fps: "
            f"capacity "
            f"{row['independent_capacity_fps']:.1f} -> {row['batched_capacity_fps']:.1f} fps "
            f"({row['speedup']:.2f}x); added p95 {row['independent_added_p95_ms']:.0f} -> "
            f"{row['batched_added_p95_ms']:.0f} ms (solo {row['solo_ms']:.1f} ms); dropped per camera "
            f"{row['independent_dropped']} -> {row['batched_dropped']}"
        )


def _print_gating(rows: list[dict[str, Any]]) -> None:
    print("gating")
    print("  " + textwrap.fill(GATING_RECALL, 100, subsequent_indent="  "))
    print(f"  {'clip':<34}{'pipeline':<26}" + "".join(f"{key[:10]:>11}" for key in list(rows[0])[2:]))
    for row in rows:
        values = list(row.values())
        print(f"  {values[0]:<34}{values[1]:<26}" + "".join(f"{v:11.2f}" for v in values[2:]))


if __name__ == "__main__":
    raise SystemExit(main())
