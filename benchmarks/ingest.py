"""Ingest benchmark at site scale: Vigil's camera workers against a naive OpenCV loop, one run.

Against `vigil sim` (720p25 main + 640x360 sub mounts per camera, shared media), for each N:

- Vigil: `IngestSupervisor` with K AI cameras (decode the sub-stream, hand frames over at
  detect fps, record the main stream) and N - K record-only cameras (demux + remux into
  segments, keyframe-only health) sharded over processes;
- baseline: one OpenCV ``VideoCapture`` per camera decoding every frame of the stream it uses
  (AI: sub, record-only: main), in threads, nothing recorded.

Reported: client CPU % (this process and its shard processes; 100 % = one core; also split into
the detect side, this process, and the record shards), the server's
CPU % measured separately on its own pid, AI decode ratio (frames decoded / source frames) and
detect ratio (frames delivered / detect-fps frames), record coverage (recorded seconds inside
the window / window, over record-only cameras), and the baseline's CPU and frame ratio.

With ``--compare-bursts`` the same site is also run with bursts off (every packet read as it
comes, `ingest.live`), and ``bursts_cpu_ratio`` is client CPU with bursts / without.

Run: ``python benchmarks/ingest.py --cameras 141 --ai-cameras 23 --seconds 60`` or
``vigil bench ingest --cameras 141 --ai-cameras 23 --seconds 60 --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FOOTAGE, REPO

SOURCE_FPS = 25.0
DETECT_FPS = 5.0
RECORD_DRAIN_S = 1.5
"""Recording kept on after the measured window: longer than one record burst (0.5 s) plus a segment flush."""
_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class _Sink:
    """In-memory recording sink: the benchmark measures coverage without a database."""

    segments: list[Any] = field(default_factory=list)
    gaps: list[Any] = field(default_factory=list)

    def add_segments(self, segments: Any) -> None:
        self.segments.extend(segments)

    def add_gaps(self, gaps: Any) -> None:
        self.gaps.extend(gaps)


def _cameras(sim: Any, n: int, ai: int) -> list[Any]:
    from config.models import CameraConfig, CameraRole

    cams = []
    for k in range(n):
        is_ai = k < ai
        cams.append(
            CameraConfig(
                id=f"cam{k + 1}",
                url=sim.urls[k],
                detect_url=sim.sub_urls[k] if is_ai else None,
                role=CameraRole.AI if is_ai else CameraRole.RECORD,
                detect_fps=DETECT_FPS,
                stall_timeout_s=10.0,
            )
        )
    return cams


def _coverage(segments: list[Any], camera_ids: set[str], t0: float, t1: float) -> dict[str, float]:
    covered = dict.fromkeys(camera_ids, 0.0)
    spans: dict[str, list[tuple[float, float]]] = {cid: [] for cid in camera_ids}
    for seg in segments:
        if seg.camera_id in spans:
            spans[seg.camera_id].append((max(seg.start, t0), min(seg.end, t1)))
    for cid, items in spans.items():
        end = t0
        for a, b in sorted(items):
            a = max(a, end)
            if b > a:
                covered[cid] += b - a
                end = b
    return {cid: covered[cid] / (t1 - t0) for cid in camera_ids}


def run_vigil(
    sim: Any,
    n: int,
    ai: int,
    warmup: float,
    seconds: float,
    workdir: Path,
    shards: int = 0,
    fast: bool = False,
    bursts: bool = True,
) -> dict[str, Any]:
    from config.ingest import RecordingConfig
    from ingest.workers import IngestSupervisor

    cams = _cameras(sim, n, ai)
    sink = _Sink()
    sup = IngestSupervisor(
        cams,
        data_dir=workdir,
        recording=RecordingConfig(),
        index=sink,
        shards=shards,
        fast_detect_decode=fast,
        bursts=bursts,
    )
    sup.start()
    stop = threading.Event()
    delivered: dict[str, int] = {c.id: 0 for c in cams[:ai]}

    def consume() -> None:  # the runtime's detect loop: freshest frame of every AI camera
        while not stop.is_set():
            got = False
            for cid in delivered:
                source = sup.source(cid)
                if source is not None and source.read(timeout=0) is not None:
                    delivered[cid] += 1
                    got = True
            if not got:
                stop.wait(0.01)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(warmup)
    pids = [os.getpid(), *sup.shard_pids()]
    cpu0 = {pid: proc_cpu_seconds(pid) for pid in pids}
    srv0 = proc_cpu_seconds(sim.pid)
    dec0 = {cid: sup.source(cid).decoded for cid in delivered}  # type: ignore[union-attr]
    del0 = dict(delivered)
    pk0 = {cid: st.packets for cid, st in sup.stats().items()}
    t0 = time.time()
    wall0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - wall0
    t1 = time.time()
    used = {pid: proc_cpu_seconds(pid) - cpu0[pid] for pid in pids}
    cpu = sum(used.values())
    srv = proc_cpu_seconds(sim.pid) - srv0
    dec = {cid: sup.source(cid).decoded - dec0[cid] for cid in delivered}  # type: ignore[union-attr]
    dlv = {cid: delivered[cid] - del0[cid] for cid in delivered}
    health = sup.health_snapshot()
    stats = sup.stats()
    # Packets received per source frame, over all cameras' main streams: does the recorder keep up live?
    packets = sum(st.packets - pk0.get(cid, 0) for cid, st in stats.items())
    # Recording runs up to one burst behind live and a stop drops what is still buffered:
    # let the recorder write the window's last burst before stopping (CPU is already measured).
    time.sleep(RECORD_DRAIN_S)
    stop.set()
    sup.stop()
    record_ids = {c.id for c in cams[ai:]}
    cover = _coverage(sink.segments, record_ids, t0, t1)
    ai_ratio = [dec[cid] / (SOURCE_FPS * wall) for cid in dec]
    detect_ratio = [dlv[cid] / (DETECT_FPS * wall) for cid in dlv]
    online = sum(h.state.value == "online" for h in health.values())
    return {
        "client_cpu_percent": round(100 * cpu / wall, 1),
        # Where the client CPU goes: this process (AI sub-stream decode and hand-over, the
        # supervisor) and the record shards (demux, remux, keyframe health of every camera).
        "client_cpu_detect_percent": round(100 * used[pids[0]] / wall, 1),
        "client_cpu_record_percent": round(100 * sum(used[p] for p in pids[1:]) / wall, 1),
        "server_cpu_percent": round(100 * srv / wall, 1),
        "ai_fps_ratio": round(sum(ai_ratio) / len(ai_ratio), 3) if ai_ratio else None,
        "ai_fps_ratio_min": round(min(ai_ratio), 3) if ai_ratio else None,
        "ai_detect_ratio": round(sum(detect_ratio) / len(detect_ratio), 3) if detect_ratio else None,
        "record_coverage": round(sum(cover.values()) / len(cover), 4) if cover else None,
        "record_coverage_min": round(min(cover.values()), 4) if cover else None,
        "record_fps_ratio": round(packets / (SOURCE_FPS * wall * n), 3),
        "segments": len(sink.segments),
        "gaps": len(sink.gaps),
        "recorded_mbytes": round(sum(s.bytes_recorded for s in stats.values()) / 1e6, 1),
        "online": online,
        "shards": len(pids) - 1,
        "seconds": round(wall, 1),
    }


def run_baseline(urls: list[str], warmup: float, seconds: float) -> dict[str, Any]:
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    stop = threading.Event()
    frames = [0] * len(urls)

    opened = [False] * len(urls)

    def read(i: int, url: str) -> None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        opened[i] = capture.isOpened()
        while not stop.is_set() and capture.isOpened():
            ok, _ = capture.read()
            if not ok:
                break
            frames[i] += 1
        capture.release()

    threads = [threading.Thread(target=read, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for thread in threads:
        thread.start()
    # OpenCV opens RTSP streams one at a time (~0.9 s each): measure once all are up (or 90 s passed).
    deadline = time.monotonic() + 90.0
    while sum(opened) < len(urls) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(warmup)
    cpu0, f0 = proc_cpu_seconds(os.getpid()), sum(frames)
    wall0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - wall0
    cpu, got = proc_cpu_seconds(os.getpid()) - cpu0, sum(frames) - f0
    stop.set()
    deadline = time.monotonic() + 10.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {
        "baseline_opened": sum(opened),
        "baseline_client_cpu_percent": round(100 * cpu / wall, 1),
        "baseline_fps_ratio": round(got / (SOURCE_FPS * wall * len(urls)), 3),
        "baseline_seconds": round(wall, 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cameras", type=int, nargs="+", default=[141], help="site sizes N to run (default 141)"
    )
    parser.add_argument("--ai-cameras", type=int, default=23, help="AI cameras among them (default 23)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per run (default 60)")
    parser.add_argument("--warmup", type=float, default=12.0, help="seconds before measuring (default 12)")
    parser.add_argument("--baseline-seconds", type=float, default=20.0, help="baseline window (default 20)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the OpenCV baseline")
    parser.add_argument(
        "--videos", type=Path, nargs="+", default=None, help="footage (default: shared footage)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="transcode cache (default ~/.cache/vigil/sim)"
    )
    parser.add_argument(
        "--shards", type=int, default=0, help="record processes (default: one per 36 cameras)"
    )
    parser.add_argument(
        "--fast-decode",
        action="store_true",
        help="AI sub-streams decoded without deblocking (~20 %% cheaper)",
    )
    parser.add_argument(
        "--compare-bursts",
        action="store_true",
        help="also run Vigil reading every packet as it comes (no bursts, ingest/live.py) and report "
        "both CPU figures and their ratio",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per N")


_COMPARED = (
    "client_cpu_percent",
    "client_cpu_detect_percent",
    "client_cpu_record_percent",
    "ai_fps_ratio",
    "record_coverage",
)


def _videos(args: argparse.Namespace) -> list[Path]:
    if args.videos:
        return list(args.videos)
    found = [FOOTAGE / "overhead_crowd.avi", FOOTAGE / "traffic_intersection.mp4"]
    found = [v for v in found if v.is_file()]
    return found or sorted((REPO / "samples").glob("*.mp4"))


def main(args: argparse.Namespace) -> int:
    import logging

    from ingest.sim import site_simulator

    logging.getLogger("ingest").setLevel(logging.WARNING)
    logging.getLogger("libav").setLevel(logging.ERROR)
    for n in args.cameras:
        ai = min(args.ai_cameras, n)
        sim = site_simulator(_videos(args), n, cache_dir=args.cache_dir)
        workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-ingest-"))
        try:
            with sim:
                result: dict[str, Any] = {"cameras": n, "ai_cameras": ai}
                result |= run_vigil(
                    sim, n, ai, args.warmup, args.seconds, workdir, args.shards, args.fast_decode
                )
                print(json.dumps(result), file=sys.stderr, flush=True)
                if args.compare_bursts:
                    time.sleep(2.0)
                    plain = run_vigil(
                        sim, n, ai, args.warmup, args.seconds, workdir / "no-bursts", args.shards,
                        args.fast_decode, bursts=False,
                    )  # fmt: skip
                    result |= {f"no_bursts_{key}": plain[key] for key in _COMPARED}
                    result["bursts_cpu_ratio"] = round(
                        result["client_cpu_percent"] / plain["client_cpu_percent"], 3
                    )
                    print(json.dumps(result), file=sys.stderr, flush=True)
                if not args.no_baseline:
                    time.sleep(2.0)
                    urls = sim.sub_urls[:ai] + sim.urls[ai:n]
                    result |= run_baseline(urls, min(args.warmup, 8.0), args.baseline_seconds)
                else:
                    result["baseline_client_cpu_percent"] = None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            for key, value in result.items():
                print(f"{key:>28}: {value}")
            print(flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
