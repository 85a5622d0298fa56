"""`vigil run --role edge` and `--role central` as two runtimes on one real broker and one RTSP camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import parse_config
from tests.conftest import PERSON_CLIP, SimulatorFactory
from tests.kafka.conftest import Broker
from tests.kafka.helpers import wait_until
from vigil.roles import Role
from vigil.runtime import Runtime

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_edge_publishes_and_central_stores(
    kafka_broker: Broker, rtsp_sim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP], cameras=1)
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "bus": {"type": "kafka", "bootstrap_servers": kafka_broker.bootstrap_servers},
            "cameras": [
                {
                    "id": "cam1",
                    "url": sim.urls[0],
                    "role": "ai",
                    "zones": [
                        {"name": "table", "polygon": [[0.35, 0.6], [0.8, 0.6], [0.8, 1.0], [0.35, 1.0]]}
                    ],
                }
            ],
            "rules": [{"name": "table", "type": "zone_intrusion", "camera": "cam1", "zone": "table"}],
        }
    )
    central = Runtime(config, role=Role.CENTRAL)
    edge = Runtime(config, role=Role.EDGE)
    assert edge.store is None  # an edge node has no database
    central.start()
    edge.start()
    try:
        store = central.store
        assert store is not None
        # Kafka assigns the camera to the only edge node; the alert travels edge -> broker -> central.
        assert wait_until(lambda: store.counts().alerts >= 1, timeout=120), f"edge stats: {edge.stats}"
        assert {h.camera_id for h in store.list_health()} == {"cam1"}
        edge.stop()  # open tracks are published as sightings on the way out
        assert wait_until(lambda: store.counts().sightings >= 1, timeout=30)
        assert store.counts().alerts == edge.stats.alerts  # nothing lost, nothing twice
    finally:
        edge.stop()  # stopping twice is harmless
        central.stop()
