"""CentralConsumer: stored alerts reach the live feed once; replays and plain stores do not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.db.test_store import make_alert
from vigil.core.events import Topic
from vigil.core.types import Alert, CameraHealth, Sighting
from vigil.infra.bus import MemoryBus
from vigil.infra.db import Store
from vigil.roles import CentralConsumer


class OneByOne:
    """A store without batch writes: the consumer stores event by event."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_sighting(self, sighting: Sighting) -> bool:
        return self.store.add_sighting(sighting)

    def add_alert(self, alert: Alert) -> bool:
        return self.store.add_alert(alert)

    def upsert_health(self, health: CameraHealth) -> None:
        self.store.upsert_health(health)


@pytest.mark.parametrize("batched", [True, False], ids=["batch store", "one-by-one store"])
def test_stored_alerts_are_handed_on_and_replays_are_not(tmp_path: Path, batched: bool) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        seen: list[list[str]] = []

        def on_alerts(alerts: Sequence[Alert]) -> None:
            seen.append([alert.id for alert in alerts])

        bus = MemoryBus()
        consumer = CentralConsumer(bus, store if batched else OneByOne(store), on_alerts=on_alerts)
        consumer.attach()
        bus.start()
        first = make_alert(id="a1")
        bus.publish(Topic.ALERTS, "cam1", first)
        bus.stop()  # delivers what is queued
        bus.start()
        bus.publish(Topic.ALERTS, "cam1", first)  # replayed after a crash: already stored
        bus.stop()
        assert seen == [["a1"]]
        assert consumer.stored == 1
        assert store.counts().alerts == 1


def test_a_failing_listener_does_not_lose_the_alert(tmp_path: Path) -> None:
    def broken(alerts: Sequence[Alert]) -> None:
        raise RuntimeError("feed down")

    with Store.open(tmp_path / "vigil.db") as store:
        bus = MemoryBus()
        CentralConsumer(bus, OneByOne(store), on_alerts=broken).attach()
        bus.start()
        bus.publish(Topic.ALERTS, "cam1", make_alert(id="a1"))
        bus.publish(Topic.ALERTS, "cam1", make_alert(id="a2"))
        bus.stop()
        assert store.counts().alerts == 2
        # The failure stays the listener's: the bus saw its handler succeed, nothing counted failed.
        assert (bus.delivered, bus.failed) == (2, 0)
