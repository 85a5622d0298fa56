"""Camera scope: which cameras a user may see anything of.

A user (`vigil.infra.db.users.UserRecord.camera_groups`) is either unscoped (None, the default:
every camera) or limited to camera groups (`config.models.CameraConfig.group`). Admins are never
limited. A camera outside the caller's scope does not exist for them: an id of one in a path or
in a ``camera`` / ``camera_id`` query is answered 404 with the same words as an unknown camera
(`check_request`, run by every `api.auth.require_role` route), and lists leave its rows out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, cast

from fastapi import HTTPException, Request, status
from starlette.requests import HTTPConnection

from config.models import VigilConfig


class User(Protocol):
    """What scope needs of a caller (`api.auth.User`)."""

    @property
    def camera_groups(self) -> frozenset[str] | None: ...


__all__ = [
    "CAMERA_PARAMS",
    "Scope",
    "cameras_in_scope",
    "check_request",
    "connection_scope",
    "in_scope",
    "not_configured",
    "visible",
]

Scope = frozenset[str] | None
"""A caller's camera scope: the ids of the cameras they may see, or None for every camera."""

CAMERA_PARAMS = ("camera_id", "camera")
"""Path and query parameters that name one camera; each is checked against the caller's scope."""


def cameras_in_scope(config: VigilConfig, user: User) -> Scope:
    """The ids of the cameras `user` may see, or None for every camera (unscoped, admins)."""
    if user.camera_groups is None:
        return None
    return frozenset(cam.id for cam in config.cameras if cam.group and cam.group in user.camera_groups)


def in_scope(config: VigilConfig, user: User, camera_ids: Iterable[str]) -> list[str]:
    """`camera_ids` without those outside the caller's scope, in their order."""
    allowed = cameras_in_scope(config, user)
    return [c for c in camera_ids if allowed is None or c in allowed]


def visible(scope: Scope, camera_id: str | None) -> bool:
    """Whether a row of `camera_id` may be shown to a caller with `scope`."""
    return scope is None or camera_id in scope


def not_configured(camera_id: str) -> HTTPException:
    """The 404 of an unknown camera, also given for one outside the caller's scope."""
    return HTTPException(
        status_code=status.HTTP_404_NOT_FOUND, detail=f"camera {camera_id!r} is not configured"
    )


def check_request(request: Request, user: User) -> None:
    """Refuse (404) a request naming a camera outside `user`'s scope in its path or query.

    Raises:
        HTTPException: 404, worded as for a camera that is not configured.
    """
    if user.camera_groups is None:
        return
    named = [request.path_params.get(p) for p in CAMERA_PARAMS]
    named += [request.query_params.get(p) for p in CAMERA_PARAMS]
    ids = [str(c) for c in named if c]
    if not ids:
        return
    allowed = cameras_in_scope(_config(request), user) or frozenset()
    for camera_id in ids:
        if camera_id not in allowed:
            raise not_configured(camera_id)


def connection_scope(connection: HTTPConnection, user: User) -> Scope:
    """`cameras_in_scope` for a request or WebSocket, on the site's config as it runs now."""
    return cameras_in_scope(_config(connection), user)


def _config(connection: HTTPConnection) -> VigilConfig:
    state = connection.app.state
    site = getattr(getattr(state, "services", None), "site", None)
    return cast(VigilConfig, site.config if site is not None else state.config)
