"""`vigil clip`: export a camera's recording between two times, without re-encoding, with a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Export evidence: a camera's recording cut without re-encoding, a manifest, an audit record."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--camera", required=True, help="camera id")
    parser.add_argument("--start", required=True, help="epoch seconds or ISO-8601 with timezone")
    parser.add_argument("--end", required=True, help="epoch seconds or ISO-8601 with timezone")
    parser.add_argument("-o", "--output", required=True, type=Path, help="clip file to write (.mp4)")
    parser.add_argument(
        "--reason", required=True, help="why this clip is exported (audited), e.g. 'mediation 2026-114'"
    )
    parser.add_argument("--case", default=None, help="case id the export belongs to, if any")
    parser.add_argument(
        "--user", default=None, help="who exports (audited; default: the logged-in system user)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="site YAML (its database is used)")
    where.add_argument("--db", help="database URL or SQLite path (default: vigil-data/vigil.db)")


def run(args: argparse.Namespace) -> int:
    import getpass

    from ingest.clips import ClipError
    from vigil.core.errors import ValidationError
    from vigil.core.times import parse_epoch
    from vigil.infra.db.store import Store
    from vigil.services.evidence import export_evidence

    try:
        start = parse_epoch(args.start)
        end = parse_epoch(args.end)
    except ValidationError as error:
        print(f"vigil clip: --start/--end: {error}, got {args.start!r} .. {args.end!r}", file=sys.stderr)
        return 2
    url: str | Path = args.db or "vigil-data/vigil.db"
    if args.config is not None:
        from config.loader import load_config
        from vigil.runtime import database_url

        url = database_url(load_config(args.config))
    with Store.open(url) as store:
        try:
            manifest = export_evidence(
                store,
                args.camera,
                start,
                end,
                args.output,
                user=args.user or getpass.getuser(),
                reason=args.reason,
                case_id=args.case,
            )
        except ClipError as error:
            print(f"vigil clip: {error}", file=sys.stderr)
            return 1
    gaps = f", {len(manifest.gaps)} gap(s)" if manifest.gaps else ""
    print(
        f"{args.output}: {manifest.covered_end - manifest.covered_start:.1f} s covered "
        f"({manifest.covered_start:.3f} .. {manifest.covered_end:.3f}) from {len(manifest.segments)} "
        f"segment(s){gaps}; sha256 {manifest.sha256}; manifest {args.output}.json"
    )
    return 0
