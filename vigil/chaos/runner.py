"""Runs chaos scenarios one after another, each in a directory of its own, and tabulates them."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from vigil.chaos import clock, crash, database, disk, network
from vigil.chaos.base import ChaosSettings, Outcome

logger = logging.getLogger(__name__)

Scenario = Callable[[ChaosSettings], Outcome]

SCENARIOS: dict[str, Scenario] = {
    crash.NAME: crash.kill_mid_write,
    disk.NAME: disk.disk_full,
    database.NAME: database.db_locked,
    "rtsp-flapping": network.rtsp_flapping,
    clock.NAME: clock.clock_jump,
    "garbage": network.garbage,
}
"""Every scenario by name, in the order `vigil chaos` runs them."""


def run_scenario(name: str, *, long: bool = False, root: Path | None = None) -> Outcome:
    """Run one scenario in a fresh temporary directory (removed afterwards); never raises.

    Raises:
        KeyError: Unknown scenario name.
    """
    scenario = SCENARIOS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"vigil-chaos-{name}-", dir=root))
    started = time.monotonic()
    try:
        outcome = scenario(ChaosSettings(workdir=workdir, long=long))
    except Exception as exc:  # noqa: BLE001 - a scenario that crashes is a broken invariant, not a crash
        logger.exception("chaos scenario %s crashed", name)
        outcome = Outcome(name, "(crashed)", broken=(f"scenario raised {type(exc).__name__}: {exc}"[:300],))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return replace(outcome, seconds=time.monotonic() - started)


def run_all(names: Sequence[str] | None = None, *, long: bool = False) -> list[Outcome]:
    return [run_scenario(name, long=long) for name in names or list(SCENARIOS)]


def table(outcomes: Sequence[Outcome]) -> Table:
    """What each scenario did, what survived, what broke."""
    result = Table(title="vigil chaos", title_justify="left", show_lines=True)
    for column in ("scenario", "what it did", "what survived", "result"):
        result.add_column(column, overflow="fold")
    for outcome in outcomes:
        if outcome.skipped:
            verdict, survived = "[yellow]SKIP[/]", outcome.skipped
        elif outcome.ok:
            verdict, survived = f"[green]PASS[/] {outcome.seconds:.0f} s", "\n".join(outcome.survived)
        else:
            broken = "\n".join(f"[red]BROKEN: {line}[/]" for line in outcome.broken)
            verdict, survived = (
                f"[red]FAIL[/] {outcome.seconds:.0f} s",
                "\n".join([*outcome.survived, broken]),
            )
        result.add_row(outcome.name, outcome.did, survived, verdict)
    return result
