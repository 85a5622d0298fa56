"""Rule benchmark: the cost of each rule type per frame, beside the tracker's own, same input, one run.

The input is the tracking benchmark's synthetic scene (`benchmarks.tracking.synthetic_scene`:
walkers on a 1920x1080 image, fixed seed), run once through Vigil's tracker; the tracker's
``update`` is timed on the way. Every rule then evaluates the same tracked frames (5 detect
frames a second): a zone over the middle of the image, a line across it, a perspective
ground-plane calibration for the speed and density variants, and a posture column of random
lying scores for person_down. The table gives the median and 95th percentile microseconds
of one ``evaluate`` call, its ratio to the tracker's median, and the <= 200 µs target. The
foot-point-in-zone test is also timed both ways: NumPy (what the rules use) and the former
per-point ``cv2.pointPolygonTest`` loop.

Run: ``python benchmarks/rules.py [--tracks 50] [--frames 300] [--json]`` or
``vigil bench rules --json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

TARGET_US = 200.0
FRAME_SIZE = (1920, 1080)
DT = 0.2  # seconds between detect frames (5 fps)
WARMUP = 10

ZONE = [[0.25, 0.2], [0.75, 0.2], [0.8, 0.9], [0.2, 0.9]]
LINE = [[0.05, 0.55], [0.5, 0.5], [0.95, 0.55]]
CALIBRATION = {
    "image": [[0.3, 0.3], [0.7, 0.3], [0.95, 0.95], [0.05, 0.95]],
    "ground": [[0, 30], [20, 30], [20, 0], [0, 0]],
}


def _site(tracks: int) -> dict[str, Any]:
    """One AI camera with a zone, a line and a calibration, and every rule type on it."""
    camera = {
        "id": "bench",
        "url": "rtsp://127.0.0.1/bench",
        "role": "ai",
        "zones": [{"name": "square", "polygon": ZONE}],
        "lines": [{"name": "gate", "points": LINE}],
        "calibration": CALIBRATION,
    }
    common = {"camera": "bench"}  # each rule at its defaults: what a site gets
    return {
        "cameras": [camera],
        "rules": [
            {"name": "zone_intrusion", "type": "zone_intrusion", "zone": "square", **common},
            {"name": "line_crossing", "type": "line_crossing", "line": "gate", "alert_on": ["in"], **common},
            {
                "name": "line_crossing.speed",
                "type": "line_crossing",
                "line": "gate",
                "max_speed_mps": 2,
                **common,
            },
            {"name": "dwell", "type": "dwell", "zone": "square", "min_seconds": 5, **common},
            {
                "name": "dwell.speed",
                "type": "dwell",
                "zone": "square",
                "min_seconds": 5,
                "max_speed_mps": 0.5,
                **common,
            },
            {"name": "occupancy", "type": "occupancy", "zone": "square", "max_people": tracks // 4, **common},
            {
                "name": "occupancy.density",
                "type": "occupancy",
                "zone": "square",
                "max_density_per_m2": 0.05,
                **common,
            },
            {
                # Off by default (the posture cue is unvalidated on real falls): timed switched on.
                "name": "person_down",
                "type": "person_down",
                "min_seconds": 3,
                "enabled": True,
                **common,
            },
            {
                "name": "dwell.schedule.filters",
                "type": "dwell",
                "zone": "square",
                "min_seconds": 5,
                "schedule": [{"start": "00:00", "end": "23:59"}],
                "filters": {"min_score": 0.3, "min_height_px": 40},
                **common,
            },
        ],
    }


def _time(call: Callable[[int], object], n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def _stats(times: list[float]) -> dict[str, float]:
    array = np.array(times) * 1e6
    return {"median_us": float(np.median(array)), "p95_us": float(np.percentile(array, 95))}


def run(tracks: int, frames: int) -> dict[str, Any]:
    from alerts import LineCrossing, build_rules
    from alerts.zones import points_in_polygon, points_in_polygon_cv2
    from benchmarks.tracking import synthetic_scene
    from config.loader import parse_config
    from tracker import VigilTracker

    scene = synthetic_scene(tracks, frames)
    tracker = VigilTracker(frame_rate=1 / DT)
    tracked: list[Any] = []
    tracker_times = _time(lambda i: tracked.append(tracker.update(scene[i])), frames)
    rng = np.random.default_rng(1)
    tracked = [
        dataclasses.replace(t, data={**t.data, "lying": rng.uniform(0, 1, len(t)).astype(np.float32)})
        for t in tracked
    ]
    mean_tracks = float(np.mean([len(t) for t in tracked[WARMUP:]]))

    config = parse_config(_site(tracks), environ={})
    results: dict[str, Any] = {}
    alerts: dict[str, int] = {}
    for rule in build_rules(config)["bench"]:
        raised = [0]

        def evaluate(i: int, rule: Any = rule, raised: list[int] = raised) -> None:
            raised[0] += len(rule.evaluate(tracked[i], FRAME_SIZE, 1_000_000.0 + i * DT))

        results[rule.name] = _stats(_time(evaluate, frames))
        alerts[rule.name] = raised[0]
        if isinstance(rule, LineCrossing):
            counted = rule.drain_counts(float("inf"))
            results[rule.name]["crossings"] = sum(c.count_in + c.count_out for c in counted)

    tracker_median = _stats(tracker_times)["median_us"]
    polygon = np.array(ZONE, np.float32) * FRAME_SIZE
    feet = [np.stack([(t.xyxy[:, 0] + t.xyxy[:, 2]) / 2, t.xyxy[:, 3]], 1) for t in tracked]
    inside = {
        "numpy": _stats(_time(lambda i: points_in_polygon(feet[i], polygon), frames)),
        "cv2_loop": _stats(_time(lambda i: points_in_polygon_cv2(feet[i], polygon), frames)),
    }
    for name, row in results.items():
        row["ratio_to_tracker"] = row["median_us"] / tracker_median
        row["alerts"] = alerts[name]
        row["meets_target"] = row["median_us"] <= TARGET_US
    return {
        "tracks_requested": tracks,
        "tracks_per_frame": mean_tracks,
        "frames": frames,
        "frame_size": list(FRAME_SIZE),
        "tracker": _stats(tracker_times),
        "rules": results,
        "points_in_zone": inside,
        "target_us": TARGET_US,
        "all_meet_target": all(row["meets_target"] for row in results.values()),
    }


def _print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['frames']} frames, {report['tracks_per_frame']:.1f} tracks a frame on "
        f"{report['frame_size'][0]}x{report['frame_size'][1]} (synthetic walkers)"
    )
    tracker = report["tracker"]
    print(f"{'':26} {'median µs':>10} {'p95 µs':>8} {'x tracker':>10} {'alerts':>7} {'crossings':>9}")
    print(f"{'tracker (VigilTracker)':26} {tracker['median_us']:10.1f} {tracker['p95_us']:8.1f} {1.0:10.2f}")
    for name, row in report["rules"].items():
        mark = "" if row["meets_target"] else "  over target"
        print(
            f"{name:26} {row['median_us']:10.1f} {row['p95_us']:8.1f} {row['ratio_to_tracker']:10.3f} "
            f"{row['alerts']:7d} {row.get('crossings', ''):>9}{mark}"
        )
    inside = report["points_in_zone"]
    print(
        f"foot points in zone: NumPy {inside['numpy']['median_us']:.1f} µs, per-point cv2 loop "
        f"{inside['cv2_loop']['median_us']:.1f} µs "
        f"({inside['cv2_loop']['median_us'] / inside['numpy']['median_us']:.1f}x)"
    )
    print(
        f"  [{'x' if report['all_meet_target'] else ' '}] every rule <= {report['target_us']:.0f} µs a frame"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracks", type=int, default=50, help="walkers in the synthetic scene (default 50)")
    parser.add_argument("--frames", type=int, default=300, help="frames timed per rule (default 300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def main(args: argparse.Namespace) -> int:
    if args.tracks < 1 or args.frames <= WARMUP:
        print(f"--tracks must be >= 1 and --frames > {WARMUP}", file=sys.stderr)
        return 2
    report = run(args.tracks, args.frames)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
