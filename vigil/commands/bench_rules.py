"""`vigil bench rules`: see benchmarks/rules.py."""

from __future__ import annotations

import argparse

HELP = "Rule cost per frame for every rule type at 50 tracks, beside the tracker's own cost, same input."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.rules import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from benchmarks.rules import main

    return main(args)
