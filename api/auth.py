"""Who is calling and what they may do.

Users (`vigil.infra.db.users`, created with ``vigil user add``) log in at ``POST /auth/login`` and
get a JWT (HS256; claims ``sub``, ``role``, ``ver``, ``iat``, ``exp``; 8 h by default, one
control-room shift). Every other request sends it as ``Authorization: Bearer <token>``.

The operator console logs in at ``POST /auth/session`` instead and gets the same token as an
``HttpOnly``, ``SameSite=Strict`` cookie (`SESSION_COOKIE`), which scripts on the page cannot
read and other sites cannot send. Requests that change something and authenticate by that
cookie must also carry the `CSRF_HEADER` header (a cross-site form cannot set one). WebSocket
routes take the cookie (same origin only: the ``Origin`` header must match the host) or an
``Authorization: Bearer`` header from non-browser clients; tokens never travel in URLs, where
proxies and browser history would keep them.

Roles are ordered (`vigil.infra.db.users.Role`): each one may do everything the roles below it may.

- ``viewer``: camera status, alert list and sighting metadata (a wall display).
- ``operator``: also sees people — sighting crops — to search and triage.
- ``mediator``: also pulls evidence for cases (exports, case audit logs).
- ``admin``: also manages cameras and sees their stream URLs.

Every route declares exactly one of `require_role(role)` or `public()` (health, metrics and
the login itself). The role checked is the user's role in the database now, not the one in the
token, and a disabled user's or a changed password's tokens stop working at once.

The signing secret comes from ``VIGIL_JWT_SECRET`` or is generated once into
``<data_dir>/jwt-secret`` (mode 0600). API processes sharing one database on several machines
need the same secret: set the variable on each.
"""

# No `from __future__ import annotations` here: FastAPI reads RoleRequirement.__call__'s
# annotations at runtime and cannot resolve strings on a callable instance.

import contextlib
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketException, status
from fastapi.security import OAuth2PasswordBearer

from api.scope import check_request
from vigil.core.errors import ConfigError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.store import Store
from vigil.infra.db.users import LOGIN, LOGIN_FAILED, Role, UserRecord, UserStore

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Authenticator",
    "CurrentUser",
    "IssuedToken",
    "LoginPolicy",
    "Public",
    "Role",
    "RoleRequirement",
    "User",
    "WebSocketRoleRequirement",
    "current_user",
    "load_secret",
    "public",
    "require_role",
]

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
TOKEN_LIFETIME_S = 8 * 3600.0
JWT_SECRET_ENV = "VIGIL_JWT_SECRET"
SECRET_FILE = "jwt-secret"
MIN_SECRET_CHARS = 32
"""HS256 wants at least 256 bits of key; 32 characters is the floor for a configured secret."""
MAX_CONCURRENT_HASHES = 4
"""Password checks at once: argon2 takes 64 MiB each, so a burst of logins must queue, not
allocate a threadpool's worth (40 x 64 MiB)."""
LOGIN_DETAIL = "wrong user name or password"
"""The one answer to every failed login: unknown user, wrong password and disabled user alike."""
_LOGIN_HINT = "log in at POST /auth/login and send 'Authorization: Bearer <token>'"
SESSION_COOKIE = "vigil_session"
"""The console's session: the access token, in an HttpOnly SameSite=Strict cookie."""
CSRF_HEADER = "x-vigil-console"
"""Sent (any value) by the console on every request; required with the cookie on unsafe methods."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class User:
    """The caller of one request."""

    name: str
    role: Role
    camera_groups: frozenset[str] | None = None
    """The camera groups the user is limited to (`api.scope`); None sees every camera."""


@dataclass(frozen=True)
class LoginPolicy:
    """How long tokens live and when repeated failed logins lock a name.

    Attributes:
        token_lifetime_s: Lifetime of an access token; raising it means fewer logins and a
            stolen token that works longer.
        max_failures: Failed logins with one name within `window_s` that lock it; a successful
            login clears the count.
        window_s: The lockout window; the name unlocks when its oldest counted failure is older.
    """

    token_lifetime_s: float = TOKEN_LIFETIME_S
    max_failures: int = 5
    window_s: float = 300.0


@dataclass(frozen=True)
class IssuedToken:
    """An access token and what it stands for."""

    access_token: str
    expires_at: float
    user: User


class Unauthenticated(Exception):
    """A token is missing, malformed, expired, revoked or names a disabled user; `detail` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Authenticator:
    """Logs users in (with lockout and audit) and turns tokens back into users.

    Args:
        users: The site's users.
        audit: Where logins are audited (the case audit log).
        secret: The HS256 signing key.
        policy: Token lifetime and lockout.
        clock: Epoch seconds now (tests pass their own).
    """

    def __init__(
        self,
        users: UserStore,
        audit: CaseStore,
        secret: str,
        policy: LoginPolicy = LoginPolicy(),  # noqa: B008 - frozen, shared safely
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = users
        self.policy = policy
        self._audit = audit
        self._secret = secret
        self._clock = clock
        self._hashing = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)

    @classmethod
    def for_store(
        cls, store: Store, data_dir: Path, env: Mapping[str, str] | None = None, **options: Any
    ) -> "Authenticator":
        """The authenticator of a site: its store's users, secret from `env` or `data_dir`."""
        secret = load_secret(data_dir, os.environ if env is None else env)
        return cls(UserStore.for_store(store), CaseStore.for_store(store), secret, **options)

    def login(self, name: str, password: str, client: str | None = None) -> IssuedToken:
        """Check a name and password and issue a token; every outcome but a lockout is audited.

        Raises:
            HTTPException: 429 with ``Retry-After`` while the name is locked (the password is
                not even checked); 401 `LOGIN_DETAIL` for an unknown name, a wrong password
                or a disabled user.
        """
        now = self._clock()
        policy = self.policy
        failures = self.users.login_failures(name, since=now - policy.window_s)
        if len(failures) >= policy.max_failures:
            retry = max(1, math.ceil(failures[policy.max_failures - 1] + policy.window_s - now))
            logger.warning("login for %r refused: locked after %d failures", name[:64], len(failures))
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many failed logins for this user: try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )
        user = self.users.get(name)
        with self._hashing:
            matches = self.users.verify_password(user, password)
        if not matches or user is None or user.disabled:
            why = "unknown user" if user is None else "disabled user" if user.disabled else "wrong password"
            locks = len(failures) + 1 >= policy.max_failures
            detail: dict[str, object] = {"client": client, "why": why}
            if locks:
                detail["locked_for_s"] = policy.window_s
            self._record(name, LOGIN_FAILED, now, detail)
            raise _unauthorized(LOGIN_DETAIL)
        self.users.record_login(user.name, now)
        self._record(user.name, LOGIN, now, {"client": client})
        return self.issue(user, now)

    def issue(self, user: UserRecord, now: float | None = None) -> IssuedToken:
        """A signed access token for `user`, valid for the policy's lifetime from `now`."""
        issued = self._clock() if now is None else now
        expires = issued + self.policy.token_lifetime_s
        claims = {
            "sub": user.name,
            "role": user.role.value,
            "ver": user.token_version,
            "iat": int(issued),
            "exp": int(expires),
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedToken(
            access_token=token, expires_at=float(int(expires)), user=User(user.name, user.role)
        )

    def authenticate(self, token: str) -> User:
        """The user a token stands for, with their role as stored now.

        Raises:
            Unauthenticated: Bad signature or shape, expired, unknown or disabled user, or a
                token from before the user's last password change or disable.
        """
        try:
            # Expiry is checked below against this authenticator's clock, not PyJWT's.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat"], "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            raise Unauthenticated(f"invalid token: {_LOGIN_HINT}") from None
        exp, name = claims["exp"], claims["sub"]
        if not isinstance(exp, int | float) or not isinstance(name, str):
            raise Unauthenticated(f"invalid token: {_LOGIN_HINT}")
        if exp <= self._clock():
            raise Unauthenticated(f"token expired: {_LOGIN_HINT}")
        user = self.users.get(name)
        if user is None:
            raise Unauthenticated(f"invalid token: {_LOGIN_HINT}")
        if user.disabled:
            raise Unauthenticated(f"user {user.name!r} is disabled")
        if claims.get("ver") != user.token_version:
            raise Unauthenticated(f"token revoked (password changed or user disabled): {_LOGIN_HINT}")
        groups = None if user.camera_groups is None or user.role is Role.ADMIN else user.camera_groups
        return User(
            name=user.name, role=user.role, camera_groups=None if groups is None else frozenset(groups)
        )

    def _record(self, name: str, action: str, at: float, detail: dict[str, object]) -> None:
        self._audit.audit(
            AuditRecord(
                at=at, user=name[:128], action=action, case_id=None, reason="API login", detail=detail
            )
        )


def load_secret(data_dir: Path, env: Mapping[str, str]) -> str:
    """The JWT signing secret: ``VIGIL_JWT_SECRET``, else ``<data_dir>/jwt-secret``, created once (0600).

    Raises:
        ConfigError: The variable is shorter than MIN_SECRET_CHARS, or the file is empty.
    """
    configured = env.get(JWT_SECRET_ENV)
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"{JWT_SECRET_ENV}: expected at least {MIN_SECRET_CHARS} characters, got {len(configured)} "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return configured
    path = data_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    mode = path.stat().st_mode
    if mode & 0o077:
        logger.warning("%s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{path}: expected a secret of at least {MIN_SECRET_CHARS} characters; delete the file"
        )
    return secret


def _create_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name (mkstemp: mode 0600), then linked into place: two
    # processes starting together both end up reading the one that won.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_authenticator(app: FastAPI) -> Authenticator:
    return cast(Authenticator, app.state.auth)


_bearer = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


def current_user(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> User:
    """The user whose bearer token, or console session cookie, came with `request`.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer`` when the token is missing or not
            valid; 403 when a cookie-authenticated request that changes something lacks the
            console's `CSRF_HEADER` (a forged cross-site request).
    """
    if not token:
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.method not in _SAFE_METHODS and CSRF_HEADER not in request.headers:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"session cookie without the {CSRF_HEADER} header: send it, or use a bearer token",
            )
    if not token:
        raise _unauthorized(f"not logged in: {_LOGIN_HINT}")
    try:
        return get_authenticator(request.app).authenticate(token)
    except Unauthenticated as error:
        raise _unauthorized(error.detail) from None


CurrentUser = Annotated[User, Depends(current_user)]


class RoleRequirement:
    """Dependency that lets a request through only if its user holds `role` or higher.

    A class rather than a closure so tests can find, on every route, which role it needs.
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, request: Request, user: CurrentUser) -> User:
        if not user.role.covers(self.role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"needs role '{self.role.value}' or higher; user '{user.name}' is '{user.role.value}'",
            )
        check_request(request, user)  # a camera outside the user's scope is a 404
        return user

    def __repr__(self) -> str:
        return f"require_role({self.role})"


def require_role(role: Role) -> RoleRequirement:
    """Declare the role a route needs: ``dependencies=[Depends(require_role(Role.OPERATOR))]``."""
    return RoleRequirement(role)


class WebSocketRoleRequirement(RoleRequirement):
    """`require_role` for WebSocket routes: the console's session cookie, or a bearer header.

    The cookie counts only from a page of this origin (``Origin`` matches ``Host``): a page on
    another site could otherwise open the socket with the operator's cookie. A refusal closes
    the socket with code 1008 (policy violation) and the reason.
    """

    def __call__(self, websocket: WebSocket) -> User:  # type: ignore[override]
        scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
        token = credentials if scheme.lower() == "bearer" and credentials else None
        if token is None:
            token = websocket.cookies.get(SESSION_COOKIE)
            if token and not _same_origin(websocket):
                raise WebSocketException(
                    code=status.WS_1008_POLICY_VIOLATION, reason="session cookie from another origin"
                )
        if not token:
            raise WebSocketException(
                code=status.WS_1008_POLICY_VIOLATION,
                reason="not logged in: log in at POST /auth/session, or send 'Authorization: Bearer <token>'",
            )
        try:
            user = get_authenticator(websocket.app).authenticate(token)
        except Unauthenticated as error:
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=error.detail) from None
        if not user.role.covers(self.role):
            raise WebSocketException(
                code=status.WS_1008_POLICY_VIOLATION, reason=f"needs role '{self.role.value}' or higher"
            )
        return user


def _same_origin(websocket: WebSocket) -> bool:
    """Whether the socket's ``Origin`` names the host it connected to (absent: not a browser)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return origin.partition("://")[2].rstrip("/") == websocket.headers.get("host", "")


def require_websocket_role(role: Role) -> WebSocketRoleRequirement:
    """`require_role` for a WebSocket route."""
    return WebSocketRoleRequirement(role)


class Public:
    """Dependency that marks a route open to anyone: health checks, metrics scrapers, the login itself."""

    def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return "public()"


_PUBLIC = Public()


def public() -> Public:
    """Declare a route open without login: ``dependencies=[Depends(public())]``."""
    return _PUBLIC
