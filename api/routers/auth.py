"""``/auth``: log in for an access token (OAuth2 password flow) or a console session, and who am I.

```bash
curl -d username=ana -d password=... localhost:8000/auth/login      # {"access_token": "...", ...}
curl -H "Authorization: Bearer $TOKEN" localhost:8000/auth/me
```

The console uses ``POST /auth/session`` (same form): the token comes back as an HttpOnly
cookie, never in the page's reach; ``DELETE /auth/session`` logs out.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from api.auth import (
    SESSION_COOKIE,
    CurrentUser,
    IssuedToken,
    Role,
    Unauthenticated,
    get_authenticator,
    public,
    require_role,
)
from api.errors import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenPublic(BaseModel):
    """An OAuth2 bearer token (RFC 6749 section 5.1) and whose it is."""

    model_config = ConfigDict(extra="forbid")

    access_token: str = Field(description="Send as 'Authorization: Bearer <token>' (HTTP and WebSocket).")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    expires_at: float = Field(description="When it expires, epoch seconds.")
    user: str
    role: str


class MePublic(BaseModel):
    """The logged-in user."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: str
    created_at: float
    last_login_at: float | None


class SessionPublic(BaseModel):
    """A console session: who is logged in and until when (the token itself is in the cookie)."""

    model_config = ConfigDict(extra="forbid")

    user: str
    role: str
    expires_at: float = Field(description="When the session ends, epoch seconds.")


_LOGIN_RESPONSES: dict[int | str, dict[str, object]] = {
    **error_responses(401, 413, 422, 429),
    401: {**error_responses(401)[401], "description": "Wrong user name or password (one answer)."},
    429: {**error_responses(429)[429], "description": "Too many failed logins for this user."},
}


@router.post(
    "/login",
    dependencies=[Depends(public())],
    responses=_LOGIN_RESPONSES,
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request) -> TokenPublic:
    """Exchange a user name and password (form fields ``username``, ``password``) for an access token.

    Five failed logins with one name within five minutes lock it for the rest of those minutes
    (429). Every success and failure is written to the audit log.
    """
    authenticator = get_authenticator(request.app)
    issued = _login(form, request)
    return TokenPublic(
        access_token=issued.access_token,
        expires_in=int(authenticator.policy.token_lifetime_s),
        expires_at=issued.expires_at,
        user=issued.user.name,
        role=issued.user.role.value,
    )


@router.post("/session", dependencies=[Depends(public())], responses=_LOGIN_RESPONSES)
def open_session(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, response: Response
) -> SessionPublic:
    """Log in the console: the token is set as an HttpOnly, SameSite=Strict cookie (`SESSION_COOKIE`).

    Same checks, lockout and audit as ``/auth/login``. The page never sees the token.
    """
    issued = _login(form, request)
    lifetime = int(get_authenticator(request.app).policy.token_lifetime_s)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=lifetime,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return SessionPublic(user=issued.user.name, role=issued.user.role.value, expires_at=issued.expires_at)


class SessionState(BaseModel):
    """Who the console's session cookie stands for; nulls when there is no valid session."""

    model_config = ConfigDict(extra="forbid")

    user: str | None
    role: str | None


@router.get("/session", dependencies=[Depends(public())])
def read_session(request: Request) -> SessionState:
    """Whether the browser holds a valid session (the console asks before showing its login).

    Never a 401: a page that is not logged in yet is not an error.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            user = get_authenticator(request.app).authenticate(token)
        except Unauthenticated:
            pass
        else:
            return SessionState(user=user.name, role=user.role.value)
    return SessionState(user=None, role=None)


@router.delete("/session", dependencies=[Depends(public())], status_code=status.HTTP_204_NO_CONTENT)
def close_session(response: Response) -> None:
    """Log out the console: the session cookie is cleared (its token still expires on its own)."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def _login(form: OAuth2PasswordRequestForm, request: Request) -> IssuedToken:
    if len(form.username) > 128:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail="username: too long")
    client = request.client.host if request.client is not None else None
    return get_authenticator(request.app).login(form.username, form.password, client)


@router.get("/me", dependencies=[Depends(require_role(Role.VIEWER))], responses=error_responses(401))
def read_me(user: CurrentUser, request: Request) -> MePublic:
    record = get_authenticator(request.app).users.get(user.name)
    if record is None:  # deleted between the token check and here; users are never deleted
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="unknown user")
    return MePublic(
        name=record.name,
        role=record.role.value,
        created_at=record.created_at,
        last_login_at=record.last_login_at,
    )
