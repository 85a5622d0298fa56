"""``/sightings``: people seen by each camera, their best crops, and searches over them.

Filtering by what a person looks like (clothing colours, size) is a search of people: it
needs the operator role and a reason, and it is audited (``search.sightings``), as is
``/sightings/{id}/similar`` (``search.similar``). Listing by camera and time is not.
"""

import logging
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse

from alerts.search.colours import COLOURS
from api.auth import CurrentUser, Role, require_role
from api.deps import CameraFilter, ConfigDep, PageDep, ServicesDep, StoreDep, TimeRangeDep, parse_time
from api.errors import error_responses
from api.schemas import SightingPublic
from api.schemas_search import SightingFound, SightingSearchList, SimilarList, SimilarPublic
from api.scope import cameras_in_scope
from vigil.core.types import Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.services.sighting_search import NoDescriptor, SightingFilter, SightingNotFound, SightingSearch

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sightings", tags=["sightings"], responses=error_responses(401))


CATCH_UP_PER_REQUEST = 1000
"""A search first indexes up to this many not-yet-indexed sightings (normally none are left)."""
MIN_REASON = 3
_PALETTE = ", ".join(COLOURS)

ColoursQuery = Annotated[
    list[str] | None,
    Query(
        max_length=len(COLOURS),
        description=f"Clothing colours, any of them matches: repeat the parameter or separate "
        f"with commas (one of {_PALETTE}). A colour filter is an audited search: operator, reason.",
    ),
]
ReasonQuery = Annotated[
    str | None,
    Query(min_length=MIN_REASON, max_length=2000, description="Why this search is made (audited)."),
]


@router.get(
    "",
    dependencies=[Depends(require_role(Role.VIEWER))],
    responses=error_responses(403, 422),
)
def list_sightings(
    store: StoreDep,
    config: ConfigDep,
    user: CurrentUser,
    time_range: TimeRangeDep,
    page: PageDep,
    camera: CameraFilter = None,
    upper: ColoursQuery = None,
    lower: ColoursQuery = None,
    size: Annotated[
        Literal["child", "adult"] | None,
        Query(description="Child- or adult-sized for its place in the frame (audited search)."),
    ] = None,
    reason: ReasonQuery = None,
) -> SightingSearchList:
    """Sightings newest first; a sighting matches a time range it overlaps.

    With ``upper``, ``lower`` or ``size`` it is a search of people: the operator role and a
    ``reason`` are required, and the search is written to the audit log. Colours match when
    one of the sighting's top named colours (up to two per region) is among those given.
    """
    filters = SightingFilter(
        camera_id=camera,
        start=time_range.start,
        end=time_range.end,
        upper=_colours("upper", upper),
        lower=_colours("lower", lower),
        size=size,
        cameras=cameras_in_scope(config, user),
    )
    search = SightingSearch.for_store(store)
    if not filters.searching:
        pending = _catch_up(search)  # sizes are judged against each camera's indexed sightings
        sightings, total = store.list_sightings(
            camera, time_range.start, time_range.end, page.limit, page.offset, filters.cameras
        )
        items = [SightingFound.from_described(d) for d in search.describe(sightings)]
        return SightingSearchList(items=items, count=total, unindexed=pending)
    _check_search(user.name, user.role, reason)
    assert reason is not None
    pending = _catch_up(search)
    found, total = search.search(filters, limit=page.limit, offset=page.offset)
    _audit(
        store,
        user.name,
        "search.sightings",
        reason,
        {
            "camera_id": camera,
            "start": time_range.start,
            "end": time_range.end,
            "upper": list(filters.upper),
            "lower": list(filters.lower),
            "size": size,
            "count": total,
            "returned": [d.sighting.id for d in found],
        },
    )
    items = [SightingFound.from_described(d) for d in found]
    return SightingSearchList(items=items, count=total, unindexed=pending)


@router.get(
    "/{sighting_id}/similar",
    dependencies=[Depends(require_role(Role.OPERATOR))],
    responses=error_responses(403, 404, 422),
)
def list_similar(
    sighting_id: str,
    store: StoreDep,
    config: ConfigDep,
    user: CurrentUser,
    reason: Annotated[
        str, Query(min_length=MIN_REASON, max_length=2000, description="Why this search is made (audited).")
    ],
    limit: Annotated[int, Query(ge=1, le=200, description="How many to return, best first.")] = 20,
    camera_id: CameraFilter = None,
    since: Annotated[
        str | None, Query(max_length=64, description="Only sightings from this time (epoch or ISO-8601).")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description="Only sightings until this time (epoch or ISO-8601).")
    ] = None,
) -> SimilarList:
    """Stored sightings that look like this one, best first (the sighting itself left out).

    Scored as the case search scores a confirmed sighting: stripe colour layout and named
    clothing colours. An audited search (``search.similar``).
    """
    _check_search(user.name, user.role, reason)
    start, end = parse_time("since", since), parse_time("until", until)
    search = SightingSearch.for_store(store)
    _catch_up(search)
    try:
        similar, compared = search.similar(
            sighting_id,
            limit,
            camera_id=camera_id,
            start=start,
            end=end,
            cameras=cameras_in_scope(config, user),
        )
    except SightingNotFound as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except NoDescriptor as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    _audit(
        store,
        user.name,
        "search.similar",
        reason,
        {
            "sighting_id": sighting_id,
            "camera_id": camera_id,
            "since": start,
            "until": end,
            "compared": compared,
            "returned": [s.found.sighting.id for s in similar],
        },
    )
    items = [SimilarPublic.from_similar(s) for s in similar]
    return SimilarList(items=items, count=len(items), compared=compared)


@router.get(
    "/{sighting_id}", dependencies=[Depends(require_role(Role.VIEWER))], responses=error_responses(404)
)
def read_sighting(sighting_id: str, store: StoreDep, config: ConfigDep, user: CurrentUser) -> SightingPublic:
    return SightingPublic.from_sighting(_get_or_404(store, sighting_id, cameras_in_scope(config, user)))


@router.get(
    "/{sighting_id}/crop.jpg",
    dependencies=[Depends(require_role(Role.OPERATOR))],
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The best crop, JPEG."},
        **error_responses(403, 404),
    },
)
def read_sighting_crop(
    sighting_id: str, store: StoreDep, services: ServicesDep, config: ConfigDep, user: CurrentUser
) -> FileResponse:
    sighting = _get_or_404(store, sighting_id, cameras_in_scope(config, user))
    if sighting.crop_path is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"sighting {sighting_id!r} has no crop"
        )
    root = services.data_dir.resolve()
    path = (root / sighting.crop_path).resolve()
    if not path.is_relative_to(root):
        # Crop paths are written by the pipeline; one pointing outside the data directory is
        # tampering or a bug, and must not turn the API into a file server.
        logger.warning("sighting %s: crop path %r leaves the data directory", sighting_id, sighting.crop_path)
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"crop of sighting {sighting_id!r} is outside the data directory",
        )
    if not path.is_file():
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"crop of sighting {sighting_id!r} is missing on disk",
        )
    # Images of people: keep them out of shared caches.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def _get_or_404(store: Store, sighting_id: str, allowed: frozenset[str] | None) -> Sighting:
    """The sighting, or 404 when there is none or its camera is outside the caller's scope."""
    sighting = store.get_sighting(sighting_id)
    if sighting is None or (allowed is not None and sighting.camera_id not in allowed):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"sighting {sighting_id!r} not found"
        )
    return sighting


def _colours(name: str, values: list[str] | None) -> tuple[str, ...]:
    """Colour names from repeated and comma-separated values, in order, without repeats.

    Raises:
        HTTPException: 422 naming the parameter, for a name outside the palette.
    """
    names: list[str] = []
    for value in values or []:
        for part in value.split(","):
            word = part.strip().lower()
            if word and word not in names:
                names.append(word)
    unknown = [n for n in names if n not in COLOURS]
    if unknown:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{name}: expected colours from {_PALETTE}, got {', '.join(map(repr, unknown))}",
        )
    return tuple(names)


def _check_search(user: str, role: Role, reason: str | None) -> None:
    """A search of people needs the operator role and a reason.

    Raises:
        HTTPException: 403 below operator, 422 without a reason.
    """
    if not role.covers(Role.OPERATOR):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"searching by colour or size needs role 'operator' or higher; user '{user}' is "
            f"'{role.value}'",
        )
    if reason is None or len(reason.strip()) < MIN_REASON:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"reason: a colour, size or similarity search must say why "
            f"(at least {MIN_REASON} characters), got {reason!r}",
        )


def _catch_up(search: SightingSearch) -> int:
    """Index what the live indexer has not; returns how many sightings are still unsearchable."""
    if not search.behind():
        return 0
    if search.catch_up(limit=CATCH_UP_PER_REQUEST) < CATCH_UP_PER_REQUEST:
        return 0
    return search.unindexed()


def _audit(store: Store, user: str, action: str, reason: str, detail: dict[str, object]) -> None:
    CaseStore.for_store(store).audit(AuditRecord(time.time(), user, action, None, reason.strip(), detail))
