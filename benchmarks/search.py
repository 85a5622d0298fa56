"""Scale benchmark: rank N stored sightings for a photo + description query with filters.

    python benchmarks/search.py [--rows 1000000] [--queries 50] [--json]

Rows are real-ish: every row starts from the descriptor of a real person crop (the
dev-set query photos and target boxes under ``vigil-data/devsets``, built by
``benchmarks/search_devsets.py``; random histograms when those are absent), mixed with
up to 40 % of another real crop's stripe distributions and multiplicative gamma noise
per bin, then Hellinger-normalised like `stripe_histograms`; named colours come from
the same crops with noise. Start times spread over one day in time order, 141 cameras.
Each query is another noisy real descriptor plus its own strongest upper / lower colour
names, ranked within a time window (the last 2 hours: a case window), optionally a set
of cameras, or with no filter at all. Reports p50 / p95 latency of
`SightingIndex.search`, the memory of the index, and the shortlist recall: the share of
the exhaustive top 50 (exact int8 fusion over every row) that the two-stage search
returns. ``--rows 10000000`` measures the 10M point (~5.7 GB).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.search.colours import COLOURS  # noqa: E402
from alerts.search.descriptors import APPEARANCE_DIM, STRIPES, describe_crop  # noqa: E402
from alerts.search.index import SightingIndex  # noqa: E402
from benchmarks.common import REPO  # noqa: E402

DAY = 86_400.0


def real_descriptors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stripe distributions (M, STRIPES, B), upper (M, C), lower (M, C) of real dev-set crops."""
    rows = []
    for truth in sorted((REPO / "vigil-data" / "devsets").glob("*/truth.json")):
        entries = json.loads(truth.read_text())["queries"]
        for entry in entries:
            photo = cv2.imread(str(truth.parent / entry["photo"]))
            if photo is not None:
                rows.append(describe_crop(np.asarray(photo, np.uint8)))
            for target in entry["targets"][:3]:
                frame = cv2.imread(str(truth.parent / "gallery" / target["frame"]))
                x1, y1, x2, y2 = (int(v) for v in target["box"])
                if frame is not None and y2 - y1 >= 16 and x2 - x1 >= 8:
                    rows.append(describe_crop(np.asarray(frame[max(0, y1) : y2, max(0, x1) : x2], np.uint8)))
    if not rows:
        rng = np.random.default_rng(2)
        stripes = rng.dirichlet(np.ones(APPEARANCE_DIM // STRIPES) * 0.2, (64, STRIPES))
        colours = rng.dirichlet(np.ones(len(COLOURS)) * 0.3, (2, 64))
        return stripes, colours[0], colours[1]
    stripes = np.stack([d.appearance.reshape(STRIPES, -1) ** 2 for d in rows])
    stripes /= stripes.sum(axis=2, keepdims=True) + 1e-9
    return stripes, np.stack([d.upper for d in rows]), np.stack([d.lower for d in rows])


def realistic(
    rng: np.random.Generator, real: tuple[np.ndarray, np.ndarray, np.ndarray], m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``m`` noisy variants of real descriptors: appearance (m, D) Hellinger, upper / lower (m, C)."""
    stripes, upper, lower = real
    seed, other = rng.integers(0, len(stripes), m), rng.integers(0, len(stripes), m)
    mix = rng.uniform(0.0, 0.4, (m, 1, 1)).astype(np.float32)
    dist = (1 - mix) * stripes[seed] + mix * stripes[other]
    dist = dist * rng.gamma(4.0, 0.25, dist.shape) + 1e-4
    dist /= dist.sum(axis=2, keepdims=True)
    appearance = np.sqrt(dist).reshape(m, -1).astype(np.float32)
    appearance /= np.linalg.norm(appearance, axis=1, keepdims=True)

    def noisy(colours: np.ndarray) -> np.ndarray:
        values = colours[seed] * rng.gamma(4.0, 0.25, (m, colours.shape[1])) + 1e-3
        return np.asarray(values / values.sum(axis=1, keepdims=True), np.float32)

    return appearance, noisy(upper), noisy(lower)


def build(
    rows: int, real: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int = 0, chunk: int = 200_000
) -> SightingIndex:
    rng = np.random.default_rng(seed)
    index = SightingIndex(APPEARANCE_DIM, capacity=rows)
    starts = np.sort(rng.uniform(0, DAY, rows))
    for lo in range(0, rows, chunk):
        m = min(chunk, rows - lo)
        appearance, upper, lower = realistic(rng, real, m)
        cameras = [f"cam{c:03d}" for c in rng.integers(0, 141, m)]
        index.add([f"s{lo + i}" for i in range(m)], appearance, upper, lower, starts[lo : lo + m], cameras)
    return index


Request = tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]


def requests(real: tuple[np.ndarray, np.ndarray, np.ndarray], count: int) -> list[Request]:
    """Photo vector + the photo's own strongest upper / lower colour names, per query."""
    appearance, upper, lower = realistic(np.random.default_rng(1), real, count)
    return [
        (appearance[i], (COLOURS[int(np.argmax(upper[i]))],), (COLOURS[int(np.argmax(lower[i]))],))
        for i in range(count)
    ]


def measure(
    index: SightingIndex, asks: list[Request], window_s: float | None, cameras: int | None
) -> dict[str, float]:
    rng = np.random.default_rng(1)
    latencies = []
    # One untimed query first: the first touch of the index pages in its arrays, which a
    # serving process pays once at start, not per query.
    index.search(asks[0][0], upper=asks[0][1], lower=asks[0][2], k=50)
    for vector, upper, lower in asks:
        end = float(rng.uniform(window_s or 0, DAY)) if window_s else None
        start = None if end is None or window_s is None else end - window_s
        chosen = None if cameras is None else [f"cam{c:03d}" for c in rng.choice(141, cameras, replace=False)]
        t0 = time.perf_counter()
        index.search(vector, upper=upper, lower=lower, start=start, end=end, cameras=chosen, k=50)
        latencies.append(1000 * (time.perf_counter() - t0))
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
    }


def shortlist_recall(index: SightingIndex, asks: list[Request], k: int = 50) -> float:
    """Share of the exhaustive top ``k`` (exact fusion over every row) that ``search`` returns."""
    found = []
    for vector, upper, lower in asks:
        exact = index.search(vector, upper=upper, lower=lower, k=k, exhaustive=True)
        fast = index.search(vector, upper=upper, lower=lower, k=k)
        found.append(len({h.row for h in exact} & {h.row for h in fast}) / k)
    return round(float(np.mean(found)), 4)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--recall-queries", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    real = real_descriptors()
    index = build(args.rows, real)
    asks = requests(real, args.queries)
    report = {
        "rows": args.rows,
        "real_crops": len(real[0]),
        "build_s": round(time.perf_counter() - t0, 1),
        "index_mb": round(index.nbytes / 2**20, 1),
        "full_scan": measure(index, asks, None, None),
        "window_2h": measure(index, asks, 7200.0, None),
        "window_2h_10_cameras": measure(index, asks, 7200.0, 10),
        "window_24h_10_cameras": measure(index, asks, DAY, 10),
        "recall_at_50": shortlist_recall(index, asks[: args.recall_queries]),
    }
    print(json.dumps(report, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
