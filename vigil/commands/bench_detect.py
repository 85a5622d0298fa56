"""`vigil bench detect [--json]`: gating, batching and backend benchmarks (`benchmarks/detection.py`)."""

from __future__ import annotations

import argparse

HELP = "Detection benchmarks: motion gating vs tiled, batched service vs independent, backend latency."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--frames", type=int, default=34, help="overhead-clip frames at 5 fps (default 34)")
    parser.add_argument("--cameras", type=int, default=8, help="cameras in the batching benchmark")


def run(args: argparse.Namespace) -> int:
    from benchmarks.detection import main

    argv = ["--frames", str(args.frames), "--cameras", str(args.cameras)] + (["--json"] if args.json else [])
    return main(argv)
