"""``/exports`` (past evidence exports, from the audit log) and ``/evidence/public-key``.

Every export (``GET /cameras/{id}/evidence.zip`` or ``clip.mp4``, `vigil clip`) is a signed
bundle written to the audit log by `vigil.services.evidence.export_evidence` with who, why,
the case, the camera, the span, the clip's and the manifest's SHA-256; ``/exports`` lists them
for mediators. ``/evidence/public-key`` serves the site's public key, without login: it is made
to be handed to whoever must check a bundle (a court, a mediator, the other party), and it
reveals nothing that lets anyone sign. The private key is never served.

``POST /cases/{id}/bundle`` exports a whole case as one signed bundle
(`vigil.services.case_bundle`): every confirmed sighting's clip, crops, the trail, the case's
audit excerpt and an ``index.html`` to open offline. Mediator role and a reason; privacy masks
burned in unless an admin asks ``unmasked`` (audited as ``evidence.unmasked``); with
``redact_bystanders`` every person but the case's subject is blurred (`vigil.services.redaction`).
"""

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from api.auth import CurrentUser, Role, public, require_role
from api.deps import CameraFilter, ConfigDep, PageDep, ScopeDep, ServicesDep, StoreDep
from api.errors import error_responses
from api.limits import rate_limit
from api.routers.recordings import masking_for
from api.schemas_search import ExportList, ExportPublic
from api.scope import visible
from ingest.clips import ClipError
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import CaseStore, Verdict
from vigil.infra.signing import SiteKey, public_pem
from vigil.services.case_bundle import MAX_PAD_S, PAD_S, CaseSite, export_case_bundle
from vigil.services.cases import CaseNotFound

router = APIRouter(tags=["exports"], responses=error_responses(401, 403))

EXPORT_ACTION = "export_clip"
"""The audit action `export_evidence` writes."""


@router.get("/exports", dependencies=[Depends(require_role(Role.MEDIATOR))])
def list_exports(
    store: StoreDep,
    page: PageDep,
    scope: ScopeDep,
    user: Annotated[str | None, Query(max_length=128, description="Only exports by this user.")] = None,
    case_id: Annotated[str | None, Query(max_length=64, description="Only exports of this case.")] = None,
    camera_id: CameraFilter = None,
) -> ExportList:
    """Clip exports newest first, with who exported what, why, and the clip's SHA-256.

    A user limited to camera groups sees only exports of their cameras.
    """
    records, total = CaseStore.for_store(store).audit_page(
        EXPORT_ACTION,
        user=user,
        case_id=case_id,
        camera_id=camera_id,
        limit=page.limit,
        offset=page.offset,
        cameras=scope,
    )
    return ExportList(items=[ExportPublic.from_audit(r) for r in records], count=total)


@router.get(
    "/evidence/public-key",
    dependencies=[Depends(public())],
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}, "description": "Ed25519 public key, PEM."}},
)
def read_public_key(services: ServicesDep) -> Response:
    """The site's evidence public key (PEM), made on first use; its fingerprint is in the header.

    `vigil verify BUNDLE --public-key FILE` checks a bundle's signature against it.
    """
    key = SiteKey.load_or_create(services.data_dir)
    return Response(
        public_pem(key.public),
        media_type="application/x-pem-file",
        headers={"X-Vigil-Key-Fingerprint": key.fingerprint},
    )


class CaseBundleCreate(BaseModel):
    """What a case bundle export needs: why, and how much recording around each sighting."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=3, max_length=500, description="Why the case is exported (audited).")
    pad_s: float = Field(
        default=PAD_S,
        ge=0,
        le=MAX_PAD_S,
        description="Seconds of recording before and after each confirmed sighting. Raising it gives "
        "more context and larger, slower bundles.",
    )
    unmasked: bool = Field(
        default=False, description="Leave privacy masks out (admin only; audited as evidence.unmasked)."
    )
    redact_bystanders: bool = Field(
        default=False,
        description="Blur every person in the clips except the case's subject (recognised by what she looks "
        "like in the case's photos and confirmed sightings; blurred too where that is not sure). Each clip "
        "is re-encoded and the detector runs twice a second of footage: slower exports.",
    )


@router.post(
    "/cases/{case_id}/bundle",
    dependencies=[Depends(require_role(Role.MEDIATOR)), Depends(rate_limit("exports"))],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The signed case bundle."},
        **error_responses(400, 404, 422, 429, 503),
    },
)
def create_case_bundle(
    case_id: str,
    body: CaseBundleCreate,
    user: CurrentUser,
    services: ServicesDep,
    config: ConfigDep,
    scope: ScopeDep,
    tasks: BackgroundTasks,
) -> FileResponse:
    """The case as one signed bundle (clips, crops, trail.json, audit.json, index.html).

    `vigil verify` checks it like any bundle. No confirmed sightings is a 422, an unknown case or
    a sighting whose recording is gone a 404 naming the camera and the gap. A user limited to
    camera groups exports only a case whose trail is all on their cameras (else 403: a bundle
    holds the whole trail, so an unscoped mediator must export it).
    """
    _check_bundle_scope(services, case_id, scope)
    masking = masking_for(config, user, body.unmasked)
    names = {c.id: c.name for c in config.cameras}
    detector = services.detector if body.redact_bystanders else None
    if body.redact_bystanders and detector is None:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="bystander redaction needs the site's detector, which this API was started without; "
            "export without redact_bystanders or from `vigil run`",
        )
    site = CaseSite(config.site, services.data_dir, config.timezone, names, masking, redact_with=detector)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-case-"))
    safe = "".join(c for c in case_id[:16] if c.isalnum() or c in "-_") or "case"
    target = workdir / f"case-{safe}.zip"
    try:
        key = SiteKey.load_or_create(services.data_dir)
        export = export_case_bundle(
            services.store, case_id, target, key=key, site=site, user=user.name, reason=body.reason,
            pad_s=body.pad_s,
        )  # fmt: skip
    except (CaseNotFound, ClipError) as error:
        shutil.rmtree(workdir, ignore_errors=True)
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except ValidationError as error:
        shutil.rmtree(workdir, ignore_errors=True)
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    tasks.add_task(shutil.rmtree, workdir, True)
    headers = {"X-Vigil-Manifest-Sha256": export.manifest_sha256, "X-Vigil-Clips": str(len(export.clips))}
    return FileResponse(target, media_type="application/zip", filename=target.name, headers=headers)


def _check_bundle_scope(services: ServicesDep, case_id: str, scope: frozenset[str] | None) -> None:
    """403 when the case's trail has a sighting on a camera outside the caller's scope."""
    if scope is None:
        return
    store = CaseStore.for_store(services.store)
    if store.get_case(case_id) is None:
        return  # the export answers the unknown case's 404
    latest = {r.sighting_id: r.verdict for r in store.feedback(case_id)}  # a later verdict wins
    confirmed = {sighting for sighting, verdict in latest.items() if verdict is Verdict.CONFIRM}
    outside = sorted(
        {
            s.camera_id
            for s in services.store.get_sightings(sorted(confirmed))
            if not visible(scope, s.camera_id)
        }
    )
    if outside:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"case {case_id}: {len(outside)} of its cameras are outside your camera groups; a "
            "case bundle holds the whole trail, so a mediator with every camera (or an admin) exports it",
        )
