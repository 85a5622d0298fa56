"""Check a signed evidence bundle (`vigil.services.evidence`): signature, every file, the sources.

`verify_bundle` reads a bundle (the ZIP, or the same files unpacked in a folder) and returns one
`Finding` per check, so a report says exactly which file failed which check: a missing file, a
file whose SHA-256 or size is not the manifest's, a file the manifest does not list, a signature
that does not match the manifest, a manifest signed by another key (a wrong key, or a bundle
from another site), and, given the site, source segments gone or changed since the export and an
audit log that no longer holds the manifest's chain head or the export's own row.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.infra.db.audit import ChainHead
from vigil.infra.db.cases import CaseStore
from vigil.infra.signing import SigningError, fingerprint, load_public_key, verify_signature
from vigil.services.evidence import FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE

EXPORT_ACTION = "export_clip"


class _Unreadable(Exception):
    """A member that is listed but cannot be read back (a damaged ZIP entry)."""


@dataclass(frozen=True)
class Finding:
    """One check of one file: what was checked, whether it held, and what that means."""

    file: str
    check: str
    """``bundle``, ``present``, ``signature``, ``key``, ``site``, ``format``, ``sha256``, ``size``,
    ``listed``, ``source`` or ``audit``."""
    ok: bool
    message: str


@dataclass(frozen=True)
class SiteContext:
    """What the site knows, to check a bundle against: its name, recordings and audit log."""

    site: str
    recording_root: Path | None = None
    audit: CaseStore | None = None


@dataclass
class VerifyReport:
    """Every finding of one bundle, and which key the signature was checked against."""

    bundle: str
    key_source: str
    findings: list[Finding] = field(default_factory=list)
    key_fingerprint: str = ""
    """The fingerprint of the key the signature was checked against (compare it with the site's)."""

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def add(self, file: str, check: str, ok: bool, message: str) -> bool:
        self.findings.append(Finding(file, check, ok, message))
        return ok


class _Reader(Protocol):
    def names(self) -> set[str]: ...

    def open(self, name: str) -> IO[bytes]: ...


class _ZipReader:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._zip = archive

    def names(self) -> set[str]:
        return {info.filename for info in self._zip.infolist() if not info.is_dir()}

    def open(self, name: str) -> IO[bytes]:
        return self._zip.open(name)


class _DirReader:
    def __init__(self, root: Path) -> None:
        self._root = root

    def names(self) -> set[str]:
        return {p.relative_to(self._root).as_posix() for p in self._root.rglob("*") if p.is_file()}

    def open(self, name: str) -> IO[bytes]:
        return (self._root / name).open("rb")


def _read(reader: _Reader, name: str) -> bytes:
    return b"".join(_blocks(reader, name))


def _digest(reader: _Reader, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for block in _blocks(reader, name):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _blocks(reader: _Reader, name: str) -> Iterator[bytes]:
    try:
        with reader.open(name) as handle:
            yield from iter(lambda: handle.read(1 << 20), b"")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise _Unreadable(
            f"{name}: unreadable in the bundle ({error}): changed or damaged after export"
        ) from None


@contextmanager
def _open_bundle(path: Path) -> Iterator[_Reader]:
    if path.is_dir():
        yield _DirReader(path)
        return
    with zipfile.ZipFile(path) as archive:
        yield _ZipReader(archive)


def verify_bundle(
    path: Path,
    *,
    public_key: Ed25519PublicKey | None = None,
    key_source: str = "",
    site: SiteContext | None = None,
) -> VerifyReport:
    """Check everything in a bundle; the report lists every check, failures name file and check.

    Args:
        path: The bundle ZIP or an unpacked bundle folder.
        public_key: The key to trust (the site's, ``--public-key``); None checks against the key
            inside the bundle, which proves integrity but not who signed it.
        key_source: Where `public_key` came from, for messages.
        site: The site to check against (its name, source segments, audit log), if known.
    """
    report = VerifyReport(str(path), key_source or "the key inside the bundle")
    try:
        with _open_bundle(path) as reader:
            _verify(reader, report, public_key, site)
    except (zipfile.BadZipFile, OSError) as error:
        report.add(path.name, "bundle", False, f"not a readable evidence bundle (ZIP or folder): {error}")
    return report


def _verify(
    reader: _Reader, report: VerifyReport, key: Ed25519PublicKey | None, site: SiteContext | None
) -> None:
    names = reader.names()
    for required in (MANIFEST, SIGNATURE):
        if required not in names:
            report.add(required, "present", False, f"missing file: {required} (every bundle has one)")
    if report.failures:
        return
    try:
        body, signature = _read(reader, MANIFEST), _read(reader, SIGNATURE)
    except _Unreadable as error:
        report.add(MANIFEST, "present", False, str(error))
        return
    manifest = _parse(body, report)
    if key is None:
        key = _embedded_key(reader, names, report)
    if key is not None:
        _check_signature(report, key, signature, body, manifest, site)
    if manifest is None:
        return
    listed = _check_files(reader, names, manifest, report)
    for extra in sorted(names - listed - {MANIFEST, SIGNATURE}):
        report.add(
            extra, "listed", False, f"{extra}: not in the manifest, so not covered by the signature (added)"
        )
    if site is not None:
        _check_sources(manifest, site, report)
        _check_audit(manifest, hashlib.sha256(body).hexdigest(), site, report)


def _parse(body: bytes, report: VerifyReport) -> dict[str, Any] | None:
    try:
        manifest = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        report.add(MANIFEST, "format", False, f"{MANIFEST}: not valid JSON: it was changed after signing")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.add(MANIFEST, "format", False, f"{MANIFEST}: not a {FORMAT} manifest")
        return None
    return manifest


def _embedded_key(reader: _Reader, names: set[str], report: VerifyReport) -> Ed25519PublicKey | None:
    if PUBLIC_KEY not in names:
        report.add(PUBLIC_KEY, "present", False, f"missing file: {PUBLIC_KEY}, and no --public-key given")
        return None
    try:
        return load_public_key(_read(reader, PUBLIC_KEY), PUBLIC_KEY)
    except (SigningError, _Unreadable) as error:
        report.add(PUBLIC_KEY, "key", False, f"{error}")
        return None


def _check_signature(
    report: VerifyReport,
    key: Ed25519PublicKey,
    signature: bytes,
    body: bytes,
    manifest: dict[str, Any] | None,
    site: SiteContext | None,
) -> None:
    ours = report.key_fingerprint = fingerprint(key)
    if verify_signature(key, signature, body):
        report.add(SIGNATURE, "signature", True, f"manifest.json signed by {ours} ({report.key_source})")
        if site is not None and manifest is not None and manifest.get("site") != site.site:
            report.add(
                MANIFEST,
                "site",
                False,
                f"manifest from another site: {manifest.get('site')!r}, not {site.site!r}",
            )
        return
    theirs = manifest.get("key_fingerprint") if manifest is not None else None
    if isinstance(theirs, str) and theirs != ours:
        their_site = manifest.get("site") if manifest is not None else None
        if site is not None and their_site != site.site:
            report.add(
                MANIFEST,
                "site",
                False,
                f"manifest from another site: this bundle is from site {their_site!r} (key {theirs}), "
                f"this is site {site.site!r} (key {ours})",
            )
        else:
            report.add(
                SIGNATURE,
                "key",
                False,
                f"wrong key: the manifest says it was signed by {theirs}, checked against {ours} "
                f"({report.key_source}); get the exporting site's public key (GET /evidence/public-key)",
            )
        return
    report.add(
        SIGNATURE,
        "signature",
        False,
        f"{SIGNATURE} does not match {MANIFEST} under {ours}: "
        "the manifest or its signature was changed after signing",
    )


def _check_files(
    reader: _Reader, names: set[str], manifest: dict[str, Any], report: VerifyReport
) -> set[str]:
    files = manifest.get("files")
    if not isinstance(files, dict):
        report.add(MANIFEST, "format", False, f"{MANIFEST}: no 'files' table")
        return set()
    for camera in manifest.get("cameras", []):
        clip = camera.get("clip") if isinstance(camera, dict) else None
        if clip not in files:
            report.add(MANIFEST, "format", False, f"{MANIFEST}: camera clip {clip!r} has no hash in 'files'")
    for name, entry in sorted(files.items()):
        if name not in names:
            report.add(
                name, "present", False, f"missing file: {name} (listed in the manifest, not in the bundle)"
            )
            continue
        try:
            digest, size = _digest(reader, name)
        except _Unreadable as error:
            report.add(name, "sha256", False, str(error))
            continue
        if report.add(name, "sha256", digest == entry.get("sha256"), _hash_message(name, digest, entry)):
            report.add(
                name, "size", size == entry.get("size"), f"{name}: {size} bytes, manifest {entry.get('size')}"
            )
    return set(files)


def _hash_message(name: str, digest: str, entry: dict[str, Any]) -> str:
    if digest == entry.get("sha256"):
        return f"{name}: SHA-256 {digest[:16]}... matches the manifest"
    expected = str(entry.get("sha256"))[:16]
    return f"{name}: SHA-256 {digest[:16]}... is not the manifest's {expected}...: changed after export"


def _check_sources(manifest: dict[str, Any], site: SiteContext, report: VerifyReport) -> None:
    for camera in manifest.get("cameras", []):
        for segment in camera.get("segments", []):
            path = _locate(Path(str(segment.get("path"))), site.recording_root)
            label = f"source {segment.get('path')}"
            if path is None:
                report.add(
                    label,
                    "source",
                    False,
                    f"source segment {segment.get('path')} of camera {camera.get('camera_id')!r} is gone "
                    "(deleted by retention or moved): it cannot be re-checked",
                )
                continue
            same = _file_sha256(path) == segment.get("sha256")
            report.add(
                label,
                "source",
                same,
                f"source segment {path}: {'matches' if same else 'CHANGED since'} the export",
            )


def _locate(path: Path, root: Path | None) -> Path | None:
    if path.is_file():
        return path
    if root is not None and not path.is_absolute() and (root / path).is_file():
        return root / path
    return None


def _check_audit(manifest: dict[str, Any], digest: str, site: SiteContext, report: VerifyReport) -> None:
    if site.audit is None:
        return
    try:
        head = ChainHead.parse(str(manifest.get("audit_head")))
    except ValueError as error:
        report.add(MANIFEST, "audit", False, f"{MANIFEST}: audit_head: {error}")
        return
    chain = site.audit.verify_audit(head)
    problem = chain.problem
    report.add(
        "audit log",
        "audit",
        problem is None,
        f"audit chain intact through the export's head {head.id}" if problem is None else problem.message,
    )
    cameras = [c.get("camera_id") for c in manifest.get("cameras", []) if isinstance(c, dict)]
    rows, _ = site.audit.audit_page(
        EXPORT_ACTION, camera_id=str(cameras[0]) if cameras else None, limit=10_000
    )
    found = any(row.detail.get("manifest_sha256") == digest for row in rows)
    report.add(
        "audit log",
        "audit",
        found,
        "the export's audit row carries this manifest's SHA-256"
        if found
        else "no export audit row carries this manifest's SHA-256: this site's audit log has no record of it",
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
