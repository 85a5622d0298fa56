"""Retention over a large store: a whole pass, batches read from the oldest each time vs after the last.

Seeds one SQLite database with N expired sightings (default 50,000, with their search rows) on
20 cameras and N/2 expired alerts, a fifth of the sightings (the oldest) inside an open case's
window, so protected. Each variant runs `RetentionService.run` on its own copy of that file:

- ``rescan`` (baseline): every batch is read from the oldest expired row again, so the
  protected rows ahead are read once per batch;
- ``vigil``: every batch is read from the previous batch's latest time (`RecordExpiry`'s
  ``since``), as the service does.

Both must delete and keep the same counts (checked). Prints seconds per variant and the ratio.

Run: ``python benchmarks/retention.py [--sightings 50000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vigil.core.types import Alert, AlertKind, PathPoint, Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseRecord, CaseStore
from vigil.infra.db.expiry import RecordExpiry
from vigil.services.retention import DAY, RetentionPolicy, RetentionReport, RetentionService
from vigil.services.sighting_search import SightingSearch

CAMERAS = 20
BATCH = 5000


def seed(path: Path, n: int, now: float) -> None:
    """N sightings a second apart 60 days ago, N/2 alerts, an open case over the oldest fifth."""
    old = now - 60 * DAY
    with Store.open(path) as store:
        search = SightingSearch(store)
        for lo in range(0, n, BATCH):
            batch = [
                Sighting(
                    camera_id=f"cam{i % CAMERAS}", tracker_id=i, start=old + i, end=old + i + 5,
                    best_box=(10.0, 20.0, 50.0, 120.0), crop_path=None,
                    path=(PathPoint(old + i, 30.0, 120.0),), confidence=0.8, frames=12,
                )
                for i in range(lo, min(n, lo + BATCH))
            ]  # fmt: skip
            store.add_sightings(batch)
            search.index(batch)
        store.add_alerts(
            [
                Alert(
                    AlertKind.ZONE_INTRUSION, "gate", f"cam{i % CAMERAS}", old + 2 * i, "person in zone gate"
                )
                for i in range(n // 2)
            ]
        )
        CaseStore.for_store(store).add_case(
            CaseRecord(reason="missing person", opened_by="bench", window_start=old, window_end=old + n / 5)
        )


def rescan(expiry: type[RecordExpiry]) -> Callable[[], None]:
    """Make `expiry` read every batch from the oldest row (the baseline); returns the undo."""
    sightings, alerts = expiry.sightings, expiry.alerts

    def from_oldest_sightings(self: RecordExpiry, limit: int, **kw: Any) -> Any:
        return sightings(self, limit, **{**kw, "since": None})

    def from_oldest_alerts(self: RecordExpiry, limit: int, **kw: Any) -> Any:
        return alerts(self, limit, **{**kw, "since": None})

    expiry.sightings, expiry.alerts = from_oldest_sightings, from_oldest_alerts  # type: ignore[method-assign]

    def undo() -> None:
        expiry.sightings, expiry.alerts = sightings, alerts  # type: ignore[method-assign]

    return undo


def run_variant(seeded: Path, work: Path, now: float) -> RetentionReport:
    shutil.copy(seeded, work / "vigil.db")
    with Store.open(work / "vigil.db") as store:
        service = RetentionService(
            store, RetentionPolicy(alerts_days=30), work, work / "recordings", free_percent=lambda: 100.0
        )
        return service.run(now=now, reason="benchmark")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sightings", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        seed(root / "seeded.db", args.sightings, now)
        seeded_s = time.perf_counter() - started
        results: dict[str, RetentionReport] = {}
        for name in ("rescan", "vigil"):
            work = root / name
            work.mkdir()
            undo = rescan(RecordExpiry) if name == "rescan" else (lambda: None)
            try:
                results[name] = run_variant(root / "seeded.db", work, now)
            finally:
                undo()
    base, ours = results["rescan"], results["vigil"]
    if (base.deleted, base.kept) != (ours.deleted, ours.kept):
        print(
            f"MISMATCH: rescan {base.deleted} {base.kept} vs vigil {ours.deleted} {ours.kept}",
            file=sys.stderr,
        )
        return 1
    summary = {
        "sightings": args.sightings, "seed_s": round(seeded_s, 1), "deleted": ours.deleted, "kept": ours.kept,
        "rescan_s": round(base.seconds, 2), "vigil_s": round(ours.seconds, 2),
        "speedup": round(base.seconds / ours.seconds, 2),
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))
        return 0
    protected = ours.kept["sightings"]
    print(f"{args.sightings} expired sightings, {args.sightings // 2} alerts, {protected} protected")
    print(f"deleted {ours.deleted}, kept {ours.kept}")
    print(f"{'variant':8} {'seconds':>8}")
    print(f"{'rescan':8} {base.seconds:8.2f}")
    print(f"{'vigil':8} {ours.seconds:8.2f}")
    print(f"vigil is {summary['speedup']}x the rescan baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
