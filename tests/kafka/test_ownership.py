"""Cameras are shared among edge nodes by Kafka's group assignment, and move when a node dies."""

from __future__ import annotations

import time

import pytest

from tests.kafka.conftest import Broker
from tests.kafka.helpers import Worker, unique, wait_until
from vigil.infra.ownership import CameraOwnership

pytestmark = pytest.mark.kafka

CAMERAS = [f"cam{i:02d}" for i in range(6)]
SESSION_TIMEOUT_MS = 3000
FAILOVER_LIMIT_S = 30  # issue 7's target


def test_cameras_move_to_the_survivor_when_a_node_is_killed_and_back_when_one_joins(
    kafka_broker: Broker,
) -> None:
    prefix, group = unique("own") + ".", unique("edge")
    survivor = CameraOwnership(
        kafka_broker.bootstrap_servers,
        CAMERAS,
        on_assign=lambda cameras: None,
        on_revoke=lambda cameras: None,
        group_id=group,
        topic=f"{prefix}ownership",
        session_timeout_ms=SESSION_TIMEOUT_MS,
    )
    survivor.start()
    assert wait_until(lambda: survivor.owned == set(CAMERAS), timeout=30)
    args = ["edge", "--bootstrap", kafka_broker.bootstrap_servers, "--group", group, "--prefix", prefix]
    args += ["--cameras", ",".join(CAMERAS), "--count", "0", "--session-timeout-ms", str(SESSION_TIMEOUT_MS)]
    doomed = Worker(*args)
    try:
        assert wait_until(lambda: len(survivor.owned) == 3, timeout=30), "the second node got no cameras"
        assert wait_until(lambda: sum(line.startswith("assign") for line in doomed.lines) == 3, timeout=10)
        killed_at = time.monotonic()
        doomed.kill()
        assert wait_until(lambda: survivor.owned == set(CAMERAS), timeout=FAILOVER_LIMIT_S)
        failover = time.monotonic() - killed_at
        print(f"failover after SIGKILL: {failover:.1f} s (session timeout {SESSION_TIMEOUT_MS / 1000:.0f} s)")
        assert failover <= FAILOVER_LIMIT_S
        rejoined = Worker(*args)
        try:
            assert wait_until(lambda: len(survivor.owned) == 3, timeout=30), "cameras did not move back"
        finally:
            rejoined.kill()
    finally:
        doomed.kill()
        survivor.stop()
