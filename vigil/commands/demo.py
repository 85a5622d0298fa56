"""`vigil demo`: the whole pipeline on the bundled sample footage, served by the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigil.commands.options import add_run_options

HELP = "Run the demo: simulated RTSP cameras on bundled footage -> detect -> track -> alerts -> API."

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "config" / "examples" / "demo.yaml"
SAMPLES = [ROOT / "samples" / "one-by-one-person-detection.mp4", ROOT / "samples" / "car-detection.mp4"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument(
        "--port", type=int, default=8000, help="API port on 127.0.0.1 (default 8000; 0 = any)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEMO_CONFIG,
        help="demo config; its camera URLs may use ${VIGIL_SIM_URL} (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep sightings of earlier demo runs (default: start from an empty demo database)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    import shutil

    from config.loader import load_config
    from ingest.sim import Simulator
    from vigil.console import run_until_done
    from vigil.core.errors import SourceError
    from vigil.runtime import Runtime

    missing = [str(path) for path in SAMPLES if not path.is_file()]
    if missing:
        raise SourceError(
            f"bundled sample footage missing: {', '.join(missing)} (restore it with git checkout)"
        )
    with Simulator(SAMPLES, cameras=3) as simulator:
        base_url = simulator.urls[0].rsplit("/", 1)[0]
        os.environ["VIGIL_SIM_URL"] = base_url
        config = load_config(args.config)
        if not args.keep_data and args.config == DEMO_CONFIG and config.data_dir.exists():
            shutil.rmtree(config.data_dir)
        from vigil.commands.user import ensure_first_admin_for

        login = ensure_first_admin_for(config, generate=True)
        # Admins change cameras and zones from the console: those edits go to the demo's own
        # copy of its config in its data directory, never to the file in the repository.
        site_file = _site_copy(args.config, config.data_dir)
        config = load_config(site_file)
        runtime = Runtime(config, config_path=site_file)
        runtime.start()
        try:
            api_url = runtime.serve_api("127.0.0.1", args.port)
        except BaseException:
            runtime.stop()
            raise
        if not args.json:
            print(
                f"cameras: {base_url}/cam1..cam3 (vigil sim)\n"
                f"console: {api_url}/  (log in as below)\nAPI: {api_url}  (OpenAPI: {api_url}/docs)"
            )
        if login is not None:  # stdout carries only the JSON summary with --json
            print(login, file=sys.stderr if args.json else sys.stdout)
        summary = run_until_done(runtime, args.duration, api_url, args.json)
    return 0 if summary.frames > 0 else 1


def _site_copy(source: Path, data_dir: Path) -> Path:
    """``<data_dir>/site.yaml``: `source` with an absolute ``data_dir``.

    An existing copy is kept, so with --keep-data the console's edits of earlier runs stay.
    """
    import yaml

    target = data_dir / "site.yaml"
    if not target.exists():
        document = yaml.safe_load(source.read_text())
        document["data_dir"] = str(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(
            f"# {source.name} as `vigil demo` runs it; the console's camera and zone edits land here\n"
            + yaml.safe_dump(document, sort_keys=False)
        )
    return target
