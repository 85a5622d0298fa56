"""`vigil backtest CONFIG --rule NAME | --draft FILE.yaml --camera ID --start T --end T`: a rule's past.

What the rule would have raised over recorded footage.

Runs detection, tracking and one rule over a camera's recorded segments in the window
(`vigil.services.backtest`), on this machine, from the site's database and recordings;
nothing is published or stored except the event crops under
``<data_dir>/backtests/<job id>/`` and the audit rows. On a terminal a progress bar follows
the recorded seconds; otherwise (or at the end) a table of the events, the counts per hour,
the gaps and skipped segments, the speed and where the time went. ``--json`` prints one object.

Times are epoch seconds or ISO-8601; an ISO time without an offset is in the site's time zone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.models import VigilConfig
    from vigil.services.backtest import BacktestReport, BacktestService, BacktestTarget

HELP = "Backtest a rule (configured or a draft) over a camera's recorded footage: what it would have raised."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration file (its database and recordings are used)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="name of a configured rule")
    which.add_argument(
        "--draft",
        type=Path,
        help="YAML file of a rule not yet configured: {rule: {...}, zone: {...}?, line: {...}?}",
    )
    parser.add_argument("--camera", help="camera id (default: the rule's camera)")
    parser.add_argument(
        "--start", required=True, help="window start: epoch seconds or ISO-8601 (site time zone)"
    )
    parser.add_argument("--end", required=True, help="window end: epoch seconds or ISO-8601 (site time zone)")
    parser.add_argument(
        "--detect-fps",
        type=float,
        default=None,
        help="frames per second through detection (default: camera's)",
    )
    parser.add_argument(
        "--decode-width",
        type=int,
        default=None,
        help="analyse frames scaled to this width (default: as recorded)",
    )
    parser.add_argument(
        "--motion",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force motion gating on or off (default: the camera's setting)",
    )
    parser.add_argument("--reason", default="backtest from the command line", help="why (audited)")
    parser.add_argument("--user", default=None, help="who runs it (audited; default: the system user)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object, no bar")


def run(args: argparse.Namespace) -> int:
    import getpass

    from config.loader import load_config
    from vigil.core.errors import ValidationError
    from vigil.services.backtest import BacktestError, BacktestOptions, JobState, parse_site_time

    config = load_config(args.config)
    try:
        target = _target(config, args)
        start = parse_site_time(args.start, config.timezone)
        end = parse_site_time(args.end, config.timezone)
        options = BacktestOptions(args.detect_fps, args.decode_width, args.motion)
    except (BacktestError, ValidationError, OSError) as error:
        print(f"vigil backtest: {error}", file=sys.stderr)
        return 2
    service, close = _service(config)
    try:
        try:
            job = service.submit(target, start, end, user=args.user or getpass.getuser(), reason=args.reason,
                                 options=options)  # fmt: skip
        except BacktestError as error:
            print(f"vigil backtest: {error}", file=sys.stderr)
            return 2
        try:
            report = _follow(service, job, bar=not args.json and sys.stderr.isatty())
        except KeyboardInterrupt:
            service.cancel(job.job_id, args.user or getpass.getuser())
            report = service.wait(job.job_id, timeout=30)
    finally:
        service.stop()
        close()
    _print(report, config, as_json=args.json)
    return 0 if report.state is JobState.DONE else 1


def _target(config: VigilConfig, args: argparse.Namespace) -> BacktestTarget:
    import yaml

    from vigil.services.backtest import BacktestError, configured_rule, draft_rule

    if args.rule is not None:
        target = configured_rule(config, args.rule)
        if args.camera is not None and args.camera != target.camera.id:
            raise BacktestError(
                f"--camera: rule {args.rule!r} watches {target.camera.id!r}, not {args.camera!r}"
            )
        return target
    try:
        data = yaml.safe_load(args.draft.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise BacktestError(f"{args.draft}: not valid YAML: {error}") from None
    return draft_rule(config, data, args.camera)


def _service(config: VigilConfig) -> tuple[BacktestService, Callable[[], None]]:
    """The backtest service on the site's database and recordings, and what closes the database."""
    from detectors.registry import LazyDetector
    from vigil.infra.db.cases import CaseStore
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store
    from vigil.runtime import database_url
    from vigil.services.backtest import BacktestService

    data_dir = Path(config.data_dir)
    store = Store.open(database_url(config))
    service = BacktestService(
        recordings=RecordingIndex.for_store(store),
        audit=CaseStore.for_store(store),
        detector=LazyDetector(config.detector).get,
        data_dir=data_dir,
        recording_root=config.recording.directory or data_dir / "recordings",
    )
    return service, store.close


def _follow(service: BacktestService, job: BacktestReport, *, bar: bool) -> BacktestReport:
    """Wait for the job, drawing a bar over the recorded seconds on a terminal."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not bar:
        return service.wait(job.job_id)
    total = job.window_end - job.window_start - sum(g.end - g.start for g in job.gaps)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s video · {task.fields[events]} events · "
                   "{task.fields[speed]:.1f}x"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"{job.rule} on {job.camera_id}", total=max(total, 1.0), events=0, speed=0.0)
        report = job
        while not report.state.finished:
            time.sleep(0.2)
            report = service.progress(job.job_id)
            progress.update(
                task, completed=report.video_seconds, events=len(report.events), speed=report.speed
            )
    return report


def _print(report: BacktestReport, config: VigilConfig, *, as_json: bool) -> None:
    import json

    from rich.console import Console

    from vigil.services.backtest import as_plain

    if as_json:
        print(json.dumps(as_plain(report)))
        return
    console = Console(width=max(150, Console().width))
    _tables(console, report, config.timezone)
    _summary(console, report, config)


def _tables(console: Any, report: BacktestReport, tz: str) -> None:
    from rich.table import Table

    from vigil.services.backtest import local_time

    draft = ", draft" if report.draft else ""
    events = Table(
        title=f"{report.rule} ({report.rule_type}{draft}) on {report.camera_id}: {len(report.events)} events"
    )
    for column in ("time", "kind", "track", "direction / value / phase", "message", "crop"):
        events.add_column(column, no_wrap=column != "message")
    for event in report.events:
        detail = " ".join(str(v) for v in (event.direction, event.value, event.phase) if v is not None)
        track = "" if event.track is None else str(event.track)
        events.add_row(local_time(event.at, tz), event.kind, track, detail, event.message, event.crop or "")
    console.print(events)
    line = report.crossings_in is not None
    hours = Table(title="per hour")
    for column in ("hour", "events", *(("in", "out") if line else ())):
        hours.add_column(column)
    for hour in report.hours:
        counts = (str(hour.count_in), str(hour.count_out)) if line else ()
        hours.add_row(local_time(hour.start, tz), str(hour.events), *counts)
    console.print(hours)


def _summary(console: Any, report: BacktestReport, config: VigilConfig) -> None:
    from vigil.services.backtest import local_time

    tz = config.timezone
    for gap in report.gaps:
        console.print(f"gap: {local_time(gap.start, tz)} .. {local_time(gap.end, tz)} ({gap.reason})")
    for error in report.errors:
        console.print(f"skipped {error.path}: {error.error}")
    split = report.split
    console.print(
        f"backtest {report.state.value}: {report.video_seconds:.0f} s of video, {report.frames} frames at "
        f"{report.detect_fps:g} fps in {report.elapsed_s:.1f} s ({report.speed:.1f}x real time); "
        f"decode {split.decode:.1f} s, detect {split.detect:.1f} s, track {split.track:.1f} s, "
        f"rule {split.rule:.2f} s"
    )
    if report.crossings_in is not None:
        console.print(f"crossings: in {report.crossings_in}, out {report.crossings_out}")
    if report.events:
        folder = Path(config.data_dir) / "backtests" / report.job_id
        clip = report.events[0].clip_url(report.camera_id)
        console.print(f"crops in {folder}; clip of an event: GET {clip}&reason=...")
    if report.message:
        console.print(report.message)
