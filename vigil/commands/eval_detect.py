"""`vigil eval detect --mot DIR [--out-dir OUT] [--json]`: person-detection quality.

Runs the configured detector (default: the embedded SSDLite) on every frame image of every
MOTChallenge sequence in DIR, writes ``OUT/<seq>.txt`` in MOTChallenge det format
(``frame,-1,x,y,w,h,score,-1,-1,-1``) and prints AP50, recall at score >= 0.3 and
ms/frame, computed with pycocotools under MOT17 conventions (`vigil.evaluation.detect`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "Detection quality on MOTChallenge ground truth: AP50, recall@0.3, ms/frame (pycocotools)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mot", required=True, type=Path, help="folder of MOTChallenge sequences (img1/, gt/)"
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="where to write <seq>.txt detections")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="site YAML whose 'detector:' block to use (default: ssdlite)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    from config.models import DetectorConfig
    from detectors.registry import build_detector
    from vigil.core.errors import VigilError
    from vigil.evaluation.detect import evaluate_detector, list_sequences

    try:
        if args.config is not None:
            from config.loader import load_config

            config = load_config(args.config).detector
        else:
            config = DetectorConfig()
        # AP needs the low-scoring boxes too; recall is read at score >= 0.3.
        detector = build_detector(
            config.model_copy(update={"score_threshold": min(config.score_threshold, 0.1)})
        )
        scores = evaluate_detector(detector, list_sequences(args.mot), args.out_dir)
    except VigilError as error:
        print(f"vigil eval detect: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {"detector": config.type, "scores": {k: v.as_dict() for k, v in scores.items()}}, indent=2
            )
        )
        return 0
    print(f"{config.type} on {args.mot}")
    print(f"{'sequence':<20}{'AP50':>8}{'recall':>8}{'ms/frame':>10}{'frames':>8}{'people':>8}")
    for name, value in scores.items():
        print(
            f"{name:<20}{value.ap50:8.3f}{value.recall:8.3f}{value.ms_per_frame:10.1f}"
            f"{value.frames:8d}{value.people:8d}"
        )
    return 0
