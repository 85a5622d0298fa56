"""`vigil bench pipeline`: see benchmarks/pipeline.py."""

from __future__ import annotations

import argparse

HELP = "Frames per CPU-second on overhead_crowd.avi: Vigil vs a naive decode-and-detect-every-frame loop."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.pipeline import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.pipeline import main

    return main(args)
