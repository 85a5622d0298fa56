"""End-to-end pipeline benchmark: Vigil against a naive loop, same clip, same detector, one run.

The naive loop is what a first prototype does: OpenCV decodes every frame, the detector
runs on every frame, the tracker follows. Vigil reads the clip as a camera: PyAV
decodes, only frames at the camera's ``detect_fps`` are converted and detected, then
tracked, turned into sightings (best crops saved and described) and checked against rules
by the runtime's own `vigil.pipeline.FramePipeline`, the camera's processor built from its
config as for a live AI camera (`vigil.pipeline.build_processor`); the "vigil" row sees
every detect frame whole, the "vigil_gated" row adds motion gating, as the runtime does by
default (`motion.enabled`).

Both cover the same video; the figure of merit is **video frames covered per CPU-second**
(per core), with wall-clock figures beside it. Run: ``python benchmarks/pipeline.py`` or
``vigil bench pipeline --json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import FOOTAGE, Meter, require


def _naive(clip: Path, detector: Any, seconds: float | None) -> dict[str, float]:
    import cv2

    from tracker.vigil_track import VigilTracker

    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    tracker = VigilTracker(frame_rate=fps)
    frames = detections = 0
    meter = Meter().start()
    while True:
        ok, image = capture.read()
        if not ok or (seconds is not None and capture.get(cv2.CAP_PROP_POS_MSEC) / 1000 > seconds):
            break
        found = detector.detect([image])[0]
        tracker.update(found, np.asarray(image, dtype=np.uint8))
        frames += 1
        detections += len(found)
    meter.stop()
    capture.release()
    return {
        "video_frames": frames,
        "detector_frames": frames,
        "detections": detections,
        "wall_s": meter.wall,
        "cpu_s": meter.cpu,
    }


def _vigil(
    clip: Path, detector: Any, detect_fps: float, seconds: float | None, video_frames: int, gating: bool
) -> dict[str, float]:
    from config.loader import parse_config
    from ingest.sources import StreamSource
    from vigil.pipeline import LIVE_MIN_AGE_S, FramePipeline, build_processor

    source = StreamSource("bench", str(clip), detect_fps=detect_fps, realtime=False, queue_size=4)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as data_dir:
        # The runtime's own pipeline for one AI camera: built from its config, crops saved and
        # described, provisional sightings as for live case matching.
        camera = {"id": "bench", "url": str(clip), "role": "ai", "detect_fps": detect_fps}
        config = parse_config({"data_dir": data_dir, "cameras": [{**camera, "motion": {"enabled": gating}}]})
        pipeline = FramePipeline(detector, data_dir=Path(data_dir), live_min_age_s=LIVE_MIN_AGE_S)
        pipeline.add(build_processor(config, config.camera("bench"), detector))
        meter = Meter().start()
        source.start()
        for frame in source:
            if seconds is not None and frame.timestamp > seconds:
                break
            pipeline.step([frame])
        source.stop()
        pipeline.finish()
        meter.stop()
    stats = pipeline.stats
    # Vigil covers the same span of video as the naive loop, detecting only detect_fps of it.
    return {
        "video_frames": video_frames,
        "detector_frames": stats.frames,
        "inferred_frames": stats.frames - stats.skipped,
        "detections": stats.detections,
        "wall_s": meter.wall,
        "cpu_s": meter.cpu,
    }


def run(clip: Path, detect_fps: float, seconds: float | None) -> dict[str, Any]:
    from detectors.ssdlite import SsdliteDetector

    detector = SsdliteDetector()
    detector.detect([np.zeros((720, 1280, 3), np.uint8)])  # warm-up: model load, arenas
    naive = _naive(clip, detector, seconds)
    vigil = _vigil(clip, detector, detect_fps, seconds, int(naive["video_frames"]), gating=False)
    gated = _vigil(clip, detector, detect_fps, seconds, int(naive["video_frames"]), gating=True)
    for result in (naive, vigil, gated):
        result["frames_per_cpu_s"] = result["video_frames"] / max(result["cpu_s"], 1e-9)
        result["frames_per_wall_s"] = result["video_frames"] / max(result["wall_s"], 1e-9)
    return {
        "clip": clip.name,
        "detect_fps": detect_fps,
        "naive": naive,
        "vigil": vigil,
        "vigil_gated": gated,
        "ratio_frames_per_cpu_s": vigil["frames_per_cpu_s"] / max(naive["frames_per_cpu_s"], 1e-9),
        "ratio_gated_frames_per_cpu_s": gated["frames_per_cpu_s"] / max(naive["frames_per_cpu_s"], 1e-9),
        "ratio_frames_per_wall_s": vigil["frames_per_wall_s"] / max(naive["frames_per_wall_s"], 1e-9),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clip",
        type=Path,
        default=FOOTAGE / "overhead_crowd.avi",
        help="video to process (default: shared overhead_crowd.avi, 1280x720, ~40 people)",
    )
    parser.add_argument("--detect-fps", type=float, default=5.0, help="Vigil's detection rate (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="process only the first SECONDS of video")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def report(result: dict[str, Any]) -> str:
    lines = [
        f"pipeline on {result['clip']} (Vigil detect_fps={result['detect_fps']})",
        f"{'':12}{'video frames':>13}{'detected':>10}{'cpu s':>8}{'wall s':>8}"
        f"{'frames/cpu-s':>14}{'frames/s':>10}",
    ]
    for name in ("naive", "vigil", "vigil_gated"):
        r = result[name]
        lines.append(
            f"{name:12}{r['video_frames']:>13}{r['detector_frames']:>10}{r['cpu_s']:>8.1f}{r['wall_s']:>8.1f}"
            f"{r['frames_per_cpu_s']:>14.1f}{r['frames_per_wall_s']:>10.1f}"
        )
    lines.append(
        f"ratio vigil/naive: {result['ratio_frames_per_cpu_s']:.2f}x frames per CPU-second, "
        f"{result['ratio_frames_per_wall_s']:.2f}x frames per wall-second; "
        f"with motion gating (the default) {result['ratio_gated_frames_per_cpu_s']:.2f}x per CPU-second"
    )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    result = run(require(args.clip), args.detect_fps, args.seconds)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
