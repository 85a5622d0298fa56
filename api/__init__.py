"""Vigil's HTTP API: `create_app(config, services)`."""

from api.app import create_app
from api.auth import Role, User, require_role
from api.deps import ApiServices

__all__ = ["ApiServices", "Role", "User", "create_app", "require_role"]
