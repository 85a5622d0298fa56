"""`vigil bench bus`: see benchmarks/bus.py."""

from __future__ import annotations

import argparse

HELP = "Sightings per second publish -> stored and p50/p99 latency: Kafka beside the in-process bus."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.bus import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.bus import main

    return main(args)
