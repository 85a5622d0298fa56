"""`create_app`: Vigil's HTTP API (FastAPI), OpenAPI docs at ``/docs``."""

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

import vigil
from api.auth import Authenticator
from api.deps import ApiServices
from api.errors import ErrorPublic
from api.limits import BodyLimit, RateLimiter
from api.routers import alerts, auth, cameras, cases, console, health, recordings, sightings
from api.routers import backtest as backtest_routes
from api.routers import camera_admin as camera_admin_routes
from api.routers import exports as export_routes
from api.routers import holds as hold_routes
from api.routers import rules as rule_routes
from api.routers import site as site_map
from api.routers import users as user_routes
from config.models import VigilConfig
from vigil.core.errors import EdgeRecordingError

logger = logging.getLogger(__name__)


def create_app(config: VigilConfig, services: ApiServices) -> FastAPI:
    """Build the API for one site.

    Args:
        config: The validated site configuration (cameras, ``api.host``).
        services: Store, live camera health and data directory from the pipeline; its
            ``auth`` (default: the store's users, secret from ``VIGIL_JWT_SECRET`` or the data
            directory) checks every request's bearer token.

    Returns:
        The FastAPI application; serve it with uvicorn on ``config.api.host:port``.
    """
    app = FastAPI(
        title=f"Vigil — {config.site}",
        version=vigil.__version__,
        description="Sightings, alerts and camera health of a CCTV control room.",
    )
    app.state.config = config
    app.state.services = services
    app.state.auth = services.auth or Authenticator.for_store(services.store, services.data_dir)
    app.state.rate_limiter = RateLimiter.from_config(config.api)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(EdgeRecordingError, _edge_recording_error)
    app.add_middleware(
        BodyLimit,
        max_bytes=config.api.max_body_bytes,
        path_limits=[(cases.PHOTOS_PATH, config.api.max_photo_bytes)],
    )
    for router in (health.router, auth.router, cameras.router, sightings.router, alerts.router, cases.router):
        app.include_router(router)
    app.include_router(recordings.router)
    app.include_router(export_routes.router)
    app.include_router(hold_routes.router)
    app.include_router(hold_routes.retention_router)
    app.include_router(site_map.router)
    app.include_router(console.router)
    for router in (camera_admin_routes.router, camera_admin_routes.config_router, user_routes.router):
        app.include_router(router)
    app.include_router(backtest_routes.router)  # before the rules router: /rules/{name} would take its paths
    # After any router with fixed paths under /rules (e.g. /rules/backtest): /rules/{name} is a catch-all.
    app.include_router(rule_routes.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with its 422 body said the way `_validation_error` answers it.

    FastAPI declares a 422 on every route with parameters, as a list of pydantic errors; this
    API answers every error as `ErrorPublic`, so the declared schema is replaced by that one.
    """
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = ErrorPublic.model_json_schema()
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
    return app.openapi_schema


EDGE_RETRY_AFTER_S = 30
"""What a 503 for an unreachable edge node tells the client to wait."""


async def _edge_recording_error(request: Request, exc: Exception) -> Response:
    """A recording on an edge node that cannot be fetched: 503 to retry later, 404 when it is gone.

    Whatever the route (a clip, a case bundle, a back-scan), nothing was exported: the export
    stages its files and writes the bundle only once every segment is here.
    """
    retry = getattr(exc, "retry", True)
    code = status.HTTP_503_SERVICE_UNAVAILABLE if retry else status.HTTP_404_NOT_FOUND
    headers = {"Retry-After": str(EDGE_RETRY_AFTER_S)} if retry else None
    return await http_exception_handler(request, HTTPException(code, detail=str(exc), headers=headers))


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Answer bad parameters like any other error: ``{"detail": "<one readable line>"}``."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")]
        problems.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    detail = "; ".join(problems) or "invalid request"
    return await http_exception_handler(
        request, HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)
    )
