"""The bus buffer's Prometheus metrics: what a scrape shows, and nothing without a spool."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from vigil.infra.bus_metrics import BusBufferCollector
from vigil.infra.spool import SpoolStats


def scrape(stats: SpoolStats | None) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(BusBufferCollector(lambda: stats))
    return {sample.name: sample.value for metric in registry.collect() for sample in metric.samples}


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        (None, {}),  # memory bus or central role: no buffer, no series
        (  # an outage in progress: a quarter full, nothing refused yet
            SpoolStats(records=300, bytes=250, max_bytes=1000, spooled=500, replayed=200, dropped=0),
            {
                "vigil_bus_buffer_records": 300,
                "vigil_bus_buffer_bytes": 250,
                "vigil_bus_buffer_max_bytes": 1000,
                "vigil_bus_buffer_fill_ratio": 0.25,
                "vigil_bus_spooled_total": 500,
                "vigil_bus_replayed_total": 200,
                "vigil_bus_dropped_total": 0,
            },
        ),
    ],
)
def test_scrape(stats: SpoolStats | None, expected: dict[str, float]) -> None:
    assert {k: v for k, v in scrape(stats).items() if not k.endswith("_created")} == expected
