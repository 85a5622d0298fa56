"""Colour / size / similarity search over 100,000 stored sightings: how long each answer takes.

Builds a fresh SQLite database with N sightings on 20 cameras (default 100,000) and their
search index rows (`vigil.services.sighting_search.search_row` of 60 real descriptors of
flat-coloured crops, sizes on a per-camera line with 10 % children), then times what the
console asks: a plain page, colour, size and combined filters, a camera filter, "similar",
and the catch-up probe every request makes. Separately it times indexing itself (descriptor
to index row to database) on real sightings, which the live indexer pays per sighting.

The sightings rows are stored without descriptors (the search reads only the index and the
page's sightings), so setup takes seconds instead of the minutes 100,000 JSON descriptors take.

Run: ``python benchmarks/sighting_filters.py [--sightings 100000] [--json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alerts.search.descriptors import describe_crop
from vigil.core.types import PathPoint, Sighting
from vigil.infra.db import Store
from vigil.infra.db.search import SearchIndex
from vigil.services.sighting_search import SightingFilter, SightingSearch, search_row

BGR = [(30, 30, 200), (200, 60, 30), (40, 180, 40), (15, 15, 15), (235, 235, 235), (40, 200, 230)]
CAMERAS = 20
BATCH = 5000


def _templates(rng: np.random.Generator) -> list[tuple[float, ...]]:
    vectors = []
    for upper in BGR:
        for lower in BGR[:5]:
            crop = np.zeros((128, 48, 3), np.uint8)
            crop[:64], crop[64:] = upper, lower
            noisy = np.clip(crop + rng.normal(0, 12, crop.shape), 0, 255).astype(np.uint8)
            vectors.append(describe_crop(noisy, (0.0, 0.0, 40.0, 100.0), 480).to_vector())
    return vectors


def _sighting(i: int, rng: np.random.Generator, descriptor: tuple[float, ...] | None) -> Sighting:
    start = 1_780_000_000.0 + i * 0.5
    foot = float(rng.uniform(150, 470))
    height = (40 + 0.3 * foot) * (0.55 if rng.random() < 0.1 else float(rng.uniform(0.9, 1.1)))
    box = (100.0, foot - height, 100.0 + height / 2.5, foot)
    return Sighting(
        camera_id=f"cam{i % CAMERAS:02d}",
        tracker_id=i,
        start=start,
        end=start + 4.0,
        best_box=box,
        crop_path=None,
        path=(PathPoint(start, 120.0, foot),),
        confidence=0.8,
        frames=20,
        descriptor=descriptor,
    )


def build(store: Store, n: int) -> str:
    """Store n sightings and their index rows; returns one sighting id with a descriptor."""
    rng = np.random.default_rng(7)
    templates = _templates(rng)
    index = SearchIndex.for_store(store)
    asked: Sighting | None = None
    for first in range(0, n, BATCH):
        sightings, rows = [], []
        for i in range(first, min(n, first + BATCH)):
            template = templates[int(rng.integers(len(templates)))]
            full = _sighting(i, rng, template)
            box = full.best_box
            rows.append(dataclasses.replace(search_row(full), height_px=box[3] - box[1], foot_y=box[3]))
            # Only the asked one keeps its descriptor in the sightings table ("similar" reads it).
            asked = asked or full
            sightings.append(full if full is asked else dataclasses.replace(full, descriptor=None))
        store.add_sightings(sightings)
        index.add(rows)
    assert asked is not None
    return asked.id


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float, Any]:
    """Seconds of the first (cold: size models not cached yet) run, the median of `repeat`, the result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times[0], statistics.median(times), result


def index_rate(store: Store, count: int = 1000) -> float:
    """Seconds per sighting to index real descriptors (search_row + insert), as the live indexer does."""
    rng = np.random.default_rng(3)
    templates = _templates(rng)
    sightings = [_sighting(10_000_000 + i, rng, templates[i % len(templates)]) for i in range(count)]
    search = SightingSearch(store)
    t = time.perf_counter()
    search.index(sightings)
    return (time.perf_counter() - t) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sightings", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"sightings": args.sightings}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-search-") as tmp:
        store = Store.open(Path(tmp) / "vigil.db")
        t = time.perf_counter()
        asked = build(store, args.sightings)
        results["setup_s"] = round(time.perf_counter() - t, 1)
        search = SightingSearch(store)
        probes: dict[str, Callable[[], Any]] = {
            "catch_up_probe": search.behind,
            "plain_page": lambda: search.describe(store.list_sightings(limit=50)[0]),
            "upper_red": lambda: search.search(SightingFilter(upper=("red",)), 50, 0),
            "upper_red_lower_blue": lambda: search.search(
                SightingFilter(upper=("red",), lower=("blue",)), 50, 0
            ),
            "size_child": lambda: search.search(SightingFilter(size="child"), 50, 0),
            "red_child_last_page": lambda: search.search(
                SightingFilter(upper=("red",), size="child"), 50, 1000
            ),
            "camera_red": lambda: search.search(
                SightingFilter(camera_id="cam03", upper=("red", "green")), 50, 0
            ),
            "similar": lambda: search.similar(asked, 20),
        }
        for name, probe in probes.items():
            search._models.clear()  # noqa: SLF001 - each probe starts cold, like the first request
            cold, seconds, result = timed(probe)
            entry: dict[str, Any] = {"cold_s": round(cold, 3), "seconds": round(seconds, 3)}
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int):
                entry["matched" if name != "similar" else "compared"] = result[1]
            results[name] = entry
        results["index_s_per_sighting"] = round(index_rate(store), 5)
        store.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:24} {value}")
    worst = max(v["cold_s"] for v in results.values() if isinstance(v, dict))
    return 0 if worst < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
