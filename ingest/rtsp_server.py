#!/usr/bin/python3
"""Camera simulator: a GStreamer RTSP server that loops video files as live cameras.

Run it with the system Python (it needs ``gi`` and GstRtspServer, which are not pip
packages), not the project virtualenv::

    /usr/bin/python3 ingest/rtsp_server.py --port 8554 --cameras 4 --video a.mp4 --video b.mp4

Mount ``/camK`` (K = 1..N) loops file number ``(K - 1) % len(videos)`` forever. The H.264
is not re-encoded: each mount is ``filesrc ! qtdemux ! h264parse ! rtph264pay``, so a
stream costs about as much as copying its bytes. Media are shared, so any number of
clients of one mount cost one pipeline.

Looping without breaking clients: when the demuxer reaches the end of the file, its EOS
is dropped before the payloader, the demuxer is seeked back to the start, the flush that
seek causes is kept away from the payloader and the sinks, and the pad offset of the
parser's source pad is moved on by the file's duration. Running time, and so RTP
timestamps, keep increasing across loops, and clients never see EOS.

The mount table is built by `mount_plan`: with ``--sub-video`` files every camera also gets a
sub-stream mount ``/camK/sub`` (looping sub-video number ``(K - 1) % len(sub_videos)``).

With ``--share-media N`` up to N mounts that loop the same file share one pipeline (one factory
whose media key is the file and group, not the URL). Those cameras then show the same picture
in step, which is fine for load rehearsals.

Fault injection, one command per line on stdin: ``stall /camK`` stops sending that mount's
packets (the connection stays open), ``resume /camK`` sends again. With shared media, stalling
a mount stalls every mount of the same file.

Prints ``READY <port>`` on stdout once listening; exits 0 on SIGTERM or SIGINT.
Imports only the standard library and ``gi``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


@dataclass(frozen=True)
class Mount:
    """One RTSP mount point.

    Attributes:
        path: Mount path, e.g. ``/cam1``.
        video: File it loops.
    """

    path: str
    video: Path


def mount_plan(videos: list[Path], cameras: int, sub_videos: list[Path] | None = None) -> list[Mount]:
    """Assign files to mounts ``/cam1..camN`` round-robin, plus ``/camK/sub`` when sub-videos are given."""
    plan = [Mount(f"/cam{k + 1}", videos[k % len(videos)]) for k in range(cameras)]
    if sub_videos:
        plan += [Mount(f"/cam{k + 1}/sub", sub_videos[k % len(sub_videos)]) for k in range(cameras)]
    return plan


class LoopingFactory(GstRtspServer.RTSPMediaFactory):  # type: ignore[misc]
    """Media factory whose element loops one MP4/MOV file's H.264 track without re-encoding."""

    def __init__(self, video: Path, share_key: str | None = None) -> None:
        super().__init__()
        self.video = video
        self.share_key = share_key
        self.loopers: list[_Looper] = []
        self.stalled = False
        # One pipeline per mount however many clients: a late client joins the stream where it is.
        self.set_shared(True)

    def do_gen_key(self, url: GstRtspServer.RTSPUrl) -> str:
        # Same key for every mount this factory serves: they all share one media pipeline.
        if self.share_key is not None:
            return self.share_key
        return str(GstRtspServer.RTSPMediaFactory.do_gen_key(self, url))

    def set_stalled(self, stalled: bool) -> None:
        self.stalled = stalled
        for looper in self.loopers:
            looper.set_stalled(stalled)

    def do_create_element(self, url: GstRtspServer.RTSPUrl) -> Gst.Element:
        bin_ = Gst.Bin.new("src")
        src = Gst.ElementFactory.make("filesrc")
        src.set_property("location", str(self.video))
        demux = Gst.ElementFactory.make("qtdemux")
        parse = Gst.ElementFactory.make("h264parse")
        pay = Gst.ElementFactory.make("rtph264pay", "pay0")
        pay.set_property("pt", 96)
        # SPS/PPS before every IDR, so a client joining mid-stream or after a loop can decode at once.
        pay.set_property("config-interval", -1)
        for element in (src, demux, parse, pay):
            bin_.add(element)
        src.link(demux)
        parse.link(pay)
        looper = _Looper(demux, parse)
        self.loopers.append(looper)
        looper.set_stalled(self.stalled)
        return bin_


class _Looper:
    """Seeks the demuxer back to the start on EOS while keeping downstream running time monotonic."""

    def __init__(self, demux: Gst.Element, parse: Gst.Element) -> None:
        self.demux = demux
        self.parse_src = parse.get_static_pad("src")
        self.parse_sink = parse.get_static_pad("sink")
        self.offset = 0
        self.seeking = False
        self.stall_probe: int | None = None
        demux.connect("pad-added", self._on_pad_added)
        self.parse_src.add_probe(
            Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH, self._on_event
        )

    def set_stalled(self, stalled: bool) -> None:
        """Hold (or release) every buffer at the parser's output: clients stay connected, get nothing."""
        if stalled and self.stall_probe is None:
            self.stall_probe = self.parse_src.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, _hold)
        elif not stalled and self.stall_probe is not None:
            self.parse_src.remove_probe(self.stall_probe)
            self.stall_probe = None

    def _on_pad_added(self, demux: Gst.Element, pad: Gst.Pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        if not caps.to_string().startswith("video/x-h264") or self.parse_sink.is_linked():
            return
        pad.link(self.parse_sink)

    def _on_event(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        kind = event.type
        if kind == Gst.EventType.EOS:
            self._schedule_restart()
            return Gst.PadProbeReturn.DROP
        if kind in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP) and self.seeking:
            return Gst.PadProbeReturn.DROP
        if kind == Gst.EventType.SEGMENT and self.seeking:
            self.seeking = False
        return Gst.PadProbeReturn.OK

    def _schedule_restart(self) -> None:
        self.seeking = True
        self.offset += self._loop_length()
        GLib.idle_add(self._restart)

    def _loop_length(self) -> int:
        # The container's duration ends where the last frame ends; the position would end where
        # it starts, one frame short, and timestamps would repeat at every loop.
        ok, duration = self.demux.query_duration(Gst.Format.TIME)
        if ok and duration > 0:
            return int(duration)
        ok, position = self.parse_src.query_position(Gst.Format.TIME)
        return int(position) if ok and position > 0 else Gst.SECOND

    def _restart(self) -> bool:
        self.parse_src.set_offset(self.offset)
        self.demux.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        return False


def _hold(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    return Gst.PadProbeReturn.OK  # stays blocked until the probe is removed


def _on_command(
    factories: dict[str, LoopingFactory], loop: GLib.MainLoop | None, source: object, condition: object
) -> bool:
    line = sys.stdin.readline()
    if not line:
        if loop is not None:
            loop.quit()  # our parent (the Simulator) is gone: do not outlive it
        return False
    words = line.split()
    if len(words) == 2 and words[0] in ("stall", "resume") and words[1] in factories:
        factories[words[1]].set_stalled(words[0] == "stall")
        print(f"OK {line.strip()}", flush=True)
    else:
        print(f"ERROR expected 'stall|resume /camK', got {line.strip()!r}", flush=True)
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port")
    parser.add_argument("--cameras", type=int, default=1, help="number of mounts /cam1..camN")
    parser.add_argument(
        "--video", type=Path, action="append", required=True, help="file to loop (repeat for several)"
    )
    parser.add_argument(
        "--sub-video", type=Path, action="append", default=[], help="sub-stream file (mounts /camK/sub)"
    )
    parser.add_argument(
        "--share-media",
        type=int,
        default=0,
        metavar="N",
        help="up to N mounts looping the same file share one pipeline (0: one pipeline per mount)",
    )
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="quit when stdin closes (the parent process died)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [str(v) for v in args.video + args.sub_video if not v.is_file()]
    if missing:
        print(f"rtsp_server: video file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.cameras < 1:
        print(f"rtsp_server: --cameras must be >= 1, got {args.cameras}", file=sys.stderr)
        return 2
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    shared: dict[str, LoopingFactory] = {}
    users: dict[Path, int] = {}
    factories: dict[str, LoopingFactory] = {}
    plan = mount_plan([v.resolve() for v in args.video], args.cameras, [v.resolve() for v in args.sub_video])
    for mount in plan:
        if args.share_media > 0:
            group = users.get(mount.video, 0) // args.share_media
            users[mount.video] = users.get(mount.video, 0) + 1
            key = f"{mount.video}#{group}"
            factory = shared.setdefault(key, LoopingFactory(mount.video, share_key=key))
        else:
            factory = LoopingFactory(mount.video)
        factories[mount.path] = factory
        mounts.add_factory(mount.path, factory)
    loop = GLib.MainLoop()
    owner = loop if args.exit_on_stdin_eof else None
    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, lambda s, c: _on_command(factories, owner, s, c))
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
