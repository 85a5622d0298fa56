"""``/sightings``: people seen by each camera, and their best crops."""

import logging

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from api.auth import Role, require_role
from api.deps import CameraFilter, PageDep, ServicesDep, StoreDep, TimeRangeDep
from api.errors import error_responses
from api.schemas import SightingList, SightingPublic
from vigil.core.types import Sighting
from vigil.infra.db import Store

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sightings", tags=["sightings"], responses=error_responses(401))


@router.get("", dependencies=[Depends(require_role(Role.VIEWER))])
def list_sightings(
    store: StoreDep, time_range: TimeRangeDep, page: PageDep, camera: CameraFilter = None
) -> SightingList:
    """Sightings newest first; a sighting matches a time range it overlaps."""
    sightings, total = store.list_sightings(
        camera_id=camera, start=time_range.start, end=time_range.end, limit=page.limit, offset=page.offset
    )
    return SightingList(items=[SightingPublic.from_sighting(s) for s in sightings], count=total)


@router.get(
    "/{sighting_id}", dependencies=[Depends(require_role(Role.VIEWER))], responses=error_responses(404)
)
def read_sighting(sighting_id: str, store: StoreDep) -> SightingPublic:
    return SightingPublic.from_sighting(_get_or_404(store, sighting_id))


@router.get(
    "/{sighting_id}/crop.jpg",
    dependencies=[Depends(require_role(Role.OPERATOR))],
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The best crop, JPEG."},
        **error_responses(403, 404),
    },
)
def read_sighting_crop(sighting_id: str, store: StoreDep, services: ServicesDep) -> FileResponse:
    sighting = _get_or_404(store, sighting_id)
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


def _get_or_404(store: Store, sighting_id: str) -> Sighting:
    sighting = store.get_sighting(sighting_id)
    if sighting is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"sighting {sighting_id!r} not found"
        )
    return sighting
