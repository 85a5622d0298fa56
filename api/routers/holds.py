"""``/holds`` (legal holds) and ``/retention`` (retention policy and runs), for admins.

A legal hold keeps a case, or a span of cameras, out of retention until an admin releases it
with a reason (`vigil.services.legal_hold`). ``POST /holds`` with ``case_id`` holds a case and
its window on every camera; with ``cameras``, ``start`` and ``end`` it holds a span, and a
camera without recording in the span is a 422 that says what it has. Holds are never deleted:
``POST /holds/{id}/release`` marks one released. ``POST /retention/run`` runs retention now
and answers what it deleted and kept; ``GET /retention`` says the policy and the latest run.
Every change is audited with the user and reason.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from api.auth import CurrentUser, Role, require_role
from api.deps import ConfigDep, PageDep, ServicesDep, parse_time
from api.errors import error_responses
from api.schemas_retention import (
    HoldCreate,
    HoldList,
    HoldPublic,
    HoldRelease,
    ReportPublic,
    RetentionPublic,
    RetentionRun,
)
from vigil.core.errors import ValidationError
from vigil.services.legal_hold import HoldConflict, HoldNotFound, LegalHoldService
from vigil.services.retention import RetentionService

router = APIRouter(prefix="/holds", tags=["holds"], responses=error_responses(401, 403))
retention_router = APIRouter(prefix="/retention", tags=["retention"], responses=error_responses(401, 403))

_ADMIN = [Depends(require_role(Role.ADMIN))]
_BODY = error_responses(400, 413, 422)


def get_holds(services: ServicesDep, config: ConfigDep) -> LegalHoldService:
    return LegalHoldService(services.store, [camera.id for camera in config.cameras])


HoldsDep = Annotated[LegalHoldService, Depends(get_holds)]


def get_retention(request: Request, services: ServicesDep, config: ConfigDep) -> RetentionService:
    """The running service's retention (its metrics count this run), else one for this request."""
    running: RetentionService | None = getattr(request.app.state, "retention", None)
    if running is not None:
        return running
    forget = services.cases.index.forget if services.cases is not None else None
    return RetentionService.from_config(config, services.store, services.data_dir, forget=forget)


RetentionDep = Annotated[RetentionService, Depends(get_retention)]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except HoldNotFound as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except HoldConflict as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from None
    except ValidationError as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


@router.get("", dependencies=_ADMIN)
def list_holds(
    holds: HoldsDep,
    page: PageDep,
    active: Annotated[bool | None, Query(description="Only active (true) or released (false) holds.")] = None,
    case_id: Annotated[str | None, Query(max_length=64, description="Only holds of this case.")] = None,
) -> HoldList:
    """Legal holds newest first."""
    found, total = holds.holds.list(active=active, case_id=case_id, limit=page.limit, offset=page.offset)
    return HoldList(items=[HoldPublic.of(hold) for hold in found], count=total)


@router.post(
    "",
    dependencies=_ADMIN,
    status_code=status.HTTP_201_CREATED,
    responses={**_BODY, **error_responses(404, 409)},
)
def place_hold(body: HoldCreate, user: CurrentUser, holds: HoldsDep) -> HoldPublic:
    """Place a legal hold: 404 unknown case or camera, 409 case already held, 422 nothing recorded."""
    with _errors():
        if body.case_id is not None:
            return HoldPublic.of(holds.hold_case(body.case_id, user=user.name, reason=body.reason))
        assert body.cameras is not None  # the schema requires cameras + start + end without case_id
        start, end = parse_time("start", body.start), parse_time("end", body.end)
        assert start is not None and end is not None
        return HoldPublic.of(holds.hold_span(body.cameras, start, end, user=user.name, reason=body.reason))


@router.get("/{hold_id}", dependencies=_ADMIN, responses=error_responses(404))
def read_hold(hold_id: str, holds: HoldsDep) -> HoldPublic:
    with _errors():
        return HoldPublic.of(holds.get(hold_id))


@router.post("/{hold_id}/release", dependencies=_ADMIN, responses={**_BODY, **error_responses(404, 409)})
def release_hold(hold_id: str, body: HoldRelease, user: CurrentUser, holds: HoldsDep) -> HoldPublic:
    """Release a hold (admin, with a reason): what it held expires by policy again. 409: already released."""
    with _errors():
        return HoldPublic.of(holds.release(hold_id, user=user.name, reason=body.reason))


@retention_router.get("", dependencies=_ADMIN)
def read_retention(retention: RetentionDep) -> RetentionPublic:
    """The retention policy in force (per-camera recording overrides included) and the latest run."""
    return RetentionPublic.of(retention.policy, retention.last)


@retention_router.post("/run", dependencies=_ADMIN, responses=_BODY)
def run_retention(body: RetentionRun, user: CurrentUser, retention: RetentionDep) -> ReportPublic:
    """Run retention now (audited): what it deleted, and what it kept past its age because it is held."""
    return ReportPublic.of(retention.run(user=user.name, reason=body.reason))
