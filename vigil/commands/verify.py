"""`vigil verify BUNDLE`: check a signed evidence bundle and say exactly what is wrong with it.

Exit status 0 when the signature holds and every file matches the manifest (and, with
``--config``, the source segments still match and the audit log still holds the export); 1
naming each file and check that failed; 2 on bad arguments (no such bundle, an unreadable key).
Without ``--public-key`` or ``--config`` the signature is checked against the key inside the
bundle: that proves nothing was changed since signing, not who signed it, so the key's
fingerprint is printed to compare with the site's published one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vigil.services.evidence_verify import VerifyReport

HELP = "Verify an evidence bundle: signature, every file's SHA-256, optionally the source segments."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the bundle (.zip) or an unpacked bundle folder")
    parser.add_argument(
        "--public-key", type=Path, default=None, help="the site's public key PEM (GET /evidence/public-key)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="site YAML: check with its key, and re-check the source segments and the audit log",
    )
    parser.add_argument("--json", action="store_true", help="print every check as JSON")


def run(args: argparse.Namespace) -> int:
    from vigil.core.errors import ConfigError
    from vigil.infra.signing import SigningError, load_public_key
    from vigil.services.evidence_verify import verify_bundle

    if not args.bundle.exists():
        print(f"vigil verify: {args.bundle}: no such bundle", file=sys.stderr)
        return 2
    key: Ed25519PublicKey | None = None
    source = ""
    try:
        if args.public_key is not None:
            key, source = (
                load_public_key(args.public_key.read_bytes(), str(args.public_key)),
                str(args.public_key),
            )
        if args.config is None:
            report = verify_bundle(args.bundle, public_key=key, key_source=source)
        else:
            report = _verify_with_site(args, key, source)
    except (OSError, SigningError, ConfigError) as error:
        print(f"vigil verify: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "key": report.key_source,
                    "key_fingerprint": report.key_fingerprint,
                    "checks": [asdict(f) for f in report.findings],
                }
            )
        )
    else:
        for finding in report.failures:
            print(f"FAIL {finding.file} [{finding.check}]: {finding.message}")
        checked = len(report.findings)
        verdict = (
            "intact" if report.ok else f"TAMPERED or unverifiable: {len(report.failures)} failed check(s)"
        )
        against = f"{report.key_source}, {report.key_fingerprint or 'no key'}"
        print(f"{args.bundle}: {verdict} ({checked} checks; signature checked against {against})")
    return 0 if report.ok else 1


def _verify_with_site(args: argparse.Namespace, key: Ed25519PublicKey | None, source: str) -> VerifyReport:
    from config.loader import load_config
    from vigil.infra.db.cases import CaseStore
    from vigil.infra.db.store import Store
    from vigil.infra.signing import SigningError, read_site_public_key
    from vigil.runtime import database_url
    from vigil.services.evidence_verify import SiteContext, verify_bundle

    config = load_config(args.config)
    if key is None:
        key = read_site_public_key(config.data_dir)
        if key is None:
            raise SigningError(f"site {config.site!r} has no evidence key yet ({config.data_dir}/keys)")
        source = f"site {config.site!r}'s key"
    root = config.recording.directory or config.data_dir / "recordings"
    with Store.open(database_url(config)) as store:
        site = SiteContext(config.site, root, CaseStore.for_store(store))
        return verify_bundle(args.bundle, public_key=key, key_source=source, site=site)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on `argv` (without the ``verify`` word), as the CLI would."""
    parser = argparse.ArgumentParser(prog="vigil verify", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
