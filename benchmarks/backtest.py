"""Rule backtest benchmark: a naive loop against Vigil's backtest, same recorded 720p segments, one run.

Target (issue 15): a backtest over 1 hour of recorded 720p footage from one camera finishes in
<= 10 minutes on one core (6x real time). Run it pinned to one core::

    taskset -c 0 nice -n 10 .venv/bin/python benchmarks/backtest.py --minutes 10

The recording is built once and cached under ``build/backtest/``: the shared person clip
(``one-by-one-person-detection.mp4``, 139 s, 10 fps) scaled to 1280x720 with ffmpeg (H.264,
2 s GOP, B-frames), then looped into ~10 s keyframe-aligned segments by the recorder's own
`ingest.recorder.SegmentWriter` (stream copy) and indexed in a SQLite store as the recorder
indexes them. ``--minutes`` of it are backtested with one zone_intrusion rule.

Rows, each over the same segments:

- ``naive``: what a first prototype does: OpenCV decodes and converts every frame, the
  detector runs on the frames due at the camera's detect fps (full 720p frames, no motion
  gating), the tracker and the rule follow.
- ``vigil``: `vigil.services.backtest.BacktestService` as ``vigil backtest`` runs it (PyAV
  decode, only due frames converted, motion gating as the camera default), at 2 fps.
- the levers, one at a time and together: ``--detect-fps 1``, ``--decode-width 640``,
  motion gating off (what it saves).

Figures: CPU seconds (all threads; pinned to one core that is the wall time too), x real time
(video seconds per CPU second), the projected CPU time for one hour, and the split
(decode / detect / track / rule). The footage is 10 fps: decode cost grows with the recorded
frame rate, so the decode time per decoded frame is printed and a 25 fps projection beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FOOTAGE, REPO, Meter, require

BASE = 1_800_000_000.0
"""Wall time the built recording starts at."""
SOURCE = "one-by-one-person-detection.mp4"
BUILD = REPO / "build" / "backtest"


def scaled_clip(source: Path, build: Path) -> Path:
    """The source scaled to 1280x720 H.264 (2 s GOP, B-frames), built once."""
    target = build / "source-720p.mp4"
    if target.exists():
        return target
    build.mkdir(parents=True, exist_ok=True)
    part = target.with_name("part-" + target.name)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "scale=1280:720", "-c:v", "libx264",
         "-preset", "veryfast", "-g", "20", "-bf", "2", "-an", str(part)],
        check=True,
    )  # fmt: skip
    part.replace(target)
    return target


def build_recording(clip: Path, build: Path, minutes: float) -> Path:
    """`minutes` of the clip, looped, as indexed 10 s segments; returns the data dir (cached)."""
    import av

    from ingest.recorder import Segment, SegmentWriter
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store

    data_dir = build / f"site-{minutes:g}min"
    done = data_dir / "built"
    if done.exists():
        return data_dir
    segments: list[Segment] = []
    root = data_dir / "recordings"
    offset, total = 0.0, minutes * 60.0
    while offset < total:
        with av.open(str(clip)) as source:
            stream = source.streams.video[0]
            tb = float(stream.time_base or 1 / 90000)
            now = [BASE + offset]
            writer = SegmentWriter("bench", root, stream, 10.0, segments.append, clock=_reader(now))
            length = 0.0
            for packet in source.demux(stream):
                if packet.pts is None:
                    continue
                length = packet.pts * tb
                if offset + length >= total:
                    break
                now[0] = BASE + offset + length
                writer.write(packet)
            writer.close()
        offset += length + 0.1
    store = Store.open(data_dir / "vigil.db")
    RecordingIndex.for_store(store).add_segments(segments)
    store.close()
    done.write_text(f"{len(segments)} segments\n")
    return data_dir


def _reader(now: list[float]) -> Callable[[], float]:
    """The recorder's wall clock, following the media clock of the packet being written."""
    return lambda: now[0]


def site(data_dir: Path) -> Any:
    from config.loader import parse_config

    return parse_config({
        "data_dir": str(data_dir),
        "cameras": [{"id": "bench", "url": "rtsp://bench/main", "role": "ai", "detect_fps": 2,
                     "zones": [{"name": "walkway", "polygon": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}]}],
        "rules": [{"name": "walkway", "type": "zone_intrusion", "camera": "bench", "zone": "walkway"}],
    })  # fmt: skip


def naive(config: Any, detector: Any, end: float) -> dict[str, Any]:
    """OpenCV decodes every frame; the frames due at detect fps are detected whole, tracked, ruled."""
    import cv2
    import numpy as np

    from alerts import build_rule
    from tracker.vigil_track import VigilTracker
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store

    camera = config.camera("bench")
    rule = build_rule(config.rules[0], camera)
    tracker = VigilTracker(frame_rate=camera.detect_fps)
    store = Store.open(Path(config.data_dir) / "vigil.db")
    segments = RecordingIndex.for_store(store).segments("bench", BASE, end)
    store.close()
    split = {"decode": 0.0, "detect": 0.0, "track": 0.0, "rule": 0.0}
    frames = events = 0
    next_due = BASE
    meter = Meter().start()
    for segment in segments:
        capture = cv2.VideoCapture(str(segment.path))
        fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
        index = 0
        while True:
            began = time.perf_counter()
            ok, image = capture.read()
            split["decode"] += time.perf_counter() - began
            at = segment.start + index / fps
            index += 1
            if not ok or at >= end:
                break
            if at < next_due - 1e-3:
                continue
            next_due += 1.0 / camera.detect_fps
            frames += 1
            image = np.asarray(image, dtype=np.uint8)
            events += _naive_step(detector, tracker, rule, image, at, split)
        capture.release()
    meter.stop()
    return {"cpu_s": meter.cpu, "wall_s": meter.wall, "frames": frames, "events": events, "split": split}


def _naive_step(
    detector: Any, tracker: Any, rule: Any, image: Any, at: float, split: dict[str, float]
) -> int:
    began = time.perf_counter()
    found = detector.detect([image])[0]
    split["detect"] += time.perf_counter() - began
    began = time.perf_counter()
    tracked = tracker.update(found, image)
    split["track"] += time.perf_counter() - began
    began = time.perf_counter()
    alerts = rule.evaluate(tracked, (image.shape[1], image.shape[0]), at)
    split["rule"] += time.perf_counter() - began
    return len(alerts)


def vigil(config: Any, detector: Any, end: float, **options: Any) -> dict[str, Any]:
    """The backtest service as `vigil backtest` runs it, with `options` (`BacktestOptions`)."""
    from vigil.infra.db.cases import CaseStore
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store
    from vigil.services.backtest import BacktestOptions, BacktestService, configured_rule

    store = Store.open(Path(config.data_dir) / "vigil.db")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-backtest-") as scratch:
        service = BacktestService(
            recordings=RecordingIndex.for_store(store), audit=CaseStore.for_store(store),
            detector=lambda: detector, data_dir=Path(scratch),
        )  # fmt: skip
        meter = Meter().start()
        job = service.submit(configured_rule(config, "walkway"), BASE, end, user="bench", reason="benchmark",
                             options=BacktestOptions(**options))  # fmt: skip
        report = service.wait(job.job_id)
        meter.stop()
        service.stop()
    store.close()
    split = report.split
    return {
        "cpu_s": meter.cpu, "wall_s": meter.wall, "frames": report.frames, "events": len(report.events),
        "split": {"decode": split.decode, "detect": split.detect, "track": split.track, "rule": split.rule},
        "state": report.state.value,
    }  # fmt: skip


ROWS: dict[str, dict[str, Any]] = {
    "vigil": {},
    "vigil_fps1": {"detect_fps": 1.0},
    "vigil_w640": {"decode_width": 640},
    "vigil_no_motion": {"motion": False},
    "vigil_fps1_w640": {"detect_fps": 1.0, "decode_width": 640},
    "vigil_no_motion_fps1_w640": {"detect_fps": 1.0, "decode_width": 640, "motion": False},
}


def run(minutes: float, rows: list[str]) -> dict[str, Any]:
    from detectors.registry import LazyDetector

    clip = scaled_clip(require(FOOTAGE / SOURCE), BUILD)
    data_dir = build_recording(clip, BUILD, minutes)
    config = site(data_dir)
    detector = LazyDetector(config.detector).get()
    end = BASE + minutes * 60.0
    detector.detect([__import__("numpy").zeros((720, 1280, 3), "uint8")])  # load the model outside the timing
    results: dict[str, Any] = {}
    if "naive" in rows:
        results["naive"] = naive(config, detector, end)
    for name in rows:
        if name in ROWS:
            results[name] = vigil(config, detector, end, **ROWS[name])
    video_s = minutes * 60.0
    decoded = video_s * 10.0  # the footage is 10 fps and every frame is decoded
    for result in results.values():
        result["x_real_time"] = round(video_s / result["cpu_s"], 2)
        result["cpu_s_per_hour"] = round(result["cpu_s"] * 3600.0 / video_s, 1)
        decode_per_frame = result["split"]["decode"] / decoded
        result["decode_ms_per_frame"] = round(decode_per_frame * 1000, 3)
        result["cpu_s_per_hour_at_25fps"] = round(result["cpu_s_per_hour"] + decode_per_frame * 15 * 3600, 1)
    baseline = results.get("naive", {}).get("cpu_s")
    for result in results.values():
        result["speedup_vs_naive"] = round(baseline / result["cpu_s"], 2) if baseline else None
    return {"minutes": minutes, "footage": f"{SOURCE} scaled to 1280x720, 10 fps, looped", "rows": results}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"backtest of {result['minutes']:g} min of 720p ({result['footage']}), one zone rule; "
        "target <= 600 s/h"
    ]
    lines.append(f"{'row':<26}{'cpu s':>8}{'x real':>8}{'s/hour':>8}{'@25fps':>8}{'vs naive':>9}  "
                 "decode / detect / track / rule s, frames, events")  # fmt: skip
    for name, row in result["rows"].items():
        s = row["split"]
        lines.append(
            f"{name:<26}{row['cpu_s']:>8.1f}{row['x_real_time']:>8.1f}{row['cpu_s_per_hour']:>8.0f}"
            f"{row['cpu_s_per_hour_at_25fps']:>8.0f}{row['speedup_vs_naive'] or 0:>9.2f}  "
            f"{s['decode']:.1f} / {s['detect']:.1f} / {s['track']:.1f} / {s['rule']:.2f}, {row['frames']}, "
            f"{row['events']}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="minutes of footage to backtest (default 10)"
    )
    parser.add_argument(
        "--rows",
        default="naive," + ",".join(ROWS),
        help=f"rows to run, comma-separated (naive,{','.join(ROWS)})",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args: argparse.Namespace) -> int:
    result = run(args.minutes, [r.strip() for r in args.rows.split(",") if r.strip()])
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
