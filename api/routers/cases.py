"""``/cases``: missing-person searches — open, upload photos, rank candidates, confirm / reject, watch.

Operators open cases and search; the audit log of a case is for mediators. Every search,
photo upload and verdict is audited by the case service with the user and the case reason.
``/cases/{id}/backscan`` runs detection over record-only cameras' recordings for the case
(`vigil.services.backscan`); its start, cancel and end are audited too.

A case is site-wide: a user limited to camera groups (`api.scope`) sees its record, but of its
trail, candidates, suggestions, back-scans and live alerts only what is on their cameras; a
verdict on a sighting outside their scope is a 404, as for an unknown one.
"""

import asyncio
import time
from typing import Annotated

import cv2
import numpy as np
from fastapi import (
    APIRouter,
    Body,
    Depends,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from pydantic import BaseModel, ConfigDict, Field

from alerts.search.colours import top_colours
from alerts.search.descriptors import Descriptor
from api.auth import CurrentUser, Role, User, require_role, require_websocket_role
from api.deps import ConfigDep, ScopeDep, ServicesDep
from api.errors import error_responses
from api.images import read_header
from api.limits import rate_limit
from api.schemas import (
    AlertPublic,
    AuditPublic,
    CandidateList,
    CandidatePublic,
    CaseCreate,
    CaseList,
    CasePublic,
    FeedbackCreate,
    PhotoPublic,
    ReachablePublic,
    SightingPublic,
)
from api.scope import Scope, connection_scope, visible
from vigil.core.errors import ValidationError
from vigil.core.types import Alert
from vigil.infra.db.cases import CaseRecord, Verdict
from vigil.services.backscan import (
    BackscanBusy,
    BackscanError,
    BackscanOptions,
    BackscanProgress,
    BackscanService,
    JobState,
)
from vigil.services.cases import Candidate, CaseNotFound, CaseService, CaseView, VerdictConflict

router = APIRouter(prefix="/cases", tags=["cases"], responses=error_responses(401, 403, 503))

PHOTOS_PATH = "/cases/{case_id}/photos"
"""Photo uploads: their body limit is ``api.max_photo_bytes`` (`api.limits.BodyLimit`)."""
_DEFAULT_LOOKBACK_S = 15 * 60
_OPERATOR = [Depends(require_role(Role.OPERATOR))]
_NOT_FOUND = error_responses(404)
_BAD_BODY = error_responses(400, 404, 413, 422)


def get_cases(services: ServicesDep) -> CaseService:
    if services.cases is None:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="case search is not enabled"
        )
    return services.cases


CasesDep = Annotated[CaseService, Depends(get_cases)]


def get_backscan(request: Request) -> BackscanService:
    backscan: BackscanService | None = getattr(request.app.state, "backscan", None)
    if backscan is None:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="back-scan is not enabled"
        )
    return backscan


BackscanDep = Annotated[BackscanService, Depends(get_backscan)]


class BackscanCreate(BaseModel):
    """Start a back-scan: how far from her last-seen place to look (both optional)."""

    model_config = {"extra": "forbid"}

    max_cameras: int = Field(
        default=10,
        ge=1,
        le=500,
        description="Record-only cameras to scan, nearest first. Raising it: slower.",
    )
    max_walk_minutes: float | None = Field(
        default=None, gt=0, le=24 * 60, description="Only cameras within this walk; default: the case window."
    )


class BackscanCameraPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    camera_id: str
    walk_s: float = Field(description="Walking seconds from the last-seen place.")
    state: JobState
    segments: int
    segments_done: int
    sightings: int


class BackscanErrorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    camera_id: str
    path: str
    start: float
    error: str


class BackscanPublic(BaseModel):
    """A back-scan job's progress (read from `BackscanProgress`); its sightings are among the candidates."""

    model_config = ConfigDict(from_attributes=True)

    job_id: str
    case_id: str
    state: JobState
    requested_by: str
    window_start: float
    window_end: float
    anchor_camera: str | None = Field(
        description="Camera the walking times are measured from; null when it is outside the caller's "
        "camera scope."
    )
    cameras_total: int
    cameras_done: int
    segments_total: int
    segments_done: int
    segments_skipped: int = Field(description="Already scanned by an earlier job.")
    video_seconds: float = Field(description="Recorded seconds scanned so far.")
    frames: int
    sightings: int
    sighting_ids: list[str]
    current_camera: str | None
    cameras: list[BackscanCameraPublic] = Field(description="Nearest first, in visiting order.")
    errors: list[BackscanErrorPublic] = Field(description="Segments that could not be read (skipped).")
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    message: str


@router.post("", dependencies=_OPERATOR, status_code=status.HTTP_201_CREATED, responses=_BAD_BODY)
def open_case(
    body: CaseCreate,
    user: CurrentUser,
    cases: CasesDep,
    services: ServicesDep,
    config: ConfigDep,
    scope: ScopeDep,
) -> CasePublic:
    """Open a case; with ``sighting_id`` that sighting is confirmed as her at once."""
    # Checked before opening: a case opened and then refused would be left behind, audited.
    if body.sighting_id is not None:
        sighting = services.store.get_sighting(body.sighting_id)
        if sighting is None or not visible(scope, sighting.camera_id):
            raise HTTPException(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"sighting_id: sighting {body.sighting_id!r} not found",
            )
    seen = body.last_seen_camera
    if seen is not None and (seen not in {c.id for c in config.cameras} or not visible(scope, seen)):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"last_seen_camera: camera {seen!r} is not configured",
        )
    anchor = body.last_seen_at if body.last_seen_at is not None else time.time()
    record = CaseRecord(
        reason=body.reason,
        opened_by=user.name,
        window_start=body.window_start if body.window_start is not None else anchor - _DEFAULT_LOOKBACK_S,
        window_end=body.window_end,
        upper=tuple(body.upper),
        lower=tuple(body.lower),
        size=body.size,
        last_seen_camera=body.last_seen_camera,
        last_seen_at=body.last_seen_at,
        threshold=body.threshold,
    )
    with _errors():
        cases.open_case(record)
        if body.sighting_id is not None:
            cases.feedback(record.id, body.sighting_id, Verdict.CONFIRM, user.name)
        return _case_public(cases.view(record.id), scope)


@router.get("", dependencies=_OPERATOR)
def list_cases(cases: CasesDep, scope: ScopeDep) -> CaseList:
    views = cases.list_views()
    return CaseList(items=[_case_public(v, scope) for v in views], count=len(views))


@router.get("/{case_id}", dependencies=_OPERATOR, responses=_NOT_FOUND)
def read_case(case_id: str, cases: CasesDep, scope: ScopeDep) -> CasePublic:
    with _errors():
        return _case_public(cases.view(case_id), scope)


@router.post(
    PHOTOS_PATH.removeprefix(router.prefix),
    dependencies=_OPERATOR,
    status_code=status.HTTP_201_CREATED,
    responses=_BAD_BODY,
    openapi_extra={"requestBody": {"content": {"image/jpeg": {}, "image/png": {}}, "required": True}},
)
async def upload_photo(
    case_id: str, request: Request, user: CurrentUser, cases: CasesDep, config: ConfigDep
) -> PhotoPublic:
    """Upload a photo of her (JPEG / PNG body): the person is detected, cropped and described.

    At most ``api.max_photo_bytes`` (413), and at most ``api.max_photo_pixels`` as the image's
    header declares them (413, checked before anything is decoded).
    """
    data = await request.body()  # `BodyLimit` has already refused a body over the photo limit
    if not data:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="photo: expected a JPEG / PNG body, got none",
        )
    header = read_header(data)
    if header is None:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"photo: expected a JPEG or PNG image, got {len(data)} bytes of something else",
        )
    if header.pixels > config.api.max_photo_pixels:
        raise HTTPException(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"photo: expected at most {config.api.max_photo_pixels} pixels, the image declares "
            f"{header.width} x {header.height} = {header.pixels}",
        )
    with _errors():
        descriptor = await asyncio.to_thread(_describe_photo, cases, case_id, data, user.name)
    return PhotoPublic(
        upper_colours=[c.name for c in descriptor.upper_colours],
        lower_colours=[c.name for c in descriptor.lower_colours],
    )


def _describe_photo(cases: CaseService, case_id: str, data: bytes, user: str) -> Descriptor:
    """Decode (off the event loop: a large photo takes a while) and add to the case."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValidationError("photo: expected a JPEG or PNG image, its data could not be decoded")
    return cases.add_photo(case_id, np.asarray(image, np.uint8), user)


@router.get(
    "/{case_id}/candidates",
    dependencies=[*_OPERATOR, Depends(rate_limit("candidates"))],
    responses=error_responses(404, 422, 429),
)
def list_candidates(
    case_id: str,
    user: CurrentUser,
    cases: CasesDep,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Candidates to return, best first.")] = 50,
) -> CandidateList:
    """Sightings of every camera in the case window (in the caller's scope), ranked, with score parts.

    Rate-limited per user (``api.candidates_per_minute``, 429 with Retry-After).
    """
    with _errors():
        if scope is not None and not scope:  # no camera at all: nothing to rank (None is every camera)
            cases.view(case_id)
            return CandidateList(items=[], count=0)
        cameras = None if scope is None else sorted(scope)
        ranked = cases.candidates(case_id, user.name, limit=limit, cameras=cameras)
    return CandidateList(items=[_candidate_public(c) for c in ranked], count=len(ranked))


@router.post("/{case_id}/feedback", dependencies=_OPERATOR, responses={**_BAD_BODY, **error_responses(409)})
def post_feedback(
    case_id: str,
    body: Annotated[FeedbackCreate, Body()],
    user: CurrentUser,
    cases: CasesDep,
    services: ServicesDep,
    scope: ScopeDep,
) -> CasePublic:
    """Confirm (joins the query and the trail) or reject (pushes look-alikes down) a candidate.

    409 when another operator's latest verdict on it says the opposite (who, what, when), unless
    ``override``; an override is audited with the verdict it replaced.
    """
    with _errors():
        cases.view(case_id)
        sighting = services.store.get_sighting(body.sighting_id)
        if sighting is not None and not visible(scope, sighting.camera_id):
            raise HTTPException(
                status_code=status.HTTP_404_NOT_FOUND, detail=f"sighting {body.sighting_id!r} not found"
            )
        try:
            cases.feedback(
                case_id, body.sighting_id, Verdict(body.verdict), user.name, override=body.override
            )
        except VerdictConflict as conflict:
            raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(conflict)) from conflict
        return _case_public(cases.view(case_id), scope)


@router.get("/{case_id}/suggestions", dependencies=_OPERATOR, responses=_NOT_FOUND)
def list_suggestions(case_id: str, cases: CasesDep, scope: ScopeDep) -> list[ReachablePublic]:
    """Cameras she could reach next from her last confirmed place, nearest first (in the caller's scope)."""
    with _errors():
        reachable = cases.suggestions(case_id)
    return [
        ReachablePublic(camera_id=r.camera_id, walk_s=r.walk_s)
        for r in reachable
        if visible(scope, r.camera_id)
    ]


@router.post("/{case_id}/close", dependencies=_OPERATOR, responses=_NOT_FOUND)
def close_case(case_id: str, user: CurrentUser, cases: CasesDep, scope: ScopeDep) -> CasePublic:
    with _errors():
        cases.close_case(case_id, user.name)
        return _case_public(cases.view(case_id), scope)


@router.get("/{case_id}/audit", dependencies=[Depends(require_role(Role.MEDIATOR))], responses=_NOT_FOUND)
def list_audit(case_id: str, cases: CasesDep) -> list[AuditPublic]:
    """Who searched, uploaded and decided in this case, newest first."""
    with _errors():
        return [
            AuditPublic(at=a.at, user=a.user, action=a.action, case_id=a.case_id, reason=a.reason)
            for a in cases.audit_trail(case_id)
        ]


@router.post(
    "/{case_id}/backscan",
    dependencies=[*_OPERATOR, Depends(rate_limit("backscans"))],
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 404, 409, 413, 422, 429),
)
def start_backscan(
    case_id: str,
    user: CurrentUser,
    backscan: BackscanDep,
    services: ServicesDep,
    scope: ScopeDep,
    body: Annotated[BackscanCreate | None, Body()] = None,
) -> BackscanPublic:
    """Scan the record-only cameras nearest her last-seen place over the case window (in the background).

    Audited with the user and the case reason. 409 while the case's previous back-scan is
    still queued or running. Rate-limited per user (``api.backscans_per_minute``). A user
    limited to camera groups scans only their cameras.
    """
    options = body or BackscanCreate()
    with _errors():
        try:
            progress = backscan.submit(
                case_id,
                user.name,
                BackscanOptions(options.max_cameras, options.max_walk_minutes, scope),
            )
        except BackscanBusy as error:
            raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from error
        except BackscanError as error:
            raise HTTPException(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)
            ) from error
    return _backscan_public(progress, scope, services)


@router.get("/{case_id}/backscan", dependencies=_OPERATOR, responses=_NOT_FOUND)
def read_backscan(
    case_id: str, cases: CasesDep, backscan: BackscanDep, services: ServicesDep, scope: ScopeDep
) -> BackscanPublic:
    """Progress of the case's latest back-scan."""
    with _errors():
        cases.view(case_id)
    progress = backscan.progress(case_id)
    if progress is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"case {case_id}: no back-scan yet")
    return _backscan_public(progress, scope, services)


@router.get("/{case_id}/backscans", dependencies=_OPERATOR, responses=_NOT_FOUND)
def list_backscans(
    case_id: str, cases: CasesDep, backscan: BackscanDep, services: ServicesDep, scope: ScopeDep
) -> list[BackscanPublic]:
    """The case's back-scans, latest first: none yet is an empty list (the console's probe), not a 404.

    Only the latest job's progress is kept, so the list holds at most one.
    """
    with _errors():
        cases.view(case_id)
    progress = backscan.progress(case_id)
    return [] if progress is None else [_backscan_public(progress, scope, services)]


@router.delete("/{case_id}/backscan", dependencies=_OPERATOR, responses=_NOT_FOUND)
def cancel_backscan(
    case_id: str, user: CurrentUser, backscan: BackscanDep, services: ServicesDep, scope: ScopeDep
) -> BackscanPublic:
    """Cancel the case's back-scan (audited); sightings found so far stay. A finished job comes back as is."""
    with _errors():
        return _backscan_public(backscan.cancel(case_id, user.name), scope, services)


@router.websocket("/{case_id}/watch")
async def watch_case(
    websocket: WebSocket,
    case_id: str,
    user: Annotated[User, Depends(require_websocket_role(Role.OPERATOR))],
) -> None:
    """Live case alerts of one case, one JSON `AlertPublic` per message.

    Needs role operator: a bearer header, or the console's session cookie. A user limited to
    camera groups gets only their cameras' alerts (scope read on connecting).
    """
    scope = connection_scope(websocket, user)
    services = websocket.app.state.services
    if services.cases is None:
        await websocket.close(code=1008)
        return
    service: CaseService = services.cases
    try:
        service.view(case_id)
    except CaseNotFound:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=100)

    def push(alert: Alert) -> None:
        # Called on the pipeline's thread: hand over to the event loop.
        if visible(scope, alert.camera_id):
            loop.call_soon_threadsafe(_offer, queue, alert)

    unsubscribe = service.subscribe(case_id, push)
    try:
        while True:
            alert = await queue.get()
            await websocket.send_json(AlertPublic.from_alert(alert).model_dump(mode="json"))
    except WebSocketDisconnect:
        pass
    finally:
        unsubscribe()


def _offer(queue: "asyncio.Queue[Alert]", alert: Alert) -> None:
    if not queue.full():  # a client that does not read loses alerts, never blocks the pipeline
        queue.put_nowait(alert)


class _errors:
    """Turn case-service errors into the API's one error shape."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, CaseNotFound):
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
        if isinstance(exc, ValidationError):
            raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


def _backscan_public(progress: BackscanProgress, scope: Scope, services: ServicesDep) -> BackscanPublic:
    """A job's progress as the caller may see it: of the cameras in their scope only."""
    public = BackscanPublic.model_validate(progress)
    if scope is None:
        return public
    cameras = [c for c in public.cameras if visible(scope, c.camera_id)]
    found = services.store.get_sightings(public.sighting_ids)
    ids = [s.id for s in found if visible(scope, s.camera_id)]
    return public.model_copy(
        update={
            "anchor_camera": public.anchor_camera if visible(scope, public.anchor_camera) else None,
            "current_camera": public.current_camera if visible(scope, public.current_camera) else None,
            "cameras": cameras,
            "cameras_total": len(cameras),
            "cameras_done": sum(c.state.finished for c in cameras),
            "segments_total": sum(c.segments for c in cameras),
            "segments_done": sum(c.segments_done for c in cameras),
            "errors": [e for e in public.errors if visible(scope, e.camera_id)],
            "sighting_ids": ids,
            "sightings": len(ids),
        }
    )


def _case_public(view: CaseView, scope: Scope) -> CasePublic:
    """The case as the caller may see it: its trail holds only sightings of cameras in their scope."""
    case = view.case
    trail = [s for s in view.trail if visible(scope, s.camera_id)]
    last = trail[-1] if trail else None
    return CasePublic(
        id=case.id,
        reason=case.reason,
        status=case.status.value,
        upper=list(case.upper),
        lower=list(case.lower),
        size=case.size,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        window_start=case.window_start,
        window_end=case.window_end,
        threshold=case.threshold,
        photos=view.photos,
        trail=[SightingPublic.from_sighting(s) for s in trail],
        last_confirmed_camera=None if last is None else last.camera_id,
        last_confirmed_at=None if last is None else last.end,
    )


def _candidate_public(candidate: Candidate) -> CandidatePublic:
    descriptor = Descriptor.from_vector(candidate.sighting.descriptor or ())
    return CandidatePublic(
        sighting=SightingPublic.from_sighting(candidate.sighting),
        score=candidate.score,
        appearance=candidate.appearance,
        colours=candidate.colours,
        size=candidate.size,
        place_time=candidate.place_time,
        penalty=candidate.penalty,
        upper_colours=[c.name for c in top_colours(descriptor.upper)],
        lower_colours=[c.name for c in top_colours(descriptor.lower)],
    )
