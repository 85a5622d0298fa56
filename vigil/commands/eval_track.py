"""`vigil eval track --mot DIR --out-dir OUT [--tracker NAME] [--json]`: tracking quality.

Runs a tracker on every MOTChallenge sequence in DIR (public detections), writes
``OUT/<seq>.txt`` in MOTChallenge format and prints HOTA, DetA, AssA, MOTA and IDF1 per
sequence and combined, computed by TrackEval (`vigil.evaluation.mot`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "Tracking quality on MOTChallenge public detections: HOTA/DetA/AssA/MOTA/IDF1 via TrackEval."

TRACKER_NAMES = ("vigil", "supervision", "ultralytics-bytetrack", "ultralytics-botsort")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mot", required=True, type=Path, help="folder of MOTChallenge sequences (seqinfo.ini, det/, gt/)"
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="where to write <seq>.txt tracker output")
    parser.add_argument(
        "--tracker",
        default="vigil",
        choices=TRACKER_NAMES,
        help="tracker to run; the baselines need the 'eval' / 'ultralytics' extras (default: vigil)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    from vigil.core.errors import VigilError
    from vigil.evaluation.baselines import TRACKERS
    from vigil.evaluation.mot import METRIC_NAMES, evaluate, list_sequences, run_tracker

    try:
        sequences = list_sequences(args.mot)
        run_tracker(TRACKERS[args.tracker], sequences, args.out_dir)
        scores = evaluate(sequences, args.out_dir)
    except VigilError as error:
        print(f"vigil eval track: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {"tracker": args.tracker, "scores": {k: v.as_dict() for k, v in scores.items()}}, indent=2
            )
        )
        return 0
    print(f"{args.tracker} on {args.mot}")
    print(f"{'sequence':<20}" + "".join(f"{name:>8}" for name in METRIC_NAMES))
    for name, score in scores.items():
        print(f"{name:<20}" + "".join(f"{value:8.1f}" for value in score.as_dict().values()))
    return 0
