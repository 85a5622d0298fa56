"""What PyAV's read timeout costs: N RTSP demux threads in one process, exact vs socket timeout.

    python benchmarks/demux_timeout.py [--cameras 48] [--seconds 20] [--rounds 2]

Against `vigil sim` (720p25 mounts), one process demuxes N streams in N threads (as a record
shard does), alternating the two ways `ingest.demux.open_input` can time out a stalled stream:
PyAV's interrupt callback (exact; takes the GIL on every FFmpeg interrupt check) and FFmpeg's
socket timeout (``socket_timeout=True``). Prints client CPU % (100 % = one core) per round and
the ratio of the means.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FOOTAGE
from benchmarks.ingest import proc_cpu_seconds


def measure(urls: list[str], socket_timeout: bool, warmup: float, seconds: float) -> float:
    """Client CPU % of demuxing every URL in its own thread for `seconds` after `warmup`."""
    from ingest.demux import open_input

    stop = threading.Event()
    packets = [0] * len(urls)

    def run(i: int) -> None:
        container = open_input(urls[i], 10.0, 10.0, socket_timeout=socket_timeout)
        try:
            for _ in container.demux(container.streams.video[0]):
                packets[i] += 1
                if stop.is_set():
                    break
        finally:
            container.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    cpu0, t0 = proc_cpu_seconds(os.getpid()), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = proc_cpu_seconds(os.getpid()) - cpu0, time.perf_counter() - t0
    stop.set()
    for thread in threads:
        thread.join(5.0)
    return 100 * cpu / wall


def main() -> int:
    from ingest.sim import site_simulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    videos = [FOOTAGE / "overhead_crowd.avi", FOOTAGE / "traffic_intersection.mp4"]
    results: dict[str, list[float]] = {"pyav read timeout": [], "socket timeout": []}
    with site_simulator([v for v in videos if v.is_file()], args.cameras) as sim:
        urls = sim.urls[: args.cameras]
        for _ in range(args.rounds):
            for name, socket_timeout in (("pyav read timeout", False), ("socket timeout", True)):
                results[name].append(measure(urls, socket_timeout, args.warmup, args.seconds))
                cpu = results[name][-1]
                print(f"{name:>20}: {cpu:5.1f} % client CPU, {args.cameras} streams", flush=True)
    exact, cheap = (sum(v) / len(v) for v in results.values())
    print(f"socket timeout / pyav read timeout: {cheap / exact:.2f}x CPU ({cheap:.1f} % vs {exact:.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
