"""Prometheus metrics of the bus's on-disk buffer, read from `KafkaBus.buffer_stats` at scrape time.

Register while the bus runs (the runtime does, for a bus with a spool)::

    collector = BusBufferCollector(bus.buffer_stats)
    REGISTRY.register(collector)      # served by GET /metrics
    ...
    REGISTRY.unregister(collector)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.infra.spool import SpoolStats


class BusBufferCollector(Collector):
    """Fill and counters of the spool in front of Kafka; nothing when the bus has none.

    Args:
        stats: Returns the buffer's current `SpoolStats`, or None without a spool.
    """

    def __init__(self, stats: Callable[[], SpoolStats | None]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.stats()
        if stats is None:
            return
        gauges = {
            "vigil_bus_buffer_records": (
                "Events in the on-disk buffer, not yet acknowledged.",
                stats.records,
            ),
            "vigil_bus_buffer_bytes": ("Bytes of the events in the on-disk buffer.", stats.bytes),
            "vigil_bus_buffer_max_bytes": ("Size past which new events are refused.", stats.max_bytes),
            "vigil_bus_buffer_fill_ratio": ("Buffer bytes over max bytes, 0 to 1.", stats.fill),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=float(value))
        counters = {
            "vigil_bus_spooled": ("Events written to the on-disk buffer.", stats.spooled),
            "vigil_bus_replayed": ("Events the brokers acknowledged out of the buffer.", stats.replayed),
            "vigil_bus_dropped": ("Events refused because the buffer was full.", stats.dropped),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(name, doc, value=float(value))
