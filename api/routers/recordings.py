"""Evidence export (``/cameras/{id}/evidence.zip``, ``clip.mp4``, ``clip.json``) and ``/metrics``.

Every export is a signed evidence bundle (`vigil.services.evidence`): ``evidence.zip`` is the
bundle itself (clip, manifest, the site key's signature; `vigil verify` checks it), ``clip.mp4``
the same export's clip alone for playing, with the manifest's SHA-256 in a header. Both are
audited and hold the span. A clip is cut from the recorded segments without re-encoding
(`ingest.clips`), except on a camera with privacy masks: there the masks are burned in (re-encoded,
``X-Vigil-Masking: burned_in``). ``unmasked=true`` leaves them out and needs the admin role; it is
audited as ``evidence.unmasked`` and the manifest says so. The clip's span, segments, gaps and
SHA-256 come back in the ``X-Vigil-Clip-*`` headers, and ``clip.json`` gives an unsigned preview
of them without exporting. Nothing recorded in the span is a 404 with what is recorded, never an
empty file; a span whose segments are gone from disk is a 404 naming the gap.
"""

import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, Response

from api.auth import CurrentUser, Role, User, public, require_role
from api.deps import ConfigDep, ServicesDep, StoreDep, parse_time
from api.errors import error_responses
from api.limits import rate_limit
from ingest.clips import ClipError, export_clip
from vigil.core.errors import ValidationError
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.signing import SiteKey
from vigil.services.evidence import CLIP_DIR, EvidenceExport, Masking, export_evidence

router = APIRouter(tags=["recordings"])

_EXPORT = [Depends(require_role(Role.MEDIATOR)), Depends(rate_limit("exports"))]
_EXPORT_ERRORS = error_responses(401, 403, 404, 422, 429, 503)

MAX_CLIP_SECONDS = 3600.0

TimeQuery = Annotated[str, Query(max_length=64, description="Epoch seconds or ISO-8601 with a timezone.")]


def _span(config: ConfigDep, camera_id: str, start: str, end: str) -> tuple[float, float]:
    if camera_id not in {camera.id for camera in config.cameras}:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"camera {camera_id!r} is not configured"
        )
    t0, t1 = parse_time("start", start), parse_time("end", end)
    assert t0 is not None and t1 is not None
    if not 0 < t1 - t0 <= MAX_CLIP_SECONDS:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"expected 0 < end - start <= {MAX_CLIP_SECONDS:.0f} s, got {t1 - t0:.1f} s",
        )
    return t0, t1


def _export(
    services: ServicesDep,
    config: ConfigDep,
    camera_id: str,
    span: tuple[str, str],
    target: Path,
    custody: tuple[str, str, str | None],
    masking: Masking,
) -> EvidenceExport:
    t0, t1 = _span(config, camera_id, *span)
    user, reason, case_id = custody
    try:
        key = SiteKey.load_or_create(services.data_dir)
        return export_evidence(
            services.store,
            [camera_id],
            t0,
            t1,
            target,
            key=key,
            site=config.site,
            user=user,
            reason=reason,
            case_id=case_id,
            masking=masking,
        )
    except ClipError as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except ValidationError as error:  # a reason of control characters, blank once stripped
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


def _bundle_in_workdir(
    services: ServicesDep,
    config: ConfigDep,
    camera_id: str,
    span: tuple[str, str],
    custody: tuple[str, str, str | None],
    masking: Masking,
) -> tuple[Path, EvidenceExport]:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-evidence-"))
    try:
        return workdir, _export(
            services, config, camera_id, span, workdir / f"evidence-{camera_id}.zip", custody, masking
        )
    except BaseException:
        _cleanup(workdir)
        raise


def _headers(export: EvidenceExport) -> dict[str, str]:
    clip = export.clips[0]
    return {
        "X-Vigil-Clip-Covered-Start": f"{clip.covered_start:.3f}",
        "X-Vigil-Clip-Covered-End": f"{clip.covered_end:.3f}",
        "X-Vigil-Clip-Segments": str(len(clip.segments)),
        "X-Vigil-Clip-Gaps": str(len(clip.gaps)),
        "X-Vigil-Clip-Sha256": clip.sha256,
        "X-Vigil-Manifest-Sha256": export.manifest_sha256,
        "X-Vigil-Key-Fingerprint": str(export.manifest["key_fingerprint"]),
        "X-Vigil-Masking": str(export.manifest["cameras"][0]["masking"]),
    }


def masking_for(config: ConfigDep, user: User, unmasked: bool) -> Masking:
    """The configured privacy masks; ``unmasked`` only for an admin (403 otherwise, nothing exported)."""
    if unmasked and not user.role.covers(Role.ADMIN):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"an unmasked export needs role 'admin'; user '{user.name}' is '{user.role.value}'",
        )
    return Masking.from_config(config, unmasked=unmasked)


ReasonQuery = Annotated[
    str, Query(min_length=3, max_length=500, description="Why this is exported (audited).")
]
CaseQuery = Annotated[str | None, Query(max_length=64, description="Case the export belongs to.")]
UnmaskedQuery = Annotated[
    bool,
    Query(description="Leave the camera's privacy masks out (admin only; audited as evidence.unmasked)."),
]


@router.get(
    "/cameras/{camera_id}/evidence.zip",
    dependencies=_EXPORT,
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The signed bundle."},
        **_EXPORT_ERRORS,
    },
)
def read_evidence_bundle(
    camera_id: str,
    start: TimeQuery,
    end: TimeQuery,
    reason: ReasonQuery,
    user: CurrentUser,
    services: ServicesDep,
    config: ConfigDep,
    tasks: BackgroundTasks,
    case: CaseQuery = None,
    unmasked: UnmaskedQuery = False,
) -> FileResponse:
    """The signed evidence bundle (ZIP: clip, manifest.json, manifest.sig, public-key.pem).

    Audited with the user and the reason, and its span is held so retention never deletes it;
    `vigil verify` checks it offline against the key at ``/evidence/public-key``.
    """
    masking = masking_for(config, user, unmasked)
    workdir, export = _bundle_in_workdir(
        services, config, camera_id, (start, end), (user.name, reason, case), masking
    )
    tasks.add_task(_cleanup, workdir)
    return FileResponse(
        export.bundle, media_type="application/zip", filename=export.bundle.name, headers=_headers(export)
    )


@router.get(
    "/cameras/{camera_id}/clip.mp4",
    dependencies=_EXPORT,
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}, "description": "The clip, MP4."}, **_EXPORT_ERRORS},
)
def read_clip(
    camera_id: str,
    start: TimeQuery,
    end: TimeQuery,
    reason: ReasonQuery,
    user: CurrentUser,
    services: ServicesDep,
    config: ConfigDep,
    tasks: BackgroundTasks,
    case: CaseQuery = None,
    unmasked: UnmaskedQuery = False,
) -> FileResponse:
    """The recording between start and end as MP4 (keyframe-aligned; headers give the covered span).

    Every export is evidence: a signed bundle is made and audited with the user and the reason
    (``X-Vigil-Manifest-Sha256`` names it; ``evidence.zip`` serves the bundle itself), and its
    span is held so retention never deletes it.
    """
    masking = masking_for(config, user, unmasked)
    workdir, export = _bundle_in_workdir(
        services, config, camera_id, (start, end), (user.name, reason, case), masking
    )
    tasks.add_task(_cleanup, workdir)
    target = workdir / f"{camera_id}.mp4"
    with zipfile.ZipFile(export.bundle) as bundle, bundle.open(f"{CLIP_DIR}/{export.clips[0].file}") as clip:
        target.write_bytes(clip.read())
    return FileResponse(target, media_type="video/mp4", filename=target.name, headers=_headers(export))


@router.get("/cameras/{camera_id}/clip.json", dependencies=_EXPORT, responses=_EXPORT_ERRORS)
def read_clip_manifest(
    camera_id: str, start: TimeQuery, end: TimeQuery, store: StoreDep, config: ConfigDep
) -> Response:
    """A preview of what the same export would hold (the clip is cut to hash it; not signed, not audited)."""
    t0, t1 = _span(config, camera_id, start, end)
    with tempfile.TemporaryDirectory(prefix="vigil-clip-") as workdir:
        try:
            masks = Masking.from_config(config).burn(camera_id)
            manifest = export_clip(
                RecordingIndex.for_store(store), camera_id, t0, t1, Path(workdir) / "clip.mp4", masks=masks
            )
        except ClipError as error:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    return Response(manifest.to_json(), media_type="application/json")


@router.get("/metrics", dependencies=[Depends(public())], include_in_schema=False)  # Prometheus scrapes
def read_metrics() -> Response:
    """Prometheus text format: per-camera ingest counters registered by `ingest.metrics`."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _cleanup(workdir: Path) -> None:
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
