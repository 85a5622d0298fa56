"""Edge and central processes for the fault tests, which kill them with SIGKILL.

Run as ``python -m tests.kafka.workers edge|central ...`` from the repository root; each
prints one line per state change (``ready``, ``assign cam01,cam02``, ``revoke ...``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from vigil.core.events import Topic
from vigil.core.types import PathPoint, Sighting
from vigil.infra.kafka_bus import KafkaBus
from vigil.roles import CentralConsumer, EdgeNode


def make_sighting(camera_id: str, seq: int, at: float) -> Sighting:
    """The `seq`-th sighting of a camera; its id depends only on (camera, seq)."""
    return Sighting(
        camera_id=camera_id,
        tracker_id=seq,
        start=at - 1.0,
        end=at,
        best_box=(10.0, 20.0, 50.0, 120.0),
        crop_path=None,
        path=(PathPoint(at - 1.0, 30.0, 120.0), PathPoint(at, 32.0, 121.0)),
        confidence=0.8,
        frames=5,
        id=f"{camera_id}-{seq:06d}",
    )


class CameraFeed:
    """Stands in for one camera's pipeline: publishes its sightings 0..count-1 at `rate` per second.

    A camera taken over by another node starts again from 0, like re-reading a
    recording: the ids repeat, and the store must keep each once.
    """

    def __init__(
        self, publish: Callable[[str, str, Sighting], None], camera_id: str, count: int, rate: float
    ):
        self._publish = publish
        self.camera_id = camera_id
        self._count = count
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        started = time.monotonic()
        for seq in range(self._count):
            lag = started + seq / self._rate - time.monotonic()
            if lag > 0 and self._stop.wait(lag):
                return
            if self._stop.is_set():
                return
            self._publish(Topic.SIGHTINGS, self.camera_id, make_sighting(self.camera_id, seq, time.time()))


class FeedEdge:
    """An edge node whose cameras are `CameraFeed`s, on its own Kafka bus."""

    def __init__(
        self,
        bootstrap: str,
        cameras: list[str],
        count: int,
        rate: float,
        session_timeout_ms: int,
        group: str,
        node: str,
        prefix: str,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.bus = KafkaBus(bootstrap, client_id=f"edge-{node}", topic_prefix=prefix)
        self._feeds: dict[str, CameraFeed] = {}
        self._count = count
        self._rate = rate
        self._report = report
        self.node = EdgeNode(
            cameras,
            bootstrap,
            start_camera=self._start,
            stop_camera=self._stop,
            session_timeout_ms=session_timeout_ms,
            group_id=group,
            node=node,
            topic=f"{prefix}ownership",
        )

    def start(self) -> None:
        self.bus.start()
        self.node.start()

    def stop(self) -> None:
        self.node.stop()
        self.bus.stop()

    def _start(self, camera_id: str) -> None:
        feed = CameraFeed(self.bus.publish, camera_id, self._count, self._rate)
        self._feeds[camera_id] = feed
        feed.start()
        self._report(f"assign {camera_id}")

    def _stop(self, camera_id: str) -> None:
        self._feeds.pop(camera_id).stop()
        self._report(f"revoke {camera_id}")


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["edge", "central"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--session-timeout-ms", type=int, default=3000)
    parser.add_argument("--cameras", default="")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--db", default="")
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args(argv)
    # VIGIL_TEST_LOG=INFO shows the worker's group membership (joins, assignments) on stderr.
    logging.basicConfig(level=os.environ.get("VIGIL_TEST_LOG", "WARNING"), stream=sys.stderr)
    if args.role == "edge":
        edge = FeedEdge(
            args.bootstrap,
            args.cameras.split(","),
            args.count,
            args.rate,
            args.session_timeout_ms,
            args.group,
            node="worker",
            prefix=args.prefix,
            report=_say,
        )
        edge.start()
    else:
        from vigil.infra.db.store import Store

        bus = KafkaBus(
            args.bootstrap,
            group_id=args.group,
            client_id="central-worker",
            topic_prefix=args.prefix,
            session_timeout_ms=args.session_timeout_ms,
        )
        CentralConsumer(bus, Store.open(args.db)).attach()
        bus.start()
    _say("ready")
    threading.Event().wait()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
