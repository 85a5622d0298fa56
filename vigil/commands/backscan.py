"""`vigil backscan CONFIG --case ID`: run a case's back-scan now, with a progress bar.

Opens the site's database as the central node would (on an in-process bus), scans the
record-only cameras nearest the case's last-seen place over its window, and stores what
it finds: the sightings rank among the case's candidates, and a match above the case
threshold is stored as a case alert (a running `vigil run` sees both in the database, but
does not push that alert on its live WebSocket).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.services.backscan import BackscanProgress, BackscanService

HELP = "Back-scan a case: detect and track on record-only cameras' recordings near her last-seen place."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration file (its database and recordings are used)")
    parser.add_argument("--case", required=True, help="case id")
    parser.add_argument(
        "--max-cameras", type=int, default=10, help="record-only cameras to scan, nearest first (default 10)"
    )
    parser.add_argument(
        "--max-walk-minutes",
        type=float,
        default=None,
        help="only cameras within this walk of the last-seen place (default: what fits the case window)",
    )
    parser.add_argument("--user", default=None, help="who starts it (audited; default: the system user)")
    parser.add_argument("--json", action="store_true", help="print the final progress as JSON, no bar")


def run(args: argparse.Namespace) -> int:
    import getpass

    from config.loader import load_config
    from vigil.core.errors import ValidationError
    from vigil.infra.bus import MemoryBus
    from vigil.roles import Role
    from vigil.runtime import Runtime
    from vigil.services.backscan import BackscanError, BackscanOptions, JobState
    from vigil.services.cases import CaseNotFound

    config = load_config(args.config)
    try:
        options = BackscanOptions(args.max_cameras, args.max_walk_minutes)
    except ValidationError as error:
        print(f"vigil backscan: {error}", file=sys.stderr)
        return 2
    # Central half only, on its own in-process bus: no cameras, no Kafka consumer group joined.
    runtime = Runtime(config, role=Role.CENTRAL, bus=MemoryBus())
    runtime.start()
    try:
        assert runtime.backscan is not None
        try:
            started = runtime.backscan.submit(args.case, args.user or getpass.getuser(), options)
        except (CaseNotFound, BackscanError) as error:
            print(f"vigil backscan: {error}", file=sys.stderr)
            return 1
        try:
            final = _follow(runtime.backscan, args.case, started, quiet=args.json)
        except KeyboardInterrupt:
            runtime.backscan.cancel(args.case, args.user or getpass.getuser())
            final = runtime.backscan.wait(args.case, timeout=30) or started
    finally:
        runtime.stop()
    _report(final, as_json=args.json)
    return 0 if final.state is JobState.DONE else 1


def _follow(
    service: BackscanService, case_id: str, started: BackscanProgress, *, quiet: bool
) -> BackscanProgress:
    """Wait for the job, drawing a bar over its segments (and the camera it is on)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        return service.wait(case_id) or started
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("segments · {task.fields[video]:.0f} s video · {task.fields[found]} sightings"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("queued", total=max(started.segments_total, 1), video=0.0, found=0)
        progress = started
        while not progress.state.finished:
            time.sleep(0.2)
            progress = service.progress(case_id) or progress
            camera = progress.current_camera or progress.state.value
            bar.update(
                task,
                completed=progress.segments_done,
                description=f"{camera} ({progress.cameras_done}/{progress.cameras_total} cameras)",
                video=progress.video_seconds,
                found=progress.sightings,
            )
    return progress


def _report(progress: BackscanProgress, *, as_json: bool) -> None:
    import dataclasses
    import enum
    import json

    if as_json:

        def plain(value: object) -> object:
            return value.value if isinstance(value, enum.Enum) else str(value)

        print(json.dumps(dataclasses.asdict(progress), default=plain, indent=2))
        return
    speed = progress.video_seconds / progress.elapsed_s if progress.elapsed_s else 0.0
    print(
        f"back-scan {progress.state.value}: {progress.cameras_done}/{progress.cameras_total} cameras, "
        f"{progress.segments_done}/{progress.segments_total} segments, "
        f"{progress.video_seconds:.0f} s of video in {progress.elapsed_s:.1f} s ({speed:.1f}x real time), "
        f"{progress.sightings} sightings"
    )
    for error in progress.errors:
        print(f"  skipped {error.path} ({error.camera_id}): {error.error}")
    if progress.message:
        print(f"  {progress.message}")
