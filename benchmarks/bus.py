"""Event bus benchmark: sightings per second from publish to stored, Kafka beside the memory bus.

Both runs store into a fresh SQLite database through `vigil.roles.CentralConsumer`, the
central half of a distributed Vigil. The memory bus runs in one process, as on a single
box; for Kafka an edge process publishes and this process consumes and stores, as on two
machines. Throughput is measured at full speed, latency (publish -> stored, p50 / p99) at
a steady 1,000 sightings per second. Without ``--bootstrap`` (or ``VIGIL_KAFKA_BOOTSTRAP``)
a local broker is started with ``scripts/kafka.sh`` and stopped afterwards.

Run: ``python benchmarks/bus.py`` or ``vigil bench bus --json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import REPO

SCRIPT = REPO / "scripts" / "kafka.sh"
CAMERAS = 23  # the site's AI cameras


def _sighting(i: int, at: float) -> Any:
    from vigil.core.types import PathPoint, Sighting

    camera = f"cam{i % CAMERAS:02d}"
    # `end` carries the publish time, so the consumer can compute latency without a side channel.
    return Sighting(
        camera_id=camera,
        tracker_id=i,
        start=at - 2.0,
        end=at,
        best_box=(100.0, 50.0, 160.0, 230.0),
        crop_path=f"crops/{camera}/{i}.jpg",
        path=tuple(PathPoint(at - 2.0 + k * 0.2, 130.0 + k, 230.0) for k in range(10)),
        confidence=0.74,
        frames=10,
    )


def _publish(bus: Any, count: int, rate: float | None) -> None:
    started = time.monotonic()
    for i in range(count):
        if rate is not None:
            lag = started + i / rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        sighting = _sighting(i, time.time())
        bus.publish("sightings", sighting.camera_id, sighting)


def _edge(bootstrap: str, prefix: str, count: int, rate: float | None) -> None:
    """The edge process: publish `count` sightings to Kafka, then wait for the acknowledgements."""
    from vigil.infra.kafka_bus import KafkaBus

    logging.getLogger("kafka").setLevel(logging.ERROR)
    bus = KafkaBus(bootstrap, client_id="bench-edge", topic_prefix=prefix)
    bus.start()
    _publish(bus, count, rate)
    bus.stop(timeout=60)


class _Sink:
    """Records when each sighting was stored; subscribed after the store, so it runs after it."""

    def __init__(self, expected: int) -> None:
        self.latencies: list[float] = []
        self.first_published = float("inf")
        self.last_stored = 0.0
        self.expected = expected
        self.done = threading.Event()

    def __call__(self, sighting: Any) -> None:
        now = time.time()
        self.latencies.append(now - sighting.end)
        self.first_published = min(self.first_published, sighting.end)
        self.last_stored = now
        if len(self.latencies) >= self.expected:
            self.done.set()

    def result(self) -> dict[str, float]:
        latencies = np.array(self.latencies) * 1000
        return {
            "sightings": len(self.latencies),
            "sightings_per_s": len(self.latencies) / max(self.last_stored - self.first_published, 1e-9),
            "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)),
        }


def _memory(count: int, rate: float | None, workdir: Path) -> dict[str, float]:
    from vigil.infra.bus import MemoryBus
    from vigil.infra.db.store import Store
    from vigil.roles import CentralConsumer

    with Store.open(workdir / f"memory-{uuid.uuid4().hex[:6]}.db") as store:
        bus = MemoryBus()
        sink = _Sink(count)
        CentralConsumer(bus, store).attach()
        bus.subscribe("sightings", sink)
        bus.start()
        _publish(bus, count, rate)
        sink.done.wait(600)
        bus.stop()
        return sink.result()


def _kafka(bootstrap: str, count: int, rate: float | None, workdir: Path) -> dict[str, float]:
    from vigil.infra.db.store import Store
    from vigil.infra.kafka_bus import KafkaBus
    from vigil.roles import CentralConsumer

    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    with Store.open(workdir / f"kafka-{uuid.uuid4().hex[:6]}.db") as store:
        bus = KafkaBus(bootstrap, group_id=f"{prefix}central", client_id="bench-central", topic_prefix=prefix)
        sink = _Sink(count)
        CentralConsumer(bus, store).attach()
        bus.subscribe("sightings", sink)
        bus.start()  # creates the topics before the edge publishes
        edge = multiprocessing.get_context("spawn").Process(
            target=_edge, args=(bootstrap, prefix, count, rate)
        )
        edge.start()
        sink.done.wait(600)
        edge.join(60)
        bus.stop()
        return sink.result()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _broker(bootstrap: str | None) -> Iterator[str]:
    """The given cluster, or a local broker started for this run and stopped after it."""
    if bootstrap:
        yield bootstrap
        return
    port = _free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA": str(REPO / "build" / "kafka" / f"bench-{port}"),
    }
    subprocess.run([str(SCRIPT), "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, check=False)
        subprocess.run(["rm", "-rf", env["KAFKA_DATA"]], check=False)


def run(bootstrap: str | None, count: int, latency_count: int, rate: float) -> dict[str, Any]:
    from vigil.infra.db.store import Store

    logging.getLogger("kafka").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-bus-") as tmp, _broker(bootstrap) as servers:
        workdir = Path(tmp)
        memory = _memory(count, None, workdir)
        kafka = _kafka(servers, count, None, workdir)
        memory_paced = _memory(latency_count, rate, workdir)
        kafka_paced = _kafka(servers, latency_count, rate, workdir)
    return {
        "sightings": count,
        "store_batches": hasattr(Store, "add_sightings"),
        "kafka_sightings_per_s": kafka["sightings_per_s"],
        "memory_sightings_per_s": memory["sightings_per_s"],
        "kafka_p50_ms_full_speed": kafka["p50_ms"],
        "kafka_p99_ms_full_speed": kafka["p99_ms"],
        f"kafka_p50_ms_at_{rate:.0f}_per_s": kafka_paced["p50_ms"],
        f"kafka_p99_ms_at_{rate:.0f}_per_s": kafka_paced["p99_ms"],
        f"memory_p50_ms_at_{rate:.0f}_per_s": memory_paced["p50_ms"],
        f"memory_p99_ms_at_{rate:.0f}_per_s": memory_paced["p99_ms"],
        "paced_sightings": latency_count,
        "rate_per_s": rate,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("VIGIL_KAFKA_BOOTSTRAP"),
        help="Kafka cluster (default: $VIGIL_KAFKA_BOOTSTRAP, else a local broker started for the run)",
    )
    parser.add_argument("--count", type=int, default=20_000, help="sightings for the throughput runs")
    parser.add_argument("--latency-count", type=int, default=10_000, help="sightings for the paced runs")
    parser.add_argument("--rate", type=float, default=1000.0, help="pace of the latency runs, per second")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def report(result: dict[str, Any]) -> str:
    rate = f"{result['rate_per_s']:.0f}"
    return "\n".join(
        [
            f"sightings publish -> stored, {result['sightings']} at full speed, "
            f"{result['paced_sightings']} at {rate}/s (store batches: {result['store_batches']})",
            f"{'':8}{'sightings/s':>12}{f'p50 ms @{rate}/s':>16}{f'p99 ms @{rate}/s':>16}",
            f"{'memory':8}{result['memory_sightings_per_s']:>12.0f}"
            f"{result[f'memory_p50_ms_at_{rate}_per_s']:>16.1f}{result[f'memory_p99_ms_at_{rate}_per_s']:>16.1f}",
            f"{'kafka':8}{result['kafka_sightings_per_s']:>12.0f}"
            f"{result[f'kafka_p50_ms_at_{rate}_per_s']:>16.1f}{result[f'kafka_p99_ms_at_{rate}_per_s']:>16.1f}",
        ]
    )


def main(args: argparse.Namespace) -> int:
    result = run(args.bootstrap, args.count, args.latency_count, args.rate)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
