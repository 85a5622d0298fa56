"""benchmarks/rules.py at small scale: every rule type runs on tracked frames and the report adds up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import rules
from vigil.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
RULE_TYPES = ("zone_intrusion", "line_crossing", "dwell", "occupancy", "person_down")


def test_every_rule_type_is_timed_beside_the_tracker() -> None:
    report = rules.run(tracks=20, frames=80)
    assert set(RULE_TYPES) <= set(report["rules"])
    assert report["tracks_per_frame"] > 10  # the tracker confirmed most walkers
    assert report["tracker"]["median_us"] > 0
    for row in report["rules"].values():
        assert 0 < row["median_us"] <= row["p95_us"]
        assert row["ratio_to_tracker"] == row["median_us"] / report["tracker"]["median_us"]
    # the walkers cross the line, stand in the zone and crowd it: the rules really work on this input
    assert report["rules"]["line_crossing"]["crossings"] > 0
    for name in ("zone_intrusion", "dwell", "occupancy", "person_down"):
        assert report["rules"][name]["alerts"] > 0, name


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "rules", "--tracks", "10", "--frames", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 30 and set(RULE_TYPES) <= set(report["rules"])


def test_the_script_runs_on_its_own() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/rules.py", "--tracks", "5", "--frames", "20"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "every rule <= 200 µs a frame" in done.stdout


def test_vigil_bench_rules_is_registered() -> None:
    args = build_parser().parse_args(["bench", "rules", "--tracks", "50", "--frames", "100", "--json"])
    assert (args.tracks, args.frames, args.json) == (50, 100, True)
