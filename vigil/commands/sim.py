"""`vigil sim`: serve video files as looping RTSP cameras for demos, tests and site rehearsals."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "Serve video files as looping RTSP cameras (rtsp://HOST:PORT/cam1..N, with --site also /camK/sub) "
    "until Ctrl-C."
)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    samples = sorted(SAMPLES_DIR.glob("*.mp4"))
    parser.add_argument(
        "--videos",
        nargs="+",
        type=Path,
        metavar="FILE",
        default=samples or None,
        required=not samples,
        help="video files, assigned to cameras round-robin (default: samples/*.mp4)",
    )
    parser.add_argument("--cameras", type=int, default=2, help="number of cameras (mounts), default 2")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free port), default 8554")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on, default 127.0.0.1")
    parser.add_argument(
        "--site",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="site rehearsal: transcode each file once (cached) to a 720p25 main stream (/camK) and a "
        "640x360 sub-stream (/camK/sub). Default: on for more than 8 cameras",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where --site keeps transcodes (default ~/.cache/vigil/sim)",
    )


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ingest.sim import Simulator, site_simulator
    from vigil.core.errors import DependencyError, SourceError

    stop = threading.Event()
    # SIGTERM (docker stop, systemd) must stop the server like Ctrl-C does; setting SIGINT too makes
    # Ctrl-C work where the shell started us with SIGINT ignored (a background job).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.set())
    site = args.cameras > 8 if args.site is None else args.site
    try:
        if site:
            print(
                f"vigil sim: preparing main and sub streams for {len(args.videos)} file(s)...",
                file=sys.stderr,
            )
            simulator = site_simulator(
                args.videos, args.cameras, port=args.port, host=args.host, cache_dir=args.cache_dir
            )
        else:
            simulator = Simulator(args.videos, cameras=args.cameras, port=args.port, host=args.host)
        with simulator as sim:
            for url in sim.urls:
                print(url, flush=True)
            for url in sim.sub_urls:
                print(url, flush=True)
            while not stop.is_set() and sim.running:
                stop.wait(1.0)
            if not sim.running and not stop.is_set():
                print("vigil sim: the RTSP server exited unexpectedly", file=sys.stderr)
                return 1
    except DependencyError as error:
        print(f"vigil sim: {error}", file=sys.stderr)
        return 2
    except (SourceError, ValueError) as error:
        print(f"vigil sim: {error}", file=sys.stderr)
        return 1
    return 0
