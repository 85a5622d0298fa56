"""`vigil bench site`: see benchmarks/site.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

HELP = (
    "Site throughput: the whole pipeline (ingest, detection, tracking, sightings, rules) on N cameras, "
    "K of them AI, against `vigil sim`: per AI camera the fraction of due frames analysed, latency, CPU "
    "split; the cores the site needs, vs a naive loop."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.site import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.site import main

    return main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """``vigil bench site ARGS`` on its own (what `vigil.cli` does for it): errors print, exit 2."""
    from vigil.core.errors import VigilError

    parser = argparse.ArgumentParser(prog="vigil bench site", description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VigilError as error:
        print(f"vigil: error: {error}", file=sys.stderr)
        return 2
