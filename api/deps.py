"""Dependencies shared by the routers, declared once as `Annotated` aliases."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, HTTPException, Query, Request, status

from api.auth import Authenticator, CurrentUser
from api.scope import Scope, cameras_in_scope
from config.models import VigilConfig
from vigil.core.errors import ValidationError
from vigil.core.times import parse_epoch
from vigil.core.types import CameraHealth
from vigil.infra.db import Store
from vigil.infra.live_view import LiveView
from vigil.services.alert_feed import AlertFeed

if TYPE_CHECKING:
    from detectors.base import Detector
    from vigil.services.cases import CaseService
    from vigil.services.site_config import SiteControl

MAX_PAGE = 500
MAX_OFFSET = 1_000_000_000  # beyond this SQLite's 64-bit integers are no longer the limit, abuse is


@dataclass(frozen=True)
class ApiServices:
    """What the API needs from the running pipeline.

    Attributes:
        store: The shared database.
        health: Returns the live health of each camera, keyed by camera id; cameras
            missing from it fall back to their last stored health.
        data_dir: Root of the files the API may serve (crops); paths in the
            database are relative to it.
        auth: Logs users in and checks their tokens; None builds one on the store's users
            with the secret from ``VIGIL_JWT_SECRET`` or ``<data_dir>/jwt-secret``.
        cases: The case service (missing-person search); None answers 503 on ``/cases``.
        live: Each AI camera's latest analysed frame and boxes; None answers 404 on
            ``/cameras/{id}/live``.
        site: Changes cameras, zones and privacy masks of the running site and saves its YAML
            file; None (no ``vigil run CONFIG`` here) answers 503 on camera administration.
        alert_feed: New alerts and triage changes pushed on ``/alerts/live``; the runtime's is
            fed by the central consumer, a default one carries only this API's triage changes.
        detector: Finds the people to blur in a case bundle with ``redact_bystanders``; None
            answers 503 to that option.
    """

    store: Store
    health: Callable[[], Mapping[str, CameraHealth]]
    data_dir: Path
    auth: Authenticator | None = None
    cases: "CaseService | None" = None
    live: LiveView | None = None
    site: "SiteControl | None" = None
    alert_feed: AlertFeed = field(default_factory=AlertFeed)
    detector: "Detector | None" = None


def get_services(request: Request) -> ApiServices:
    return cast(ApiServices, request.app.state.services)


def get_config(request: Request) -> VigilConfig:
    """The site's config as it runs now (changed by camera administration, when there is one)."""
    site = get_services(request).site
    return site.config if site is not None else cast(VigilConfig, request.app.state.config)


ServicesDep = Annotated[ApiServices, Depends(get_services)]
ConfigDep = Annotated[VigilConfig, Depends(get_config)]


def get_scope(config: ConfigDep, user: CurrentUser) -> Scope:
    """The ids of the cameras the caller may see anything of; None for every camera (`api.scope`)."""
    return cameras_in_scope(config, user)


ScopeDep = Annotated[Scope, Depends(get_scope)]
"""The caller's camera scope, read from the database on each request (as the user is)."""


def get_store(services: ServicesDep) -> Store:
    return services.store


StoreDep = Annotated[Store, Depends(get_store)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page, at most {MAX_PAGE}.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]


@dataclass(frozen=True)
class TimeRange:
    """Epoch seconds; None is an open bound."""

    start: float | None
    end: float | None


_TIME_HELP = "Epoch seconds or ISO-8601 with a timezone, e.g. 1717236000 or 2024-06-01T10:00:00Z."


def parse_time(name: str, value: str | None) -> float | None:
    """Epoch seconds from a query value in epoch seconds or ISO-8601.

    Raises:
        HTTPException: 422 naming the parameter, when the value is neither, has no
            timezone, or is not finite.
    """
    if value is None:
        return None
    try:
        return parse_epoch(value)
    except ValidationError as error:
        raise _bad_time(name, value, str(error)) from None


def _bad_time(name: str, value: str, problem: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=f"{name}: {problem}, got {value!r} (e.g. 1717236000 or 2024-06-01T10:00:00Z)",
    )


def get_time_range(
    start: Annotated[str | None, Query(max_length=64, description=f"From this time. {_TIME_HELP}")] = None,
    end: Annotated[str | None, Query(max_length=64, description=f"Until this time. {_TIME_HELP}")] = None,
) -> TimeRange:
    time_range = TimeRange(start=parse_time("start", start), end=parse_time("end", end))
    if time_range.start is not None and time_range.end is not None and time_range.start > time_range.end:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"start must not be after end, got start={start!r} end={end!r}",
        )
    return time_range


TimeRangeDep = Annotated[TimeRange, Depends(get_time_range)]

CameraFilter = Annotated[str | None, Query(max_length=64, description="Only this camera id.")]


def camera_health(services: ApiServices, *, include_stored: bool = True) -> dict[str, CameraHealth]:
    """Health per camera id: live state first, else the last stored row."""
    merged = {h.camera_id: h for h in services.store.list_health()} if include_stored else {}
    merged.update(services.health())
    return merged
