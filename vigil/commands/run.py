"""`vigil run CONFIG`: run a site (all stages and the API in one process)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigil.commands.options import add_run_options

HELP = "Run a site from its YAML config: ingest, detection, tracking, rules, storage and the API."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration file (see config/examples/)")
    parser.add_argument(
        "--role",
        choices=["all", "edge", "central"],
        default="all",
        help="all: everything in one process (default); edge: ingest, detect and track the cameras Kafka "
        "assigns to this node and publish events; central: store events, serve the API (bus.type: kafka)",
    )
    add_run_options(parser)
    parser.add_argument("--host", default=None, help="API address (default: api.host of the config)")
    parser.add_argument("--port", type=int, default=None, help="API port (default: api.port of the config)")
    parser.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")


def run(args: argparse.Namespace) -> int:
    from config.loader import load_config
    from vigil.console import run_until_done
    from vigil.core.errors import ConfigError
    from vigil.roles import Role
    from vigil.runtime import Runtime

    config = load_config(args.config)
    role = Role(args.role)
    if role is not Role.ALL and config.bus.type != "kafka":
        raise ConfigError(
            f"--role {args.role} needs bus: {{type: kafka, bootstrap_servers: ...}} in {args.config}"
        )
    serve = not args.no_api and role is not Role.EDGE
    if serve:
        from vigil.commands.user import ensure_first_admin_for

        # Refuse before starting anything: an API nobody can log in to is no use.
        notice = ensure_first_admin_for(config, generate=False)
        if notice is not None:
            print(notice, file=sys.stderr)
    runtime = Runtime(config, role=role, config_path=Path(args.config))
    runtime.start()
    try:
        api_url = runtime.serve_api(args.host, args.port) if serve else None
    except BaseException:
        runtime.stop()
        raise
    if api_url and not args.json:
        print(f"console on {api_url}/, API on {api_url} (OpenAPI: {api_url}/docs)")
    run_until_done(runtime, args.duration, api_url, args.json)
    return 0
