"""Signed evidence export: one self-contained, signed bundle per export, with its chain of custody.

A bundle is one ZIP file (members stored, not compressed: H.264 does not shrink, and a stored
member is byte for byte the file its hash names). One file is what a mediator hands on, mails or
downloads, and what `vigil verify` checks; unpacked into a folder it verifies the same way::

    manifest.json        what was exported, by whom, why (canonical JSON, `signing.canonical_json`)
    manifest.sig         the site key's 64-byte Ed25519 signature over manifest.json's bytes
    public-key.pem       the site's public key (also at GET /evidence/public-key)
    clips/<camera>.mp4   one clip per camera (`ingest.clips.export_clip`)

A clip is cut without re-encoding unless its camera has privacy masks: then the masks are burned
in (decoded, filled black, re-encoded H.264, `ingest.burn_in`) and the manifest names the
polygons and the encoder. Only an admin may export a masked camera unmasked, with a reason; that
export is audited once more as `UNMASKED_ACTION` and its manifest says ``masking: unmasked``.
With bystander redaction (`Masking.bystanders`, a case bundle's option, `vigil.services.redaction`)
the clip is re-encoded with every person but the case's subject hidden, and the camera's
``bystanders`` entry says how (detector, threshold, people seen, hidden, subject shown).

The manifest names the site, the key fingerprint, the cameras with their requested and covered
spans, gaps, masking and source segments (path, span, SHA-256 of the segment file as read at
export), every other file's SHA-256 and size, the exporter, reason, case, time, and the audit
chain's head just before the export (`vigil.infra.db.audit`): the export's own audit rows follow
that head and carry the manifest's SHA-256, so the bundle and the audit log vouch for each other.
Each camera's covered span is held against retention. The CLI (`vigil clip`) and the API
(``GET /cameras/{id}/evidence.zip``, ``clip.mp4``) both come through `export_evidence`; a case
bundle (`vigil.services.case_bundle`) through `write_bundle` with more files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.models import Polygon, VigilConfig
from ingest.burn_in import Redactor
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
EXPORT_ACTION = "export_clip"
UNMASKED_ACTION = "evidence.unmasked"
"""The audit action of an export that left a camera's privacy masks out (admin only)."""

ExtraFiles = Callable[[Path, Sequence[ClipManifest]], dict[str, Any]]
"""Writes more files into the staging folder once the clips are cut; returns manifest fields."""


@dataclass(frozen=True)
class ClipRequest:
    """One clip of a bundle: a camera's span, and its file name under ``clips/``."""

    camera_id: str
    start: float
    end: float
    name: str


@dataclass(frozen=True)
class Custody:
    """Who exports, why, for which case and site (every bundle's manifest and audit rows)."""

    user: str
    reason: str
    site: str
    case_id: str | None = None


@dataclass(frozen=True)
class Masking:
    """The privacy masks of the exported cameras, and whether an admin exports them unmasked.

    Attributes:
        masks: Camera id to its ``privacy_masks`` (named, normalised polygons); cameras absent
            have none.
        unmasked: Leave the masks out (the caller has checked the admin role); audited as
            `UNMASKED_ACTION` for every masked camera.
        bystanders: Makes the redactor of one camera's clip (bystander redaction); None: off.
    """

    masks: Mapping[str, Sequence[Polygon]] = field(default_factory=dict)
    unmasked: bool = False
    bystanders: Callable[[str], Redactor] | None = None

    @classmethod
    def from_config(cls, config: VigilConfig, *, unmasked: bool = False) -> Masking:
        """The site's configured privacy masks, camera by camera."""
        return cls({c.id: c.privacy_masks for c in config.cameras if c.privacy_masks}, unmasked=unmasked)

    def burn(self, camera_id: str) -> list[list[tuple[float, float]]]:
        """The polygons to burn into this camera's clip (none when unmasked or it has none)."""
        if self.unmasked:
            return []
        return [[(float(x), float(y)) for x, y in mask.polygon] for mask in self.masks.get(camera_id, ())]

    def state(self, camera_id: str) -> str:
        """``burned_in``, ``unmasked`` (an admin left them out) or ``none`` (the camera has none)."""
        if not self.masks.get(camera_id):
            return "none"
        return "unmasked" if self.unmasked else "burned_in"


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
    masking: Masking | None = None,
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
        masking: The cameras' privacy masks (burned in) and whether an admin leaves them out.

    Raises:
        ValidationError: No reason, or no camera.
        ClipError: A camera has nothing recorded in the span (the message says what is).
    """
    if not cameras or len(set(cameras)) != len(cameras):
        raise ValidationError(f"cameras: expected one or more distinct camera ids, got {list(cameras)!r}")
    requests = [ClipRequest(c, start, end, f"{_safe(c)}.mp4") for c in cameras]
    custody = Custody(user, reason, site, case_id)
    return write_bundle(store, requests, output, key=key, custody=custody, masking=masking)


def write_bundle(
    store: Store,
    requests: Sequence[ClipRequest],
    output: Path,
    *,
    key: SiteKey,
    custody: Custody,
    masking: Masking | None = None,
    extra: ExtraFiles | None = None,
) -> EvidenceExport:
    """Cut the requested clips, add `extra`'s files, sign, zip, hold every covered span, audit.

    Args:
        store: The site database.
        requests: The clips, in manifest order (names distinct).
        output: The bundle (``.zip``); nothing is left there if the export fails.
        key: The site's signing key.
        custody: Exporter, reason, site, case.
        masking: Privacy masks to burn in (default: none).
        extra: Writes further files (an index page, crops) into the staging folder after the
            clips are cut, and returns fields to add to the manifest; every file is hashed.

    Raises:
        ValidationError: No reason, no clip, or clip names repeated.
        ClipError: A clip cannot be cut (nothing recorded, a segment file gone).
    """
    reason = _check_reason(custody.reason)
    if not requests or len({r.name for r in requests}) != len(requests):
        raise ValidationError(f"clips: expected one or more distinctly named clips, got {len(requests)}")
    masking = masking or Masking()
    recordings = RecordingIndex.for_store(store)
    audit = CaseStore.for_store(store)
    staging = output.with_name(output.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        clips = _cut_clips(recordings, requests, staging, masking)
        fields = extra(staging, clips) if extra is not None else {}
        manifest = build_manifest(staging, clips, _requested(requests), _custody(custody, reason), key,
                                  str(audit.audit_head()), masking)  # fmt: skip
        body = canonical_json({**manifest, **fields})
        (staging / MANIFEST).write_bytes(body)
        (staging / SIGNATURE).write_bytes(key.sign(body))
        _zip(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digest = hashlib.sha256(body).hexdigest()
    _hold_and_audit(recordings, audit, clips, custody, masking, digest, output.name)
    return EvidenceExport(output, json.loads(body), digest, clips)


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise ValidationError(
            f"reason: every export must say why (at least {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    return reason


def _requested(requests: Sequence[ClipRequest]) -> tuple[float, float]:
    return min(r.start for r in requests), max(r.end for r in requests)


def _custody(custody: Custody, reason: str) -> dict[str, Any]:
    return {"exporter": custody.user, "reason": reason, "case_id": custody.case_id, "site": custody.site}


def _hold_and_audit(
    recordings: RecordingIndex,
    audit: CaseStore,
    clips: Sequence[ClipManifest],
    custody: Custody,
    masking: Masking,
    digest: str,
    bundle: str,
) -> None:
    for clip in clips:
        recordings.add_hold(clip.camera_id, clip.covered_start, clip.covered_end, f"evidence:{digest}")
        state = masking.state(clip.camera_id)
        audit.audit(
            _audit_record(clip, custody, (digest, bundle), len(clips), state, masking.bystanders is not None)
        )
    for camera_id in sorted({c.camera_id for c in clips if masking.state(c.camera_id) == "unmasked"}):
        audit.audit(
            AuditRecord(
                at=time.time(),
                user=custody.user,
                action=UNMASKED_ACTION,
                case_id=custody.case_id,
                reason=custody.reason.strip(),
                detail={
                    "camera_id": camera_id,
                    "masks": len(masking.masks.get(camera_id, ())),
                    "manifest_sha256": digest,
                    "bundle": bundle,
                },
            )
        )


def _cut_clips(
    recordings: RecordingIndex, requests: Sequence[ClipRequest], staging: Path, masking: Masking
) -> list[ClipManifest]:
    (staging / CLIP_DIR).mkdir(parents=True)
    clips = []
    for request in requests:
        target = staging / CLIP_DIR / _safe(request.name)
        masks = masking.burn(request.camera_id)
        redactor = None if masking.bystanders is None else masking.bystanders(request.camera_id)
        clips.append(
            export_clip(
                recordings,
                request.camera_id,
                request.start,
                request.end,
                target,
                write_manifest=False,
                masks=masks,
                redactor=redactor,
            )  # fmt: skip
        )
    return clips


def build_manifest(
    staging: Path,
    clips: Sequence[ClipManifest],
    requested: tuple[float, float],
    custody: dict[str, Any],
    key: SiteKey,
    audit_head: str,
    masking: Masking | None = None,
) -> dict[str, Any]:
    """The manifest of the files in `staging` (clips written; the public key is written here).

    Every file under `staging` but the manifest and its signature is listed with its SHA-256.
    """
    (staging / PUBLIC_KEY).write_bytes(public_pem(key.public))
    masking = masking or Masking()
    now = time.time()
    cameras = [_camera_entry(clip, masking) for clip in clips]
    names = sorted(
        p.relative_to(staging).as_posix()
        for p in staging.rglob("*")
        if p.is_file() and p.name not in (MANIFEST, SIGNATURE)
    )
    files = {
        name: {"sha256": _sha256(staging / name), "size": (staging / name).stat().st_size} for name in names
    }
    return {
        "format": FORMAT,
        **custody,
        "key_fingerprint": key.fingerprint,
        "created_at": now,
        "created_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "requested": {"start": requested[0], "end": requested[1]},
        "audit_head": audit_head,
        "cameras": cameras,
        "files": files,
    }


def _camera_entry(clip: ClipManifest, masking: Masking) -> dict[str, Any]:
    state = masking.state(clip.camera_id)
    polygons = [
        {"name": mask.name, "polygon": [[float(x), float(y)] for x, y in mask.polygon]}
        for mask in masking.masks.get(clip.camera_id, ())
    ]
    return {
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
        "masking": state,
        "privacy_masks": polygons,
        "reencoded": clip.reencode is not None,
        "reencode": clip.reencode,
        "bystanders": (clip.reencode or {}).get("redaction"),
    }


def _audit_record(
    clip: ClipManifest, custody: Custody, export: tuple[str, str], cameras: int, masking: str, redacted: bool
) -> AuditRecord:
    digest, bundle = export
    return AuditRecord(
        at=time.time(),
        user=custody.user,
        action=EXPORT_ACTION,
        case_id=custody.case_id,
        reason=custody.reason.strip(),
        detail={
            "camera_id": clip.camera_id,
            "requested": [clip.requested_start, clip.requested_end],
            "covered": [clip.covered_start, clip.covered_end],
            "sha256": clip.sha256,
            "gaps": len(clip.gaps),
            "manifest_sha256": digest,
            "bundle": bundle,
            "cameras": cameras,
            "masking": masking,
            "bystanders_redacted": redacted,
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
