"""Signed evidence export: one self-contained, signed bundle per export, with its chain of custody.

A bundle is one ZIP file (members stored, not compressed: H.264 does not shrink, and a stored
member is byte for byte the file its hash names). One file is what a mediator hands on, mails or
downloads, and what `vigil verify` checks; unpacked into a folder it verifies the same way::

    manifest.json        what was exported, by whom, why (canonical JSON, `signing.canonical_json`)
    manifest.sig         the site key's 64-byte Ed25519 signature over manifest.json's bytes
    public-key.pem       the site's public key (also at GET /evidence/public-key)
    clips/<camera>.mp4   one clip per camera, cut without re-encoding (`ingest.clips.export_clip`)

The manifest names the site, the key fingerprint, the cameras with their requested and covered
spans, gaps and source segments (path, span, SHA-256 of the segment file as read at export), every
other file's SHA-256 and size, the exporter, reason, case, time, and the audit chain's head just
before the export (`vigil.infra.db.audit`): the export's own audit rows follow that head and carry
the manifest's SHA-256, so the bundle and the audit log vouch for each other. Each camera's
covered span is held against retention. The CLI (`vigil clip`) and the API
(``GET /cameras/{id}/evidence.zip``, ``clip.mp4``) both come through `export_evidence`.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.clips import ClipError, ClipManifest, export_clip
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.infra.signing import SiteKey, canonical_json, public_pem

MIN_REASON_CHARS = 3
FORMAT = "vigil-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public-key.pem"
CLIP_DIR = "clips"


@dataclass(frozen=True)
class EvidenceExport:
    """A written bundle: where it is, its manifest (as signed) and the clips' own manifests."""

    bundle: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    clips: list[ClipManifest]


def export_evidence(
    store: Store,
    cameras: Sequence[str],
    start: float,
    end: float,
    output: Path,
    *,
    key: SiteKey,
    site: str,
    user: str,
    reason: str,
    case_id: str | None = None,
) -> EvidenceExport:
    """Cut each camera's clip, sign the manifest, write the bundle, hold the spans, audit it.

    Args:
        store: The site database (recordings index, audit log).
        cameras / start / end: What to export (epoch seconds), one clip per camera.
        output: The bundle (``.zip``); nothing is left there if the export fails.
        key / site: The site's signing key and name (`vigil.infra.signing.SiteKey`).
        user: Who exports (the logged-in user).
        reason: Why (e.g. "mediation 2026-114, noise complaint"); required.
        case_id: The case it belongs to, if any.

    Raises:
        ValidationError: No reason, or no camera.
        ClipError: A camera has nothing recorded in the span (the message says what is).
    """
    reason = reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise ValidationError(
            f"reason: every export must say why (at least {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    if not cameras or len(set(cameras)) != len(cameras):
        raise ValidationError(f"cameras: expected one or more distinct camera ids, got {list(cameras)!r}")
    recordings = RecordingIndex.for_store(store)
    audit = CaseStore.for_store(store)
    staging = output.with_name(output.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        clips = _cut_clips(recordings, cameras, start, end, staging)
        custody = {"exporter": user, "reason": reason, "case_id": case_id, "site": site}
        manifest = build_manifest(staging, clips, start, end, custody, key, str(audit.audit_head()))
        body = canonical_json(manifest)
        (staging / MANIFEST).write_bytes(body)
        (staging / SIGNATURE).write_bytes(key.sign(body))
        _zip(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digest = hashlib.sha256(body).hexdigest()
    for clip in clips:
        recordings.add_hold(clip.camera_id, clip.covered_start, clip.covered_end, f"evidence:{digest}")
        audit.audit(_audit_record(clip, user, reason, case_id, digest, output.name, len(clips)))
    return EvidenceExport(output, manifest, digest, clips)


def _cut_clips(
    recordings: RecordingIndex, cameras: Sequence[str], start: float, end: float, staging: Path
) -> list[ClipManifest]:
    (staging / CLIP_DIR).mkdir(parents=True)
    clips = []
    for camera_id in cameras:
        target = staging / CLIP_DIR / f"{_safe(camera_id)}.mp4"
        clips.append(export_clip(recordings, camera_id, start, end, target, write_manifest=False))
    return clips


def build_manifest(
    staging: Path,
    clips: Sequence[ClipManifest],
    start: float,
    end: float,
    custody: dict[str, Any],
    key: SiteKey,
    audit_head: str,
) -> dict[str, Any]:
    """The manifest of the files in `staging` (clips written; the public key is written here)."""
    (staging / PUBLIC_KEY).write_bytes(public_pem(key.public))
    now = time.time()
    cameras = [
        {
            "camera_id": clip.camera_id,
            "clip": f"{CLIP_DIR}/{clip.file}",
            "requested": {"start": clip.requested_start, "end": clip.requested_end},
            "covered": {"start": clip.covered_start, "end": clip.covered_end},
            "gaps": [{"start": g.start, "end": g.end, "reason": g.reason} for g in clip.gaps],
            "segments": [
                {"path": s.path, "start": s.start, "end": s.end, "sha256": _sha256(Path(s.path))}
                for s in clip.segments
            ],
            "packets": clip.packets,
        }
        for clip in clips
    ]
    names = [PUBLIC_KEY, *(f"{CLIP_DIR}/{clip.file}" for clip in clips)]
    files = {
        name: {"sha256": _sha256(staging / name), "size": (staging / name).stat().st_size} for name in names
    }
    return {
        "format": FORMAT,
        **custody,
        "key_fingerprint": key.fingerprint,
        "created_at": now,
        "created_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "requested": {"start": start, "end": end},
        "audit_head": audit_head,
        "cameras": cameras,
        "files": files,
    }


def _audit_record(
    clip: ClipManifest, user: str, reason: str, case_id: str | None, digest: str, bundle: str, cameras: int
) -> AuditRecord:
    return AuditRecord(
        at=time.time(),
        user=user,
        action="export_clip",
        case_id=case_id,
        reason=reason,
        detail={
            "camera_id": clip.camera_id,
            "requested": [clip.requested_start, clip.requested_end],
            "covered": [clip.covered_start, clip.covered_end],
            "sha256": clip.sha256,
            "gaps": len(clip.gaps),
            "manifest_sha256": digest,
            "bundle": bundle,
            "cameras": cameras,
        },
    )


def _zip(staging: Path, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    part = output.with_name(output.name + ".part")
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as bundle:
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                bundle.write(path, path.relative_to(staging).as_posix())
        part.replace(output)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _safe(camera_id: str) -> str:
    """A camera id as a file name (ids are identifiers, but a bundle must never escape its folder)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in camera_id).lstrip(".")
    if not cleaned:
        raise ClipError(f"camera {camera_id!r}: cannot name its clip file")
    return cleaned


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
