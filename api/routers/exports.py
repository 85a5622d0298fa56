"""``/exports``: past evidence clip exports, from the audit log (the chain of custody).

Every clip export (``GET /cameras/{id}/clip.mp4``, `vigil clip`) is written to the audit log
by `vigil.services.evidence.export_evidence` with who, why, the case, the camera, the span
and the clip's SHA-256; this lists them for mediators. Nothing here exports anything.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import Role, require_role
from api.deps import CameraFilter, PageDep, StoreDep
from api.errors import error_responses
from api.schemas_search import ExportList, ExportPublic
from vigil.infra.db.cases import CaseStore

router = APIRouter(prefix="/exports", tags=["exports"], responses=error_responses(401, 403))

EXPORT_ACTION = "export_clip"
"""The audit action `export_evidence` writes."""


@router.get("", dependencies=[Depends(require_role(Role.MEDIATOR))])
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
