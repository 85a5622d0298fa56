"""``/users``: who may log in (admin), and who alerts can be assigned to (operator).

The same store and rules as ``vigil user``: passwords of 8 to 1024 characters kept as argon2
hashes, users disabled rather than deleted, and a disable or a new password ends the user's
earlier tokens at once. Every change is audited (``user.add``, ``user.disable``,
``user.enable``, ``user.password``, ``user.camera_groups``; never the password itself).
A user's camera groups (`api.scope`) must be groups of configured cameras.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from api.auth import CurrentUser, Role, get_authenticator, require_role
from api.deps import ConfigDep, ServicesDep
from api.errors import error_responses
from api.schemas_admin import (
    AssignablePublic,
    CameraGroupsUpdate,
    PasswordReset,
    UserCreate,
    UserList,
    UserPublic,
)
from config.models import VigilConfig
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.users import UserExists, UserNotFound, UserStore

router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(401, 403))


def get_users(request: Request) -> UserStore:
    return get_authenticator(request.app).users


UsersDep = Annotated[UserStore, Depends(get_users)]


def _audit(services: ServicesDep, user: str, action: str, reason: str, detail: dict[str, Any]) -> None:
    CaseStore.for_store(services.store).audit(
        AuditRecord(at=time.time(), user=user, action=action, case_id=None, reason=reason, detail=detail)
    )


def _not_found(name: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no user {name!r}")


@router.get("", dependencies=[Depends(require_role(Role.ADMIN))])
def list_users(users: UsersDep) -> UserList:
    """Every user, disabled ones included, by name."""
    items = [UserPublic.from_record(record) for record in users.list_users()]
    return UserList(items=items, count=len(items))


@router.get("/assignable", dependencies=[Depends(require_role(Role.OPERATOR))])
def assignable_users(users: UsersDep) -> list[AssignablePublic]:
    """Enabled users who may triage alerts (operator and above): the alert inbox's assign menu."""
    return [
        AssignablePublic(name=record.name, role=record.role)
        for record in users.list_users()
        if not record.disabled and record.role.covers(Role.OPERATOR)
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=error_responses(400, 409, 413, 422),
)
def add_user(
    body: UserCreate, users: UsersDep, services: ServicesDep, config: ConfigDep, user: CurrentUser
) -> UserPublic:
    """Add an enabled user. 409: the name is taken (disabled users keep theirs)."""
    _check_groups(config, body.camera_groups)
    try:
        record = users.add(body.name, body.role, body.password, camera_groups=body.camera_groups)
    except UserExists as error:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error)) from None
    except ValidationError as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    _audit(
        services,
        user.name,
        "user.add",
        body.reason or "added in the console",
        {"name": record.name, "role": record.role.value}
        | ({} if body.camera_groups is None else {"camera_groups": body.camera_groups}),
    )
    return UserPublic.from_record(record)


@router.put(
    "/{name}/camera-groups",
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=error_responses(400, 404, 413, 422),
)
def set_camera_groups(
    name: str,
    body: CameraGroupsUpdate,
    users: UsersDep,
    services: ServicesDep,
    config: ConfigDep,
    user: CurrentUser,
) -> UserPublic:
    """Limit a user to camera groups (null: every camera); their next request sees only those."""
    _check_groups(config, body.camera_groups)
    try:
        users.set_camera_groups(name, body.camera_groups)
    except UserNotFound:
        raise _not_found(name) from None
    _audit(
        services,
        user.name,
        "user.camera_groups",
        body.reason,
        {"name": name, "camera_groups": body.camera_groups},
    )
    record = users.get(name)
    if record is None:
        raise _not_found(name)
    return UserPublic.from_record(record)


def _check_groups(config: VigilConfig, groups: list[str] | None) -> None:
    known = {cam.group for cam in config.cameras if cam.group}
    unknown = sorted(set(groups or ()) - known)
    if unknown:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"camera_groups: no camera is in group(s) {unknown}; the site's groups: {sorted(known)}",
        )


def _set_disabled(
    name: str, disabled: bool, users: UserStore, services: ServicesDep, user: str
) -> UserPublic:
    if disabled and name == user:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail="you cannot disable yourself; ask another admin"
        )
    try:
        users.set_disabled(name, disabled)
    except UserNotFound:
        raise _not_found(name) from None
    action = "user.disable" if disabled else "user.enable"
    _audit(services, user, action, f"{action.removeprefix('user.')}d in the console", {"name": name})
    record = users.get(name)
    if record is None:
        raise _not_found(name)
    return UserPublic.from_record(record)


@router.post(
    "/{name}/disable",
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=error_responses(404, 409, 422),
)
def disable_user(name: str, users: UsersDep, services: ServicesDep, user: CurrentUser) -> UserPublic:
    """Disable a user: logins fail and their tokens stop working at once. 409: yourself."""
    return _set_disabled(name, True, users, services, user.name)


@router.post(
    "/{name}/enable", dependencies=[Depends(require_role(Role.ADMIN))], responses=error_responses(404, 422)
)
def enable_user(name: str, users: UsersDep, services: ServicesDep, user: CurrentUser) -> UserPublic:
    """Enable a disabled user again (their old tokens stay invalid: they log in again)."""
    return _set_disabled(name, False, users, services, user.name)


@router.post(
    "/{name}/password",
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=error_responses(400, 404, 413, 422),
)
def reset_password(
    name: str, body: PasswordReset, users: UsersDep, services: ServicesDep, user: CurrentUser
) -> UserPublic:
    """Set a new password; the user's earlier tokens stop working (as ``vigil user passwd``)."""
    try:
        users.set_password(name, body.password)
    except UserNotFound:
        raise _not_found(name) from None
    except ValidationError as error:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    _audit(services, user.name, "user.password", "password reset in the console", {"name": name})
    record = users.get(name)
    if record is None:
        raise _not_found(name)
    return UserPublic.from_record(record)
