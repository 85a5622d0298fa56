"""Child processes the chaos scenarios kill, lock against or lie to about the time.

``python -m vigil.chaos.child record --db DB --dir DIR --url URL``: a recorder (the real
`IngestSupervisor`, its shard process, the SQLite recording index) plus a writer storing one
sighting every 0.1 s and printing ``ACK <id>`` once its transaction committed. Runs until
SIGTERM (a clean stop) or SIGKILL (the scenario).

``python -m vigil.chaos.child lock --db DB --seconds S``: holds ``BEGIN EXCLUSIVE`` on the
database (printing ``LOCKED``) for S seconds, then commits.

``python -m vigil.chaos.child clock --db DB --dir DIR --url URL --plan "4:+3600,10:-3600"``: a
record shard (`ingest.workers._shard_main`, in-process) whose wall clock (``time.time``) jumps
by the given seconds at the given moments; prints one JSON line of what happened at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from config.ingest import RecordingConfig
from config.models import CameraConfig
from ingest.record_worker import Gap, HealthChange
from ingest.recorder import Segment
from ingest.workers import IngestSupervisor, _shard_main, record_job
from vigil.core.types import Sighting
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store

SEGMENT_SECONDS = 2.0


def _record(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    store = Store.open(args.db)
    camera = CameraConfig.model_validate({"id": "cam1", "url": args.url})
    recording = RecordingConfig(directory=Path(args.dir), segment_seconds=SEGMENT_SECONDS, min_free_mb=0)
    ingest = IngestSupervisor(
        [camera], data_dir=Path(args.dir).parent, recording=recording, index=RecordingIndex.for_store(store)
    )
    ingest.start()
    tracker_id = 0
    while not stop.wait(0.1):
        tracker_id += 1
        now = time.time()
        sighting = Sighting(
            camera_id="cam1", tracker_id=tracker_id, start=now - 1, end=now, best_box=(0, 0, 10, 20),
            crop_path=None, path=(), confidence=0.9, frames=3,
        )  # fmt: skip
        if store.add_sightings([sighting]) == 1:
            print(f"ACK {sighting.id}", flush=True)
    ingest.stop()
    store.close()
    return 0


def _lock(args: argparse.Namespace) -> int:
    connection = sqlite3.connect(args.db, isolation_level=None, timeout=30)
    connection.execute("BEGIN EXCLUSIVE")
    connection.execute("CREATE TABLE IF NOT EXISTS chaos_lock (at REAL)")
    connection.execute("INSERT INTO chaos_lock VALUES (?)", (time.time(),))
    print("LOCKED", flush=True)
    time.sleep(args.seconds)
    connection.execute("COMMIT")
    connection.close()
    print("RELEASED", flush=True)
    return 0


class _JumpingClock:
    """``time.time`` plus an offset that changes at planned moments (monotonic seconds from start)."""

    def __init__(self, plan: list[tuple[float, float]]) -> None:
        self.real = time.time
        self.started = time.monotonic()
        self.plan = sorted(plan)
        self.offset = 0.0
        self.jumps: list[tuple[float, float]] = []  # (real wall time, new offset)

    def __call__(self) -> float:
        elapsed = time.monotonic() - self.started
        while self.plan and self.plan[0][0] <= elapsed:
            _, jump = self.plan.pop(0)
            self.offset += jump
            self.jumps.append((self.real(), self.offset))
        return self.real() + self.offset


def _clock(args: argparse.Namespace) -> int:
    plan = [(float(at), float(jump)) for at, jump in (step.split(":") for step in args.plan.split(","))]
    clock = _JumpingClock(plan)
    time.time = clock  # every `time.time()` in this process (the recorder's) sees the jumps
    store = Store.open(args.db)
    index = RecordingIndex.for_store(store)
    camera = CameraConfig.model_validate({"id": "cam1", "url": args.url})
    recording = RecordingConfig(directory=Path(args.dir), segment_seconds=SEGMENT_SECONDS, min_free_mb=0)
    commands: queue.Queue[tuple[str, object]] = queue.Queue()
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    shard = threading.Thread(target=_shard_main, args=(0, commands, events), daemon=True)
    shard.start()
    commands.put(("add", record_job(camera, recording, Path(args.dir).parent, burst_s=0.5)))
    health: list[dict[str, object]] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        _apply(events, index, health, 0.2)
    commands.put(("stop", None))
    shard.join(15)
    while _apply(events, index, health, 0.0):
        pass
    store.close()
    print(json.dumps({"health": health, "jumps": clock.jumps}), flush=True)
    return 0


def _apply(
    events: queue.Queue[tuple[str, object]],
    index: RecordingIndex,
    health: list[dict[str, object]],
    wait: float,
) -> bool:
    """Index one shard event's segment or gap, note a health change (what the supervisor does).

    Returns:
        False if no event came.
    """
    try:
        _, payload = events.get(timeout=wait) if wait else events.get_nowait()
    except queue.Empty:
        return False
    if isinstance(payload, Segment):
        index.add_segments([payload])
    elif isinstance(payload, Gap):
        index.add_gaps([payload])
    elif isinstance(payload, HealthChange):
        health.append({"state": payload.state.value, "reason": payload.reason})
    return True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="vigil.chaos.child")
    sub = parser.add_subparsers(dest="role", required=True)
    record = sub.add_parser("record")
    lock = sub.add_parser("lock")
    clock = sub.add_parser("clock")
    for each in (record, lock, clock):
        each.add_argument("--db", required=True)
    for each in (record, clock):
        each.add_argument("--dir", required=True)
        each.add_argument("--url", required=True)
    lock.add_argument("--seconds", type=float, required=True)
    clock.add_argument("--seconds", type=float, required=True)
    clock.add_argument("--plan", required=True, help="AT:JUMP,... seconds after start : seconds jumped")
    args = parser.parse_args(argv)
    handlers = {"record": _record, "lock": _lock, "clock": _clock}
    return handlers[args.role](args)


if __name__ == "__main__":
    sys.exit(main())
