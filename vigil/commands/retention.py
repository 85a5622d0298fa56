"""`vigil retention`: run retention now over a site's database and files, and say what it did."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

HELP = (
    "Run retention now: expired segments, sightings, alerts, case photos, crossing counts and health "
    "events go, held ones stay (audited)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="site YAML (its database, data and recording folders)")
    parser.add_argument("--reason", required=True, help="why it runs now (audited), e.g. 'new policy'")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from config.loader import load_config
    from vigil.core.errors import ConfigError
    from vigil.infra.db.store import Store
    from vigil.runtime import database_url
    from vigil.services.retention import KINDS, RetentionService

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"vigil retention: {error}", file=sys.stderr)
        return 2
    if len(args.reason.strip()) < 3:
        print(
            f"vigil retention: --reason: say why (at least 3 characters), got {args.reason!r}",
            file=sys.stderr,
        )
        return 2
    with Store.open(database_url(config)) as store:
        service = RetentionService.from_config(config, store, Path(config.data_dir))
        report = service.run(user=getpass.getuser(), reason=args.reason.strip())
    if args.json:
        summary = {"deleted": report.deleted, "kept": report.kept, "files": report.files}
        print(json.dumps({**summary, "bytes_freed": report.bytes_freed, "seconds": round(report.seconds, 3)}))
        return 0
    print(f"{'':16} {'deleted':>8} {'kept (held)':>12}")
    for kind in KINDS:
        print(f"{kind:16} {report.deleted[kind]:>8} {report.kept[kind]:>12}")
    freed = report.bytes_freed / 1e6
    print(f"{report.files} files deleted, {freed:.1f} MB of segments freed, in {report.seconds:.2f} s")
    return 0
