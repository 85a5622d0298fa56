"""Flags shared by the subcommands that run the pipeline (`vigil run`, `vigil demo`)."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--duration`` and ``--json``: how long to run and how to report the end-of-run summary."""
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print only the summary, as JSON: {"frames":..,"detections":..,"sightings":..,'
        '"alerts":..,"cameras_online":..}',
    )
