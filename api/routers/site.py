"""``/site``: the site map the case workspace draws a trail on (camera positions, walking links).

A user limited to camera groups (`api.scope`) gets a map of their cameras and the links between them.
"""

from fastapi import APIRouter, Depends

from api.auth import Role, require_role
from api.deps import ConfigDep, ScopeDep
from api.errors import error_responses
from api.schemas_cameras import BoundsPublic, SiteCameraPublic, SiteLinkPublic, SiteMapPublic
from api.scope import visible

router = APIRouter(prefix="/site", tags=["site"], responses=error_responses(401))


@router.get("/map", dependencies=[Depends(require_role(Role.VIEWER))], response_model_by_alias=True)
def read_site_map(config: ConfigDep, scope: ScopeDep) -> SiteMapPublic:
    """Placed cameras (metres from the site origin, x east, y north), walking links, bounds.

    Cameras without a ``position`` are not on the map; their ids are in ``unplaced``.
    """
    cameras = [cam for cam in config.cameras if visible(scope, cam.id)]
    links = [link for link in config.links if visible(scope, link.from_) and visible(scope, link.to)]
    placed = [SiteCameraPublic.from_config(cam) for cam in cameras if cam.position is not None]
    xs, ys = [cam.x for cam in placed] or [0.0], [cam.y for cam in placed] or [0.0]
    return SiteMapPublic(
        site=config.site,
        timezone=config.timezone,
        cameras=placed,
        links=[SiteLinkPublic.from_link(link) for link in links],
        bounds=BoundsPublic(min_x=min(xs), min_y=min(ys), max_x=max(xs), max_y=max(ys)),
        unplaced=[cam.id for cam in cameras if cam.position is None],
    )
