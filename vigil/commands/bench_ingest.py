"""`vigil bench ingest`: see benchmarks/ingest.py."""

from __future__ import annotations

import argparse

HELP = (
    "Site-scale ingest (141 cameras) against `vigil sim`: client/server CPU, AI frame ratio, "
    "record coverage, vs an OpenCV baseline."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.ingest import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.ingest import main

    return main(args)
