"""Clock jump on the box: the wall clock leaps +1 h, then back -1 h, while a camera records.

The jump is injected into the clock the code reads: a child process (`vigil.chaos.child`
``clock``) runs the real record shard loop with ``time.time`` offset at planned moments
(libfaketime would also move FFmpeg's clock, but it is not installed on every box). Intervals
(the stall watchdog, backoff) must not notice: they run on the monotonic clock. Segment and gap
times may follow the wall clock, but not silently: a jump forward is a gap that says so, a jump
back a warning. Retention and clip export must still work on the mixed timeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ingest.clips import ClipError, export_clip
from ingest.sim import Simulator
from vigil.chaos.base import (
    ChaosSettings,
    Checks,
    Outcome,
    child_command,
    child_process,
    ffprobe_error,
    read_lines,
)
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.services.retention import RetentionPolicy, enforce

NAME = "clock-jump"
DID = "wall clock (time.time in the recorder) jumps +1 h at 6 s and -1 h at 14 s; 22 s of recording"
PLAN = "6:+3600,14:-3600"
SECONDS = 22.0


def clock_jump(settings: ChaosSettings) -> Outcome:
    checks = Checks()
    db, directory = settings.workdir / "vigil.db", settings.workdir / "recordings"
    log = settings.workdir / "child.log"
    lines: list[str] = []
    with Simulator([settings.clip], cameras=1) as sim:
        command = child_command(
            "clock", "--db", str(db), "--dir", str(directory), "--url", sim.urls[0],
            "--seconds", str(SECONDS), "--plan", PLAN,
        )  # fmt: skip
        with child_process(command, log) as child:
            reader = read_lines(child, lines)
            child.wait(SECONDS + 60)
            reader.join(5)
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    checks.expect(bool(report), "recorder ran through both jumps", f"child reported nothing: {lines[-3:]}")
    health = [f"{h['state']}: {h['reason']}" for h in report.get("health", [])]
    false = [h for h in health if "stalled" in h or h.startswith("offline: ") and "stopped" not in h]
    checks.expect(
        bool(health) and not false[1:],  # the first 'offline: starting' is not a failure
        "no false stall or reconnect from the jumps (watchdog on the monotonic clock)",
        f"health after the jumps: {health}",
    )
    text = log.read_text(errors="replace")
    checks.expect("wall clock went back" in text, "jump back logged as a warning (segment times overlap)")
    _check_index(checks, db, settings.workdir / "clip.mp4")
    return checks.outcome(NAME, DID)


def _check_index(checks: Checks, db: Path, clip: Path) -> None:
    store = Store.open(db)
    try:
        index = RecordingIndex.for_store(store)
        segments = index.segments("cam1", 0.0, float("inf"))
        gaps = index.gaps("cam1", 0.0, float("inf"))
        jumped = [g for g in gaps if "clock jumped" in g.reason]
        checks.expect(bool(jumped), "jump forward is a recorded gap that says so", f"gaps: {gaps}")
        bad = [f"{s.path.name}: {err}" for s in segments if (err := ffprobe_error(s.path))]
        checks.expect(
            len(segments) >= 5 and not bad,
            f"{len(segments)} segments on both timelines, all pass ffprobe",
            f"{len(segments)} segments, ffprobe fails: {bad[:2]}",
        )
        deleted = enforce(index, RetentionPolicy(), now=time.time(), free_percent=lambda: 100.0)
        checks.expect(not deleted, "retention pass ran on the mixed timeline, deleted nothing recent")
        start, end = min(s.start for s in segments), max(s.end for s in segments)
        try:
            manifest = export_clip(index, "cam1", start, end, clip)
            checks.expect(
                manifest.packets > 0, f"clip export across the jumps: {len(manifest.segments)} segments"
            )
        except ClipError as error:
            checks.expect(True, f"clip export across the jumps refused clearly: {error}")
    finally:
        store.close()
