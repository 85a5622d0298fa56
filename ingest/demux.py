"""Opening a camera stream with PyAV: one place for the options every reader uses.

RTSP is read over TCP (no loss over loopback or a congested site network) and without probing
(the SDP already describes the stream; probing would add seconds of start-up per camera).

Stall timeouts come in two kinds:

- exact (the default): PyAV's read timeout, an FFmpeg interrupt callback that fails a read as
  soon as no packet arrived for `stall_timeout_s`. It takes the GIL and calls
  ``time.monotonic()`` on every interrupt check, thousands of times a second per stream;
  with 48 demux threads in one process that cost 16-18 % CPU against 14 % without it
  (``python benchmarks/demux_timeout.py``).
- ``socket_timeout=True`` (RTSP only): FFmpeg's own socket I/O timeout, free of Python. It only
  fires once the socket is silent, and a server that keeps sending RTCP reports over the
  interleaved TCP connection while the video has stopped keeps it alive for several seconds
  more (11 s for a 3 s timeout against GStreamer's server). The caller then needs its own
  watchdog on packet age (`ingest.record_worker.RecordLoop.check_stall`).
"""

from __future__ import annotations

from typing import Any

RTSP_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}


def open_input(
    url: str, open_timeout_s: float, stall_timeout_s: float, *, socket_timeout: bool = False
) -> Any:
    """Open `url` for demuxing; a read that waits longer than `stall_timeout_s` raises.

    Args:
        url: ``rtsp://``, ``http(s)://``, a file path or a device FFmpeg can open.
        open_timeout_s: Seconds allowed to connect and read the stream description.
        stall_timeout_s: Seconds without a packet before a read fails.
        socket_timeout: For RTSP, time out on socket silence instead (cheaper, later; see
            the module docstring). Ignored for other inputs.

    Returns:
        The PyAV input container.

    Raises:
        av.FFmpegError (or OSError / TimeoutError): the stream cannot be opened.
    """
    import av

    if not url.startswith("rtsp"):
        return av.open(url, timeout=(open_timeout_s, stall_timeout_s))
    if socket_timeout:
        # The RTSP demuxer passes `timeout` (us) down to its TCP socket as the I/O timeout; PyAV's
        # callback then only guards the open and returns at once, GIL-free, during reads.
        options = RTSP_OPTIONS | {"timeout": str(int(stall_timeout_s * 1e6))}
        return av.open(url, options=options, timeout=(open_timeout_s, None))
    return av.open(url, options=RTSP_OPTIONS, timeout=(open_timeout_s, stall_timeout_s))
