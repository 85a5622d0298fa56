"""`vigil bench track`: see benchmarks/tracking.py."""

from __future__ import annotations

import argparse

HELP = (
    "Tracker quality (HOTA/MOTA/IDF1) and update time: Vigil vs supervision / ultralytics, same detections."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.tracking import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.tracking import main

    return main(args)
