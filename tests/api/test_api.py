"""HTTP API: routes, filters, crops, hostile parameters and role declarations (logins: test_auth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient

from api import ApiServices, Role, create_app
from api.auth import Public, RoleRequirement
from config.models import VigilConfig
from tests.db.test_store import make_alert, make_sighting
from tests.factories import auth_headers
from vigil.core.types import AlertKind, CameraHealth, HealthState
from vigil.infra.db import Store

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def make_config() -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "cameras": [
                {"id": "cam1", "name": "Gate", "url": "rtsp://10.0.0.1/main", "role": "ai"},
                {"id": "cam2", "name": "Bridge", "url": "rtsp://10.0.0.2/main", "ptz": True},
                {"id": "cam3", "name": "Spare", "url": "rtsp://10.0.0.3/main", "enabled": False},
            ],
        }
    )


@dataclass
class Site:
    client: TestClient
    store: Store
    data_dir: Path
    live: dict[str, CameraHealth] = field(default_factory=dict)


def make_site(tmp_path: Path, *, role: Role | None = Role.ADMIN) -> Site:
    """A site whose client is logged in with `role` (None: not logged in)."""
    data_dir = tmp_path / "data"
    (data_dir / "crops").mkdir(parents=True)
    store = Store.open(data_dir / "vigil.db")
    live: dict[str, CameraHealth] = {}
    services = ApiServices(store=store, health=lambda: live, data_dir=data_dir)
    client = TestClient(create_app(make_config(), services))
    if role is not None:
        client.headers.update(auth_headers(client, store, role))
    return Site(client, store, data_dir, live)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Logged in as a viewer: enough for everything but crops and stream URLs."""
    site = make_site(tmp_path, role=Role.VIEWER)
    yield site
    site.store.close()


@pytest.fixture
def operator_site(tmp_path: Path) -> Iterator[Site]:
    site = make_site(tmp_path, role=Role.OPERATOR)
    yield site
    site.store.close()


# -- health and cameras -----------------------------------------------------------------------


def test_health_counts_enabled_cameras_online(site: Site) -> None:
    site.live["cam1"] = CameraHealth("cam1", HealthState.ONLINE, "streaming", since=1.0)
    # cam2 is only in the database: the stored row stands in for the live state.
    site.store.upsert_health(CameraHealth("cam2", HealthState.ONLINE, "streaming", since=1.0))
    body = site.client.get("/health").json()
    assert body["status"] == "ok" and body["db"] is True
    assert (body["cameras_online"], body["cameras_total"]) == (2, 2)
    assert body["version"]


def test_cameras_merge_config_with_live_health_over_stored(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.ADMIN)
    site.store.upsert_health(CameraHealth("cam1", HealthState.ONLINE, "old row", since=1.0))
    site.live["cam1"] = CameraHealth("cam1", HealthState.DEGRADED, "low fps", since=5.0, frames=42)
    body = site.client.get("/cameras").json()
    assert body["count"] == 3
    cam1, cam2, cam3 = body["items"]
    assert cam1["role"] == "ai" and cam1["health"]["state"] == "degraded" and cam1["health"]["frames"] == 42
    assert cam2["ptz"] is True and cam2["health"] is None
    assert cam3["enabled"] is False
    assert cam1["url"] == "rtsp://10.0.0.1/main"  # admins see stream URLs
    site.store.close()


def test_viewer_does_not_see_stream_urls(site: Site) -> None:
    assert all(camera["url"] is None for camera in site.client.get("/cameras").json()["items"])


def test_camera_by_id_and_unknown_camera(site: Site) -> None:
    assert site.client.get("/cameras/cam2").json()["name"] == "Bridge"
    response = site.client.get("/cameras/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "camera 'nope' is not configured"}


# -- sightings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["c", "b", "a"]),  # newest first
        ("?camera=cam1", ["c", "a"]),
        ("?start=150", ["c"]),  # epoch seconds
        ("?start=1970-01-01T00:01:45Z&end=1970-01-01T00:01:45Z", ["b", "a"]),  # ISO-8601, t=105
        ("?end=1970-01-01T01:01:45%2B01:00", ["b", "a"]),  # offset other than UTC, t=105
        ("?limit=1&offset=1", ["b"]),
        ("?offset=10", []),
    ],
)
def test_list_sightings_filters(site: Site, query: str, expected: list[str]) -> None:
    for name, camera, start, end in [
        ("a", "cam1", 100, 110),
        ("b", "cam2", 105, 130),
        ("c", "cam1", 200, 210),
    ]:
        site.store.add_sighting(make_sighting(camera, start, end, id=name))
    response = site.client.get(f"/sightings{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == expected
    if "limit" not in query and "offset" not in query:
        assert body["count"] == len(expected)


def test_read_sighting_and_unknown_id(site: Site) -> None:
    sighting = make_sighting(descriptor=(1.0, 2.0))
    site.store.add_sighting(sighting)
    body = site.client.get(f"/sightings/{sighting.id}").json()
    assert body["crop_url"] == f"/sightings/{sighting.id}/crop.jpg"
    assert body["path"][1] == {"timestamp": 110.0, "x": 35.5, "y": 118.25}
    assert "descriptor" not in body
    response = site.client.get("/sightings/unknown")
    assert response.status_code == 404
    assert response.json() == {"detail": "sighting 'unknown' not found"}


def test_crop_is_served_as_jpeg(operator_site: Site) -> None:
    site = operator_site
    (site.data_dir / "crops" / "a.jpg").write_bytes(JPEG)
    sighting = make_sighting(crop_path="crops/a.jpg")
    site.store.add_sighting(sighting)
    response = site.client.get(f"/sightings/{sighting.id}/crop.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == JPEG


@pytest.mark.parametrize(
    ("crop_path", "detail"),
    [
        (None, "has no crop"),
        ("crops/missing.jpg", "missing on disk"),
        ("../secret.jpg", "outside the data directory"),  # traversal out of data_dir
        ("crops/../../secret.jpg", "outside the data directory"),  # traversal after a real folder
        ("/etc/passwd", "outside the data directory"),  # absolute path replaces the root on join
    ],
)
def test_crop_refused(operator_site: Site, tmp_path: Path, crop_path: str | None, detail: str) -> None:
    site = operator_site
    (tmp_path / "secret.jpg").write_bytes(JPEG)
    sighting = make_sighting(crop_path=crop_path)
    site.store.add_sighting(sighting)
    response = site.client.get(f"/sightings/{sighting.id}/crop.jpg")
    assert response.status_code == 404
    assert detail in response.json()["detail"]


def test_crop_of_unknown_sighting_is_404(operator_site: Site) -> None:
    assert operator_site.client.get("/sightings/unknown/crop.jpg").status_code == 404


# -- alerts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["z3", "l2", "z1"]),
        ("?kind=dwell", ["l2"]),
        ("?camera=cam1&start=150", ["z3"]),
        ("?end=200&limit=1", ["l2"]),
    ],
)
def test_list_alerts_filters(site: Site, query: str, expected: list[str]) -> None:
    site.store.add_alert(make_alert("cam1", 100.0, id="z1"))
    site.store.add_alert(make_alert("cam2", 200.0, AlertKind.DWELL, id="l2"))
    site.store.add_alert(make_alert("cam1", 300.0, id="z3"))
    body = site.client.get(f"/alerts{query}").json()
    assert [item["id"] for item in body["items"]] == expected


# -- hostile parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        (f"/sightings?limit={10**9}", "limit: Input should be less than or equal to 500"),
        ("/sightings?limit=0", "limit: Input should be greater than or equal to 1"),
        ("/sightings?offset=-1", "offset: Input should be greater than or equal to 0"),
        (f"/alerts?offset={10**30}", "offset: Input should be less than or equal to"),
        ("/sightings?limit=ten", "limit: Input should be a valid integer"),
        ("/sightings?start=yesterday", "start: expected epoch seconds or an ISO-8601 time, got 'yesterday'"),
        ("/sightings?end=2024-06-01T10:00:00", "end: ISO-8601 time needs a timezone"),  # naive time
        ("/alerts?start=nan", "start: expected a finite time"),
        ("/alerts?start=inf", "start: expected a finite time"),
        ("/alerts?start=200&end=100", "start must not be after end"),
        (
            "/alerts?kind=fire",
            "kind: Input should be 'zone_intrusion', 'line_crossing', 'dwell', 'occupancy'",
        ),
        (f"/sightings?camera={'x' * 1000}", "camera: String should have at most 64 characters"),
    ],
)
def test_hostile_parameters_are_422_with_one_clear_line(site: Site, url: str, detail: str) -> None:
    response = site.client.get(url)
    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str)  # same shape as every other error
    assert detail in body["detail"]


# -- roles ------------------------------------------------------------------------------------

UNGUARDED = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
PUBLIC = {
    "/health",
    "/metrics",
    "/auth/login",
    "/auth/session",
    # The site's evidence public key: made to be handed to whoever checks a bundle; signs nothing.
    "/evidence/public-key",
    # The console's page, its static files and its pre-login settings (site name, time zone):
    # they hold no data; everything the page shows comes from routes that need a role.
    "/",
    "/console/",
    "/console/settings.json",
    "/console/{path:path}",
}
"""Routes anyone may call without logging in; any other route needs a role."""


def _routes(app: FastAPI) -> dict[str, Dependant | None]:
    """Every route's full path and its resolved dependencies (None if it has none)."""
    iter_route_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_route_contexts is None:  # older FastAPI: included routers are flattened into app.routes
        return {route.path: getattr(route, "dependant", None) for route in app.routes}  # type: ignore[attr-defined]
    # Newer FastAPI keeps included routers nested; their contexts carry prefix and merged dependencies.
    return {
        context.path: getattr(context, "dependant", None)
        or getattr(context.original_route, "dependant", None)
        for context in iter_route_contexts(app.routes)
    }


def _required_roles(dependant: Dependant) -> list[Role | None]:
    """The roles a route's dependencies require; None for each `public()` marker."""
    found: list[Role | None] = []
    pending = list(dependant.dependencies)
    while pending:
        sub = pending.pop()
        if isinstance(sub.call, RoleRequirement):
            found.append(sub.call.role)
        elif isinstance(sub.call, Public):
            found.append(None)
        pending.extend(sub.dependencies)
    return found


def _app(site: Site) -> FastAPI:
    app = site.client.app
    assert isinstance(app, FastAPI)
    return app


def test_every_route_declares_exactly_one_role_or_is_explicitly_public(site: Site) -> None:
    routes = {path: dependant for path, dependant in _routes(_app(site)).items() if path not in UNGUARDED}
    assert set(routes) >= {
        "/health",
        "/auth/login",
        "/auth/me",
        "/cameras",
        "/sightings",
        "/sightings/{sighting_id}/crop.jpg",
        "/alerts",
        "/cases/{case_id}/watch",
    }
    public = set()
    for path, dependant in routes.items():
        assert dependant is not None, f"{path} is not a FastAPI route and cannot declare a role"
        roles = _required_roles(dependant)
        assert len(roles) == 1, f"{path} must declare exactly one required role or public(), got {roles}"
        if roles == [None]:
            public.add(path)
    assert public == PUBLIC  # a new open route is a decision, not an accident


STATIC_SAMPLES = {"/console/js/app.js", "/console/console.css"}
"""Files behind the static route ``/console/{path:path}``, for the without-login check."""


@pytest.mark.parametrize("path", sorted(PUBLIC - {"/auth/login", "/console/{path:path}"} | STATIC_SAMPLES))
def test_public_routes_answer_without_login(tmp_path: Path, path: str) -> None:
    site = make_site(tmp_path, role=None)
    response = site.client.get(path)
    site.store.close()
    assert response.status_code == 200, response.text


def test_crop_route_needs_operator(site: Site) -> None:
    dependant = _routes(_app(site))["/sightings/{sighting_id}/crop.jpg"]
    assert dependant is not None
    assert _required_roles(dependant) == [Role.OPERATOR]


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        (Role.VIEWER, "/sightings/x/crop.jpg", 403),  # images of people need operator
        (Role.OPERATOR, "/sightings/x/crop.jpg", 404),  # allowed through; the sighting is unknown
        (Role.VIEWER, "/sightings", 200),
        (Role.VIEWER, "/alerts", 200),
        (None, "/sightings", 401),  # nothing but /health and /metrics without a login
        (None, "/cameras", 401),
    ],
)
def test_role_is_enforced(tmp_path: Path, role: Role | None, url: str, status: int) -> None:
    site = make_site(tmp_path, role=role)
    response = site.client.get(url)
    site.store.close()
    assert response.status_code == status, response.text
    if status == 403:
        assert "needs role 'operator'" in response.json()["detail"]


def test_openapi_docs_are_served(site: Site) -> None:
    assert site.client.get("/docs").status_code == 200
    paths = site.client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {"/health", "/cameras", "/cameras/{camera_id}", "/sightings", "/alerts"}
