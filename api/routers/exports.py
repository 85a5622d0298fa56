"""``/exports`` (past evidence exports, from the audit log) and ``/evidence/public-key``.

Every export (``GET /cameras/{id}/evidence.zip`` or ``clip.mp4``, `vigil clip`) is a signed
bundle written to the audit log by `vigil.services.evidence.export_evidence` with who, why,
the case, the camera, the span, the clip's and the manifest's SHA-256; ``/exports`` lists them
for mediators. ``/evidence/public-key`` serves the site's public key, without login: it is made
to be handed to whoever must check a bundle (a court, a mediator, the other party), and it
reveals nothing that lets anyone sign. The private key is never served. Nothing here exports.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, public, require_role
from api.deps import CameraFilter, PageDep, ServicesDep, StoreDep
from api.errors import error_responses
from api.schemas_search import ExportList, ExportPublic
from vigil.infra.db.cases import CaseStore
from vigil.infra.signing import SiteKey, public_pem

router = APIRouter(tags=["exports"], responses=error_responses(401, 403))

EXPORT_ACTION = "export_clip"
"""The audit action `export_evidence` writes."""


@router.get("/exports", dependencies=[Depends(require_role(Role.MEDIATOR))])
def list_exports(
    store: StoreDep,
    page: PageDep,
    user: Annotated[str | None, Query(max_length=128, description="Only exports by this user.")] = None,
    case_id: Annotated[str | None, Query(max_length=64, description="Only exports of this case.")] = None,
    camera_id: CameraFilter = None,
) -> ExportList:
    """Clip exports newest first, with who exported what, why, and the clip's SHA-256."""
    records, total = CaseStore.for_store(store).audit_page(
        EXPORT_ACTION, user=user, case_id=case_id, camera_id=camera_id, limit=page.limit, offset=page.offset
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
