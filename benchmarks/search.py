"""Scale benchmark: rank N stored sightings for a photo + description query with filters.

    python benchmarks/search.py [--rows 1000000] [--queries 50] [--json]

Rows are random but realistically shaped: appearance vectors of `APPEARANCE_DIM`
(432) L2-normalised stripe histograms stored as int8, 11 named-colour fractions per
body half as uint8, start times over one day in time order, 141 cameras. Each query
asks for a photo vector plus "upper=red lower=blue" within a time window (default the
last 2 hours: a case window) and optionally a set of cameras. Reports p50 / p95
latency of `SightingIndex.search` and memory, for the full scan (no filter) and the
filtered queries; `--rows` 10000000 measures the 10M point (~4.6 GB of int8 rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.search.descriptors import APPEARANCE_DIM  # noqa: E402
from alerts.search.index import SightingIndex  # noqa: E402

DAY = 86_400.0


def build(rows: int, seed: int = 0, chunk: int = 200_000) -> SightingIndex:
    rng = np.random.default_rng(seed)
    index = SightingIndex(APPEARANCE_DIM, capacity=rows)
    starts = np.sort(rng.uniform(0, DAY, rows))
    for lo in range(0, rows, chunk):
        m = min(chunk, rows - lo)
        appearance = np.abs(rng.standard_normal((m, APPEARANCE_DIM), np.float32))
        appearance /= np.linalg.norm(appearance, axis=1, keepdims=True)
        upper = rng.dirichlet(np.ones(11) * 0.3, m).astype(np.float32)
        lower = rng.dirichlet(np.ones(11) * 0.3, m).astype(np.float32)
        cameras = [f"cam{c:03d}" for c in rng.integers(0, 141, m)]
        index.add([f"s{lo + i}" for i in range(m)], appearance, upper, lower, starts[lo : lo + m], cameras)
    return index


def measure(
    index: SightingIndex, queries: int, window_s: float | None, cameras: int | None
) -> dict[str, float]:
    rng = np.random.default_rng(1)
    latencies = []
    for _ in range(queries):
        vector = np.abs(rng.standard_normal(APPEARANCE_DIM)).astype(np.float32)
        vector /= np.linalg.norm(vector)
        end = float(rng.uniform(window_s or 0, DAY)) if window_s else None
        start = None if end is None or window_s is None else end - window_s
        chosen = None if cameras is None else [f"cam{c:03d}" for c in rng.choice(141, cameras, replace=False)]
        t0 = time.perf_counter()
        index.search(vector, upper=("red",), lower=("blue",), start=start, end=end, cameras=chosen, k=50)
        latencies.append(1000 * (time.perf_counter() - t0))
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    index = build(args.rows)
    report = {
        "rows": args.rows,
        "build_s": round(time.perf_counter() - t0, 1),
        "index_mb": round(args.rows * (APPEARANCE_DIM + 4 * 64 + 22 + 8 + 4) / 2**20, 1),
        "full_scan": measure(index, args.queries, None, None),
        "window_2h": measure(index, args.queries, 7200.0, None),
        "window_2h_10_cameras": measure(index, args.queries, 7200.0, 10),
        "window_24h_10_cameras": measure(index, args.queries, DAY, 10),
    }
    print(json.dumps(report, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
