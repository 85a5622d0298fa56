"""`vigil bench console`: see benchmarks/console.py."""

from __future__ import annotations

import argparse

HELP = (
    "Operator console at site scale: page load, case workspace and GET /cases/{id}/candidates over "
    "N sightings (default 100,000) beside an exhaustive scan; exit 1 when an issue #12 target is missed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.console import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.console import main

    return main(args)
