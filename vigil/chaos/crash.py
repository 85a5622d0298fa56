"""kill -9 mid-write: the recorder and a sighting writer die between two instructions.

A child process (`vigil.chaos.child` ``record``: the real ingest supervisor, its shard process,
SQLite) records the simulator for a few segments while storing sightings; its whole process
group gets SIGKILL while a segment is open. A second run on the same database and directory
must open the database, close (or discard, with a log line) the segment that was cut, and find
every sighting acknowledged before the kill.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from ingest.recorder import PARTIAL_SUFFIX
from ingest.sim import Simulator
from vigil.chaos.base import (
    ChaosSettings,
    Checks,
    Outcome,
    child_command,
    child_process,
    ffprobe_error,
    kill_group,
    read_lines,
    wait_until,
)
from vigil.infra.db.recordings import RecordingIndex, SegmentRecord, recording_segments
from vigil.infra.db.store import Store

NAME = "kill-9"
DID = "SIGKILL to the recorder's process group mid-segment (sightings being written), then restart"


def _indexed(db: Path) -> list[SegmentRecord]:
    store = Store.open(db)
    try:
        index = RecordingIndex.for_store(store)
        return index.segments("cam1", 0.0, float("inf"))
    finally:
        store.close()


def _partials(directory: Path) -> list[Path]:
    return sorted(directory.rglob(f"*{PARTIAL_SUFFIX}"))


def _run_until_killed(
    command: list[str], log: Path, db: Path, directory: Path
) -> tuple[list[str], list[Path]]:
    """First run: wait for 3 indexed segments and an open one, then kill -9. Returns (acks, partials)."""
    acks: list[str] = []
    with child_process(command, log) as child:
        read_lines(child, acks)

        def mid_write() -> bool:
            parts = _partials(directory)
            return (
                db.exists() and len(_indexed(db)) >= 3 and any(p.stat().st_size > 0 for p in parts)
            ) or child.poll() is not None

        wait_until(mid_write, timeout=60, interval=0.5)
        time.sleep(1.1)  # a GOP or so into the open segment
        kill_group(child, signal.SIGKILL)
        acked = [line.split()[1] for line in list(acks) if line.startswith("ACK ")]
    return acked, _partials(directory)


def _restart(command: list[str], log: Path, db: Path) -> None:
    """Second run: up for a few seconds (recovery happens before the first session), then SIGTERM."""
    with child_process(command, log) as child:
        read_lines(child, [])
        before = len(_indexed(db))
        wait_until(lambda: len(_indexed(db)) >= before + 2 or child.poll() is not None, timeout=40)
        kill_group(child, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(20)


def _check_after(
    checks: Checks, db: Path, directory: Path, acked: list[str], cut: list[Path], log: str
) -> None:
    store = Store.open(db)  # raises if the database does not open: the scenario then fails
    try:
        with store._engine.connect() as conn:  # noqa: SLF001 - a diagnostic the store does not offer
            integrity = conn.execute(sa.text("PRAGMA integrity_check")).scalar_one()
            rows = conn.execute(sa.select(sa.func.count()).select_from(recording_segments)).scalar_one()
        checks.expect(
            integrity == "ok", "database opens, integrity_check ok", f"integrity_check: {integrity}"
        )
        missing = [sid for sid in acked if store.get_sighting(sid) is None]
        checks.expect(
            bool(acked) and not missing,
            f"all {len(acked)} sightings acknowledged before the kill are stored",
            f"{len(missing)} of {len(acked)} acknowledged sightings lost",
        )
        segments = RecordingIndex.for_store(store).segments("cam1", 0.0, float("inf"))
    finally:
        store.close()
    bad = [f"{s.path.name}: {err}" for s in segments if (err := ffprobe_error(s.path))]
    checks.expect(
        rows > 0 and not bad, f"all {rows} indexed segments pass ffprobe", f"ffprobe fails: {bad[:3]}"
    )
    checks.expect(not _partials(directory), "no .part file left", f".part left: {_partials(directory)}")
    names = {s.path.name for s in segments}
    for part in cut:
        closed = part.name.removesuffix(".part") in names
        logged = part.name in log or part.name.removesuffix(".part") in log
        checks.expect(
            closed or logged,
            f"cut segment {'recovered and indexed' if closed else 'discarded'} with a log line",
            f"cut segment {part.name} neither recovered nor discarded with a log line",
        )


def kill_mid_write(settings: ChaosSettings) -> Outcome:
    checks = Checks()
    db, directory = settings.workdir / "vigil.db", settings.workdir / "recordings"
    log = settings.workdir / "child.log"
    with Simulator([settings.clip], cameras=1) as sim:
        command = child_command("record", "--db", str(db), "--dir", str(directory), "--url", sim.urls[0])
        acked, cut = _run_until_killed(command, log, db, directory)
        indexed_before = len(_indexed(db))
        checks.expect(bool(cut), f"killed with {len(cut)} segment open", "no segment was open at the kill")
        _restart(command, log, db)
    text = log.read_text(errors="replace")
    _check_after(checks, db, directory, acked, cut, text)
    checks.survived.append(f"{indexed_before} segments indexed before the kill, {len(acked)} sightings acked")
    return checks.outcome(NAME, DID)
