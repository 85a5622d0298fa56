"""``/cameras/{id}/clip.mp4`` and ``clip.json`` (evidence export), and ``/metrics`` (Prometheus).

A clip is cut from the recorded segments without re-encoding (`ingest.clips`); its manifest
(requested and covered span, source segments, gaps, SHA-256) comes back in the
``X-Vigil-Clip-*`` headers and in full from ``clip.json``. Nothing recorded in the span is a
404 with what is recorded, never an empty file.
"""

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, Response

from api.auth import CurrentUser, Role, public, require_role
from api.deps import ConfigDep, StoreDep, parse_time
from api.errors import error_responses
from api.limits import rate_limit
from ingest.clips import ClipError, ClipManifest, export_clip
from vigil.core.errors import ValidationError
from vigil.infra.db.recordings import RecordingIndex
from vigil.services.evidence import export_evidence

router = APIRouter(tags=["recordings"])

_EXPORT = [Depends(require_role(Role.MEDIATOR)), Depends(rate_limit("exports"))]
_EXPORT_ERRORS = error_responses(401, 403, 404, 422, 429)

MAX_CLIP_SECONDS = 3600.0

TimeQuery = Annotated[str, Query(max_length=64, description="Epoch seconds or ISO-8601 with a timezone.")]


def _cut(
    store: StoreDep,
    config: ConfigDep,
    camera_id: str,
    start: str,
    end: str,
    target: Path,
    custody: tuple[str, str, str | None] | None = None,
) -> ClipManifest:
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
    try:
        if custody is None:
            return export_clip(RecordingIndex.for_store(store), camera_id, t0, t1, target)
        user, reason, case_id = custody
        return export_evidence(store, camera_id, t0, t1, target, user=user, reason=reason, case_id=case_id)
    except ClipError as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except ValidationError as error:  # a reason of control characters, blank once stripped
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


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
    reason: Annotated[
        str, Query(min_length=3, max_length=500, description="Why this clip is exported (audited).")
    ],
    user: CurrentUser,
    store: StoreDep,
    config: ConfigDep,
    tasks: BackgroundTasks,
    case: Annotated[str | None, Query(max_length=64, description="Case the export belongs to.")] = None,
) -> FileResponse:
    """The recording between start and end as MP4 (keyframe-aligned; headers give the covered span).

    Every export is evidence: it is audited with the user and the reason, and its span is held
    so retention never deletes it.
    """
    workdir = Path(tempfile.mkdtemp(prefix="vigil-clip-"))
    target = workdir / f"{camera_id}.mp4"
    try:
        manifest = _cut(store, config, camera_id, start, end, target, (user.name, reason, case))
    except BaseException:
        _cleanup(workdir)
        raise
    tasks.add_task(_cleanup, workdir)
    headers = {
        "X-Vigil-Clip-Covered-Start": f"{manifest.covered_start:.3f}",
        "X-Vigil-Clip-Covered-End": f"{manifest.covered_end:.3f}",
        "X-Vigil-Clip-Segments": str(len(manifest.segments)),
        "X-Vigil-Clip-Gaps": str(len(manifest.gaps)),
        "X-Vigil-Clip-Sha256": manifest.sha256,
    }
    return FileResponse(target, media_type="video/mp4", filename=target.name, headers=headers)


@router.get("/cameras/{camera_id}/clip.json", dependencies=_EXPORT, responses=_EXPORT_ERRORS)
def read_clip_manifest(
    camera_id: str, start: TimeQuery, end: TimeQuery, store: StoreDep, config: ConfigDep
) -> Response:
    """The manifest the same clip.mp4 request would produce (the clip is cut to hash it)."""
    with tempfile.TemporaryDirectory(prefix="vigil-clip-") as workdir:
        manifest = _cut(store, config, camera_id, start, end, Path(workdir) / f"{camera_id}.mp4")
    return Response(manifest.to_json(), media_type="application/json")


@router.get("/metrics", dependencies=[Depends(public())], include_in_schema=False)  # Prometheus scrapes
def read_metrics() -> Response:
    """Prometheus text format: per-camera ingest counters registered by `ingest.metrics`."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _cleanup(workdir: Path) -> None:
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
