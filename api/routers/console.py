"""The operator console: a single-page app served by the API process itself (same origin, same login).

The page is static files under ``api/console/static`` — Preact and htm as vendored ES modules
(``vendor/README.md``), the console's own modules in ``js/``, no build step and nothing fetched
from elsewhere at run time, so it works offline. Every file is public (the page holds no data);
what it shows comes from the API with the user's session cookie (``POST /auth/session``).
A strict Content-Security-Policy allows scripts, styles, images and sockets from this origin only.
"""

import mimetypes
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field

import vigil
from api.auth import public
from api.deps import ConfigDep
from api.errors import error_responses

STATIC = Path(__file__).resolve().parent.parent / "console" / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Revalidate every time: an upgraded server never runs against yesterday's modules.
    "Cache-Control": "no-cache",
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}

router = APIRouter(tags=["console"])


class ConsoleSettings(BaseModel):
    """What the console shows before anyone logs in."""

    site: str = Field(description="Site name (config ``site``).")
    timezone: str = Field(description="IANA time zone the console shows times in (config ``timezone``).")
    version: str


@router.get("/", dependencies=[Depends(public())], include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/console/", dependencies=[Depends(public())], include_in_schema=False)
def index() -> FileResponse:
    return _file(STATIC / "index.html")


@router.get("/console/settings.json", dependencies=[Depends(public())])
def read_settings(config: ConfigDep) -> ConsoleSettings:
    return ConsoleSettings(site=config.site, timezone=config.timezone, version=vigil.__version__)


@router.get(
    "/console/{path:path}",
    dependencies=[Depends(public())],
    include_in_schema=False,
    responses=error_responses(404),
)
def static_file(path: Annotated[str, PathParam(max_length=200)]) -> FileResponse:
    """One of the console's files; anything outside the static folder is a 404."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no console file {path!r}")
    return _file(target)


def _file(target: Path) -> FileResponse:
    media_type = (
        _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    )
    return FileResponse(target, media_type=media_type, headers=_HEADERS)
