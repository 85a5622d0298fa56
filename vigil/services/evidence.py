"""Evidence export with a chain of custody: every clip names who exported it and why.

A clip export (`ingest.clips.export_clip`) becomes evidence here: the export is written
to the audit log (user, action, case, reason, time, camera, span, SHA-256), the
recorded span is held so retention never deletes it, and the manifest beside the clip
carries the same custody fields. The CLI (`vigil clip`) and the API
(``GET /cameras/{id}/clip.mp4``) both come through `export_evidence`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ingest.clips import ClipManifest, export_clip
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store

MIN_REASON_CHARS = 3


def export_evidence(
    store: Store,
    camera_id: str,
    start: float,
    end: float,
    output: Path,
    *,
    user: str,
    reason: str,
    case_id: str | None = None,
) -> ClipManifest:
    """Cut a clip, audit the export, hold the span, and write the custody manifest.

    Args:
        store: The site database (recordings index, audit log).
        camera_id / start / end: What to export (epoch seconds).
        output: The clip file; the manifest goes to ``<output>.json``.
        user: Who exports (the logged-in user).
        reason: Why (e.g. "mediation 2026-114, noise complaint"); required.
        case_id: The case it belongs to, if any.

    Raises:
        ValidationError: No reason given.
        ClipError: Nothing recorded in the span (the message says what is recorded).
    """
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise ValidationError(
            f"reason: every export must say why (at least {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    recordings = RecordingIndex.for_store(store)
    manifest = export_clip(recordings, camera_id, start, end, output)
    manifest = dataclasses.replace(manifest, exported_by=user, reason=reason.strip(), case_id=case_id)
    Path(f"{output}.json").write_text(manifest.to_json(), encoding="utf-8")
    recordings.add_hold(
        camera_id, manifest.covered_start, manifest.covered_end, f"evidence:{manifest.sha256}"
    )
    CaseStore.for_store(store).audit(
        AuditRecord(
            at=time.time(),
            user=user,
            action="export_clip",
            case_id=case_id,
            reason=reason.strip(),
            detail={
                "camera_id": camera_id,
                "requested": [start, end],
                "covered": [manifest.covered_start, manifest.covered_end],
                "sha256": manifest.sha256,
                "gaps": len(manifest.gaps),
            },
        )
    )
    return manifest
