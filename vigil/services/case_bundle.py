"""Case bundle: one signed evidence export for a whole case, which a mediator opens offline.

Every confirmed sighting of the case (its latest verdict is *confirm*) gets its camera's
recording around it, `PAD_S` seconds either side; windows of one camera that overlap or touch
are merged into one clip, so a person walking past twice in a minute is one clip, not two. The
bundle is an ordinary signed evidence bundle (`vigil.services.evidence.write_bundle`, checked by
`vigil verify`), with more files, every one hashed in the manifest::

    clips/<camera>-<n>.mp4   one clip per merged window (privacy masks burned in)
    crops/<sighting>.jpg     each confirmed sighting's best crop
    trail.json               the confirmed sightings in time order: camera, span, box, foot path,
                             which clip holds it and at what offset
    audit.json               the case's audit rows up to the export, with their chain ids and hashes
    index.html               the page a mediator opens: case, trail with crops and clip links,
                             clips, audit excerpt; times in the site's time zone, relative links,
                             no script

Clip times are wall times (each clip starts at its covered start, listed beside it), so the clips
of several cameras line up on one clock.

With `CaseSite.redact_with` (a detector) every clip is re-encoded with every person but the
case's subject blurred (`vigil.services.redaction`); the subject is recognised by what she looks
like in the case's photos and confirmed sightings, and where that is not sure, she is blurred too.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alerts.search.descriptors import Descriptor
from detectors.base import Detector
from ingest.clips import ClipManifest
from vigil.core.errors import ValidationError
from vigil.core.types import Sighting
from vigil.infra.db.cases import AuditRecord, CaseRecord, CaseStore, Verdict
from vigil.infra.db.store import Store
from vigil.infra.signing import SiteKey
from vigil.services.case_bundle_html import TrailItem, render_index
from vigil.services.cases import CaseNotFound
from vigil.services.evidence import (
    CLIP_DIR,
    ClipRequest,
    Custody,
    EvidenceExport,
    Masking,
    write_bundle,
)

PAD_S = 10.0
"""Seconds of recording kept before and after each confirmed sighting."""
MAX_PAD_S = 300.0
CASE_BUNDLE_ACTION = "export_case"
"""The audit action of a whole case bundle (besides one ``export_clip`` row per clip)."""
TRAIL = "trail.json"
AUDIT = "audit.json"
INDEX = "index.html"
CROP_DIR = "crops"


@dataclass(frozen=True)
class CaseSite:
    """What the bundle needs of the site beyond the database: names, clock, files, masks."""

    name: str
    data_dir: Path
    timezone: str = "UTC"
    camera_names: Mapping[str, str] = field(default_factory=dict)
    masking: Masking = field(default_factory=Masking)
    redact_with: Detector | None = None
    """Blur every person but the case's subject, found with this detector; None: no redaction."""


def case_windows(sightings: Sequence[Sighting], pad_s: float = PAD_S) -> list[ClipRequest]:
    """One clip request per camera window: each sighting padded by `pad_s`, overlapping merged.

    Returns:
        Requests in time order of their start, named ``<camera>-<n>.mp4`` (n from 1 per camera).
    """
    spans: dict[str, list[list[float]]] = {}
    for sighting in sorted(sightings, key=lambda s: (s.camera_id, s.start)):
        windows = spans.setdefault(sighting.camera_id, [])
        start, end = sighting.start - pad_s, sighting.end + pad_s
        if windows and start <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    requests = [
        ClipRequest(camera, start, end, f"{_safe(camera)}-{n}.mp4")
        for camera, windows in spans.items()
        for n, (start, end) in enumerate(windows, start=1)
    ]
    return sorted(requests, key=lambda r: (r.start, r.camera_id))


def confirmed_sightings(store: Store, cases: CaseStore, case_id: str) -> list[Sighting]:
    """The case's trail: sightings whose latest verdict is confirm, in time order."""
    latest: dict[str, Verdict] = {}
    for record in cases.feedback(case_id):
        latest[record.sighting_id] = record.verdict
    ids = [sighting_id for sighting_id, verdict in latest.items() if verdict is Verdict.CONFIRM]
    return sorted(store.get_sightings(ids), key=lambda s: s.start)


def export_case_bundle(
    store: Store,
    case_id: str,
    output: Path,
    *,
    key: SiteKey,
    site: CaseSite,
    user: str,
    reason: str,
    pad_s: float = PAD_S,
) -> EvidenceExport:
    """Write the signed bundle of a case (clips, crops, trail, audit excerpt, index page).

    Args:
        store: The site database (sightings, cases, recordings, audit log).
        case_id: The case.
        output: The bundle (``.zip``); nothing is left there if the export fails.
        key: The site's signing key.
        site: Site name, data directory (crops), time zone, camera names, privacy masks.
        user / reason: Who exports and why (audited; the reason is required).
        pad_s: Seconds of recording kept either side of each sighting (0..`MAX_PAD_S`).

    Raises:
        CaseNotFound: No case has this id.
        ValidationError: The case has no confirmed sightings, no reason, a bad `pad_s`.
        ClipError: A sighting's recording is gone (the message names the camera and the gap).
    """
    if not 0 <= pad_s <= MAX_PAD_S:
        raise ValidationError(f"pad_s: expected 0..{MAX_PAD_S:.0f} seconds, got {pad_s}")
    cases = CaseStore.for_store(store)
    case = cases.get_case(case_id)
    if case is None:
        raise CaseNotFound(f"case {case_id!r} not found")
    trail = confirmed_sightings(store, cases, case_id)
    if not trail:
        raise ValidationError(
            f"case {case_id!r} has no confirmed sightings: confirm the candidates that are her "
            "(POST /cases/{id}/feedback) before exporting the case"
        )
    requests = case_windows(trail, pad_s)
    excerpt = cases.audit_excerpt(case_id)

    def extra(staging: Path, clips: Sequence[ClipManifest]) -> dict[str, Any]:
        return _write_case_files(staging, clips, (case, trail, excerpt), site, (user, reason.strip()))

    custody = Custody(user, reason, site.name, case_id)
    masking = site.masking
    if site.redact_with is not None:
        masking = _redacting(masking, site.redact_with, subject_examples(cases, case, trail))
    export = write_bundle(store, requests, output, key=key, custody=custody, masking=masking, extra=extra)
    _audit_bundle(cases, export, case_id, user, reason, len(trail))
    return export


def subject_examples(cases: CaseStore, case: CaseRecord, trail: Sequence[Sighting]) -> list[Descriptor]:
    """What the subject looks like: the case's photos and its confirmed sightings' descriptors."""
    examples = [Descriptor.from_vector(photo.descriptor) for photo in cases.photos(case.id)]
    return examples + [Descriptor.from_vector(s.descriptor) for s in trail if s.descriptor is not None]


def _redacting(masking: Masking, detector: Detector, subject: Sequence[Descriptor]) -> Masking:
    from vigil.services.redaction import BystanderRedactor

    return replace(masking, bystanders=lambda _camera: BystanderRedactor(detector, subject))


def _audit_bundle(
    cases: CaseStore, export: EvidenceExport, case_id: str, user: str, reason: str, sightings: int
) -> None:
    cases.audit(
        AuditRecord(
            at=time.time(),
            user=user,
            action=CASE_BUNDLE_ACTION,
            case_id=case_id,
            reason=reason.strip(),
            detail={
                "manifest_sha256": export.manifest_sha256,
                "bundle": export.bundle.name,
                "sightings": sightings,
                "clips": len(export.clips),
                "cameras": sorted({c.camera_id for c in export.clips}),
            },
        )
    )


def _write_case_files(
    staging: Path,
    clips: Sequence[ClipManifest],
    case_data: tuple[CaseRecord, list[Sighting], list[dict[str, Any]]],
    site: CaseSite,
    custody: tuple[str, str],
) -> dict[str, Any]:
    """Crops, trail.json, audit.json and index.html into `staging`; the manifest's case fields."""
    case, trail, excerpt = case_data
    items = [_trail_item(sighting, clips, staging, site.data_dir) for sighting in trail]
    (staging / TRAIL).write_text(json.dumps(_trail_json(case, items), indent=1) + "\n")
    (staging / AUDIT).write_text(json.dumps(excerpt, indent=1, default=str) + "\n")
    page = render_index(
        case=case,
        trail=items,
        clips=clips,
        audit=excerpt,
        site=(site.name, site.timezone, site.camera_names),
        custody=(*custody, time.time()),
        masking=site.masking,
    )
    (staging / INDEX).write_text(page, encoding="utf-8")
    return {
        "kind": "case",
        "case": {
            "id": case.id,
            "reason": case.reason,
            "opened_by": case.opened_by,
            "status": case.status.value,
        },
        "sightings": [item.sighting.id for item in items],
        "index": INDEX,
    }


def _trail_item(
    sighting: Sighting, clips: Sequence[ClipManifest], staging: Path, data_dir: Path
) -> TrailItem:
    clip = next(
        c
        for c in clips
        if c.camera_id == sighting.camera_id and c.requested_start <= sighting.start <= c.requested_end
    )
    crop = None
    if sighting.crop_path is not None and (data_dir / sighting.crop_path).is_file():
        (staging / CROP_DIR).mkdir(exist_ok=True)
        crop = f"{CROP_DIR}/{_safe(sighting.id)}.jpg"
        shutil.copyfile(data_dir / sighting.crop_path, staging / crop)
    offset = max(0.0, sighting.start - clip.covered_start)
    return TrailItem(sighting, f"{CLIP_DIR}/{clip.file}", round(offset, 3), crop)


def _trail_json(case: CaseRecord, items: Sequence[TrailItem]) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "sightings": [
            {
                "sighting_id": item.sighting.id,
                "camera_id": item.sighting.camera_id,
                "start": item.sighting.start,
                "end": item.sighting.end,
                "best_box": list(item.sighting.best_box),
                "confidence": item.sighting.confidence,
                "path": [[p.timestamp, p.x, p.y] for p in item.sighting.path],
                "clip": item.clip,
                "clip_offset_s": item.clip_offset_s,
                "crop": item.crop,
            }
            for item in items
        ],
    }


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return cleaned or "_"
