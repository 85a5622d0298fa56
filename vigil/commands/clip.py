"""`vigil clip`: export cameras' recording between two times as a signed evidence bundle (.zip).

The bundle (`vigil.services.evidence`) holds one clip per ``--camera`` cut without re-encoding,
a manifest and the site key's signature over it; `vigil verify` checks it. A camera with privacy
masks in the site YAML (``--config``) gets them burned in (re-encoded); ``--unmasked`` leaves them
out, audited as ``evidence.unmasked`` (whoever runs this command holds the database and the
recordings, so it is the admin's tool). Without ``--config`` the masks are not known: a warning
says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.services.evidence import EvidenceExport, Masking

HELP = "Export evidence: a signed bundle of clips (privacy masks burned in), a manifest, an audit record."


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
        "--unmasked",
        action="store_true",
        help="leave the cameras' privacy masks out (audited as evidence.unmasked; the manifest says so)",
    )
    parser.add_argument(
        "--user",
        default=None,
        help="Vigil user who exports (mediator+; password from VIGIL_PASSWORD or a prompt); "
        "default: the OS user, audited as os:<name>",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="site YAML (its database is used)")
    where.add_argument("--db", help="database URL or SQLite path (default: vigil-data/vigil.db)")


def run(args: argparse.Namespace) -> int:
    import os

    from ingest.clips import ClipError
    from vigil.commands.exporter import resolve_exporter
    from vigil.core.errors import EdgeRecordingError, ValidationError
    from vigil.core.times import parse_epoch
    from vigil.infra.db.store import Store
    from vigil.infra.segment_server import EdgeSegmentFetcher, node_token
    from vigil.infra.signing import SiteKey
    from vigil.services.evidence import export_evidence

    try:
        start = parse_epoch(args.start)
        end = parse_epoch(args.end)
    except ValidationError as error:
        print(f"vigil clip: --start/--end: {error}, got {args.start!r} .. {args.end!r}", file=sys.stderr)
        return 2
    where = _site(args)
    if where is None:
        return 2
    url, site, data_dir, masking = where
    key = SiteKey.load_or_create(data_dir)
    with Store.open(url) as store:
        store.segment_fetch = EdgeSegmentFetcher(node_token())  # segments recorded on edge nodes
        try:
            user = resolve_exporter(store, args.user, env=os.environ, case_id=args.case, reason=args.reason)
            export = export_evidence(
                store,
                args.camera,
                start,
                end,
                args.output,
                key=key,
                site=site,
                user=user,
                reason=args.reason,
                case_id=args.case,
                masking=masking,
            )
        except (ClipError, EdgeRecordingError, ValidationError) as error:
            print(f"vigil clip: {error}", file=sys.stderr)
            return 1
    _report(export, masking)
    print(f"{args.output}: signed by {key.fingerprint}; manifest sha256 {export.manifest_sha256}")
    return 0


def _site(args: argparse.Namespace) -> tuple[str | Path, str, Path, Masking] | None:
    """(database URL, site name, data dir, masks) from --config or --db; None: refused (printed)."""
    from vigil.services.evidence import Masking

    url: str | Path = args.db or "vigil-data/vigil.db"
    if args.config is not None:
        from config.loader import load_config
        from vigil.runtime import database_url

        config = load_config(args.config)
        masking = Masking.from_config(config, unmasked=args.unmasked)
        return database_url(config), config.site, config.data_dir, masking
    if "://" in str(url):
        print(
            "vigil clip: --db URL: give --config instead, so the site's evidence key is found",
            file=sys.stderr,
        )
        return None
    if not args.unmasked:
        print(
            "vigil clip: no --config, so the cameras' privacy masks are not known and not burned in",
            file=sys.stderr,
        )
    return url, "vigil", Path(str(url)).parent, Masking(unmasked=args.unmasked)


def _report(export: EvidenceExport, masking: Masking) -> None:
    for clip in export.clips:
        gaps = f", {len(clip.gaps)} gap(s)" if clip.gaps else ""
        state = masking.state(clip.camera_id)
        masked = {"burned_in": ", privacy masks burned in", "unmasked": ", UNMASKED (audited)"}.get(state, "")
        print(
            f"{clip.camera_id}: {clip.covered_end - clip.covered_start:.1f} s covered "
            f"({clip.covered_start:.3f} .. {clip.covered_end:.3f}) from {len(clip.segments)} segment(s)"
            f"{gaps}{masked}"
        )
