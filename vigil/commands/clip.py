"""`vigil clip`: export cameras' recording between two times as a signed evidence bundle (.zip).

The bundle (`vigil.services.evidence`) holds one clip per ``--camera`` cut without re-encoding,
a manifest and the site key's signature over it; `vigil verify` checks it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Export evidence: a signed bundle of clips cut without re-encoding, a manifest, an audit record."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--camera",
        required=True,
        action="append",
        help="camera id (repeat for several cameras, one clip each)",
    )
    parser.add_argument("--start", required=True, help="epoch seconds or ISO-8601 with timezone")
    parser.add_argument("--end", required=True, help="epoch seconds or ISO-8601 with timezone")
    parser.add_argument("-o", "--output", required=True, type=Path, help="evidence bundle to write (.zip)")
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
    from vigil.infra.signing import SiteKey
    from vigil.services.evidence import export_evidence

    try:
        start = parse_epoch(args.start)
        end = parse_epoch(args.end)
    except ValidationError as error:
        print(f"vigil clip: --start/--end: {error}, got {args.start!r} .. {args.end!r}", file=sys.stderr)
        return 2
    url: str | Path = args.db or "vigil-data/vigil.db"
    site, data_dir = "vigil", Path(str(url)).parent
    if args.config is not None:
        from config.loader import load_config
        from vigil.runtime import database_url

        config = load_config(args.config)
        url, site, data_dir = database_url(config), config.site, config.data_dir
    elif "://" in str(url):
        print(
            "vigil clip: --db URL: give --config instead, so the site's evidence key is found",
            file=sys.stderr,
        )
        return 2
    key = SiteKey.load_or_create(data_dir)
    with Store.open(url) as store:
        try:
            export = export_evidence(
                store,
                args.camera,
                start,
                end,
                args.output,
                key=key,
                site=site,
                user=args.user or getpass.getuser(),
                reason=args.reason,
                case_id=args.case,
            )
        except (ClipError, ValidationError) as error:
            print(f"vigil clip: {error}", file=sys.stderr)
            return 1
    for clip in export.clips:
        gaps = f", {len(clip.gaps)} gap(s)" if clip.gaps else ""
        print(
            f"{clip.camera_id}: {clip.covered_end - clip.covered_start:.1f} s covered "
            f"({clip.covered_start:.3f} .. {clip.covered_end:.3f}) from {len(clip.segments)} segment(s){gaps}"
        )
    print(f"{args.output}: signed by {key.fingerprint}; manifest sha256 {export.manifest_sha256}")
    return 0
