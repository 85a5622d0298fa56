"""SQLite locked by another process: a child holds ``BEGIN EXCLUSIVE`` while Vigil writes.

The real store behind the memory bus and the central consumer takes a steady stream of
sightings and camera health, the real recorder indexes segments, and the API answers
``/health``, while a child process holds the database's write lock for longer than the store's
busy timeout. Writers must wait and retry, lose nothing once the lock is released, and the API
must answer (200, never a 500) during the lock.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from api.app import create_app
from api.deps import ApiServices
from config.ingest import RecordingConfig
from config.models import VigilConfig
from ingest.sim import Simulator
from ingest.workers import IngestSupervisor
from vigil.chaos.base import (
    ChaosSettings,
    Checks,
    Outcome,
    child_command,
    child_process,
    read_lines,
    wait_until,
)
from vigil.core.events import Topic
from vigil.core.types import Sighting
from vigil.infra.bus import MemoryBus
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.roles import CentralConsumer

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

NAME = "db-locked"
BUSY_TIMEOUT_S = 1.0
"""The store's busy timeout in this scenario: the lock outlasts it many times over."""


def _sighting(tracker_id: int) -> Sighting:
    now = time.time()
    return Sighting(
        camera_id="cam1", tracker_id=tracker_id, start=now - 1, end=now, best_box=(0, 0, 10, 20),
        crop_path=None, path=(), confidence=0.9, frames=3,
    )  # fmt: skip


class _Publisher:
    """Publishes a sighting every 50 ms from its own thread (a detect worker's pace)."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.ids: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-publisher", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            sighting = _sighting(len(self.ids) + 1)
            self.bus.publish(Topic.SIGHTINGS, sighting.camera_id, sighting)
            self.ids.append(sighting.id)


def _health_during_lock(client: TestClient, checks: Checks) -> None:
    started = time.monotonic()
    response = client.get("/health")
    took = time.monotonic() - started
    status = response.json().get("status") if response.status_code == 200 else response.text[:80]
    checks.expect(
        response.status_code == 200,
        f"GET /health during the lock: 200 '{status}' in {took:.1f} s",
        f"GET /health during the lock: {response.status_code} {status}",
    )


def _hold_lock(settings: ChaosSettings, checks: Checks, client: TestClient, seconds: float) -> None:
    db = settings.workdir / "vigil.db"
    lines: list[str] = []
    with child_process(
        child_command("lock", "--db", str(db), "--seconds", str(seconds)), settings.workdir / "lock.log"
    ) as child:
        read_lines(child, lines)
        locked = wait_until(lambda: "LOCKED" in lines or child.poll() is not None, timeout=30)
        checks.expect(locked and "LOCKED" in lines, f"child held BEGIN EXCLUSIVE for {seconds:.0f} s")
        time.sleep(min(2.0, seconds / 2))
        _health_during_lock(client, checks)
        wait_until(lambda: "RELEASED" in lines or child.poll() is not None, timeout=seconds + 30)


def db_locked(settings: ChaosSettings) -> Outcome:
    seconds = 45.0 if settings.long else 6.0
    did = f"another process holds BEGIN EXCLUSIVE for {seconds:.0f} s (busy timeout {BUSY_TIMEOUT_S:g} s)"
    checks = Checks()
    store = Store.open(settings.workdir / "vigil.db", busy_timeout_s=BUSY_TIMEOUT_S)
    bus = MemoryBus()
    CentralConsumer(bus, store).attach()
    index = RecordingIndex.for_store(store)
    publisher = _Publisher(bus)
    with Simulator([settings.clip], cameras=1) as sim:
        config = VigilConfig.model_validate({"cameras": [{"id": "cam1", "url": sim.urls[0]}]})
        recording = RecordingConfig(
            directory=settings.workdir / "recordings", segment_seconds=2.0, min_free_mb=0
        )
        ingest = IngestSupervisor(
            config.cameras, data_dir=settings.workdir, recording=recording, index=index,
            on_health=lambda health: bus.publish(Topic.CAMERA_HEALTH, health.camera_id, health),
        )  # fmt: skip
        bus.start()
        ingest.start()
        publisher.thread.start()
        services = ApiServices(store=store, health=ingest.health_snapshot, data_dir=settings.workdir)
        # Imported here: starlette's test client warns on import, and `vigil --help` loads this module.
        from fastapi.testclient import TestClient

        try:
            with TestClient(create_app(config, services)) as client:
                wait_until(lambda: ingest.segments_closed >= 1, timeout=30)
                _hold_lock(settings, checks, client, seconds)
                time.sleep(4.0)  # a segment or two closes after the release
        finally:
            publisher.stop.set()
            publisher.thread.join(5)
            ingest.stop()
            bus.stop(timeout=60)
    _check_nothing_lost(checks, store, index, publisher.ids, ingest.segments_closed)
    store.close()
    return checks.outcome(NAME, did)


def _check_nothing_lost(
    checks: Checks, store: Store, index: RecordingIndex, published: list[str], closed: int
) -> None:
    missing = [sid for sid in published if store.get_sighting(sid) is None]
    checks.expect(
        bool(published) and not missing,
        f"all {len(published)} sightings published across the lock are stored",
        f"{len(missing)} of {len(published)} sightings lost",
    )
    indexed = len(index.segments("cam1", 0.0, float("inf")))
    checks.expect(
        closed > 0 and indexed == closed,
        f"all {closed} segments closed across the lock are indexed",
        f"{indexed} of {closed} closed segments indexed",
    )
    history = store.list_health_events("cam1")
    checks.expect(bool(history), f"camera health stored ({len(history)} changes)", "no camera health stored")
