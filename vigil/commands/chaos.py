"""`vigil chaos`: fault injection against real components, and what survived each fault."""

from __future__ import annotations

import argparse

HELP = (
    "Chaos suite: kill -9 mid-write, disk full, SQLite locked by another process, RTSP server flapping, "
    "wall-clock jumps, cameras sending garbage; each against the real recorder, simulator and database, "
    "printing what it did and what survived. Exit 1 if an invariant broke."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vigil.chaos.runner import SCENARIOS

    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}; default all",
    )
    parser.add_argument(
        "--long", action="store_true", help="the full durations (RTSP flapping for 5 minutes, 45 s lock)"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from vigil.chaos.runner import run_all, table

    outcomes = run_all(args.scenario, long=args.long)
    Console().print(table(outcomes))
    return 0 if all(outcome.ok for outcome in outcomes) else 1
