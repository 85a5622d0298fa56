"""Bad networks and bad cameras: an RTSP server that keeps restarting, cameras sending garbage.

- ``rtsp-flapping``: the simulator's RTSP server is stopped and started on the same port every
  5 s (for ~40 s, or 5 minutes with ``--long``) under the real ingest supervisor. The camera
  must reconnect every time, its health must go down and up with reasons, and the record shard
  must not grow threads or file descriptors.
- ``garbage``: next to a good simulated camera, one camera's URL is a TCP server answering random
  bytes (as ``rtsp://`` and as ``tcp://``) and one is a video file with corrupted blocks. Each
  bad camera must show a clear health reason, the shard must not die, the good camera must
  record on.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from config.ingest import RecordingConfig
from config.models import CameraConfig
from ingest.sim import Simulator
from ingest.workers import IngestSupervisor
from vigil.chaos.base import (
    ChaosSettings,
    Checks,
    HealthLog,
    Outcome,
    ffprobe_error,
    process_resources,
    wait_until,
)
from vigil.core.types import HealthState
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store

FLAP_PERIOD_S = 5.0


def _supervisor(
    settings: ChaosSettings, cameras: list[CameraConfig], log: HealthLog
) -> tuple[IngestSupervisor, Store, RecordingIndex]:
    store = Store.open(settings.workdir / "vigil.db")
    index = RecordingIndex.for_store(store)
    recording = RecordingConfig(directory=settings.workdir / "recordings", segment_seconds=2.0, min_free_mb=0)
    ingest = IngestSupervisor(
        cameras, data_dir=settings.workdir, recording=recording, index=index, on_health=log, shards=1
    )
    return ingest, store, index


def _check_segments(checks: Checks, index: RecordingIndex, camera_id: str, at_least: int) -> None:
    segments = index.segments(camera_id, 0.0, float("inf"))
    bad = [f"{s.path.name}: {err}" for s in segments if (err := ffprobe_error(s.path))]
    checks.expect(
        len(segments) >= at_least and not bad,
        f"{camera_id}: {len(segments)} segments indexed, all pass ffprobe",
        f"{camera_id}: {len(segments)} segments (want >= {at_least}), ffprobe fails: {bad[:2]}",
    )


# -- flapping -------------------------------------------------------------------------------


def _flap(sim: Simulator, clip: Path, port: int, seconds: float) -> tuple[Simulator, int]:
    """Stop and start the server every `FLAP_PERIOD_S` for `seconds`; returns the last one and restarts."""
    restarts = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(FLAP_PERIOD_S)
        sim.stop()
        time.sleep(FLAP_PERIOD_S)
        sim = Simulator([clip], cameras=1, port=port).start()
        restarts += 1
    return sim, restarts


def rtsp_flapping(settings: ChaosSettings) -> Outcome:
    seconds = 300.0 if settings.long else 40.0
    did = f"RTSP server stopped and restarted every {FLAP_PERIOD_S:g} s for {seconds:.0f} s"
    checks = Checks()
    log = HealthLog()
    sim = Simulator([settings.clip], cameras=1).start()
    try:
        camera = CameraConfig.model_validate({"id": "cam1", "url": sim.urls[0]})
        ingest, store, index = _supervisor(settings, [camera], log)
        ingest.start()
        try:
            wait_until(lambda: log.is_("cam1", HealthState.ONLINE), 30)
            shard = ingest.shard_pids()[0]
            before = process_resources(shard)
            sim, restarts = _flap(sim, settings.clip, sim.port, seconds)
            back = wait_until(lambda: log.is_("cam1", HealthState.ONLINE), 30)
            after = process_resources(shard)
            _check_flapping(checks, log, restarts, back, before, after)
            checks.expect(ingest.shard_pids() == [shard], "record shard never died")
        finally:
            ingest.stop()
        _check_segments(checks, index, "cam1", restarts)
        gaps = index.gaps("cam1", 0.0, float("inf"))
        checks.expect(len(gaps) >= restarts - 1, f"{len(gaps)} gaps recorded, each with its reason")
        store.close()
    finally:
        sim.stop()
    return checks.outcome("rtsp-flapping", did)


def _check_flapping(
    checks: Checks, log: HealthLog, restarts: int, back: bool, before: tuple[int, int], after: tuple[int, int]
) -> None:
    onlines = log.transitions("cam1", HealthState.ONLINE)
    downs = [h.reason for h in log.of("cam1") if h.state is not HealthState.ONLINE]
    checks.expect(
        back and onlines >= restarts + 1,
        f"reconnected after each of {restarts} restarts ({onlines} times online)",
        f"online {onlines} times for {restarts} restarts (back at the end: {back})",
    )
    reasons = sorted({reason.split(":")[0] for reason in downs})
    checks.expect(bool(downs), f"went down {len(downs)} times with reasons: {', '.join(reasons)[:120]}")
    checks.expect(
        after[0] <= before[0] + 2 and after[1] <= before[1] + 1,
        f"shard fds {before[0]} -> {after[0]}, threads {before[1]} -> {after[1]}",
        f"shard grew: fds {before[0]} -> {after[0]}, threads {before[1]} -> {after[1]}",
    )


# -- garbage --------------------------------------------------------------------------------


class _Garbage(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5.0)
        with contextlib.suppress(OSError):
            while True:
                self.request.sendall(os.urandom(16384))
                time.sleep(0.05)


@contextlib.contextmanager
def garbage_server() -> Iterator[int]:
    """A TCP server that answers every connection with random bytes; yields its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Garbage)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="chaos-garbage", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def corrupt_copy(clip: Path, target: Path, seed: int = 13) -> Path:
    """`clip` with every 8th 4 KB block past the first 2 % overwritten by random bytes."""
    shutil.copyfile(clip, target)
    rng = random.Random(seed)
    size = target.stat().st_size
    with target.open("r+b") as handle:
        for offset in range(size // 50, size - 4096, 8 * 4096):
            handle.seek(offset)
            handle.write(rng.randbytes(4096))
    return target


def garbage(settings: ChaosSettings) -> Outcome:
    did = "cameras answering random bytes (rtsp:// and tcp://) and a corrupted file, beside a good camera"
    checks = Checks()
    log = HealthLog()
    with Simulator([settings.clip], cameras=1) as sim, garbage_server() as port:
        bad = {
            "rtsp-garbage": f"rtsp://127.0.0.1:{port}/cam1",
            "tcp-garbage": f"tcp://127.0.0.1:{port}",
            "corrupt-file": str(corrupt_copy(settings.clip, settings.workdir / "corrupt.mp4")),
        }
        cameras = [CameraConfig.model_validate({"id": "good", "url": sim.urls[0]})]
        cameras += [CameraConfig.model_validate({"id": cid, "url": url}) for cid, url in bad.items()]
        ingest, store, index = _supervisor(settings, cameras, log)
        ingest.start()
        try:
            shards = _watch_garbage(ingest, log)
            _check_garbage(checks, ingest, log, list(bad), shards)
        finally:
            ingest.stop()
        _check_segments(checks, index, "good", 3)
        store.close()
    return checks.outcome("garbage", did)


def _watch_garbage(ingest: IngestSupervisor, log: HealthLog) -> list[int]:
    wait_until(lambda: log.is_("good", HealthState.ONLINE), 30)
    shards = ingest.shard_pids()
    time.sleep(12.0)  # every bad camera fails, backs off and fails again
    return shards


def _check_garbage(
    checks: Checks, ingest: IngestSupervisor, log: HealthLog, bad: list[str], shards: list[int]
) -> None:
    health = ingest.health_snapshot()
    checks.expect(health["good"].state is HealthState.ONLINE, "good camera online throughout")
    checks.expect(
        ingest.shard_pids() == shards and all(pid_alive(pid) for pid in shards), "record shard never died"
    )
    for camera_id in bad:
        state, reason = health[camera_id].state, health[camera_id].reason
        if camera_id == "corrupt-file":
            # The recorder copies packets without decoding them: a corrupt file may record "fine".
            checks.expect(True, f"{camera_id}: {state.value}, '{reason[:90]}' (no crash)")
            continue
        checks.expect(
            state is not HealthState.ONLINE and bool(reason) and reason != "starting",
            f"{camera_id}: {state.value}, '{reason[:90]}'",
            f"{camera_id}: {state.value}, reason '{reason}'",
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
