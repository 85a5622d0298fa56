"""Live progress and the end-of-run summary shared by `vigil run` and `vigil demo`."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from vigil.runtime import Runtime


@dataclass(frozen=True)
class Summary:
    frames: int
    detections: int
    sightings: int
    alerts: int
    cameras_online: int
    cameras: int
    duration_s: float
    frames_per_s: float
    frames_without_inference: int
    detect_ms_per_batch: float
    sightings_stored: int
    alerts_stored: int
    api_url: str | None


def _progress_table(runtime: Runtime, elapsed: float, duration: float | None) -> Table:
    stats = runtime.stats
    table = Table(title=f"Vigil — {runtime.config.site}", title_justify="left", show_header=True)
    for column in ("elapsed", "cameras online", "frames", "detections", "sightings", "alerts", "frames/s"):
        table.add_column(column, justify="right")
    limit = f" / {duration:.0f} s" if duration else " s"
    table.add_row(
        f"{elapsed:.0f}{limit}",
        f"{runtime.cameras_online()} / {len(runtime.health_snapshot())}",
        str(stats.frames),
        str(stats.detections),
        str(stats.sightings),
        str(stats.alerts),
        f"{stats.frames / max(elapsed, 1e-9):.1f}",
    )
    return table


def run_until_done(runtime: Runtime, duration: float | None, api_url: str | None, as_json: bool) -> Summary:
    """Show progress until `duration` passes or Ctrl-C / SIGTERM, stop the runtime, report.

    Progress goes to stderr (a live table on a terminal, a line every 10 s otherwise), so
    stdout carries only the summary.
    """
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    console = Console(stderr=True)
    started = time.monotonic()
    online_at_end = 0
    try:
        if console.is_terminal:
            with Live(_progress_table(runtime, 0, duration), console=console, refresh_per_second=2) as live:
                while not _wait(done, started, duration, 0.5):
                    live.update(_progress_table(runtime, time.monotonic() - started, duration))
        else:
            while not _wait(done, started, duration, 10.0):
                s = runtime.stats
                console.print(
                    f"[{time.monotonic() - started:5.0f} s] cameras online {runtime.cameras_online()}, "
                    f"frames {s.frames}, detections {s.detections}, "
                    f"sightings {s.sightings}, alerts {s.alerts}"
                )
    except KeyboardInterrupt:
        pass
    finally:
        online_at_end = runtime.cameras_online()
        cameras = len(runtime.health_snapshot())
        elapsed = time.monotonic() - started
        console.print("stopping: storing open tracks as sightings ...")
        runtime.stop()
        signal.signal(signal.SIGTERM, previous)
    counts = runtime.store_counts_after_stop
    stats = runtime.stats
    summary = Summary(
        frames=stats.frames,
        detections=stats.detections,
        sightings=stats.sightings,
        alerts=stats.alerts,
        cameras_online=online_at_end,
        cameras=cameras,
        duration_s=round(elapsed, 1),
        frames_per_s=round(stats.frames / max(elapsed, 1e-9), 2),
        frames_without_inference=stats.skipped,
        detect_ms_per_batch=round(1000 * stats.detect_seconds / max(stats.batches, 1), 1),
        sightings_stored=counts[0],
        alerts_stored=counts[1],
        api_url=api_url,
    )
    print_summary(summary, as_json)
    return summary


def _wait(done: threading.Event, started: float, duration: float | None, step: float) -> bool:
    if duration is not None:
        step = min(step, max(0.0, started + duration - time.monotonic()))
    if done.wait(step):
        return True
    return duration is not None and time.monotonic() - started >= duration


def print_summary(summary: Summary, as_json: bool) -> None:
    data: dict[str, Any] = asdict(summary)
    if as_json:
        print(json.dumps(data))
        return
    print(
        f"\nVigil ran {summary.duration_s:.0f} s on {summary.cameras} cameras "
        f"({summary.cameras_online} online at the end)\n"
        f"  frames processed  {summary.frames} ({summary.frames_per_s} /s, "
        f"{summary.detect_ms_per_batch} ms per detector batch, "
        f"{summary.frames_without_inference} needed no inference: nothing moved)\n"
        f"  detections        {summary.detections}\n"
        f"  sightings         {summary.sightings} (in the database: {summary.sightings_stored})\n"
        f"  alerts            {summary.alerts} (in the database: {summary.alerts_stored})",
        file=sys.stdout,
    )
