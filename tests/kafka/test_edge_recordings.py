"""Scale-out evidence: `vigil run --role edge` records, `--role central` indexes, `vigil clip` exports.

Two real processes on one real broker and one RTSP camera, each with its own data directory
(as on two boxes): the edge node records to its own disk and announces each segment on the
``segments`` topic; central indexes them; a clip export on central fetches the segments from
the edge's segment server with the node token and signs a bundle that `vigil verify` accepts.
With the edge node killed, a span central has not fetched yet is a clear error and no file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import PERSON_CLIP, SimulatorFactory
from tests.kafka.conftest import Broker
from tests.kafka.helpers import wait_until
from vigil.cli import main
from vigil.commands import verify
from vigil.infra.db.recordings import RecordingIndex, SegmentRecord
from vigil.infra.db.store import Store

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "edge-recordings-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(path: Path, data_dir: Path, broker: Broker, camera_url: str, **bus: object) -> Path:
    document = {
        "site": "edge-test",
        "data_dir": str(data_dir),
        "bus": {"type": "kafka", "bootstrap_servers": broker.bootstrap_servers, **bus},
        "recording": {"segment_seconds": 2},
        "cameras": [{"id": "cam1", "url": camera_url, "role": "record"}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in started:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _run(config: Path, role: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_NODE_TOKEN": TOKEN}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "run", str(config), "--role", role, "--no-api"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _remote(central_db: Path) -> list[SegmentRecord]:
    if not central_db.exists():
        return []
    with Store.open(central_db) as store:  # no fetcher: rows as they are
        return [s for s in RecordingIndex.for_store(store).segments("cam1", 0, 1e12) if s.node == "edge1"]


def test_central_exports_a_signed_clip_of_segments_recorded_on_an_edge_node(
    kafka_broker: Broker,
    rtsp_sim_factory: SimulatorFactory,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    camera = rtsp_sim_factory([PERSON_CLIP], cameras=1).urls[0]
    served = {"host": "127.0.0.1", "port": _free_port(), "advertise": "127.0.0.1"}
    edge = _config(
        tmp_path / "edge.yaml", tmp_path / "edge", kafka_broker, camera, node="edge1", segments=served
    )
    central = _config(tmp_path / "central.yaml", tmp_path / "central", kafka_broker, camera, node="central1")
    processes.append(_run(central, "central", tmp_path / "central.log"))
    processes.append(_run(edge, "edge", tmp_path / "edge.log"))
    central_db = tmp_path / "central" / "vigil.db"

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in tmp_path.glob("*.log"))

    assert wait_until(lambda: len(_remote(central_db)) >= 4, timeout=120, interval=1.0), logs()
    segments = _remote(central_db)
    server = f"http://127.0.0.1:{served['port']}/segments/"
    assert all(s.source_url and s.source_url.startswith(server) for s in segments)
    assert all(not Path(s.path).exists() for s in segments)  # nothing is copied before it is needed
    with Store.open(tmp_path / "edge" / "edge-recordings.db") as edge_store:  # the edge's own index
        assert len(RecordingIndex.for_store(edge_store).segments("cam1", 0, 1e12)) >= len(segments)

    monkeypatch.setenv("VIGIL_NODE_TOKEN", TOKEN)
    first, second = segments[0], segments[1]
    out = tmp_path / "evidence.zip"
    args = ["clip", "--config", str(central), "--camera", "cam1", "--reason", "mediation 2027-3", "-o"]
    assert main([*args, str(out), "--start", str(first.start), "--end", str(second.end)]) == 0, logs()
    assert Path(first.path).is_file() and Path(first.path).stat().st_size == first.size
    assert verify.main([str(out), "--config", str(central)]) == 0

    processes[1].kill()  # the edge node goes away (no clean shutdown)
    processes[1].wait(10)
    later = segments[-1]
    capsys.readouterr()
    missing = tmp_path / "later.zip"
    assert main([*args, str(missing), "--start", str(later.start), "--end", str(later.end)]) == 1
    error = capsys.readouterr().err
    assert "edge node 'edge1'" in error and "unreachable" in error and "retry" in error, error
    assert not missing.exists() and not list(tmp_path.glob("later.zip*"))
    assert not Path(later.path).exists()
