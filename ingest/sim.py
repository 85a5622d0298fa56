"""Camera simulator: runs `ingest/rtsp_server.py` under the system Python and hands out URLs.

The RTSP server needs GStreamer's Python bindings (``gi``), which come from Debian
packages, not pip, so it runs as a child process of ``/usr/bin/python3`` rather than
inside the project virtualenv.

Example:
    >>> with Simulator([Path("samples/one-by-one-person-detection.mp4")], cameras=2) as sim:
    ...     print(sim.urls)
    ['rtsp://127.0.0.1:40123/cam1', 'rtsp://127.0.0.1:40123/cam2']
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vigil.core.errors import DependencyError, SourceError

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
INSTALL_HINT = (
    "apt-get install -y gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav"
)
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [n for n in ('filesrc', 'qtdemux', 'h264parse', 'rtph264pay') "
    "if Gst.ElementFactory.find(n) is None]; "
    "print(' '.join(missing))"
)


def check_dependencies(python: str = SYSTEM_PYTHON) -> None:
    """Check that `python` can run the RTSP server.

    Raises:
        DependencyError: The interpreter, ``gi``, GstRtspServer or a GStreamer element is
            missing; the message says what to install.
    """
    if not os.access(python, os.X_OK):
        raise DependencyError(f"the camera simulator needs {python} with GStreamer; install: {INSTALL_HINT}")
    try:
        probe = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as exc:
        raise DependencyError(f"{python} hung while loading GStreamer (30 s)") from exc
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise DependencyError(
            f"{python} cannot load GStreamer's RTSP server ({last}); install: {INSTALL_HINT}"
        )
    if probe.stdout.strip():
        raise DependencyError(f"GStreamer elements missing: {probe.stdout.strip()}; install: {INSTALL_HINT}")


class Simulator:
    """A running RTSP camera simulator: mounts ``/cam1..camN`` looping the given videos.

    Args:
        videos: H.264 MP4/MOV files; mount K loops ``videos[(K - 1) % len(videos)]``.
        cameras: Number of mounts.
        port: TCP port; 0 picks a free one at `start`.
        host: Address to listen on.
        start_timeout: Seconds to wait for the server to report it is listening.
        sub_videos: Files for the sub-stream mounts ``/camK/sub``; none: no sub-streams.
        share_media: Up to this many mounts of one file share a pipeline (0: one per mount).
            Stalling a mount then stalls its whole group. Unreliable beyond a few clients per
            pipeline with GStreamer 1.22 (most concurrent opens fail); kept for experiments.

    Raises:
        SourceError: A video file does not exist (raised at construction, before spawning).
        ValueError: `cameras` < 1 or no videos.
    """

    def __init__(
        self,
        videos: list[Path],
        cameras: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        start_timeout: float = 15.0,
        *,
        sub_videos: list[Path] | None = None,
        share_media: int = 0,
    ) -> None:
        if not videos:
            raise ValueError("Simulator: expected at least one video file, got none")
        if cameras < 1:
            raise ValueError(f"Simulator: expected cameras >= 1, got {cameras}")
        missing = [str(v) for v in [*videos, *(sub_videos or [])] if not Path(v).is_file()]
        if missing:
            raise SourceError(f"Simulator: video file(s) not found: {', '.join(missing)}")
        self.videos = [Path(v).resolve() for v in videos]
        self.cameras = cameras
        self.port = port
        self.host = host
        self.start_timeout = start_timeout
        self.sub_videos = [Path(v).resolve() for v in sub_videos or []]
        self.share_media = share_media
        self._process: subprocess.Popen[str] | None = None

    @property
    def urls(self) -> list[str]:
        """RTSP URLs of the mounts, ``rtsp://HOST:PORT/camK`` for K = 1..cameras."""
        if self.port == 0:
            raise RuntimeError("Simulator.urls: the port is chosen at start(); call start() first")
        return [f"rtsp://{self.host}:{self.port}/cam{k + 1}" for k in range(self.cameras)]

    @property
    def sub_urls(self) -> list[str]:
        """Sub-stream URLs ``rtsp://HOST:PORT/camK/sub``; empty without sub-videos."""
        return [f"{url}/sub" for url in self.urls] if self.sub_videos else []

    def stall(self, mount: str, stalled: bool = True) -> None:
        """Stop (or resume) sending one mount's packets, e.g. ``stall("/cam2")``; connections stay open.

        Raises:
            SourceError: The server is not running or rejected the command.
        """
        process = self._process
        if process is None or process.stdin is None or process.poll() is not None:
            raise SourceError("Simulator.stall: the server is not running")
        process.stdin.write(f"{'stall' if stalled else 'resume'} {mount}\n")
        process.stdin.flush()
        reply = self._read_ready_line()
        if not reply.startswith("OK"):
            raise SourceError(f"Simulator.stall: expected OK, got {reply.strip()!r}")

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the server, or None when not started."""
        return None if self._process is None else self._process.pid

    def start(self) -> Simulator:
        """Spawn the server and wait until it listens.

        Returns:
            self, so that ``sim = Simulator(...).start()`` reads naturally.

        Raises:
            DependencyError: GStreamer's RTSP server is not installed for the system Python.
            SourceError: The server exited or did not report readiness in time.
        """
        if self.running:
            return self
        check_dependencies()
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--host", self.host, "--port", str(self.port)]
        command += ["--cameras", str(self.cameras), "--exit-on-stdin-eof"]
        for video in self.videos:
            command += ["--video", str(video)]
        for video in self.sub_videos:
            command += ["--sub-video", str(video)]
        if self.share_media:
            command += ["--share-media", str(self.share_media)]
        # stderr goes to the parent's stderr: GStreamer warnings stay visible and cannot fill a pipe.
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        line = self._read_ready_line()
        if not line.startswith("READY"):
            code = self._process.poll()
            self.stop()
            raise SourceError(
                f"Simulator: expected 'READY <port>' within {self.start_timeout:.0f} s, "
                f"got {line.strip()!r} (exit code {code})"
            )
        # With port 0 the server binds a free port itself, which avoids a pick-then-bind race.
        self.port = int(line.split()[1])
        return self

    def _read_ready_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    return self._process.stdout.readline()
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `timeout` seconds. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        for pipe in (process.stdout, process.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Rendition:
    """What a simulated camera stream is transcoded to (once, cached)."""

    width: int
    height: int
    bitrate_kbps: int
    fps: int = 25
    gop_seconds: float = 2.0


MAIN_720P = Rendition(1280, 720, 2000)
SUB_360P = Rendition(640, 360, 500)


def prepare(video: Path, rendition: Rendition, cache_dir: Path) -> Path:
    """Transcode `video` once to H.264 MP4 at `rendition` (x264 High, keyframe every 2 s, no B-frames).

    No B-frames: with shared media and many TCP clients, GStreamer's RTSP server aborts
    (``backlog_push: assertion failed: (queue_duration >= 0)``) when a slow client's backlog
    ends on a B-frame whose timestamp precedes the first queued one.

    The result is cached under `cache_dir`, keyed by the source's path, size, mtime and the
    rendition, so a second sim start reuses it at once.

    Raises:
        DependencyError: ffmpeg is missing.
        SourceError: ffmpeg failed on this file.
    """
    stat = video.stat()
    key = hashlib.sha256(
        f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{rendition}".encode()
    ).hexdigest()[:16]
    target = cache_dir / f"{video.stem}-{rendition.width}x{rendition.height}-{key}.mp4"
    if target.is_file():
        return target
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise DependencyError("the site simulator transcodes with ffmpeg; install: apt-get install -y ffmpeg")
    cache_dir.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part.mp4")
    gop = str(round(rendition.fps * rendition.gop_seconds))
    command = [
        ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(video), "-an",
        "-vf", f"scale={rendition.width}:{rendition.height},fps={rendition.fps}",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "0",
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
        "-b:v", f"{rendition.bitrate_kbps}k", "-maxrate", f"{rendition.bitrate_kbps * 3 // 2}k",
        "-bufsize", f"{rendition.bitrate_kbps * 2}k", "-movflags", "+faststart", str(part),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        part.unlink(missing_ok=True)
        raise SourceError(f"ffmpeg could not transcode {video}: {result.stderr.strip()[-300:]}")
    part.replace(target)
    return target


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vigil/sim`` (default ``~/.cache/vigil/sim``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil" / "sim"


def site_simulator(
    videos: list[Path],
    cameras: int,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    cache_dir: Path | None = None,
    sub_streams: bool = True,
    share_media: int = 0,
) -> Simulator:
    """A site-scale simulator (not started): 720p25 main mounts and 360p sub mounts.

    One pipeline per mount in use (sub mounts nobody reads cost nothing): ~0.4 % server CPU per
    stream. ``share_media`` (N mounts per pipeline) would be far cheaper, but measured with 141
    cameras GStreamer's server then fails most concurrent opens (InvalidData) for tens of seconds.

    Every video is transcoded once (cached) to the main and the sub rendition.
    """
    cache = cache_dir or default_cache_dir()
    mains = [prepare(Path(v), MAIN_720P, cache) for v in videos]
    subs = [prepare(Path(v), SUB_360P, cache) for v in videos] if sub_streams else []
    return Simulator(
        mains,
        cameras=cameras,
        port=port,
        host=host,
        sub_videos=subs,
        share_media=share_media,
        start_timeout=60.0,
    )
