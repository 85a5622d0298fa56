"""`vigil bench soak`: see benchmarks/soak.py."""

from __future__ import annotations

import argparse

HELP = (
    "Soak: run the demo (or the 141-camera site) for a long time, sample memory, threads, open files "
    "and disk every interval, report growth per hour and fail on a leak (RSS > 1 %/h, thread or fd growth)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.soak import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.soak import main

    return main(args)
