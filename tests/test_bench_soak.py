"""The soak benchmark's growth fit, verdict and sampler (benchmarks/soak_probe.py, soak_report.py)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from collections import Counter, namedtuple
from pathlib import Path

import pytest

from benchmarks import soak
from benchmarks.soak_probe import Growth, Sampler, fit_growth, judge, read_process
from benchmarks.soak_report import Report, finish, opened_since

MINUTES = [60.0 * k for k in range(31)]  # a 30-minute run sampled every minute


def _growth(series: str, percent: float | None = 0.0, increase: float = 0.0, noise: float = 0.0) -> Growth:
    start = 100.0
    per_hour = (percent or 0.0) * start / 100
    return Growth(series, 10, start, start + increase, per_hour, percent, 600.0, noise)


@pytest.mark.parametrize(
    ("values", "warmup_s", "per_hour", "percent"),
    [
        ([100.0] * 31, 0.0, 0.0, 0.0),  # flat: no growth
        ([100.0 + k for k in range(31)], 0.0, 60.0, 60.0),  # 1 MB a minute from 100 MB: 60 MB/h, 60 %/h
        ([200.0 - 2 * k for k in range(31)], 0.0, -120.0, -60.0),  # shrinking is negative growth
        ([50.0 + 10 * min(k, 5) for k in range(31)], 300.0, 0.0, 0.0),  # grew in warm-up, then flat
        ([300.0 + 0.5 * max(k - 10, 0) for k in range(31)], 600.0, 30.0, 10.0),  # base is the warm-up's end
        ([0.0] * 31, 0.0, 0.0, None),  # a zero series has no percentage
    ],
)
def test_fit_growth_reports_the_rate_after_warmup(
    values: list[float], warmup_s: float, per_hour: float, percent: float | None
) -> None:
    growth = fit_growth("x_rss_mb", MINUTES, values, warmup_s)
    assert growth is not None
    assert growth.per_hour == pytest.approx(per_hour, abs=1e-6)
    if percent is None:
        assert growth.percent_per_hour is None
    else:
        assert growth.percent_per_hour == pytest.approx(percent, abs=1e-6)
    assert growth.points == sum(t >= warmup_s for t in MINUTES)
    assert growth.noise == pytest.approx(0.0, abs=1e-6)  # exact lines: no jitter


def test_fit_growth_ignores_missing_samples_and_needs_three() -> None:
    values = [100.0 + k if k % 3 else math.nan for k in range(31)]
    growth = fit_growth("x", MINUTES, values, 0.0)
    assert growth is not None and growth.per_hour == pytest.approx(60.0)
    jitter = fit_growth("x", MINUTES, [10.0 + (k % 2) for k in range(31)], 0.0)
    assert jitter is not None and jitter.noise == pytest.approx(0.5, abs=0.01)
    assert fit_growth("x", [0.0, 10.0, 20.0], [1.0, 2.0, 3.0], 5.0) is None  # two points after warm-up


@pytest.mark.parametrize(
    ("growth", "passed"),
    [
        (_growth("vigil_rss_mb", 0.5), True),  # under the 1 %/h limit
        (_growth("vigil_rss_mb", 1.5), False),  # over it
        (_growth("workers_rss_mb", 2.0), False),  # worker processes are judged too
        (_growth("sim_rss_mb", 50.0), None),  # the simulator is only reported
        (_growth("vigil_threads", None, 0.4), True),  # a thread that came and went
        (_growth("vigil_threads", None, 3.0), False),  # threads that stayed
        (_growth("workers_fds", None, 1.0), False),  # one fd more over the window is a leak
        (_growth("workers_fds", None, 3.6, noise=3.0), True),  # segment files opening and closing
        (_growth("workers_fds", None, 8.0, noise=3.0), False),  # growth well beyond the jitter
        (_growth("vigil_uss_mb", 5.0), None),  # USS / PSS are reported, RSS is the rule
        (_growth("db_mb", 500.0), None),  # the database grows with the data: reported
    ],
)
def test_judge_applies_the_limits_to_vigil_only(growth: Growth, passed: bool | None) -> None:
    (check,) = judge([growth], 1.0, ("vigil", "workers"))
    assert check.passed is passed


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("4m", 240.0), ("1.5h", 5400.0), (" 30m ", 1800.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert soak.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "5 minutes", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        soak.parse_duration(text)


_Usage = namedtuple("_Usage", "total used free")


@pytest.mark.parametrize(
    ("free_gb", "refused"),
    [(1000.0, False), (101.0, True)],  # 141 cameras for 1 h need ~190 GB above a 100 GB floor
)
def test_check_disk_refuses_a_run_that_would_reach_the_floor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free_gb: float, refused: bool
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _: _Usage(1000e9, 0, free_gb * 1e9))
    if refused:
        with pytest.raises(SystemExit, match="free-space floor"):
            soak.check_disk(tmp_path, "site141", 3600.0)
    else:
        assert "GB" in soak.check_disk(tmp_path, "site141", 3600.0)


_CHILD = """
import subprocess, sys, threading, time
files = [open(sys.argv[1], "w") for _ in range(5)]
threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(3)]
for t in threads: t.start()
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print("ready", flush=True)
sys.stdin.readline()
worker.kill()
"""


def test_sampler_follows_a_process_tree_and_its_files(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 2_000_000)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "open.txt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        sampler = Sampler({"vigil": child.pid}, {"data": [data, tmp_path / "missing.db-wal"]})
        row = sampler.sample(1.0)
        files = sampler.open_files(["vigil"])
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    assert row["t_s"] == 1.0
    assert row["vigil_procs"] == 1 and row["workers_procs"] == 1  # the grandchild is a worker
    assert row["vigil_threads"] >= 4  # main + the 3 sleepers
    assert row["vigil_fds"] >= 3 + 5  # stdio + the 5 files
    assert 5 < row["vigil_rss_mb"] < 500 and 0 < row["vigil_uss_mb"] <= row["vigil_rss_mb"]
    assert [n for kind, n in files.items() if kind.endswith("open.txt")] == [5]  # digits folded: one kind
    assert row["data_mb"] == pytest.approx(2_000_000 / 2**20, abs=0.01)
    assert read_process(child.pid) is None  # reaped: gone
    gone = sampler.sample(2.0)
    assert gone["vigil_procs"] == 0 and gone["vigil_rss_mb"] == 0


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ({"socket:[#]": 3}, {"socket:[#]": 3}, {}),  # same kinds, same counts: nothing to say
        ({"socket:[#]": 3}, {"socket:[#]": 5, "pipe:[#]": 1}, {"pipe:[#]": 1, "socket:[#]": 2}),  # opened
        ({"/data/vigil.db": 1}, {}, {"/data/vigil.db": -1}),  # closed
    ],
)
def test_opened_since(before: dict[str, int], after: dict[str, int], changed: dict[str, int]) -> None:
    assert opened_since(Counter(before), Counter(after)) == changed


def test_finish_writes_samples_report_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"t_s": t, "vigil_rss_mb": 200.0 + t / 60, "vigil_threads": 30.0, "vigil_fds": 40.0, "api_ms": 5.0}
        for t in MINUTES
    ]
    report = Report("demo", tmp_path, warmup_s=300.0, rss_limit_percent=1.0)
    started = time.monotonic()
    assert finish(rows, report) == 1  # +60 MB/h on ~205 MB: ~29 %/h
    assert (tmp_path / "samples.csv").read_text().splitlines()[0].startswith("t_s,vigil_rss_mb")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["passed"] is False and "vigil_rss_mb" in saved["verdict"]
    assert len(json.loads((tmp_path / "samples.json").read_text())) == len(MINUTES)
    assert (tmp_path / "soak.png").stat().st_size > 0
    assert "FAIL" in capsys.readouterr().out
    assert time.monotonic() - started < 15
