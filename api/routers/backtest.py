"""``/rules/.../backtest``: what a rule would have raised over a camera's recorded footage (admins).

``POST /rules/{name}/backtest`` tries a configured rule, ``POST /rules/backtest`` a draft that
is not configured yet (``{draft: {rule: {...}, zone: {...}?, line: {...}?}}``, validated like a
config rule on its camera: a 422 names the YAML path, e.g. ``rule.zone: camera 'gate' has no
zone 'x'``). Either answers 202 with the job; ``GET /rules/backtests/{id}`` reads its progress
and, once done, its events (each with a crop at ``.../events/{event}/crop.jpg`` and a link to
the clip export), counts per hour, gaps, skipped segments, speed and time split. One backtest
runs at a time (409 names the running one); starts are rate-limited per user
(``api.backtests_per_minute``); starts, cancels and ends are audited with the user and reason.

Registered before the rules router: its ``/rules/{name}`` would otherwise take these paths.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import CurrentUser, Role, require_role
from api.deps import ConfigDep
from api.errors import error_responses
from api.limits import rate_limit
from vigil.core.errors import ValidationError
from vigil.services.backtest import (
    BacktestBusy,
    BacktestError,
    BacktestNotFound,
    BacktestOptions,
    BacktestReport,
    BacktestService,
    BacktestTarget,
    DraftInvalid,
    JobState,
    as_plain,
    configured_rule,
    draft_rule,
    parse_site_time,
)

router = APIRouter(prefix="/rules", tags=["backtests"], responses=error_responses(401, 403, 503))

_ADMIN = [Depends(require_role(Role.ADMIN))]
_START = [*_ADMIN, Depends(rate_limit("backtests"))]
_START_ERRORS = error_responses(400, 404, 409, 413, 422, 429)
_TIME = "Epoch seconds or ISO-8601; without an offset, in the site's time zone."


def get_backtest(request: Request) -> BacktestService:
    backtest: BacktestService | None = getattr(request.app.state, "backtest", None)
    if backtest is None:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="backtest is not enabled")
    return backtest


BacktestDep = Annotated[BacktestService, Depends(get_backtest)]


class BacktestCreate(BaseModel):
    """Start a backtest of a configured rule over ``[start, end)`` of its camera's recordings."""

    model_config = {"extra": "forbid"}

    start: str = Field(min_length=1, max_length=64, description=f"Window start. {_TIME}")
    end: str = Field(min_length=1, max_length=64, description=f"Window end. {_TIME}")
    reason: str = Field(min_length=3, max_length=500, description="Why (audited).")
    detect_fps: float | None = Field(
        default=None, gt=0, le=30, description="Frames per second through detection; default the camera's."
    )
    decode_width: int | None = Field(
        default=None, ge=64, le=7680, description="Analyse frames scaled to this width; default as recorded."
    )
    motion: bool | None = Field(
        default=None, description="Force motion gating on or off; default the camera's."
    )


class DraftBacktestCreate(BacktestCreate):
    """Start a backtest of a draft rule (not configured) on a camera."""

    draft: dict[str, Any] = Field(
        description="{rule: {...}, zone: {...}?, line: {...}?}: a rule as under `rules:`, with an optional "
        "zone polygon or line of its own (replacing the camera's of that name)."
    )
    camera: str | None = Field(
        default=None, max_length=64, description="Camera id; default the draft rule's `camera`."
    )


class EventPublic(BaseModel):
    id: str
    at: float
    kind: str
    track: int | None
    direction: str | None
    value: float | None
    phase: str | None
    message: str
    box: tuple[float, float, float, float] | None
    crop: str | None = Field(description="Crop file in the job folder; served at .../events/{id}/crop.jpg.")
    clip_start: float
    clip_end: float
    clip_url: str = Field(
        description="The clip export of the event's span (add `reason`: exports are audited)."
    )


class HourPublic(BaseModel):
    start: float
    events: int
    count_in: int
    count_out: int


class GapPublic(BaseModel):
    start: float
    end: float
    reason: str


class SkippedPublic(BaseModel):
    camera_id: str
    path: str
    start: float
    error: str


class SplitPublic(BaseModel):
    decode: float = Field(description="Seconds decoding and converting frames.")
    detect: float = Field(description="Seconds in the detector.")
    track: float = Field(description="Seconds tracking, motion gating and filtering.")
    rule: float = Field(description="Seconds in the rule.")


class BacktestPublic(BaseModel):
    """A backtest job: progress, and what the rule would have raised."""

    job_id: str
    state: JobState
    rule: str
    rule_type: str
    camera_id: str
    draft: bool
    requested_by: str
    reason: str
    window_start: float
    window_end: float
    detect_fps: float
    segments_total: int
    segments_done: int
    video_seconds: float = Field(description="Recorded seconds analysed so far.")
    frames: int
    events: list[EventPublic]
    hours: list[HourPublic] = Field(description="Events (and line crossings) per clock hour of the window.")
    crossings_in: int | None = Field(description="Line rules: crossings 'in' in the window; else null.")
    crossings_out: int | None
    gaps: list[GapPublic] = Field(description="Parts of the window with no recording.")
    errors: list[SkippedPublic] = Field(description="Segments that could not be decoded (skipped).")
    split: SplitPublic
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    elapsed_s: float
    speed: float = Field(description="Recorded seconds per second of work (x real time).")
    message: str


def _public(report: BacktestReport) -> BacktestPublic:
    return BacktestPublic.model_validate(as_plain(report))


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as HTTP errors (one line each)."""
    try:
        yield
    except BacktestNotFound as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except BacktestBusy as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from None
    except (DraftInvalid, BacktestError, ValidationError) as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


def _start(
    service: BacktestService, target: BacktestTarget, body: BacktestCreate, user: str, tz: str
) -> BacktestPublic:
    try:
        start, end = parse_site_time(body.start, tz), parse_site_time(body.end, tz)
    except ValidationError as error:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"window: {error}"
        ) from None
    options = BacktestOptions(body.detect_fps, body.decode_width, body.motion)
    report = service.submit(target, start, end, user=user, reason=body.reason, options=options)
    return _public(report)


@router.post("/backtest", dependencies=_START, status_code=status.HTTP_202_ACCEPTED, responses=_START_ERRORS)
def start_draft_backtest(
    body: DraftBacktestCreate, user: CurrentUser, config: ConfigDep, service: BacktestDep
) -> BacktestPublic:
    """Backtest a draft rule (not configured) on a camera's recordings, in the background."""
    with _refusals():
        target = draft_rule(config, body.draft, body.camera)
        return _start(service, target, body, user.name, config.timezone)


@router.post(
    "/{name}/backtest", dependencies=_START, status_code=status.HTTP_202_ACCEPTED, responses=_START_ERRORS
)
def start_backtest(
    name: str, body: BacktestCreate, user: CurrentUser, config: ConfigDep, service: BacktestDep
) -> BacktestPublic:
    """Backtest a configured rule on its camera's recordings, in the background."""
    with _refusals():
        return _start(service, configured_rule(config, name), body, user.name, config.timezone)


@router.get("/backtests/latest", dependencies=_ADMIN, responses=error_responses(404))
def read_latest_backtest(service: BacktestDep) -> BacktestPublic:
    """The most recently started backtest."""
    report = service.latest()
    if report is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no backtest yet")
    return _public(report)


@router.get("/backtests/{job_id}", dependencies=_ADMIN, responses=error_responses(404))
def read_backtest(job_id: str, service: BacktestDep) -> BacktestPublic:
    """A backtest's progress, and its results once done."""
    with _refusals():
        return _public(service.progress(job_id))


@router.delete("/backtests/{job_id}", dependencies=_ADMIN, responses=error_responses(404))
def cancel_backtest(job_id: str, user: CurrentUser, service: BacktestDep) -> BacktestPublic:
    """Cancel a backtest at its next frame (audited); its events so far stay. A finished one: as is."""
    with _refusals():
        return _public(service.cancel(job_id, user.name))


@router.get(
    "/backtests/{job_id}/events/{event_id}/crop.jpg",
    dependencies=_ADMIN,
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The event's crop."},
        **error_responses(404),
    },
)
def read_backtest_crop(job_id: str, event_id: str, service: BacktestDep) -> FileResponse:
    """The crop of one backtest event (privacy masks applied before detection)."""
    with _refusals():
        return FileResponse(service.crop(job_id, event_id), media_type="image/jpeg")
