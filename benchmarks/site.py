"""Site benchmark: the whole pipeline at site scale against `vigil sim`, and the cores a site needs.

`vigil.runtime.Runtime` (what ``vigil run`` starts: store, bus, camera workers, the detect
thread's pipeline of gating, detection, tracking, sightings, descriptors and rules, retention,
search, cases) runs in this process on a copy of ``config/examples/site.yaml`` cut to
``--cameras`` cameras, ``--ai-cameras`` of them AI cameras (their zones, lines and rules kept),
against a site simulator (720p25 main + 360p sub mounts on the shared footage, as
``benchmarks/ingest.py`` and ``vigil bench soak --site site141`` start it). After
``--warmup`` seconds, a ``--seconds`` window measures (see `benchmarks.site_probe`):

- per AI camera: the fraction of due frames (detect fps x seconds) the pipeline analysed and
  the fraction it ran the detector on, frames dropped as stale, capture-to-result latency,
  provisional and stored sighting latency, and its CPU (decode, recording, pipeline);
- the CPU split of the whole site (decode, record shards, each pipeline stage, the store and
  bus, the rest), from per-thread and per-process CPU in ``/proc`` and the stage timers;
- ``site_cores_needed``: each part's cost per unit extrapolated to ``--target-cameras``
  cameras, ``--target-ai`` AI cameras at ``--target-fps`` (`benchmarks.site_report`);
- side by side: the naive loop of ``benchmarks/pipeline.py`` (OpenCV decodes and the detector
  sees every frame) on the same sub-stream footage, extrapolated the same way, with the ratio;
  and with ``--compare-detectors``, each candidate's whole-frame cost on frames of this run.

Run: ``vigil bench site --cameras 141 --ai-cameras 23 --seconds 60 --json``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO
from benchmarks.ingest import proc_cpu_seconds
from benchmarks.site_probe import STAGES, StageProbe, ThreadCpu, diff, group_sum, native_tids
from benchmarks.site_report import (
    SPLIT_ORDER,
    Target,
    assumptions,
    cores_needed,
    quantiles,
    text_report,
    unit_costs,
)

SITE_CONFIG = REPO / "config" / "examples" / "site.yaml"
SOURCE_FPS = 25.0
"""The simulator's frame rate (`ingest.sim` renditions)."""
KEEP_UP_FRACTION = 0.9
"""A window whose pipeline analysed this fraction of due frames kept up: its per-frame costs hold."""
SAMPLE_FRAMES = 24
"""Analysed frames kept for the candidate detectors' whole-frame cost."""

log = logging.getLogger(__name__)


class BenchError(SystemExit):
    """A run that cannot start or measure: the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(f"vigil bench site: {message}")


# -- the site's config ----------------------------------------------------------------------------


def _cut(entries: list[dict[str, Any]], count: int, prefix: str) -> list[dict[str, Any]]:
    """The first `count` entries, copied in turn (with new ids) when the file has fewer."""
    chosen = []
    for k in range(count):
        entry = copy.deepcopy(entries[k % len(entries)])
        if k >= len(entries):
            entry["id"], entry["name"] = f"{prefix}{k + 1}", f"{entry.get('name', entry['id'])} (copy)"
        chosen.append(entry)
    return chosen


def site_document(
    source: dict[str, Any], urls: list[str], sub_urls: list[str], ai: int, data_dir: Path
) -> dict[str, Any]:
    """`source` (site.yaml) cut to ``len(urls)`` cameras, the first `ai` of them AI cameras on the sim.

    Rules and walking links that name a camera left out are left out too.
    """
    document = copy.deepcopy(source)
    cameras = document["cameras"]
    ai_entries = [c for c in cameras if c.get("role") == "ai"]
    record_entries = [c for c in cameras if c.get("role") != "ai"]
    chosen = _cut(ai_entries, ai, "ai") + _cut(record_entries, len(urls) - ai, "rec")
    for k, camera in enumerate(chosen):
        camera["url"] = urls[k]
        if k < ai:
            camera["detect_url"] = sub_urls[k]
        else:
            camera.pop("detect_url", None)
    kept = {camera["id"] for camera in chosen}
    document["cameras"] = chosen
    document["rules"] = [rule for rule in document.get("rules", []) if rule.get("camera") in kept]
    document["links"] = [
        link for link in document.get("links", []) if link.get("from") in kept and link.get("to") in kept
    ]
    document["data_dir"] = str(data_dir)
    return document


def build_config(args: argparse.Namespace, sim: Any, data_dir: Path) -> Any:
    import yaml

    from config.loader import parse_config

    source = yaml.safe_load(SITE_CONFIG.read_text())
    document = site_document(source, sim.urls, sim.sub_urls, args.ai_cameras, data_dir)
    if args.detector is not None:
        document.setdefault("detector", {})["type"] = args.detector
    if args.detector_threads is not None:
        document.setdefault("detector", {})["threads"] = args.detector_threads
    if args.shards:
        document.setdefault("recording", {})["shards"] = args.shards
    return parse_config(document, str(SITE_CONFIG))


# -- the simulator and the runtime ------------------------------------------------------------------


@contextlib.contextmanager
def simulator(args: argparse.Namespace) -> Iterator[Any]:
    """A started site simulator, stopped on exit.

    Raises:
        BenchError: It did not start (GStreamer missing, no footage, the server failed).
    """
    from benchmarks.ingest import _videos
    from ingest.sim import site_simulator
    from vigil.core.errors import VigilError

    try:
        sim = site_simulator(_videos(args), args.cameras, cache_dir=args.cache_dir).start()
    except (VigilError, OSError, ValueError) as error:
        raise BenchError(f"the camera simulator (vigil sim) did not start: {error}") from None
    try:
        yield sim
    finally:
        sim.stop()


@dataclass
class Started:
    """A running site: the runtime, the probe on its pipeline, the detector's own threads."""

    runtime: Any
    probe: StageProbe
    threads: ThreadCpu
    detector_name: str
    online_s: float = 0.0
    keep_up_cameras: list[str] = field(default_factory=list)
    """AI cameras left in the pipeline for the keep-up window (`keep_up_window`)."""


def start_runtime(config: Any, keep_samples: int) -> Started:
    """Load the detector (its threads noted), start the runtime, attach the probe.

    Raises:
        ModelError: The detector's model is missing or broken (the message says to run setup).
    """
    import numpy as np

    from vigil.runtime import Runtime

    runtime = Runtime(config)
    try:
        before = native_tids()
        detector = runtime.detector.get()  # the runtime's start finds it loaded
        detector.detect([np.zeros((360, 640, 3), np.uint8)])  # its thread pool starts
        threads = ThreadCpu(detector_tids=native_tids() - before)
        runtime.start()
        probe = StageProbe()
        probe.keep_samples = keep_samples
        assert runtime._worker is not None, "the site has AI cameras: the detect worker runs"
        probe.attach(runtime._worker.pipeline, runtime.bus)
    except BaseException:
        runtime.stop()
        raise
    return Started(runtime, probe, threads, detector.name)


def _ai_delivering(runtime: Any, ai: list[str]) -> int:
    sources = [runtime.ingest.source(cid) for cid in ai]
    return sum(source is not None and source.delivered > 0 for source in sources)


def wait_online(started: Started, timeout_s: float, progress: Any) -> None:
    """Until every camera is online and every AI camera delivered a frame (or `timeout_s`).

    Raises:
        BenchError: No AI camera delivered a frame in time.
    """
    runtime = started.runtime
    ai = [c.id for c in runtime.config.cameras if c.role.value == "ai"]
    cameras = len(runtime.config.cameras)
    began = time.monotonic()
    task = progress.add_task("cameras online", total=cameras)
    while time.monotonic() - began < timeout_s:
        delivering, online = _ai_delivering(runtime, ai), runtime.cameras_online()
        progress.update(task, completed=online)
        if delivering == len(ai) and online == cameras:
            break
        time.sleep(0.5)
    else:
        if delivering == 0:
            raise BenchError(
                f"no AI camera delivered a frame within {timeout_s:g} s: is the simulator serving?"
            )
        log.warning(
            "after %g s: %d of %d cameras online, %d of %d AI cameras delivering: measuring anyway",
            timeout_s, online, cameras, delivering, len(ai),
        )  # fmt: skip
    started.online_s = time.monotonic() - began


# -- one measured window ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Counters at one moment."""

    when: float
    wall: float
    threads: dict[str, float]
    processes: dict[str, float]
    stages: dict[tuple[str, str], float]
    record: dict[str, float]
    dropped: dict[str, int]
    online: int

    @classmethod
    def take(cls, started: Started) -> Snapshot:
        ingest = started.runtime.ingest
        stats = ingest.stats()
        ai = [cid for cid, s in stats.items() if s.role == "ai"]
        return cls(
            when=time.time(),
            wall=time.perf_counter(),
            threads=started.threads.sample(),
            processes={
                "self": proc_cpu_seconds(os.getpid()),
                "shards": sum(proc_cpu_seconds(pid) for pid in ingest.shard_pids()),
            },
            stages=started.probe.snapshot(),
            record={cid: s.cpu_seconds for cid, s in stats.items()},
            dropped={cid: ingest.source(cid).dropped for cid in ai if ingest.source(cid) is not None},
            online=started.runtime.cameras_online(),
        )


@dataclass
class Window:
    """What changed between two snapshots."""

    start: Snapshot
    end: Snapshot
    wall_s: float = field(init=False)
    threads: dict[str, float] = field(init=False)
    stages: dict[tuple[str, str], float] = field(init=False)

    def __post_init__(self) -> None:
        self.wall_s = self.end.wall - self.start.wall
        self.threads = diff(self.end.threads, self.start.threads)
        self.stages = diff(self.end.stages, self.start.stages)

    def process(self, key: str) -> float:
        return self.end.processes[key] - self.start.processes[key]


def measure(started: Started, warmup_s: float, seconds: float, progress: Any) -> Window:
    """Sleep through the warm-up, then snapshot, sleep `seconds`, snapshot."""
    task = progress.add_task("warm-up", total=warmup_s)
    for waited in range(int(warmup_s)):
        time.sleep(1.0)
        progress.update(task, completed=waited + 1)
    time.sleep(warmup_s - int(warmup_s))
    start = Snapshot.take(started)
    task = progress.add_task("measuring", total=seconds)
    deadline = start.wall + seconds
    while (left := deadline - time.perf_counter()) > 0:
        time.sleep(min(1.0, left))
        progress.update(task, completed=seconds - max(0.0, deadline - time.perf_counter()))
    return Window(start, Snapshot.take(started))


# -- turning a window into the report ------------------------------------------------------------------


def cpu_split(window: Window) -> dict[str, float]:
    """Cores (CPU-s per wall-s) per part of the site (`SPLIT_ORDER`)."""
    stages, threads, wall = window.stages, window.threads, window.wall_s
    split = {stage: sum(v for (s, _), v in stages.items() if s == stage) / wall for stage in STAGES}
    split["detection"] += threads.get("detector_pool", 0.0) / wall
    in_thread = sum(v for (s, _), v in stages.items() if s in STAGES)
    split["handover"] = max(0.0, threads.get("detect", 0.0) - in_thread) / wall
    split["store_bus"] = threads.get("bus", 0.0) / wall
    split["ingest_decode"] = group_sum(threads, "decode:") / wall
    split["ingest_supervisor"] = threads.get("ingest_supervisor", 0.0) / wall
    split["record_shards"] = window.process("shards") / wall
    split["other"] = (threads.get("other", 0.0) + threads.get("native_other", 0.0)) / wall
    return {part: round(split[part], 4) for part in SPLIT_ORDER}


def per_camera(started: Started, window: Window) -> list[dict[str, Any]]:
    probe, t0, t1 = started.probe, window.start.when, window.end.when
    frames = probe.frames.within(t0, t1)
    live, stored = probe.live.within(t0, t1), probe.stored.within(t0, t1)
    rows = []
    for camera in started.runtime.config.cameras:
        if camera.role.value != "ai":
            continue
        cid = camera.id
        mine = [row for row in frames if row[1] == cid]
        due = camera.detect_fps * window.wall_s
        pipeline = sum(v for (s, c), v in window.stages.items() if c == cid)
        rows.append(
            {
                "camera": cid,
                "due_frames": round(due, 1),
                "analysed_frames": len(mine),
                "analysed_fraction": round(min(1.0, len(mine) / due), 3),
                "inferred_fraction": round(min(1.0, sum(row[3] for row in mine) / due), 3),
                "dropped_frames": window.end.dropped.get(cid, 0) - window.start.dropped.get(cid, 0),
                "frame_latency_ms": quantiles([row[2] for row in mine], 1000.0, 1),
                "live_sighting_latency_s": quantiles(live.get(cid, [])),
                "sighting_latency_s": quantiles(stored.get(cid, [])),
                "cpu_percent": {
                    "ingest_decode": round(100 * window.threads.get(f"decode:{cid}", 0.0) / window.wall_s, 2),
                    "record": round(
                        100
                        * (window.end.record.get(cid, 0.0) - window.start.record.get(cid, 0.0))
                        / window.wall_s,
                        2,
                    ),
                    "pipeline": round(100 * pipeline / window.wall_s, 2),
                },
            }
        )
    return rows


def _latencies(found: dict[str, list[float]], cameras: list[str]) -> dict[str, float | None]:
    return quantiles([value for camera in cameras for value in found.get(camera, [])])


def window_summary(started: Started, window: Window, ai: list[str]) -> dict[str, Any]:
    """Frames, fractions, latencies, CPU split and unit costs of a window with the `ai` cameras analysed."""
    probe, t0, t1 = started.probe, window.start.when, window.end.when
    frames = [row for row in probe.frames.within(t0, t1) if row[1] in ai]
    config = started.runtime.config
    due = sum(config.camera(camera_id).detect_fps for camera_id in ai) * window.wall_s
    split = cpu_split(window)
    cameras = len(config.cameras)
    return {
        "ai_cameras_in_pipeline": len(ai),
        "seconds": round(window.wall_s, 1),
        "analysed_frames": len(frames),
        "analysed_fraction": round(min(1.0, len(frames) / max(due, 1e-9)), 3),
        "inferred_fraction": round(sum(row[3] for row in frames) / max(len(frames), 1), 3),
        "frame_latency_ms": quantiles([row[2] for row in frames], 1000.0, 1),
        "live_sighting_latency_s": _latencies(probe.live.within(t0, t1), ai),
        "sighting_latency_s": _latencies(probe.stored.within(t0, t1), ai),
        "alert_latency_s": _latencies(probe.alerts.within(t0, t1), ai),
        "cpu_split_cores": split,
        "unit_costs": unit_costs(split, window.wall_s, cameras, len(ai), len(frames)),
    }


def site_costs(site: dict[str, Any], keep_up: dict[str, Any] | None) -> tuple[dict[str, float], str]:
    """Per-stream costs from the site window; per-frame costs from the keep-up window when it kept up."""
    costs = dict(site["unit_costs"])
    if keep_up is None or keep_up["analysed_fraction"] < KEEP_UP_FRACTION:
        return costs, "site"
    for key, value in keep_up["unit_costs"].items():
        if key.endswith("_per_frame"):
            costs[key] = value
    return costs, "keep_up"


def summarise(
    args: argparse.Namespace, started: Started, windows: tuple[Window, Window | None], load: tuple[str, str]
) -> dict[str, Any]:
    config = started.runtime.config
    window, second = windows
    cameras = per_camera(started, window)
    site = window_summary(started, window, [camera["camera"] for camera in cameras])
    keep_up = None
    if second is not None:
        keep_up = window_summary(started, second, started.keep_up_cameras)
        keep_up["cameras"] = started.keep_up_cameras
    costs, source = site_costs(site, keep_up)
    target = Target(args.target_cameras, args.target_ai, args.target_fps)
    inferred = (keep_up if source == "keep_up" else site)["inferred_fraction"]  # type: ignore[index]
    return {
        "run": {
            "cameras": len(config.cameras),
            "ai_cameras": len(cameras),
            "seconds": round(window.wall_s, 1),
            "warmup_s": args.warmup,
            "detector": started.detector_name,
            "detector_threads": config.detector.threads,
            "record_shards": len(started.runtime.ingest.shard_pids()),
            "cameras_online_after_s": round(started.online_s, 1),
            "cameras_online_at_end": window.end.online,
            "cpu_count": os.cpu_count(),
            "load_average_before": load[0],
            "load_average_after": load[1],
            "client_cpu_cores": round((window.process("self") + window.process("shards")) / window.wall_s, 3),
        },
        "target": {
            "cameras": target.cameras,
            "ai_cameras": target.ai_cameras,
            "detect_fps": target.detect_fps,
        },
        **{key: value for key, value in site.items() if key not in ("unit_costs", "ai_cameras_in_pipeline")},
        "sighting_wait_s": config.tracker.track_buffer_s + 1.0,
        "per_camera": cameras,
        "keep_up": keep_up,
        "per_frame_costs_from": source,
        "unit_costs": {key: round(value, 6) for key, value in costs.items()},
        "site_cores_needed": cores_needed(costs, target),
        "assumptions": assumptions(target, inferred, started.detector_name),
    }


def keep_up_window(started: Started, args: argparse.Namespace, site: Window, progress: Any) -> Window | None:
    """A second window with only as many AI cameras in the pipeline as it kept up with (ingest unchanged).

    When the site's detection falls behind, frames reach the pipeline seconds apart: motion gating
    cannot skip any and each costs more than at the target rate. The per-frame costs of the
    extrapolation come from this window instead. None when the site window kept up already.
    """
    worker = started.runtime._worker
    ai = worker.pipeline.camera_ids
    frames = started.probe.frames.within(site.start.when, site.end.when)
    rate = len(frames) / site.wall_s
    if args.keepup_seconds <= 0 or rate >= KEEP_UP_FRACTION * len(ai) * args.target_fps:
        return None
    keep = args.keepup_cameras or max(1, min(len(ai) - 1, int(0.8 * rate / args.target_fps)))
    for camera_id in ai[keep:]:
        worker.remove(camera_id)
    started.keep_up_cameras = ai[:keep]
    return measure(started, min(args.warmup, 5.0), args.keepup_seconds, progress)


# -- side by side: the naive loop, candidate detectors ----------------------------------------------


def vigil_analysis_cores(cores: dict[str, Any]) -> float:
    """Cores the target's AI cameras take in Vigil: sub-stream decode, every pipeline stage, the store."""
    from benchmarks.site_report import PER_FRAME

    parts = cores["parts"]
    return float(parts["ingest_decode"] + sum(parts[part] for part in PER_FRAME))


def naive_baseline(sim: Any, detector: Any, seconds: float, result: dict[str, Any]) -> dict[str, Any]:
    """`benchmarks.pipeline`'s naive loop on the sim's sub-stream footage, extrapolated to the target."""
    from benchmarks.pipeline import _naive

    clip = sim.sub_videos[0]
    naive = _naive(clip, detector, seconds)
    per_frame = naive["cpu_s"] / max(naive["video_frames"], 1)
    target = result["target"]
    cores = per_frame * SOURCE_FPS * target["ai_cameras"]
    vigil = vigil_analysis_cores(result["site_cores_needed"])
    return {
        "clip": clip.name,
        "frames": int(naive["video_frames"]),
        "cpu_s_per_frame": round(per_frame, 5),
        "ai_cameras": target["ai_cameras"],
        "source_fps": SOURCE_FPS,
        "analysis_cores": round(cores, 2),
        "vigil_analysis_cores": round(vigil, 2),
        "ratio": round(cores / max(vigil, 1e-9), 2),
    }


def whole_frame_cost(detector: Any, frames: list[Any]) -> float:
    """CPU-seconds per frame (every thread of this process) for `detector` on whole frames."""
    from benchmarks.common import Meter
    from vigil.pipeline import detect_planned

    images = [frame.image for frame in frames]
    detect_planned(detector, images[:2], [True] * len(images[:2]))  # warm-up: arenas, caches
    meter = Meter().start()
    detect_planned(detector, images, [True] * len(images))
    return meter.stop().cpu / len(images)


def candidate_detectors(names: list[str], started: Started, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each candidate's whole-frame cost on this run's frames, and the site's cores with it.

    The run's own detector gives the gating factor (its measured detection CPU per analysed frame
    over its whole-frame cost); a candidate that takes regions is assumed to keep that factor, one
    that sees whole frames pays its whole-frame cost on the inferred fraction of frames.
    """
    from detectors.base import RegionDetector
    from detectors.registry import build_detector
    from vigil.core.errors import VigilError

    frames = started.probe.samples
    if not frames:
        return [{"detector": name, "error": "no inferred frames were kept to measure on"} for name in names]
    config, costs = started.runtime.config, result["unit_costs"]
    own = whole_frame_cost(started.runtime.detector.get(), frames)
    factor = costs["detection_per_frame"] / max(own, 1e-9)
    target = Target(**result["target"])
    rows: list[dict[str, Any]] = []
    for name in dict.fromkeys([started.detector_name, *names]):
        try:
            detector = build_detector(config.detector.model_copy(update={"type": name}))
            whole = own if name == started.detector_name else whole_frame_cost(detector, frames)
        except VigilError as error:
            rows.append({"detector": name, "error": str(error)})
            continue
        scale = factor if isinstance(detector, RegionDetector) else result["inferred_fraction"]
        per_frame = costs["detection_per_frame"] if name == started.detector_name else whole * scale
        cores = cores_needed(costs, target, detection_per_frame=per_frame)
        rows.append(
            {
                "detector": name,
                "frames": len(frames),
                "whole_frame_cpu_s": round(whole, 5),
                "detection_per_frame_s": round(per_frame, 5),
                "measured": name == started.detector_name,
                "site_cores_needed": cores["total"],
            }
        )
    return rows


# -- the command ---------------------------------------------------------------------------------------


def check_args(args: argparse.Namespace) -> None:
    """Raises BenchError for a site the benchmark cannot run."""
    if args.cameras < 1 or args.ai_cameras < 1:
        raise BenchError(f"--cameras and --ai-cameras must be >= 1, got {args.cameras} and {args.ai_cameras}")
    if args.ai_cameras > args.cameras:
        raise BenchError(
            f"--ai-cameras ({args.ai_cameras}) cannot exceed --cameras ({args.cameras}): AI cameras are "
            "cameras of the site"
        )
    if args.seconds <= 0 or args.warmup < 0:
        raise BenchError(f"--seconds must be > 0 and --warmup >= 0, got {args.seconds:g} and {args.warmup:g}")
    if args.target_ai > args.target_cameras or args.target_ai < 1 or args.target_fps <= 0:
        raise BenchError(
            f"--target-ai ({args.target_ai}) must be between 1 and --target-cameras ({args.target_cameras}), "
            f"--target-fps > 0 (got {args.target_fps:g})"
        )


@contextlib.contextmanager
def progress_display() -> Iterator[Any]:
    """A rich progress display on stderr; silent unless stderr is a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
    )
    with Progress(
        *columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not sys.stderr.isatty()
    ) as progress:
        yield progress


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_site(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Start the sim and the site, measure one window, stop; then the side-by-side comparisons."""
    with progress_display() as progress, simulator(args) as sim:
        config = build_config(args, sim, data_dir)
        load_before = _load()
        started = start_runtime(config, SAMPLE_FRAMES if args.compare_detectors else 0)
        try:
            wait_online(started, args.online_timeout, progress)
            window = measure(started, args.warmup, args.seconds, progress)
            load_after = _load()
            second = keep_up_window(started, args, window, progress)
        finally:
            started.runtime.stop()
        result = summarise(args, started, (window, second), (load_before, load_after))
        if args.baseline_seconds > 0:
            progress.add_task("naive baseline", total=None)
            result["baseline"] = naive_baseline(
                sim, started.runtime.detector.get(), args.baseline_seconds, result
            )
        if args.compare_detectors:
            result["candidate_detectors"] = candidate_detectors(args.compare_detectors, started, result)
    return result


def main(args: argparse.Namespace) -> int:
    check_args(args)
    logging.getLogger("ingest").setLevel(logging.WARNING)
    logging.getLogger("libav").setLevel(logging.ERROR)
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-site-"))
    try:
        result = run_site(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(result) if args.json else text_report(result), flush=True)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from detectors.registry import BACKENDS

    parser.add_argument(
        "--cameras", type=int, default=141, help="cameras ingested and recorded (default 141)"
    )
    parser.add_argument(
        "--ai-cameras",
        type=int,
        default=23,
        help="AI cameras among them, detected on their sub-streams (default 23)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window (default 60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds after every AI camera is online, before measuring (default 10)",
    )
    parser.add_argument(
        "--online-timeout",
        type=float,
        default=90.0,
        help="seconds to wait for the AI cameras' first frames (default 90)",
    )
    parser.add_argument(
        "--detector",
        choices=sorted(BACKENDS),
        default=None,
        help="detector.type to run (default: site.yaml's)",
    )
    parser.add_argument(
        "--compare-detectors",
        nargs="+",
        choices=sorted(BACKENDS),
        default=[],
        metavar="TYPE",
        help="also measure these detectors' whole-frame cost on the run's frames, and the site's cores "
        "with each",
    )
    parser.add_argument(
        "--detector-threads",
        type=int,
        default=None,
        metavar="N",
        help="detector.threads to run (default: site.yaml's, 2); 1 runs no onnxruntime thread pool, "
        "whose spin-waiting costs CPU",
    )
    parser.add_argument(
        "--shards", type=int, default=0, help="record processes (recording.shards; default: the config's, 0)"
    )
    parser.add_argument(
        "--keepup-seconds",
        type=float,
        default=20.0,
        help="when the site's pipeline falls behind, a second window this long with only the AI cameras "
        "it kept up with, for the per-frame costs (default 20; 0 skips it)",
    )
    parser.add_argument(
        "--keepup-cameras",
        type=int,
        default=0,
        help="AI cameras left in the pipeline for that window (default: what the site window sustained)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=10.0,
        help="seconds of sub-stream video for the naive loop (default 10; 0 skips it)",
    )
    add_target_arguments(parser)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The site the cores are extrapolated to, the footage, the output."""
    parser.add_argument(
        "--target-cameras", type=int, default=141, help="site to extrapolate to: cameras (default 141)"
    )
    parser.add_argument(
        "--target-ai", type=int, default=23, help="site to extrapolate to: AI cameras (default 23)"
    )
    parser.add_argument(
        "--target-fps", type=float, default=5.0, help="site to extrapolate to: detect fps (default 5)"
    )
    parser.add_argument(
        "--videos", type=Path, nargs="+", default=None, help="footage (default: shared footage)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="transcode cache (default ~/.cache/vigil/sim)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
