"""`vigil export-case CONFIG --case ID -o case.zip --reason ...`: a whole case as one signed bundle.

The bundle (`vigil.services.case_bundle`) holds every confirmed sighting's clip (privacy masks
burned in), its crop, the trail, the case's audit excerpt and an ``index.html`` to open offline;
`vigil verify` checks it like any evidence bundle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Export a case: every confirmed sighting's clip, crops, trail, audit excerpt, index page; signed."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="site YAML")
    parser.add_argument("--case", required=True, help="case id")
    parser.add_argument("-o", "--output", required=True, type=Path, help="bundle to write (.zip)")
    parser.add_argument("--reason", required=True, help="why the case is exported (audited)")
    parser.add_argument(
        "--pad", type=float, default=None, help="seconds of recording either side of each sighting (10)"
    )
    parser.add_argument(
        "--unmasked",
        action="store_true",
        help="leave the cameras' privacy masks out (audited as evidence.unmasked; the manifest says so)",
    )
    parser.add_argument(
        "--redact-bystanders",
        action="store_true",
        help="blur every person but the case's subject (found by appearance in the case's photos and "
        "confirmed sightings; blurred too where unsure); re-encodes every clip, runs the detector",
    )
    parser.add_argument(
        "--user",
        default=None,
        help="Vigil user who exports (mediator+; password from VIGIL_PASSWORD or a prompt); "
        "default: the OS user, audited as os:<name>",
    )


def run(args: argparse.Namespace) -> int:
    import os

    from config.loader import load_config
    from detectors.registry import LazyDetector
    from ingest.clips import ClipError
    from vigil.commands.exporter import resolve_exporter
    from vigil.core.errors import EdgeRecordingError, ValidationError
    from vigil.infra.db.store import Store
    from vigil.infra.segment_server import EdgeSegmentFetcher, node_token
    from vigil.infra.signing import SiteKey
    from vigil.runtime import database_url
    from vigil.services.case_bundle import PAD_S, CaseSite, export_case_bundle
    from vigil.services.evidence import Masking

    config = load_config(args.config)
    site = CaseSite(
        config.site,
        config.data_dir,
        config.timezone,
        {c.id: c.name for c in config.cameras},
        Masking.from_config(config, unmasked=args.unmasked),
        redact_with=LazyDetector(config.detector) if args.redact_bystanders else None,
    )
    key = SiteKey.load_or_create(config.data_dir)
    with Store.open(database_url(config)) as store:
        store.segment_fetch = EdgeSegmentFetcher(node_token())  # segments recorded on edge nodes
        try:
            user = resolve_exporter(store, args.user, env=os.environ, case_id=args.case, reason=args.reason)
            export = export_case_bundle(
                store, args.case, args.output, key=key, site=site, user=user,
                reason=args.reason, pad_s=PAD_S if args.pad is None else args.pad,
            )  # fmt: skip
        except (ClipError, EdgeRecordingError, ValidationError) as error:
            print(f"vigil export-case: {error}", file=sys.stderr)
            return 1
    sightings = export.manifest.get("sightings", [])
    for camera in export.manifest["cameras"]:
        covered = camera["covered"]["end"] - camera["covered"]["start"]
        redacted = camera.get("bystanders")
        people = "" if not redacted else f", {redacted['people_hidden']} bystander box(es) blurred"
        masks = f"privacy masks {camera['masking']}"
        print(f"{camera['clip']}: {camera['camera_id']}, {covered:.1f} s, {masks}{people}")
    print(
        f"{args.output}: case {args.case}, {len(sightings)} confirmed sighting(s) in {len(export.clips)} "
        f"clip(s); signed by {key.fingerprint}; manifest sha256 {export.manifest_sha256}; open index.html"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run as ``python -m vigil.commands.export_case`` (or through ``vigil export-case``)."""
    parser = argparse.ArgumentParser(prog="vigil export-case", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
