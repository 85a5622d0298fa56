"""One camera's recording loop: demux, remux into segments, keyframe-only health, reconnect.

`RecordLoop.run` is the body of one thread. It never decodes more than one keyframe per
``snapshot_interval_s`` (the proof that the stream decodes, and a small JPEG snapshot), so a
720p stream costs its demux and packet copies only. Everything it has to say goes out through
one ``emit`` callback as picklable events (`HealthChange`, `Segment`, `Gap`), so the same loop
runs in a shard process (events cross a queue) or in-process (tests).

Failure handling per camera: a failed open or read is retried with capped exponential backoff
and equal jitter; a session that ends after recording leaves a `Gap` from its last recorded
instant to the first instant of the next one, with the reason.

Stalls: the stream is read with FFmpeg's socket timeout (`ingest.demux`: PyAV's exact read
timeout costs a fifth of the demux CPU in GIL traffic). The shard calls `RecordLoop.check_stall`
every second: no packet for ``stall_timeout_s`` makes the camera degraded at once. The session
then ends either when the socket times out (the server went silent) or, if packets come back
first, at the first of them: the stall becomes a recorded `Gap` between two sessions, never a
silent hole inside a segment. The watchdog runs on the monotonic clock, so a jump of the wall
clock neither fakes a stall nor hides one.

Crashes and full disks: before its first session a loop closes the segments a killed process left
open (`ingest.recorder.recover_segment`) and emits them like any other. A full recording disk
(`DiskFullError`) ends the session and pauses the camera, degraded with the reason, until the
filesystem has room again; the pause is a recorded `Gap`.

Wall-clock jumps move segment times at the next segment boundary (`SegmentWriter` re-anchors):
a jump forward is a `Gap` whose reason says so, a jump back a warning (segment times overlap).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.demux import open_input
from ingest.live import LiveClock
from ingest.recorder import DiskFullError, Segment, SegmentWriter, partial_segments, recover_segment
from vigil.core.types import HealthState

logger = logging.getLogger(__name__)

SNAPSHOT_SIZE = (480, 270)
"""Snapshot JPEG size: scaled in the same swscale pass as the colour conversion, so cheap."""


@dataclass(frozen=True)
class RecordJob:
    """What a record worker needs to know about one camera (picklable, no config objects).

    Attributes:
        camera_id: Camera id.
        url: Main-stream URL with credentials resolved.
        directory: Recording root (segments go under ``<directory>/<camera_id>/...``).
        snapshot_dir: Where ``<camera_id>.jpg`` is refreshed; None: no snapshot files.
        record: False: health only (packets are not written).
        segment_seconds: Target segment length.
        snapshot_interval_s: Decode one keyframe at most this often.
        stall_timeout_s: No packet for this long reopens the stream.
        open_timeout_s: Seconds allowed to open it.
        backoff_initial_s / backoff_max_s: Reconnect delay, doubling per failure, capped.
        burst_s: Once caught up with the camera, sleep this long and then read what arrived in
            one go (`ingest.live`); 0 reads as packets come. Recording then runs up to
            `burst_s` behind live, with each packet still stamped with its capture time.
        min_free_bytes: Recording pauses while the recording filesystem has less free than this.
    """

    camera_id: str
    url: str
    directory: Path
    snapshot_dir: Path | None = None
    record: bool = True
    segment_seconds: float = 10.0
    snapshot_interval_s: float = 60.0
    stall_timeout_s: float = 10.0
    open_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    # 3 s, not more: a link that comes back for 5 s (flapping) is caught; cameras refused
    # every few seconds cost nothing measurable (`vigil chaos --scenario rtsp-flapping`).
    backoff_max_s: float = 3.0
    burst_s: float = 0.0
    min_free_bytes: int = 0


@dataclass(frozen=True)
class HealthChange:
    """A camera's recording side changed state (or reason)."""

    camera_id: str
    state: HealthState
    reason: str
    since: float


@dataclass(frozen=True)
class Gap:
    """A span with no recording, with why."""

    camera_id: str
    start: float
    end: float
    reason: str


@dataclass
class RecordStats:
    """Counters of one camera's record loop (written by its thread only).

    Attributes:
        packets: Video packets received.
        dropped: Packets not recorded (before the first keyframe of a session).
        keyframes_decoded: Keyframes decoded for health/snapshots.
        bytes_recorded: Bytes of packets written to segments.
        reconnects: Sessions reopened after a failure.
        last_packet_at: Wall time of the newest packet, or None.
        cpu_seconds: CPU time of the camera's thread.
    """

    packets: int = 0
    dropped: int = 0
    keyframes_decoded: int = 0
    bytes_recorded: int = 0
    reconnects: int = 0
    last_packet_at: float | None = None
    cpu_seconds: float = 0.0
    segments: int = field(default=0)


Event = HealthChange | Segment | Gap
Emit = Callable[[Event], None]


_DISK_POLL_S = 1.0
"""How often a camera paused by a full disk looks for free space again."""

_PENDING_MAX = 250
"""Packets held back while the live edge is unknown (10 s at 25 fps); past it they are written
stamped with the time they were read."""


class RecordLoop:
    """Records one camera until `stop` is set. Run `run` in its own thread."""

    def __init__(
        self, job: RecordJob, emit: Emit, stop: threading.Event | None = None, start_delay_s: float = 0.0
    ) -> None:
        self.job = job
        self.start_delay_s = start_delay_s
        self.emit = emit
        self.stop = stop or threading.Event()
        self.stats = RecordStats()
        self._state = HealthState.OFFLINE
        self._reason = "starting"
        self._state_lock = threading.Lock()  # `_set` runs on this loop's thread and the shard's watchdog
        self._stalled_since: float | None = None  # monotonic, like `_last_packet_mono`
        self._last_packet_mono: float | None = None
        self._session_packets = 0
        self._gap_from: float | None = None
        self._gap_reason = ""
        self._captured = time.time()  # capture time of the packet being written: the writer's clock

    def run(self) -> None:
        # Staggered start: a site's cameras do not all hit the recorder (or the NVR) in the same instant.
        if self.stop.wait(self.start_delay_s):
            return
        if self.job.record:
            self._recover("recorder was not running (restart or crash)")
        failures = 0
        while not self.stop.is_set():
            reason, was_online, disk_full = self._attempt()
            self.stats.cpu_seconds = time.thread_time()
            if self.stop.is_set():
                break
            self._gap_reason = reason
            if disk_full:
                self._set(HealthState.DEGRADED, f"recording paused: {reason}"[:200])
                self._wait_for_space()
                continue
            failures = 0 if was_online else failures + 1
            self._set(HealthState.DEGRADED if was_online else HealthState.OFFLINE, reason)
            delay = min(self.job.backoff_max_s, self.job.backoff_initial_s * 2 ** max(failures - 1, 0))
            # Equal jitter: cameras that failed together (a switch rebooting) do not retry together.
            if self.stop.wait(random.uniform(delay / 2, delay)):
                break
            self.stats.reconnects += 1
        self._set(HealthState.OFFLINE, "stopped")

    def _attempt(self) -> tuple[str, bool, bool]:
        """One session; returns (why it ended, whether it was online, whether the disk was full)."""
        try:
            return "stream ended", self._session(), False
        except _Stalled as exc:
            return str(exc), True, False
        except DiskFullError as exc:
            return str(exc.strerror or exc)[:200], True, True
        except Exception as exc:  # noqa: BLE001 - a camera's failure must never escape its thread
            reason = _describe(exc)
            if isinstance(exc, TimeoutError) and self._session_packets < self.stats.packets:
                # The socket went silent mid-session, possibly before the watchdog's next look.
                self._stalled_since = self._stalled_since or self._last_packet_mono
            if self._stalled_since is not None:
                silent = time.monotonic() - self._stalled_since
                reason = f"stalled: no packet for {silent:.0f} s ({reason})"[:200]
            # Degraded by the watchdog counts as online: it worked until it stalled.
            return reason, self._state is HealthState.ONLINE or self._stalled_since is not None, False

    def _wait_for_space(self) -> None:
        """Block (stop-aware) until the recording filesystem has room; then close what was cut short."""
        import shutil

        while not self.stop.wait(_DISK_POLL_S):
            try:
                if shutil.disk_usage(self.job.directory).free >= self.job.min_free_bytes:
                    break
            except OSError:
                continue
        else:
            return
        logger.warning("camera %s: disk space is back, recording resumes", self.job.camera_id)
        self._recover(self._gap_reason)

    def _recover(self, gap_reason: str) -> None:
        """Close (or discard) the segments a crash or a full disk left open, and emit them."""
        for part in partial_segments(self.job.directory, self.job.camera_id):
            try:
                segment = recover_segment(part, self.job.camera_id)
            except OSError as exc:  # the disk filled again: leave it for the next try
                logger.warning("camera %s: could not recover %s: %s", self.job.camera_id, part.name, exc)
                continue
            if segment is not None:
                self._segment(segment)
        self._gap_reason = gap_reason

    # -- one session ------------------------------------------------------------------------

    def _session(self) -> bool:
        """Read until the stream fails; returns whether it was online (packets flowed)."""
        job = self.job
        container = open_input(job.url, job.open_timeout_s, job.stall_timeout_s, socket_timeout=True)
        self._stalled_since = None
        self._session_packets = self.stats.packets  # packets before this session
        writer: SegmentWriter | None = None
        # Packets read before the live edge is known (a server's start-up burst) wait here, so
        # the segment is anchored to when they were sent, not to when the burst was read.
        pending: list[tuple[Any, float]] = []
        try:
            if not container.streams.video:
                raise ValueError(f"no video stream in {job.url}")
            stream = container.streams.video[0]
            decoder = _keyframe_decoder(stream)
            clock = LiveClock(float(stream.time_base) if stream.time_base else 1 / 90000)
            if job.record:
                writer = SegmentWriter(
                    job.camera_id,
                    job.directory,
                    stream,
                    job.segment_seconds,
                    self._segment,
                    clock=lambda: self._captured,
                    min_free_bytes=job.min_free_bytes,
                )
            packets = container.demux(stream)
            if "://" not in job.url or job.url.startswith("file:"):
                packets = _paced(packets, clock.time_base, self.stop)
            self._read_packets(packets, decoder, clock, writer, pending)
            return self._state is HealthState.ONLINE
        finally:
            if writer is not None:
                for held, _ in pending:
                    self._write(writer, held, self._captured)
                writer.close()
            container.close()

    def _read_packets(
        self,
        packets: Iterable[Any],
        decoder: Any,
        clock: LiveClock,
        writer: SegmentWriter | None,
        pending: list[tuple[Any, float]],
    ) -> None:
        """The per-packet loop: pace by bursts, obey the watchdog, check health, record.

        Returns when `stop` is set or the stream ends; raises `_Stalled` on the first packet
        after a stall, and whatever the demuxer raises.
        """
        job = self.job
        next_snapshot = 0.0
        last_cpu = 0.0
        for packet in clock.read(packets):
            if self.stop.is_set():
                break  # (with bursts, up to burst_s of buffered video is not written)
            if packet.size == 0:
                continue
            now = time.time()
            mono = time.monotonic()
            media_time = clock.media_time
            captured = clock.capture_time(media_time, now)
            if job.burst_s and clock.caught_up:
                self.stop.wait(job.burst_s)  # caught up: let a burst queue up in the socket
            if self._stalled_since is not None:
                raise _Stalled(f"stalled: no packet for {mono - self._stalled_since:.0f} s")
            self.stats.packets += 1
            self.stats.last_packet_at = now
            self._last_packet_mono = mono
            if packet.is_keyframe and mono >= next_snapshot and self._keyframe_decodes(decoder, packet):
                next_snapshot = mono + job.snapshot_interval_s
            if writer is not None:
                # Only until the live edge is known do packets wait; after that they go straight in.
                if pending or (clock.edge.anchor is None and media_time is not None):
                    self._hold_or_flush(writer, pending, clock, packet, media_time, captured, now)
                else:
                    self._write(writer, packet, captured)
            if mono - last_cpu > 1.0:
                self.stats.cpu_seconds = time.thread_time()
                last_cpu = mono

    def _keyframe_decodes(self, decoder: Any, packet: Any) -> bool:
        """Decode a due keyframe for health and the snapshot; returns whether it decoded.

        Raises:
            ValueError: Hundreds of packets arrived and not one keyframe has decoded.
        """
        if self._decode_keyframe(decoder, packet):
            if self._state is not HealthState.ONLINE:
                self._set(HealthState.ONLINE, "receiving keyframes")
            return True
        if self.stats.keyframes_decoded == 0 and self.stats.packets > 500:
            raise ValueError("packets arrive but no keyframe decodes")
        return False

    def _hold_or_flush(
        self,
        writer: SegmentWriter,
        pending: list[tuple[Any, float]],
        clock: LiveClock,
        packet: Any,
        media_time: float | None,
        captured: float,
        now: float,
    ) -> None:
        """Hold `packet` while the live edge is unknown; else write the held ones, then it."""
        if clock.edge.anchor is None and media_time is not None and len(pending) < _PENDING_MAX:
            pending.append((packet, media_time))
            return
        for held, held_media in pending:
            self._write(writer, held, clock.capture_time(held_media, now))
        pending.clear()
        self._write(writer, packet, captured)

    def _write(self, writer: SegmentWriter, packet: Any, captured: float) -> None:
        """Write one packet, `captured` being its capture time (the writer's clock meanwhile)."""
        self._captured = captured
        before = writer.bytes_written
        writer.write(packet)
        if writer.bytes_written == before:
            self.stats.dropped += 1
        self.stats.bytes_recorded += writer.bytes_written - before

    def check_stall(self, now: float) -> None:
        """Watchdog, called about once a second from another thread: degrade a silent camera.

        A camera that received packets this session and none for ``stall_timeout_s`` is
        degraded; its session ends at the next packet or when the socket times out.

        Args:
            now: ``time.monotonic()`` (not the wall clock, which may jump).
        """
        last = self._last_packet_mono
        if self._state is not HealthState.ONLINE or last is None or self._stalled_since is not None:
            return
        if now - last > self.job.stall_timeout_s:
            self._stalled_since = last
            self._set(HealthState.DEGRADED, f"stalled: no packet for {self.job.stall_timeout_s:g} s")

    def _decode_keyframe(self, decoder: Any, packet: Any) -> bool:
        # Feed the keyframe alone and flush at once: with B-frames the decoder would otherwise hold
        # it back for two keyframe intervals.
        try:
            frames = decoder.decode(packet) or decoder.decode(None)
        except Exception as exc:  # noqa: BLE001 - a corrupt keyframe is a health fact, not a crash
            logger.debug("camera %s: keyframe did not decode: %s", self.job.camera_id, exc)
            frames = []
        decoder.flush_buffers()
        if not frames:
            return False
        self.stats.keyframes_decoded += 1
        if self.job.snapshot_dir is not None:
            self._write_snapshot(frames[0])
        return True

    def _write_snapshot(self, frame: Any) -> None:
        import cv2

        width, height = SNAPSHOT_SIZE
        image = frame.to_ndarray(width=width, height=height, format="bgr24")
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            return
        assert self.job.snapshot_dir is not None
        self.job.snapshot_dir.mkdir(parents=True, exist_ok=True)
        target = self.job.snapshot_dir / f"{self.job.camera_id}.jpg"
        part = target.with_suffix(".jpg.part")
        part.write_bytes(jpeg.tobytes())
        os.replace(part, target)

    def _segment(self, segment: Segment) -> None:
        if self._gap_from is not None and segment.start > self._gap_from:
            reason = self._gap_reason
            if segment.clock_jump_s > 0:
                reason = f"wall clock jumped {segment.clock_jump_s:+.0f} s (no video is missing here)"
            self.emit(Gap(segment.camera_id, self._gap_from, segment.start, reason))
        elif self._gap_from is not None and segment.start < self._gap_from - 1.0:
            logger.warning(
                "camera %s: wall clock went back %.0f s: this segment's times overlap earlier ones",
                segment.camera_id, self._gap_from - segment.start,
            )  # fmt: skip
        self._gap_from = segment.end
        self.stats.segments += 1
        self.emit(segment)

    def _set(self, state: HealthState, reason: str) -> None:
        with self._state_lock:
            if state is self._state and reason == self._reason:
                return
            if state is not self._state:
                logger.info(
                    "camera %s: %s -> %s (%s)", self.job.camera_id, self._state.value, state.value, reason
                )
            self._state, self._reason = state, reason
            self.emit(HealthChange(self.job.camera_id, state, reason, time.time()))


def _keyframe_decoder(stream: Any) -> Any:
    """The stream's decoder, set up for the occasional keyframe (health and snapshots)."""
    decoder = stream.codec_context
    decoder.thread_count = 1
    # Snapshots are 480x270 thumbnails and a proof that the stream decodes: deblocking would
    # cost 28 % of each keyframe's decode and the downscale hides what it fixes.
    decoder.options = {"skip_loop_filter": "all"}
    return decoder


def _paced(packets: Iterable[Any], time_base: float, stop: threading.Event) -> Iterator[Any]:
    """A file read as a camera sends it: no packet before its media time since the first one.

    Unpaced, a looping file camera was remuxed as fast as the disk allows: 109 overlapping
    segments in 20 s from one 139 s clip.
    """
    started = time.monotonic()
    first: int | None = None
    for packet in packets:
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is not None:
            first = stamp if first is None else first
            delay = started + (stamp - first) * time_base - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
        yield packet


class _Stalled(Exception):
    """Packets came back after a stall: the session ends so the stall is recorded as a gap."""


def _describe(exc: BaseException) -> str:
    """A short, stable reason for a health report (no counters, so repeats compare equal)."""
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
