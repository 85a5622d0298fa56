"""Tracker benchmark: Vigil against supervision and ultralytics trackers, same detections, one run.

1. Quality: every tracker runs on the five public-detection MOTChallenge sequences in
   ``../shared/data/mot_public_det`` (scores normalised by one rule for all, see
   `vigil.evaluation.mot`); TrackEval scores the output. The table shows the combined
   HOTA / DetA / AssA / MOTA / IDF1.
2. Speed: the median wall time of one ``update`` call, over the real sequences' frames
   (their real object counts), and over a synthetic scene of 10, 50 and 200 walkers per
   frame (fixed seed, same boxes for every tracker). Each tracker is timed through its
   adapter, i.e. from Vigil `Detections` in to `Detections` out.

Run: ``python benchmarks/tracking.py [--json] [--trackers vigil,supervision,...]`` or
``vigil bench track --json``. Baselines that are not installed are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import SHARED, require

ALL_TRACKERS = ("vigil", "supervision", "ultralytics-bytetrack", "ultralytics-botsort")
SWEEP = (10, 50, 200)
SWEEP_FRAMES = 150


def synthetic_scene(n_objects: int, n_frames: int = SWEEP_FRAMES, seed: int = 0) -> list[Any]:
    """Walkers on a 1920x1080 image: constant velocity, bouncing off the borders, jittered
    boxes, random scores in [0.2, 1], 5 % of detections missed."""
    from vigil.core.types import Detections

    rng = np.random.default_rng(seed)
    size = np.stack([rng.uniform(20, 60, n_objects), rng.uniform(50, 150, n_objects)], axis=1)
    position = rng.uniform([0, 0], [1920, 1080], (n_objects, 2)) - size
    velocity = rng.normal(0, 4, (n_objects, 2))
    frames = []
    for _ in range(n_frames):
        position += velocity
        out = (position < 0) | (position + size > [1920, 1080])
        velocity[out] *= -1
        xy = position + rng.normal(0, 1.5, position.shape)
        xyxy = np.concatenate([xy, xy + size], axis=1)
        keep = rng.random(n_objects) > 0.05
        frames.append(
            Detections(
                xyxy=xyxy[keep],
                confidence=rng.uniform(0.2, 1.0, n_objects)[keep],
                class_id=np.zeros(int(keep.sum()), np.int64),
            )
        )
    return frames


def _time_sweep(factory: Any, n_objects: int) -> float:
    tracker = factory(30.0)
    times = []
    for detections in synthetic_scene(n_objects):
        start = time.perf_counter()
        tracker.update(detections)
        times.append(time.perf_counter() - start)
    return float(np.median(times[10:]) * 1e6)  # skip warm-up frames


def run(mot_dir: Path, trackers: list[str]) -> dict[str, Any]:
    from vigil.core.errors import DependencyError
    from vigil.evaluation.baselines import TRACKERS
    from vigil.evaluation.mot import COMBINED, evaluate, list_sequences, run_tracker

    sequences = list_sequences(mot_dir)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in trackers:
            factory = TRACKERS[name]
            try:
                factory(30.0)
            except (DependencyError, ImportError) as error:
                skipped[name] = str(error)
                continue
            out_dir = Path(tmp) / name
            tracking = run_tracker(factory, sequences, out_dir)
            scores = evaluate(sequences, out_dir)
            results[name] = {
                "combined": scores[COMBINED].as_dict(),
                "sequences": {k: v.as_dict() for k, v in scores.items() if k != COMBINED},
                "update_us_real": float(np.median(tracking.update_seconds) * 1e6),
                "mean_objects_real": float(np.mean(tracking.detections_per_frame)),
                "update_us_sweep": {str(n): _time_sweep(factory, n) for n in SWEEP},
            }
    return {"mot_dir": str(mot_dir), "trackers": results, "skipped": skipped, "targets": _targets(results)}


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    """Vigil against the best baseline on each metric (issue 5's targets)."""
    baselines = {k: v for k, v in results.items() if k != "vigil"}
    if "vigil" not in results or not baselines:
        return {}
    vigil = results["vigil"]
    best = {m: max(b["combined"][m] for b in baselines.values()) for m in ("HOTA", "MOTA", "IDF1")}
    fastest = {
        "real": min(b["update_us_real"] for b in baselines.values()),
        **{str(n): min(b["update_us_sweep"][str(n)] for b in baselines.values()) for n in SWEEP},
    }
    mine = {"real": vigil["update_us_real"], **vigil["update_us_sweep"]}
    return {
        "HOTA_delta": vigil["combined"]["HOTA"] - best["HOTA"],
        "IDF1_delta": vigil["combined"]["IDF1"] - best["IDF1"],
        "MOTA_delta": vigil["combined"]["MOTA"] - best["MOTA"],
        "speed_ratio_vs_fastest": {k: mine[k] / fastest[k] for k in fastest},
        "met": {
            "HOTA >= best + 2.0": vigil["combined"]["HOTA"] >= best["HOTA"] + 2.0,
            "IDF1 >= best + 3.0": vigil["combined"]["IDF1"] >= best["IDF1"] + 3.0,
            "MOTA >= best - 0.5": vigil["combined"]["MOTA"] >= best["MOTA"] - 0.5,
            "time <= fastest at every count": all(mine[k] <= fastest[k] for k in fastest),
        },
    }


def _print_table(report: dict[str, Any]) -> None:
    header = f"{'tracker':<24}{'HOTA':>7}{'DetA':>7}{'AssA':>7}{'MOTA':>7}{'IDF1':>7}{'us real':>10}"
    header += "".join(f"{f'us n={n}':>11}" for n in SWEEP)
    print(f"combined over {report['mot_dir']}")
    print(header)
    for name, r in report["trackers"].items():
        c = r["combined"]
        line = f"{name:<24}" + "".join(f"{c[m]:7.1f}" for m in ("HOTA", "DetA", "AssA", "MOTA", "IDF1"))
        line += f"{r['update_us_real']:10.0f}" + "".join(
            f"{r['update_us_sweep'][str(n)]:11.0f}" for n in SWEEP
        )
        print(line)
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    targets = report["targets"]
    if targets:
        print(
            f"vigil vs best baseline: HOTA {targets['HOTA_delta']:+.1f}  IDF1 {targets['IDF1_delta']:+.1f}  "
            f"MOTA {targets['MOTA_delta']:+.1f};  time / fastest baseline: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in targets["speed_ratio_vs_fastest"].items())
        )
        for target, ok in targets["met"].items():
            print(f"  [{'x' if ok else ' '}] {target}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mot",
        type=Path,
        default=SHARED / "data" / "mot_public_det",
        help="folder of MOTChallenge sequences (default: ../shared/data/mot_public_det)",
    )
    parser.add_argument(
        "--trackers",
        default=",".join(ALL_TRACKERS),
        help=f"comma-separated subset of {','.join(ALL_TRACKERS)}",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def main(args: argparse.Namespace) -> int:
    trackers = [t for t in args.trackers.split(",") if t]
    unknown = set(trackers) - set(ALL_TRACKERS)
    if unknown:
        print(f"unknown trackers {sorted(unknown)}; expected some of {ALL_TRACKERS}", file=sys.stderr)
        return 2
    report = run(require(args.mot), trackers)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
