"""``/cameras``: configured cameras with their live health, snapshots and live boxes (the camera wall)."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from api.auth import CurrentUser, Role, require_role
from api.deps import ApiServices, ConfigDep, ServicesDep, camera_health
from api.errors import error_responses
from api.schemas import CameraList, CameraPublic
from api.schemas_cameras import CameraState, LiveViewPublic
from api.scope import cameras_in_scope
from api.snapshots import UnreadableSnapshot, read_snapshot, snapshot_path
from config.models import CameraConfig, CameraRole, VigilConfig
from ingest.masks import apply_privacy_masks
from vigil.core.types import CameraHealth, Image
from vigil.infra.live_view import LiveFrame, LiveView

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=error_responses(401))

_VIEWER = [Depends(require_role(Role.VIEWER))]
_JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "JPEG, privacy masks blacked out."}
}
_NO_STORE = {"Cache-Control": "no-store"}
"""Snapshots change every few seconds and show people: neither browsers nor proxies keep them."""


@router.get("", dependencies=_VIEWER, responses=error_responses(422))
def list_cameras(
    services: ServicesDep,
    config: ConfigDep,
    user: CurrentUser,
    state: Annotated[
        CameraState | None, Query(description="Only cameras in this state ('unknown': never opened).")
    ] = None,
    group: Annotated[str | None, Query(max_length=64, description="Only cameras of this group.")] = None,
    role: Annotated[CameraRole | None, Query(description="Only cameras of this role.")] = None,
) -> CameraList:
    """Every configured camera in config order, optionally filtered; ``groups`` lists the site's groups."""
    health = camera_health(services)
    show_url = user.role.covers(Role.ADMIN)
    allowed = cameras_in_scope(config, user)
    cameras = [cam for cam in config.cameras if allowed is None or cam.id in allowed]
    items = [
        public
        for public in (_public(cam, health.get(cam.id), services, show_url) for cam in cameras)
        if (state is None or public.state is state)
        and (group is None or public.group == group)
        and (role is None or public.role is role)
    ]
    groups = sorted({cam.group for cam in cameras if cam.group})
    return CameraList(items=items, count=len(items), groups=groups)


@router.get("/{camera_id}", dependencies=_VIEWER, responses=error_responses(404))
def read_camera(camera_id: str, services: ServicesDep, config: ConfigDep, user: CurrentUser) -> CameraPublic:
    camera = _camera_or_404(config, camera_id)
    health = camera_health(services).get(camera_id)
    return _public(camera, health, services, user.role.covers(Role.ADMIN))


def _public(
    camera: CameraConfig, health: CameraHealth | None, services: ApiServices, show_url: bool
) -> CameraPublic:
    """The camera as listed, with when its picture and its analysed frame were taken (one stat).

    The console asks for a picture only when there is one, so an unopened camera costs no 404s.
    """
    live = _live_frame(services.live, camera)
    live_at = None if live is None else live.timestamp
    try:
        snapshot_at: float | None = snapshot_path(services.data_dir, camera.id).stat().st_mtime
    except OSError:
        snapshot_at = None
    known = [t for t in (snapshot_at, live_at) if t is not None]
    return CameraPublic.from_config(
        camera, health, show_url=show_url, picture_at=max(known) if known else None, live_at=live_at
    )


@router.get(
    "/{camera_id}/snapshot.jpg",
    dependencies=_VIEWER,
    response_class=Response,
    responses={**_JPEG, **error_responses(404)},
)
def read_snapshot_jpeg(camera_id: str, services: ServicesDep, config: ConfigDep) -> Response:
    """The camera's latest picture: the record worker's snapshot, or for an AI camera its latest
    analysed frame when that is newer. ``X-Frame-Time`` says when it was taken (epoch seconds)."""
    camera = _camera_or_404(config, camera_id)
    try:
        snapshot = read_snapshot(snapshot_path(services.data_dir, camera_id), camera.privacy_masks)
    except UnreadableSnapshot:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"the snapshot of camera {camera_id!r} is unreadable",
        ) from None
    live = _live_frame(services.live, camera)
    if live is not None and (snapshot is None or live.timestamp > snapshot.written_at):
        return _jpeg_response(live.jpeg(_masker(camera)), live.timestamp)
    if snapshot is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"camera {camera_id!r} has no snapshot yet (one is taken every "
            f"recording.snapshot_interval_s once its stream is open)",
        )
    return _jpeg_response(snapshot.jpeg, snapshot.written_at)


@router.get("/{camera_id}/live", dependencies=_VIEWER, responses=error_responses(404))
def read_live(camera_id: str, services: ServicesDep, config: ConfigDep) -> LiveViewPublic:
    """The AI camera's latest analysed frame: its time, size and tracked boxes; the image is at
    ``image_url``."""
    camera = _camera_or_404(config, camera_id)
    _require_ai(camera)
    live = services.live.current(camera_id) if services.live is not None else None
    if live is None:
        raise _no_live_frame(camera_id)
    return LiveViewPublic.from_live(live)


@router.get(
    "/{camera_id}/live.jpg",
    dependencies=_VIEWER,
    response_class=Response,
    responses={**_JPEG, **error_responses(404, 422)},
)
def read_live_jpeg(
    camera_id: str,
    services: ServicesDep,
    config: ConfigDep,
    t: Annotated[
        float | None,
        Query(description="Timestamp from /live: that frame while it is still held, else the latest."),
    ] = None,
) -> Response:
    """The AI camera's latest analysed frame as JPEG (at most 640 px wide, masks blacked out)."""
    camera = _camera_or_404(config, camera_id)
    _require_ai(camera)
    live = services.live.frame(camera_id, t) if services.live is not None else None
    if live is None:
        raise _no_live_frame(camera_id)
    return _jpeg_response(live.jpeg(_masker(camera)), live.timestamp)


def _camera_or_404(config: VigilConfig, camera_id: str) -> CameraConfig:
    camera = next((cam for cam in config.cameras if cam.id == camera_id), None)
    if camera is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"camera {camera_id!r} is not configured"
        )
    return camera


def _require_ai(camera: CameraConfig) -> None:
    if camera.role is not CameraRole.AI:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"camera {camera.id!r} is record-only: it has no live analysed frames",
        )


def _no_live_frame(camera_id: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_404_NOT_FOUND,
        detail=f"camera {camera_id!r} has no analysed frame yet (is detection running on this node?)",
    )


def _live_frame(live: LiveView | None, camera: CameraConfig) -> LiveFrame | None:
    if live is None or camera.role is not CameraRole.AI:
        return None
    return live.frame(camera.id)


def _masker(camera: CameraConfig) -> Callable[[Image], Image]:
    """The camera's masks once more on a served live frame: the detect worker masked it with the
    masks it started with, and the site's config may have changed since."""
    masks = [mask.polygon for mask in camera.privacy_masks]
    return lambda image: apply_privacy_masks(image, masks)


def _jpeg_response(jpeg: bytes, taken_at: float) -> Response:
    return Response(
        content=jpeg, media_type="image/jpeg", headers={**_NO_STORE, "X-Frame-Time": f"{taken_at:.3f}"}
    )
