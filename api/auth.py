"""Who is calling and what they may do.

Roles are ordered: each one may do everything the roles below it may.

- ``viewer``: camera status, alert list and sighting metadata (a wall display).
- ``operator``: also sees people — sighting crops — to search and triage.
- ``mediator``: also pulls evidence for cases (exports; later issues).
- ``admin``: also manages cameras and sees their stream URLs.

Authentication is not built yet: `current_user` returns the configured local user.
Swapping in JWT later means rewriting `current_user` and nothing else.
"""

# No `from __future__ import annotations` here: FastAPI reads RoleRequirement.__call__'s
# annotations at runtime and cannot resolve strings on a callable instance.

import enum
import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status


class Role(enum.Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    MEDIATOR = "mediator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def covers(self, required: "Role") -> bool:
        """True if this role may do what `required` may."""
        return self.rank >= required.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class User:
    """The caller of one request."""

    name: str
    role: Role


LOCAL_USER_NAME = "local"


def default_role_for(host: str) -> Role:
    """Role of the unauthenticated local user when none is configured.

    Full rights only when the API listens on loopback, i.e. only this machine can
    reach it; anywhere else the least privilege until authentication exists.
    """
    if host == "localhost":
        return Role.ADMIN
    try:
        return Role.ADMIN if ipaddress.ip_address(host).is_loopback else Role.VIEWER
    except ValueError:
        return Role.VIEWER


def current_user(request: Request) -> User:
    """The user making `request`: today the configured local user (see module docstring)."""
    role: Role = request.app.state.default_role
    return User(name=LOCAL_USER_NAME, role=role)


CurrentUser = Annotated[User, Depends(current_user)]


class RoleRequirement:
    """Dependency that lets a request through only if its user holds `role` or higher.

    A class rather than a closure so tests can find, on every route, which role it needs.
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, user: CurrentUser) -> User:
        if not user.role.covers(self.role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"needs role '{self.role.value}' or higher; user '{user.name}' is '{user.role.value}'",
            )
        return user

    def __repr__(self) -> str:
        return f"require_role({self.role})"


def require_role(role: Role) -> RoleRequirement:
    """Declare the role a route needs: ``dependencies=[Depends(require_role(Role.OPERATOR))]``."""
    return RoleRequirement(role)
