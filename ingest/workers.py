"""Camera worker supervisor: cost by role, sharded over processes, one health per camera.

`IngestSupervisor` takes the camera configs and runs, per camera:

- record side (every enabled camera): a `RecordLoop` thread that demuxes the main stream,
  remuxes it into MP4 segments and decodes one keyframe per ``snapshot_interval_s`` for
  health. These threads live in ``shards`` child processes (about 36 cameras each), because
  141 demux threads in one Python process fall into GIL contention;
- detect side (AI cameras only, in this process): a `StreamSource` that decodes
  ``detect_url`` (or the main stream) and hands frames over at ``detect_fps``; the runtime
  reads them with `source(camera_id).read(timeout)`.

A camera's health is the worse of its two sides (online / degraded / offline with the reason
of the side that fails). Shard events (health, closed segments, gaps, counters) arrive on
one queue and are applied by one dispatcher thread, which also writes the recording index in
batches. A shard that dies is restarted with its cameras; a camera never blocks another.

Example:
    >>> sup = IngestSupervisor(config.cameras, data_dir=Path("vigil-data"), index=index)
    >>> sup.start()
    >>> frame = sup.source("cam1").read(timeout=0.1)
    >>> sup.health_snapshot()["cam42"].state
    <HealthState.ONLINE: 'online'>
    >>> sup.stop()
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from config.ingest import RecordingConfig
from config.models import CameraConfig, CameraRole
from ingest.record_worker import Gap, HealthChange, RecordJob, RecordLoop, RecordStats
from ingest.recorder import Segment
from ingest.sources import StreamSource
from vigil.core.types import CameraHealth, HealthState

logger = logging.getLogger(__name__)

CAMERAS_PER_SHARD = 36
SHARD_NICENESS = 0
"""Niceness of the record shards. Raising it favours detection over recording when the cores are
short: on an oversubscribed 2-core box, 19 gave AI decode 1.00 of source rate but recording only
0.70 of live (gaps); 0 gave recording 1.00 and AI 0.65. Evidence comes first, so 0."""
_STATS_PERIOD_S = 1.0
DETECT_BURST_S = 0.2
"""AI sources decode in bursts of this many seconds of video (`StreamSource` ``burst_s``): one
detect period at 5 fps, so detection sees each frame at most one period later."""
RECORD_BURST_S = 0.5
"""Record loops read in bursts of this many seconds (`RecordJob` ``burst_s``, `ingest.live`):
141 cameras' shards 72 -> 42 % CPU; recording runs at most half a second behind live."""


class RecordingSink(Protocol):
    """Where closed segments and gaps go (`vigil.infra.db.recordings.RecordingIndex` is one)."""

    def add_segments(self, segments: Sequence[Segment]) -> None: ...

    def add_gaps(self, gaps: Sequence[Gap]) -> None: ...


@dataclass(frozen=True)
class CameraStats:
    """Per-camera counters for metrics and the benchmark.

    Attributes:
        camera_id: Camera id.
        role: ``ai`` or ``record``.
        packets: Main-stream packets received (record side).
        decoded: Frames decoded (detect side; keyframes on the record side).
        delivered: Frames handed to detection.
        dropped: Frames dropped (stale detect frames; packets before a session's first keyframe).
        reconnects: Reopened sessions, both sides.
        bytes_recorded: Bytes written to segments.
        segments: Segments closed.
        last_frame_age_s: Seconds since the newest packet/frame, None before the first.
        cpu_seconds: CPU time of the camera's record thread (the detect side is not split per thread).
    """

    camera_id: str
    role: str
    packets: int = 0
    decoded: int = 0
    delivered: int = 0
    dropped: int = 0
    reconnects: int = 0
    bytes_recorded: int = 0
    segments: int = 0
    last_frame_age_s: float | None = None
    cpu_seconds: float = 0.0


def resolve_url(url: str, camera: CameraConfig) -> str:
    """The URL with the camera's login (from the environment) inserted, if it has credentials."""
    creds = camera.credentials
    if creds is None or "://" not in url:
        return url
    user, password = os.environ.get(creds.username_env), os.environ.get(creds.password_env)
    if not user:
        return url
    parts = urlsplit(url)
    if parts.username:
        return url
    login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.netloc}"))


def record_job(
    camera: CameraConfig, recording: RecordingConfig, data_dir: Path, burst_s: float = RECORD_BURST_S
) -> RecordJob:
    """The record-side job for one camera."""
    directory = recording.directory or data_dir / "recordings"
    return RecordJob(
        camera_id=camera.id,
        url=resolve_url(camera.url, camera),
        directory=Path(directory),
        snapshot_dir=data_dir / "snapshots",
        record=recording.enabled,
        segment_seconds=recording.segment_seconds,
        snapshot_interval_s=recording.snapshot_interval_s,
        stall_timeout_s=camera.stall_timeout_s,
        burst_s=burst_s,
        min_free_bytes=int(recording.min_free_mb * 1e6),
    )


# -- shard process ---------------------------------------------------------------------------


def _shard_main(index: int, commands: Any, events: Any) -> None:
    """Body of one shard process: runs `RecordLoop` threads, obeys add/remove/stop commands."""
    logging.basicConfig(level=logging.WARNING, format=f"shard{index} %(name)s: %(message)s")
    if SHARD_NICENESS:
        with contextlib.suppress(OSError):
            os.nice(SHARD_NICENESS)
    recorders = _ShardRecorders(events)
    parent = os.getppid()
    terminated = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # `systemctl stop`, `docker stop` and Ctrl-C signal the whole process group: the supervisor
        # stops shards through the command queue; a SIGTERM here still closes the open segments.
        signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    running = True
    while running and not terminated.is_set():
        if os.getppid() != parent:
            break  # the supervisor died without stopping us: do not record on as an orphan
        try:
            command = commands.get(timeout=_STATS_PERIOD_S)
        except queue.Empty:
            command = None
        if command is not None:
            verb, arg = command
            running = recorders.obey(verb, arg)
        recorders.watch(time.monotonic())  # the stall watchdog ignores wall-clock jumps
    recorders.stop_all()
    events.put(("stopped", index))


class _ShardRecorders:
    """The `RecordLoop` threads of one shard process, by camera id (the child side of `_Shard`)."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self.loops: dict[str, tuple[RecordLoop, threading.Thread]] = {}

    def emit(self, event: object) -> None:
        self.events.put(("event", event))

    def obey(self, verb: str, arg: Any) -> bool:
        """Carry out one command from the supervisor; returns False for ``stop``."""
        if verb == "add":
            self.add(arg)
        elif verb == "remove":
            self.remove(arg)
        return verb != "stop"

    def add(self, job: RecordJob) -> None:
        self.remove(job.camera_id)
        loop = RecordLoop(job, self.emit, start_delay_s=0.05 * (len(self.loops) % 40))
        thread = threading.Thread(target=loop.run, name=f"rec-{job.camera_id}", daemon=True)
        self.loops[job.camera_id] = (loop, thread)
        thread.start()

    def remove(self, camera_id: str) -> None:
        entry = self.loops.pop(camera_id, None)
        if entry is not None:
            entry[0].stop.set()
            entry[1].join(timeout=3.0)

    def watch(self, now: float) -> None:
        """The once-a-period round: stall watchdog over every camera, then their counters out."""
        for loop, _ in self.loops.values():
            loop.check_stall(now)
        self._send_stats()

    def stop_all(self) -> None:
        for loop, _ in self.loops.values():
            loop.stop.set()
        # One deadline for all: a thread blocked in a read is bounded by FFmpeg's I/O timeout anyway.
        deadline = time.monotonic() + 5.0
        for _, thread in self.loops.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        self._send_stats()

    def _send_stats(self) -> None:
        self.events.put(("stats", {cid: replace(loop.stats) for cid, (loop, _) in self.loops.items()}))


class _Shard:
    def __init__(self, index: int, context: Any, events: Any) -> None:
        self.index = index
        self.context = context
        self.events = events
        self.jobs: dict[str, RecordJob] = {}
        self.commands: Any = None
        self.process: Any = None

    def start(self) -> None:
        self.commands = self.context.Queue()
        self.process = self.context.Process(
            target=_shard_main,
            args=(self.index, self.commands, self.events),
            name=f"vigil-rec{self.index}",
            daemon=True,
        )
        self.process.start()
        for job in self.jobs.values():
            self.commands.put(("add", job))

    def add(self, job: RecordJob) -> None:
        self.jobs[job.camera_id] = job
        self.commands.put(("add", job))

    def remove(self, camera_id: str) -> None:
        if self.jobs.pop(camera_id, None) is not None:
            self.commands.put(("remove", camera_id))

    def stop(self, timeout: float) -> None:
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            self.commands.put(("stop", None))
        self.process.join(timeout)
        if self.process.is_alive():
            logger.warning("record shard %d did not stop in %.0f s; terminating", self.index, timeout)
            self.process.terminate()
            self.process.join(2.0)


# -- supervisor ------------------------------------------------------------------------------


HealthCallback = Callable[[CameraHealth], None]


def record_shard_count(recording: RecordingConfig, enabled_cameras: int) -> int:
    """Record processes for a site: ``recording.shards``, or one per 36 enabled cameras (1..8)."""
    return recording.shards or max(1, min(8, math.ceil(enabled_cameras / CAMERAS_PER_SHARD)))


class IngestSupervisor:
    """Runs every camera's workers by role; add/remove/enable at runtime without touching others.

    Args:
        cameras: Camera configs; disabled ones are known but not run.
        data_dir: Root for recordings (unless ``recording.directory``) and snapshots.
        recording: Site recording settings.
        index: Where closed segments and gaps are written (`vigil.infra.db.recordings.RecordingIndex`).
        on_health: Called (from the dispatcher or a reader thread) on every camera health change.
        shards: Record processes; 0 uses ``recording.shards`` or one per 36 cameras.
        fast_detect_decode: Decode AI sub-streams without deblocking (~20 % cheaper; see
            `StreamSource` ``skip_loop_filter``). Only where a ``detect_url`` is set.
        bursts: Read caught-up streams in bursts (`RECORD_BURST_S`, `DETECT_BURST_S`); False
            reads every packet as it comes (the benchmark's comparison).
    """

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        *,
        data_dir: Path,
        recording: RecordingConfig | None = None,
        index: RecordingSink | None = None,
        on_health: HealthCallback | None = None,
        shards: int = 0,
        fast_detect_decode: bool = False,
        bursts: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.fast_detect_decode = fast_detect_decode
        self.bursts = bursts
        self.recording = recording or RecordingConfig()
        self.index = index
        self.on_health = on_health
        self.cameras: dict[str, CameraConfig] = {camera.id: camera for camera in cameras}
        enabled = sum(camera.enabled for camera in cameras)
        self.shard_count = shards or record_shard_count(self.recording, enabled)
        self._context = mp.get_context("spawn")
        self._events: Any = None
        self._shards: list[_Shard] = []
        self._sources: dict[str, StreamSource] = {}
        self._record_health: dict[str, HealthChange] = {}
        self._record_stats: dict[str, RecordStats] = {}
        self._published: dict[str, tuple[HealthState, str]] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.segments_closed = 0
        self.gaps = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the shards, then every enabled camera; returns at once (cameras connect in background)."""
        self._stop.clear()
        self._stopping.clear()
        self._events = self._context.Queue()
        self._shards = [_Shard(i, self._context, self._events) for i in range(self.shard_count)]
        for shard in self._shards:
            shard.start()
        for name, target in (("ingest-events", self._dispatch), ("ingest-watch", self._watch_shards)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        for camera in self.cameras.values():
            if camera.enabled:
                self._start_camera(camera)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop detect sources, then shards (segments are closed), then the dispatcher. Bounded."""
        self._stopping.set()
        with self._lock:
            sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            source.stop(timeout=3.0)
        for shard in self._shards:
            shard.stop(timeout)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self._drain()

    # -- runtime changes ---------------------------------------------------------------------

    def add_camera(self, camera: CameraConfig) -> None:
        """Add (or replace) a camera and start it if enabled; other cameras are not touched."""
        with self._lock:
            if camera.id in self.cameras:
                self._stop_camera(camera.id)
            self.cameras[camera.id] = camera
            if camera.enabled:
                self._start_camera(camera)

    def remove_camera(self, camera_id: str) -> None:
        """Stop and forget a camera. Its recordings stay. Unknown ids are ignored."""
        with self._lock:
            self._stop_camera(camera_id)
            self.cameras.pop(camera_id, None)
            self._record_health.pop(camera_id, None)
            self._record_stats.pop(camera_id, None)

    def set_enabled(self, camera_id: str, enabled: bool) -> None:
        """Enable or disable a configured camera.

        Raises:
            KeyError: Unknown camera id.
        """
        camera = self.cameras[camera_id]
        if camera.enabled != enabled:
            self.add_camera(camera.model_copy(update={"enabled": enabled}))

    def apply(self, cameras: Iterable[CameraConfig]) -> tuple[list[str], list[str], list[str]]:
        """Reconcile with a reloaded config: only cameras whose config changed are restarted.

        Returns:
            (added, removed, changed) camera ids.
        """
        wanted = {camera.id: camera for camera in cameras}
        added = [cid for cid in wanted if cid not in self.cameras]
        removed = [cid for cid in self.cameras if cid not in wanted]
        changed = [cid for cid in wanted if cid in self.cameras and wanted[cid] != self.cameras[cid]]
        for cid in removed:
            self.remove_camera(cid)
        for cid in added + changed:
            self.add_camera(wanted[cid])
        return added, removed, changed

    # -- what the runtime reads -------------------------------------------------------------

    def source(self, camera_id: str) -> StreamSource | None:
        """The detect-side frame source of an enabled AI camera (``read(timeout)``), else None."""
        with self._lock:
            return self._sources.get(camera_id)

    def health_snapshot(self) -> dict[str, CameraHealth]:
        """Health of every configured camera, keyed by id (disabled ones: offline, 'disabled')."""
        with self._lock:
            return {cid: self._health(cid) for cid in self.cameras}

    def stats(self) -> dict[str, CameraStats]:
        """Counters of every running camera."""
        now = time.time()
        out: dict[str, CameraStats] = {}
        with self._lock:
            for cid, camera in self.cameras.items():
                if not camera.enabled:
                    continue
                rec = self._record_stats.get(cid, RecordStats())
                src = self._sources.get(cid)
                last = rec.last_packet_at
                if src is not None and src.health.last_frame_at is not None:
                    last = max(last or 0.0, src.health.last_frame_at)
                out[cid] = CameraStats(
                    camera_id=cid,
                    role=camera.role.value,
                    packets=rec.packets,
                    decoded=rec.keyframes_decoded + (src.decoded if src else 0),
                    delivered=src.delivered if src else 0,
                    dropped=rec.dropped + (src.dropped if src else 0),
                    reconnects=rec.reconnects + (src.reconnects if src else 0),
                    bytes_recorded=rec.bytes_recorded,
                    segments=rec.segments,
                    last_frame_age_s=None if last is None else max(0.0, now - last),
                    cpu_seconds=rec.cpu_seconds,
                )
        return out

    def shard_pids(self) -> list[int]:
        """Process ids of the record shards (for CPU accounting)."""
        return [s.process.pid for s in self._shards if s.process is not None and s.process.pid]

    # -- internals ---------------------------------------------------------------------------

    def _start_camera(self, camera: CameraConfig) -> None:
        shard = min(self._shards, key=lambda s: len(s.jobs))
        # `CameraConfig.recording` (per-camera overrides) exists once config/models.py hooks it in.
        override = getattr(camera, "recording", None)
        burst_s = RECORD_BURST_S if self.bursts else 0.0
        shard.add(record_job(camera, self.recording.for_camera(override), self.data_dir, burst_s))
        if camera.role is CameraRole.AI:
            source = StreamSource(
                camera.id,
                resolve_url(camera.detect_url or camera.url, camera),
                detect_fps=camera.detect_fps,
                on_health=functools.partial(self._on_source_health, camera.id),
                stall_timeout=camera.stall_timeout_s,
                backoff_max=8.0,
                loop=True,
                skip_loop_filter=self.fast_detect_decode and camera.detect_url is not None,
                burst_s=DETECT_BURST_S if self.bursts else 0.0,
                # A burst may hold two due frames: keep both for detection (the tracker wants the cadence).
                queue_size=2,
            )
            self._sources[camera.id] = source
            source.start()

    def _on_source_health(self, camera_id: str, _health: CameraHealth) -> None:
        self._publish(camera_id)

    def _stop_camera(self, camera_id: str) -> None:
        for shard in self._shards:
            shard.remove(camera_id)
        source = self._sources.pop(camera_id, None)
        if source is not None:
            source.stop(timeout=3.0)
        self._publish(camera_id)

    def _health(self, camera_id: str) -> CameraHealth:
        camera = self.cameras[camera_id]
        if not camera.enabled:
            return CameraHealth(camera_id, HealthState.OFFLINE, "disabled", since=0.0)
        rec = self._record_health.get(camera_id)
        stats = self._record_stats.get(camera_id, RecordStats())
        sides = [(rec.state, rec.reason, rec.since) if rec else (HealthState.OFFLINE, "starting", 0.0)]
        src = self._sources.get(camera_id)
        frames, last, reconnects = stats.packets, stats.last_packet_at, stats.reconnects
        if src is not None:
            h = src.health
            sides.append((h.state, f"detect stream: {h.reason}", h.since))
            frames, reconnects = h.frames, reconnects + h.reconnects
            last = h.last_frame_at or last
        order = {HealthState.ONLINE: 0, HealthState.DEGRADED: 1, HealthState.OFFLINE: 2}
        states = {side[0] for side in sides}
        if len(states) > 1:
            # One side down, the other up: the camera is degraded, for the failing side's reason.
            worst = max(sides, key=lambda side: order[side[0]])
            state, reason, since = HealthState.DEGRADED, worst[1], worst[2]
        else:
            state, reason, since = (
                sides[0][0],
                sides[-1][1] if len(sides) > 1 else sides[0][1],
                max(side[2] for side in sides),
            )
        return CameraHealth(
            camera_id, state, reason, since, last_frame_at=last, frames=frames, reconnects=reconnects
        )

    def _publish(self, camera_id: str) -> None:
        if self.on_health is None:
            return
        with self._lock:
            if camera_id not in self.cameras:
                return
            health = self._health(camera_id)
            key = (health.state, health.reason)
            if self._published.get(camera_id) == key:
                return
            self._published[camera_id] = key
        try:
            self.on_health(health)
        except Exception:
            logger.exception("camera %s: on_health callback failed", camera_id)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            self._drain(block=0.2)

    def _drain(self, block: float = 0.0) -> None:
        if self._events is None:
            return
        segments, gaps, changed = self._read_events(block)
        self.segments_closed += len(segments)
        self.gaps += len(gaps)
        self._write_index(segments, gaps)
        for camera_id in changed:
            self._publish(camera_id)

    def _read_events(self, block: float) -> tuple[list[Segment], list[Gap], set[str]]:
        """Apply queued counters and health; collect up to about 200 segments and gaps for the index.

        Returns:
            The segments and gaps read, and the ids of cameras whose record-side health changed.
        """
        segments: list[Segment] = []
        gaps: list[Gap] = []
        changed: set[str] = set()
        try:
            item = self._events.get(timeout=block) if block else self._events.get_nowait()
            while True:
                kind, payload = item
                if kind == "stats":
                    with self._lock:
                        self._record_stats.update(
                            {cid: st for cid, st in payload.items() if cid in self.cameras}
                        )
                elif isinstance(payload, HealthChange):
                    with self._lock:
                        if payload.camera_id in self.cameras:
                            self._record_health[payload.camera_id] = payload
                    changed.add(payload.camera_id)
                elif isinstance(payload, Segment):
                    segments.append(payload)
                elif isinstance(payload, Gap):
                    gaps.append(payload)
                if len(segments) + len(gaps) > 200:
                    break
                item = self._events.get_nowait()
        except (queue.Empty, EOFError, OSError):
            pass
        return segments, gaps, changed

    def _write_index(self, segments: list[Segment], gaps: list[Gap]) -> None:
        """Write one batch to the recording index; a failing index is logged, never raised."""
        if self.index is None:
            return
        try:
            if segments:
                self.index.add_segments(segments)
            if gaps:
                self.index.add_gaps(gaps)
        except Exception:
            logger.exception("could not index %d segments / %d gaps", len(segments), len(gaps))

    def _watch_shards(self) -> None:
        while not self._stopping.wait(1.0):
            for shard in self._shards:
                if shard.process is not None and not shard.process.is_alive() and not self._stopping.is_set():
                    logger.error(
                        "record shard %d died (exit %s); restarting its %d cameras",
                        shard.index, shard.process.exitcode, len(shard.jobs),
                    )  # fmt: skip
                    shard.start()
