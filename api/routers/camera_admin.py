"""Camera administration (admin): add, change, disable, remove cameras, draw zones, reload the YAML.

Every change goes through the site's `vigil.services.site_config.SiteControl`: validated as a
whole config (errors name their YAML path, e.g. ``cameras[3].zones[1].polygon``), saved to the
site's YAML file (the previous one kept as ``<file>.bak``), applied to the running cameras
without restarting the others, and audited with the request's ``reason``. Without ``vigil run
CONFIG`` in this process (tests, ``--role central``) these routes answer 503.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from api.auth import CurrentUser, Role, require_role
from api.deps import ServicesDep, camera_health
from api.errors import error_responses
from api.schemas_admin import (
    CameraAdminPublic,
    CameraWrite,
    ReasonBody,
    ReloadPublic,
    ZonesPublic,
    ZonesUpdate,
)
from config.models import CameraConfig
from vigil.core.errors import ConfigError, ServiceError
from vigil.services.site_config import (
    CameraExists,
    CameraNotFound,
    SiteChangeError,
    SiteControl,
    SiteFileChanged,
)

NO_SITE = "camera administration needs `vigil run` with a config file"

router = APIRouter(
    prefix="/cameras",
    tags=["camera administration"],
    responses=error_responses(400, 401, 403, 409, 413, 422, 503),
)
config_router = APIRouter(
    prefix="/config",
    tags=["camera administration"],
    responses=error_responses(400, 401, 403, 409, 413, 422, 503),
)


def get_site(services: ServicesDep) -> SiteControl:
    if services.site is None:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_SITE)
    return services.site


SiteDep = Annotated[SiteControl, Depends(get_site)]
ReasonQuery = Annotated[
    str, Query(min_length=3, max_length=2000, description="Why the camera is removed (audited).")
]


@contextmanager
def _refusals() -> Iterator[None]:
    """The site service's refusals as HTTP errors (one line each)."""
    try:
        yield
    except CameraNotFound as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except (CameraExists, SiteFileChanged) as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from None
    except (SiteChangeError, ConfigError) as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    except ServiceError as error:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from None


def _public(services: ServicesDep, camera: CameraConfig) -> CameraAdminPublic:
    return CameraAdminPublic.from_camera(camera, camera_health(services).get(camera.id))


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(require_role(Role.ADMIN))])
def add_camera(
    body: CameraWrite, site: SiteDep, services: ServicesDep, user: CurrentUser
) -> CameraAdminPublic:
    """Add a camera and start it (if enabled); the other cameras keep running. 409: the id is taken."""
    with _refusals():
        camera = site.add_camera(body.camera, user=user.name, reason=body.reason)
    return _public(services, camera)


@router.put("/{camera_id}", dependencies=[Depends(require_role(Role.ADMIN))], responses=error_responses(404))
def update_camera(
    camera_id: str, body: CameraWrite, site: SiteDep, services: ServicesDep, user: CurrentUser
) -> CameraAdminPublic:
    """Replace a camera's settings; it restarts unless only its zones or privacy masks changed."""
    with _refusals():
        camera = site.update_camera(camera_id, body.camera, user=user.name, reason=body.reason)
    return _public(services, camera)


@router.post(
    "/{camera_id}/disable", dependencies=[Depends(require_role(Role.ADMIN))], responses=error_responses(404)
)
def disable_camera(
    camera_id: str, body: ReasonBody, site: SiteDep, services: ServicesDep, user: CurrentUser
) -> CameraAdminPublic:
    """Stop reading and recording a camera; it stays configured."""
    with _refusals():
        camera = site.set_enabled(camera_id, False, user=user.name, reason=body.reason)
    return _public(services, camera)


@router.post(
    "/{camera_id}/enable", dependencies=[Depends(require_role(Role.ADMIN))], responses=error_responses(404)
)
def enable_camera(
    camera_id: str, body: ReasonBody, site: SiteDep, services: ServicesDep, user: CurrentUser
) -> CameraAdminPublic:
    """Start a disabled camera again."""
    with _refusals():
        camera = site.set_enabled(camera_id, True, user=user.name, reason=body.reason)
    return _public(services, camera)


@router.delete(
    "/{camera_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=error_responses(404),
)
def remove_camera(camera_id: str, reason: ReasonQuery, site: SiteDep, user: CurrentUser) -> Response:
    """Stop and remove a camera; its recordings stay until retention expires them. 422: a rule watches it."""
    with _refusals():
        site.remove_camera(camera_id, user=user.name, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{camera_id}/zones", dependencies=[Depends(require_role(Role.ADMIN))], responses=error_responses(404)
)
def set_zones(camera_id: str, body: ZonesUpdate, site: SiteDep, user: CurrentUser) -> ZonesPublic:
    """Replace a camera's zones, privacy masks and (when given) lines; the running camera takes them
    without a restart.

    422 names the rule when a rule watches a zone or line that is no longer there.
    """
    with _refusals():
        camera = site.set_zones(
            camera_id, body.zones, body.privacy_masks, user=user.name, reason=body.reason, lines=body.lines
        )
    return ZonesPublic(zones=camera.zones, privacy_masks=camera.privacy_masks, lines=camera.lines)


@config_router.post("/reload", dependencies=[Depends(require_role(Role.ADMIN))])
def reload_config(body: ReasonBody, site: SiteDep, user: CurrentUser) -> ReloadPublic:
    """Read the YAML file again and apply what differs; an invalid file is a 422 and nothing changes."""
    with _refusals():
        diff = site.reload(user=user.name, reason=body.reason)
    return ReloadPublic(
        added=list(diff.added),
        removed=list(diff.removed),
        changed=list(diff.changed),
        unchanged=diff.unchanged,
        zones_only=list(diff.rezoned),
        not_applied=list(diff.sections),
    )
