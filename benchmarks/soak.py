"""Soak: run a site for a long time, sample its processes and files, report growth per hour.

Workloads (each the real command, as a child process, so the soak measures exactly what runs):

- ``demo``: ``vigil demo`` (3 cameras from `vigil sim` on the bundled footage, detection,
  tracking, rules, storage, retention, API) on a copy of ``config/examples/demo.yaml`` whose
  ``data_dir`` is the soak's output folder;
- ``site141``: ``vigil run`` on a copy of ``config/examples/site.yaml`` (141 cameras, 23 AI on
  their sub-streams) against a site simulator started here, 720p25 main + 360p sub mounts on the
  shared footage, as ``benchmarks/ingest.py`` sets it up.

Every ``--interval`` seconds: RSS, PSS and USS, threads and open fds of every process the
workload started (the Vigil process, its worker processes, the simulator), database size with
its WAL, recordings folder size, and the latency of a few API requests an operator's screen
would make. After the run: a least-squares line per series through the samples after
``--warmup``, its growth per hour, and a verdict: Vigil's RSS grows at most 1 %/h, its thread
and fd counts do not grow.

Run: ``vigil bench soak --site demo --duration 30m --interval 30 --warmup 5m`` (exit code 0: no
leak, 1: a check failed, 2: the workload did not run).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO
from benchmarks.soak_probe import Sampler
from benchmarks.soak_report import JUDGED, Report, finish

DEMO_CONFIG = REPO / "config" / "examples" / "demo.yaml"
SITE_CONFIG = REPO / "config" / "examples" / "site.yaml"
ADMIN = "admin"
READY_TIMEOUT_S = 300.0
"""Model load, migrations and (site141) 141 camera workers before the API answers."""
STOP_TIMEOUT_S = 90.0
"""SIGTERM to exit: open tracks stored, segments closed, shards joined."""
DISK_MARGIN = 1.5
"""Recording estimate x this must fit above retention's free-space floor, or the soak refuses."""
RETENTION_SWEEP_S = 60.0
"""How often retention sweeps (vigil/services/retention.py run_periodically)."""


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"4m"``, ``"1.5h"`` -> seconds.

    Raises:
        argparse.ArgumentTypeError: Not a positive number with an optional s / m / h unit.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 90, 90s, 4m or 1.5h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass
class Workload:
    """A running site: the Vigil child process, the simulator (site141) and where its data goes."""

    site: str
    out: Path
    data_dir: Path
    api_url: str
    password: str
    process: subprocess.Popen[bytes] | None = None
    sim: Any = None
    summary: dict[str, Any] = field(default_factory=dict)

    def sampler(self) -> Sampler:
        assert self.process is not None, "start the workload first"
        roots = {"vigil": self.process.pid}
        if self.sim is not None:
            roots["sim"] = self.sim.pid
        database = self.data_dir / "vigil.db"
        files = {
            "db": [database, database.with_name("vigil.db-wal"), database.with_name("vigil.db-shm")],
            "recordings": [self.data_dir / "recordings"],
        }
        return Sampler(roots, files)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(source: Path, data_dir: Path, target: Path, retain_s: float | None = None) -> Path:
    """A copy of `source` whose ``data_dir`` is `data_dir` (``${VAR}`` references are kept).

    `retain_s` keeps recordings (continuous and event segments) only that long, so retention's
    sweep runs during the soak and the disk holds a steady amount, as on a site at its storage cap.
    """
    import yaml

    document = yaml.safe_load(source.read_text())
    document["data_dir"] = str(data_dir)
    if retain_s is not None:
        recording = document.setdefault("recording", {})
        recording["continuous_days"] = recording["event_days"] = retain_s / 86400
    target.write_text(
        f"# {source.relative_to(REPO)} with data_dir set by benchmarks/soak.py\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    return target


def _site_videos() -> list[Path]:
    from benchmarks.ingest import _videos

    return _videos(argparse.Namespace(videos=None))


def recording_bytes_per_s(site: str) -> float:
    """What the site's cameras write per second, from the footage (demo) or the sim's bit rate."""
    if site == "site141":
        from ingest.sim import MAIN_720P

        return 141 * MAIN_720P.bitrate_kbps * 1000 / 8  # the encoder's target; DISK_MARGIN covers peaks
    import av

    from vigil.commands.demo import SAMPLES

    rates = []
    for path in SAMPLES:
        with av.open(str(path)) as container:
            rates.append(path.stat().st_size / max((container.duration or 1) / 1e6, 1.0))
    return sum(rates[k % len(rates)] for k in range(3))  # cam1..cam3 loop the samples in turn


def check_disk(
    out: Path, site: str, seconds: float, floor_percent: float = 10.0, retain_s: float | None = None
) -> str:
    """Refuse a run whose recordings would reach retention's free-space floor; else say the estimate.

    With `retain_s`, retention holds about that much recording (plus a minute for its sweep interval).

    Raises:
        SystemExit: The estimate (x `DISK_MARGIN`) does not fit above the floor.
    """
    if retain_s is not None:
        seconds = min(seconds, retain_s + RETENTION_SWEEP_S)
    need = recording_bytes_per_s(site) * seconds * DISK_MARGIN
    usage = shutil.disk_usage(out)
    room = usage.free - usage.total * floor_percent / 100
    if need > room:
        raise SystemExit(
            f"soak: recordings need up to {need / 1e9:.1f} GB but {out} has {room / 1e9:.1f} GB above "
            f"the {floor_percent:g} % free-space floor: choose --out on a larger disk or a shorter --duration"
        )
    return f"recordings: up to {need / 1e9:.2f} GB ({usage.free / 1e9:.0f} GB free)"


def _child_command(workload: Workload, config: Path) -> list[str]:
    port = workload.api_url.rsplit(":", 1)[1]
    base = [sys.executable, "-m", "vigil.cli"]
    if workload.site == "demo":
        return [*base, "demo", "--config", str(config), "--port", port, "--json"]
    return [*base, "run", str(config), "--host", "127.0.0.1", "--port", port, "--json"]


def _start_sim(workload: Workload, env: dict[str, str]) -> None:
    from ingest.sim import site_simulator

    workload.sim = site_simulator(_site_videos(), 141).start()
    env["VIGIL_RTSP_BASE"] = workload.sim.urls[0].rsplit("/", 1)[0]


@contextlib.contextmanager
def running(site: str, out: Path, retain_s: float | None = None) -> Iterator[Workload]:
    """Start the site as a child process; on exit stop it (SIGTERM, then SIGKILL) and the sim."""
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    workload = Workload(site, out, data_dir, f"http://127.0.0.1:{free_port()}", secrets.token_urlsafe(16))
    source = DEMO_CONFIG if site == "demo" else SITE_CONFIG
    config = write_config(source, data_dir, out / "config.yaml", retain_s)
    env = dict(os.environ, VIGIL_ADMIN_PASSWORD=workload.password, PYTHONUNBUFFERED="1")
    try:
        if site == "site141":
            _start_sim(workload, env)
        with open(out / "stdout.json", "wb") as stdout, open(out / "vigil.log", "wb") as stderr:
            workload.process = subprocess.Popen(
                _child_command(workload, config), cwd=REPO, env=env, stdout=stdout, stderr=stderr
            )
        yield workload
    finally:
        stop(workload)


def stop(workload: Workload) -> None:
    """SIGTERM (the run's normal end: it stores open tracks and prints its summary), then SIGKILL."""
    process = workload.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if workload.sim is not None:
        workload.sim.stop()
        workload.sim = None
    with contextlib.suppress(OSError, ValueError):
        workload.summary = json.loads((workload.out / "stdout.json").read_text().strip().splitlines()[-1])


class ApiPoller:
    """What an operator's screen asks every interval: health, metrics, cameras, sightings, alerts."""

    PATHS = ("/health", "/metrics", "/cameras", "/sightings", "/alerts")

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.password = password
        self.token: str | None = None
        self.errors = 0

    def _get(self, path: str) -> None:
        import urllib.request

        request = urllib.request.Request(self.base_url + path)
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _login(self) -> None:
        import urllib.parse
        import urllib.request

        form = urllib.parse.urlencode({"username": ADMIN, "password": self.password}).encode()
        with urllib.request.urlopen(self.base_url + "/auth/login", data=form, timeout=10) as response:
            self.token = json.loads(response.read())["access_token"]

    def poll(self) -> float:
        """Milliseconds for one round of requests; NaN (and one error counted) if any failed."""
        started = time.perf_counter()
        try:
            if self.token is None:
                self._login()
            for path in self.PATHS:
                self._get(path)
        except (OSError, ValueError, KeyError):
            self.errors += 1
            return float("nan")
        return round(1000 * (time.perf_counter() - started), 1)


def wait_ready(workload: Workload, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Until the API answers /health.

    Raises:
        SystemExit: The child exited, or the API did not answer within `timeout_s`.
    """
    import urllib.request

    assert workload.process is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if workload.process.poll() is not None:
            raise SystemExit(
                f"soak: the {workload.site} run exited with code {workload.process.returncode} before "
                f"its API answered; see {workload.out / 'vigil.log'}"
            )
        with contextlib.suppress(OSError), urllib.request.urlopen(workload.api_url + "/health", timeout=2):
            return
        time.sleep(1.0)
    raise SystemExit(f"soak: the API at {workload.api_url} did not answer within {timeout_s:.0f} s")


@dataclass
class Samples:
    """What `soak` collected: one row per interval, and open files at warm-up's end and at the end."""

    rows: list[dict[str, float]] = field(default_factory=list)
    files_at_warmup: Counter[str] = field(default_factory=Counter)
    files_at_end: Counter[str] = field(default_factory=Counter)


def soak(workload: Workload, duration_s: float, interval_s: float, warmup_s: float) -> Samples:
    """Sample every `interval_s` from the moment the API answers until `duration_s` has passed."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    sampler, poller = workload.sampler(), ApiPoller(workload.api_url, workload.password)
    samples = Samples()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, TextColumn("{task.fields[last]}"), console=Console(stderr=True)) as progress:
        task = progress.add_task(f"soak {workload.site}", total=duration_s, last="")
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            row = sampler.sample(elapsed) | {"api_ms": poller.poll()}
            samples.rows.append(row)
            _append_partial(workload.out / "samples.partial.csv", row)
            if elapsed >= warmup_s and not samples.files_at_warmup:
                samples.files_at_warmup = sampler.open_files(JUDGED)
            progress.update(task, completed=min(elapsed, duration_s), last=_progress_text(row))
            assert workload.process is not None
            if elapsed >= duration_s or workload.process.poll() is not None:
                break
            next_at = min(started + len(samples.rows) * interval_s, started + duration_s)
            time.sleep(max(0.0, next_at - time.monotonic()))
        samples.files_at_end = sampler.open_files(JUDGED)
    return samples


def _append_partial(path: Path, row: dict[str, float]) -> None:
    """Every row on disk as it is taken: a soak cut short (killed, box rebooted) keeps its samples."""
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _progress_text(row: dict[str, float]) -> str:
    return (
        f"vigil {row.get('vigil_rss_mb', 0):.0f} MB, {row.get('vigil_threads', 0):.0f} threads, "
        f"{row.get('vigil_fds', 0):.0f} fds | workers {row.get('workers_rss_mb', 0):.0f} MB | "
        f"db {row.get('db_mb', 0):.1f} MB, recordings {row.get('recordings_mb', 0):.0f} MB"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site",
        choices=["demo", "site141"],
        default="demo",
        help="demo: `vigil demo` (3 cameras, bundled footage); site141: `vigil run` on "
        "config/examples/site.yaml (141 cameras, 23 AI) against a site simulator on the shared footage "
        "(default demo)",
    )
    parser.add_argument(
        "--duration",
        type=parse_duration,
        default=parse_duration("30m"),
        metavar="TIME",
        help="how long to sample once the API answers: 90, 90s, 10m, 1h (default 30m)",
    )
    parser.add_argument(
        "--interval", type=float, default=30.0, metavar="SECONDS", help="seconds between samples (default 30)"
    )
    parser.add_argument(
        "--warmup",
        type=parse_duration,
        default=parse_duration("5m"),
        metavar="TIME",
        help="first part of the run left out of the growth fit: caches, buffers and the allocator fill up "
        "(default 5m)",
    )
    parser.add_argument(
        "--rss-limit",
        type=float,
        default=1.0,
        metavar="PERCENT",
        help="largest RSS growth per hour that passes, for the Vigil process and its workers (default 1)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for samples.csv / .json, report.json, soak.png, the run's config and log "
        "(default vigil-data/soak/SITE-YYYYmmdd-HHMMSS)",
    )
    parser.add_argument(
        "--retain",
        type=parse_duration,
        default=None,
        metavar="TIME",
        help="keep recordings only this long (sets recording.continuous_days and event_days), so "
        "retention deletes segments during the run and the disk holds a steady amount; needed for "
        "long site141 runs (~90 GB of recordings an hour). Default: the config's retention",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the run's recordings in OUT/data/recordings (default: deleted at the end; the "
        "database is kept)",
    )


def main(args: argparse.Namespace) -> int:
    if args.warmup >= args.duration:
        raise SystemExit(f"soak: --warmup ({args.warmup:g} s) must be shorter than --duration")
    out = args.out or REPO / "vigil-data" / "soak" / f"{args.site}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Absolute: the config written into `out` has its data_dir resolved against its own folder.
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    disk = check_disk(out, args.site, args.duration, retain_s=args.retain)
    print(f"soak {args.site}: {out}; {disk}", file=sys.stderr)
    try:
        with running(args.site, out, args.retain) as workload:
            wait_ready(workload)
            samples = soak(workload, args.duration, args.interval, args.warmup)
            ended_early = workload.process is not None and workload.process.poll() is not None
    finally:
        if not args.keep_data:
            shutil.rmtree(out / "data" / "recordings", ignore_errors=True)
    report = Report(args.site, out, args.warmup, args.rss_limit, workload.summary, ended_early)
    return finish(samples.rows, report, samples.files_at_warmup, samples.files_at_end)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
