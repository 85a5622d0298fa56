"""``/cameras``: configured cameras with their live health."""

from fastapi import APIRouter, Depends, HTTPException, status

from api.auth import CurrentUser, Role, require_role
from api.deps import ConfigDep, ServicesDep, camera_health
from api.errors import error_responses
from api.schemas import CameraList, CameraPublic

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=error_responses(401))


@router.get("", dependencies=[Depends(require_role(Role.VIEWER))])
def list_cameras(services: ServicesDep, config: ConfigDep, user: CurrentUser) -> CameraList:
    health = camera_health(services)
    show_url = user.role.covers(Role.ADMIN)
    items = [CameraPublic.from_config(cam, health.get(cam.id), show_url=show_url) for cam in config.cameras]
    return CameraList(items=items, count=len(items))


@router.get("/{camera_id}", dependencies=[Depends(require_role(Role.VIEWER))], responses=error_responses(404))
def read_camera(camera_id: str, services: ServicesDep, config: ConfigDep, user: CurrentUser) -> CameraPublic:
    camera = next((cam for cam in config.cameras if cam.id == camera_id), None)
    if camera is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"camera {camera_id!r} is not configured"
        )
    health = camera_health(services).get(camera_id)
    return CameraPublic.from_config(camera, health, show_url=user.role.covers(Role.ADMIN))
