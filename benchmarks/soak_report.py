"""The soak's results: samples as CSV and JSON, growth per hour as a table, a verdict, a plot."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.soak_probe import Check, Growth, fit_growth, judge

JUDGED = ("vigil", "workers")
"""Groups the verdict is on; the simulator and the files are reported only."""
GROUP_ORDER = ("vigil", "workers", "sim")
KIND_ORDER = ("rss_mb", "pss_mb", "uss_mb", "threads", "fds", "procs")
UNITS = {"mb": "MB", "threads": "threads", "fds": "fds", "procs": "procs", "ms": "ms"}


@dataclass(frozen=True)
class Report:
    """What `finish` needs besides the samples."""

    site: str
    out: Path
    warmup_s: float
    rss_limit_percent: float
    summary: dict[str, Any] = field(default_factory=dict)
    """The run's own end-of-run summary (`vigil.console.Summary`), if it printed one."""
    ended_early: bool = False


def series_names(rows: Sequence[dict[str, float]]) -> list[str]:
    """Columns to fit, in table order: per group memory, threads, fds, processes; then files, API."""
    names = {key for row in rows for key in row} - {"t_s"}

    def order(name: str) -> tuple[int, int, str]:
        group, _, kind = name.partition("_")
        if group in GROUP_ORDER and kind in KIND_ORDER:
            return (GROUP_ORDER.index(group), KIND_ORDER.index(kind), name)
        return (len(GROUP_ORDER), 0, name)

    return sorted(names, key=order)


def growths(rows: Sequence[dict[str, float]], warmup_s: float) -> list[Growth]:
    t = [row["t_s"] for row in rows]
    fitted = []
    for name in series_names(rows):
        growth = fit_growth(name, t, [row.get(name, math.nan) for row in rows], warmup_s)
        if growth is not None:
            fitted.append(growth)
    return fitted


def unit_of(series: str) -> str:
    return UNITS.get(series.rsplit("_", 1)[-1], "")


def write_samples(rows: Sequence[dict[str, float]], out: Path) -> None:
    names = ["t_s", *series_names(rows)]
    with open(out / "samples.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, restval="")
        writer.writeheader()
        writer.writerows(rows)
    (out / "samples.json").write_text(json.dumps(rows, indent=1, allow_nan=True))


def growth_table(fitted: Sequence[Growth], checks: Sequence[Check], report: Report) -> Any:
    from rich.table import Table

    verdicts = {check.series: check for check in checks}
    window = fitted[0].window_s / 60 if fitted else 0.0
    table = Table(
        title=f"Soak {report.site}: growth per hour, least squares over {window:.1f} min after "
        f"{report.warmup_s / 60:g} min warm-up",
        title_justify="left",
    )
    for column in ("series", "unit", "at warm-up end", "at end", "growth / h", "% / h", "check"):
        table.add_column(column, justify="left" if column in ("series", "check") else "right")
    for growth in fitted:
        check = verdicts.get(growth.series)
        mark = "" if check is None or check.passed is None else ("ok" if check.passed else "FAIL")
        percent = "" if growth.percent_per_hour is None else f"{growth.percent_per_hour:+.2f}"
        table.add_row(
            growth.series, unit_of(growth.series), f"{growth.start:.1f}", f"{growth.end:.1f}",
            f"{growth.per_hour:+.2f}", percent, f"{mark} {check.rule if check and mark else ''}".strip(),
        )  # fmt: skip
    return table


def verdict_line(checks: Sequence[Check], report: Report, api_errors: int) -> tuple[bool, str]:
    """(passed, one line saying why)."""
    judged = [check for check in checks if check.passed is not None]
    failed = [check.series for check in judged if not check.passed]
    problems = []
    if report.ended_early:
        problems.append("the run ended before --duration (see vigil.log)")
    if not judged:
        problems.append("too few samples after warm-up to fit (need 3)")
    if failed:
        problems.append("grew: " + ", ".join(failed))
    rule = f"RSS <= {report.rss_limit_percent:g} %/h, no thread or fd growth ({' + '.join(JUDGED)})"
    errors = f"; API polls failed: {api_errors}" if api_errors else ""
    if problems:
        return False, f"FAIL: {'; '.join(problems)} [{rule}]{errors}"
    return True, f"PASS: {rule}{errors}"


def plot(rows: Sequence[dict[str, float]], report: Report) -> Path | None:
    """soak.png: memory, threads, fds, file sizes and API latency over time; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    minutes = [row["t_s"] / 60 for row in rows]
    panels = (("memory (MB)", ("rss_mb", "uss_mb")), ("threads", ("threads",)), ("open fds", ("fds",)))
    figure, axes = plt.subplots(5, 1, figsize=(10, 14), sharex=True)
    names = series_names(rows)
    for axis, (title, kinds) in zip(axes, panels, strict=False):
        for name in (n for n in names if n.partition("_")[2] in kinds):
            axis.plot(minutes, [row.get(name, math.nan) for row in rows], label=name)
        axis.set_ylabel(title)
    for axis, title, chosen in (
        (axes[3], "files (MB)", ("db_mb", "recordings_mb")),
        (axes[4], "API (ms)", ("api_ms",)),
    ):
        for name in chosen:
            axis.plot(minutes, [row.get(name, math.nan) for row in rows], label=name)
        axis.set_ylabel(title)
    for axis in axes:
        axis.axvspan(0, report.warmup_s / 60, color="0.9", label="warm-up")
        axis.legend(fontsize="small", loc="upper left")
    axes[-1].set_xlabel("minutes since the API answered")
    figure.suptitle(f"Vigil soak: {report.site}")
    figure.tight_layout()
    path = report.out / "soak.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def opened_since(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    """Open-file kinds whose count changed: + opened and still open, - closed."""
    kinds = sorted(set(before) | set(after))
    return {kind: after[kind] - before[kind] for kind in kinds if after[kind] != before[kind]}


def finish(
    rows: Sequence[dict[str, float]],
    report: Report,
    files_at_warmup: Counter[str] | None = None,
    files_at_end: Counter[str] | None = None,
) -> int:
    """Write samples, report.json and the plot; print the table and the verdict. Exit code 0 / 1.

    `files_at_warmup` / `files_at_end`: `soak_probe.open_files` of the judged groups; their
    difference is printed, so an fd leak names what leaks.
    """
    from rich.console import Console

    write_samples(rows, report.out)
    fitted = growths(rows, report.warmup_s)
    checks = judge(fitted, report.rss_limit_percent, JUDGED)
    api_errors = sum(math.isnan(row.get("api_ms", 0.0)) for row in rows)
    passed, line = verdict_line(checks, report, api_errors)
    picture = plot(rows, report)
    changed = opened_since(files_at_warmup or Counter(), files_at_end or Counter())
    summary = {
        "site": report.site,
        "samples": len(rows),
        "warmup_s": report.warmup_s,
        "passed": passed,
        "verdict": line,
        "growth": [asdict(g) | {"check": asdict(c)} for g, c in zip(fitted, checks, strict=True)],
        "run_summary": report.summary,
        "api_errors": api_errors,
        "open_files_changed": changed,
        "open_files_at_end": dict(files_at_end or {}),
    }
    (report.out / "report.json").write_text(json.dumps(summary, indent=1))
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(growth_table(fitted, checks, report))
    if files_at_end is not None:
        text = ", ".join(f"{n:+d} {kind}" for kind, n in changed.items()) or "none"
        console.print(f"open files changed since warm-up ({' + '.join(JUDGED)}): {text}", highlight=False)
    if report.summary:
        keys = ("frames", "sightings", "alerts", "cameras_online", "cameras")
        console.print("run: " + ", ".join(f"{key} {report.summary.get(key)}" for key in keys))
    console.print(f"plot: {picture}" if picture else "plot: matplotlib is not installed, no soak.png")
    console.print(f"samples and report: {report.out}")
    console.print(line, style="bold green" if passed else "bold red", highlight=False)
    return 0 if passed else 1
