"""`vigil eval rules --mot DIR --rules RULES.yaml [--json]`: rule quality on MOTChallenge.

Runs Vigil's tracker on the public detections of every sequence of DIR that RULES.yaml has
rules for, then the rules (line crossing, dwell, occupancy, built by `alerts.build_rule`),
and scores their events against the same rules run on the ground-truth tracks
(`vigil.evaluation.rules`, `vigil.evaluation.rule_scores`). ``--json`` prints
``{"events": [...], "counts": {...}, "gt_events": [...], "gt_counts": {...}, "scores": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.evaluation.rule_scores import Matched, RulesReport

HELP = "Rule quality on MOTChallenge: line crossings, dwell, occupancy vs the same rules on ground truth."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mot", required=True, type=Path, help="folder of MOTChallenge sequences (seqinfo.ini, det/, gt/)"
    )
    parser.add_argument(
        "--rules", required=True, type=Path, help="RULES.yaml: lines, zones and rules per sequence, in pixels"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        help="largest time gap of a matched event, seconds (default 1)",
    )
    parser.add_argument(
        "--min-visibility",
        type=float,
        default=0.0,
        help="MOT17: ignore ground-truth boxes less visible than this (default 0: every person)",
    )
    parser.add_argument(
        "--detections",
        choices=("public", "gt"),
        default="public",
        help="what the tracker is fed: the sequences' public detections (default), or their "
        "ground-truth boxes without ids (an oracle detector: what the tracker and rules lose on their own)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    from vigil.core.errors import VigilError
    from vigil.evaluation.baselines import TRACKERS
    from vigil.evaluation.mot import list_sequences
    from vigil.evaluation.rule_scores import evaluate_rules
    from vigil.evaluation.rules import load_rules_file

    try:
        rules_file = load_rules_file(args.rules)
        sequences = list_sequences(args.mot)
        chosen = [info for info in sequences if info.name in rules_file.sequences]
        with _progress(sum(info.length for info in chosen)) as advance:
            report = evaluate_rules(
                sequences,
                rules_file,
                TRACKERS["vigil"],
                advance,
                args.tolerance,
                args.min_visibility,
                args.detections,
            )
    except VigilError as error:
        print(f"vigil eval rules: {error}", file=sys.stderr)
        return 1
    for name in report.skipped:
        print(f"vigil eval rules: {name}: no rules in {args.rules}, skipped", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        _print_tables(report)
    return 0


class _progress:
    """A rich progress bar over tracked frames on a terminal's stderr; nothing otherwise."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("tracking + rules"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("frames"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task("frames", total=max(1, total))

    def __enter__(self) -> _progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def __call__(self) -> None:
        """One more frame done."""
        self._bar.advance(self._task)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.0f}%"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _matched(m: Matched) -> str:
    return f"{m.matched}/{m.truth} found, {m.predicted - m.matched} extra, F1 {_ratio(m.f1)}"


def _print_tables(report: RulesReport) -> None:
    summary = report.summary()
    fed = "public detections" if report.detections == "public" else "ground-truth boxes (oracle detector)"
    print(f"Rules on {', '.join(report.sequences)} ({report.frames} frames), tracker fed {fed}")
    print()
    print("Line crossings (a match: same direction, within the tolerance)")
    print(f"{'sequence':<16}{'rule':<22}{'dir':<5}{'count':>6}{'gt':>5}{'error':>7}{'matched':>9}{'F1':>6}")
    for c in report.crossings:
        print(
            f"{c.seq:<16}{c.rule:<22}{c.direction:<5}{c.events.predicted:>6}{c.events.truth:>5}"
            f"{_pct(c.relative_error):>7}{c.events.matched:>9}{_ratio(c.events.f1):>6}"
        )
    print()
    print("Dwell (matched through track overlap; error = Vigil's dwell - true dwell at that moment)")
    print(f"{'sequence':<16}{'rule':<24}{'events':>7}{'gt':>5}{'matched':>9}{'median |err| s':>16}")
    for d in report.dwell:
        print(
            f"{d.seq:<16}{d.rule:<24}{d.events.predicted:>7}{d.events.truth:>5}{d.events.matched:>9}"
            f"{_ratio(d.median_abs_error):>16}"
        )
    print()
    print("Occupancy (START / END within the tolerance; agreement = frames in alert in both / either)")
    print(f"{'sequence':<16}{'rule':<22}{'starts':>10}{'ends':>10}{'frames':>8}{'gt':>6}{'agree':>7}")
    for o in report.occupancy:
        print(
            f"{o.seq:<16}{o.rule:<22}{f'{o.starts.matched}/{o.starts.truth}':>10}"
            f"{f'{o.ends.matched}/{o.ends.truth}':>10}{o.frames_in_alert:>8}{o.gt_frames_in_alert:>6}"
            f"{_ratio(o.agreement):>7}"
        )
    print()
    counts = summary["crossing_counts"]
    assert isinstance(counts, dict)
    for direction, row in counts.items():
        print(
            f"crossings {direction}: {row['count']} vs {row['gt_count']} in the ground truth "
            f"({_pct(row['relative_error'])})"
        )
    print(f"line/direction rows within 10 %: {summary['crossing_rows_within_10pct']}")
    from vigil.evaluation.rule_scores import pooled

    print(f"crossing events: {_matched(pooled(c.events for c in report.crossings))}")
    print(
        f"dwell events: {_matched(pooled(d.events for d in report.dwell))}, "
        f"median |error| {_ratio(report.dwell_median_abs_error())} s"
    )
    print(f"occupancy starts: {_matched(pooled(o.starts for o in report.occupancy))}")
    print(f"occupancy ends: {_matched(pooled(o.ends for o in report.occupancy))}")
    targets = summary["targets"]
    assert isinstance(targets, dict)
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in targets.items()))
