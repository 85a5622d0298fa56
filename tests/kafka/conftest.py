"""A real single-node Kafka broker for the ``kafka`` tests, started once per session.

`scripts/kafka.sh` resolves Apache Kafka from Maven Central into build/kafka/libs (once),
formats a fresh KRaft data dir under build/kafka/ and starts the broker on a free port.
Set ``VIGIL_KAFKA_BOOTSTRAP=host:port`` to use a running broker instead (restart tests
are then skipped). Without Java or Maven the tests are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.infra.db.store import Store

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "kafka.sh"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Kafka tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"Kafka unavailable: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """The session's broker: where it listens, and how to restart or kill it."""

    bootstrap_servers: str
    env: dict[str, str] | None = None

    def _script(self, command: str) -> None:
        if self.env is None:
            pytest.skip("the broker was not started by the tests (VIGIL_KAFKA_BOOTSTRAP)")
        result = subprocess.run(
            [str(SCRIPT), command], env=self.env, capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0:
            pytest.fail(f"scripts/kafka.sh {command} failed: {result.stderr.strip()}", pytrace=False)

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def kill(self) -> None:
        self._script("kill")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    given = os.environ.get("VIGIL_KAFKA_BOOTSTRAP")
    if given:
        yield Broker(given)
        return
    for tool, package in (("java", "openjdk-17-jre-headless"), ("mvn", "maven"), ("python3", "python3")):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not found (apt-get install {package})")
    port = _free_port()
    data = REPO / "build" / "kafka" / f"test-data-{port}"
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_DATA": str(data)}
    broker = Broker(f"127.0.0.1:{port}", env)
    fetched = subprocess.run([str(SCRIPT), "fetch"], env=env, capture_output=True, text=True, timeout=600)
    if fetched.returncode != 0:
        _unavailable(f"scripts/kafka.sh fetch failed: {fetched.stderr.strip()[-500:]}")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store of the central node under test."""
    with Store.open(tmp_path / "vigil.db") as opened:
        yield opened
