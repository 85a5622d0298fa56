"""Camera scope: a user limited to camera groups gets nothing of other cameras, route by route.

The table walks ``app.openapi()``: every route is camera-guarded (a camera id in its path or
query, checked by `api.scope.check_request` on every `require_role` route), a list filtered by
scope, one record guarded by its camera, a case route, admin-only (admins are never scoped) or
scope-free with a reason. `tests.api.test_scope_routes` calls them on seeded records.
A new route that is none of these fails `test_every_route_is_classified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fastapi.routing
import pytest
from fastapi import FastAPI

from api import Role
from api.scope import CAMERA_PARAMS
from tests.api.test_api import _required_roles
from tests.api.test_cameras import Wall, make_wall
from vigil.core.types import PathPoint, Sighting
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.users import UserStore

PASSWORD = "scope-password-1"
HARBOUR_ONLY = ["Harbour"]
"""cam2 only; cam1 and cam3 are Water street, cam4 has no group (`make_config`)."""

SCOPE_FREE = {
    ("GET", "/health"): "process health, no camera data",
    ("POST", "/auth/login"): "login",
    ("GET", "/auth/session"): "the caller's own session",
    ("POST", "/auth/session"): "login",
    ("DELETE", "/auth/session"): "logout",
    ("GET", "/auth/me"): "the caller's own user",
    ("GET", "/evidence/public-key"): "the site's public signing key",
    ("GET", "/console/settings.json"): "console settings, no camera data",
    ("GET", "/users/assignable"): "user names for the assignee picker",
}
FILTERED = {
    ("GET", "/cameras"),
    ("GET", "/sightings"),
    ("GET", "/alerts"),
    ("GET", "/cases"),
    ("GET", "/cases/{case_id}/candidates"),
    ("GET", "/cases/{case_id}/suggestions"),
    ("GET", "/cases/{case_id}/backscans"),
    ("GET", "/exports"),
    ("GET", "/site/map"),
    ("GET", "/rules"),
}
"""Lists that leave out-of-scope rows out (tested below and in `tests.api.test_scope_routes`)."""
RECORD_GUARDED = {
    ("GET", "/sightings/{sighting_id}"),
    ("GET", "/sightings/{sighting_id}/crop.jpg"),
    ("GET", "/sightings/{sighting_id}/similar"),
    ("GET", "/alerts/{alert_id}"),
    ("POST", "/alerts/{alert_id}/acknowledge"),
    ("POST", "/alerts/{alert_id}/resolve"),
    ("POST", "/alerts/{alert_id}/assign"),
    ("POST", "/alerts/{alert_id}/reopen"),
    ("GET", "/alerts/{alert_id}/crop.jpg"),
    ("GET", "/rules/{name}"),
    ("GET", "/rules/{name}/counts"),
    ("POST", "/cases/{case_id}/feedback"),
}
"""One record by id (in the path or body): a 404 when its camera is outside the caller's scope."""
CASE_WIDE = {
    ("POST", "/cases"): "sighting_id / last_seen_camera outside the scope: 422 as for unknown ones",
    ("GET", "/cases/{case_id}"): "the record is site-wide; its trail holds only in-scope sightings",
    ("POST", "/cases/{case_id}/photos"): "a photo of her describes no camera",
    ("POST", "/cases/{case_id}/close"): "answers the case as GET /cases/{case_id} does",
    ("GET", "/cases/{case_id}/audit"): "who did what and why; its rows name no camera",
    ("POST", "/cases/{case_id}/backscan"): "scans only the caller's cameras",
    ("GET", "/cases/{case_id}/backscan"): "progress of the caller's cameras only",
    ("DELETE", "/cases/{case_id}/backscan"): "answers the progress as GET does",
    ("POST", "/cases/{case_id}/bundle"): "403 when the trail has a camera outside the scope",
}
"""Case routes: a case is site-wide, what it holds of cameras is scoped (`test_scope_routes`)."""


@dataclass(frozen=True)
class Route:
    path: str
    role: Role | None
    """The role its `require_role` needs; None for a public route."""


def _routes(wall: Wall) -> dict[tuple[str, str], tuple[Route, list[str]]]:
    """Every OpenAPI operation: its route and its path and query parameters."""
    app = wall.client.app
    assert isinstance(app, FastAPI)
    roles: dict[tuple[str, str], Role | None] = {}
    for context in fastapi.routing.iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None) or getattr(context.original_route, "dependant", None)
        found = [r for r in _required_roles(dependant) if r is not None] if dependant else []
        for method in getattr(context, "methods", None) or ():
            roles[(str(method), str(context.path))] = found[0] if found else None
    out: dict[tuple[str, str], tuple[Route, list[str]]] = {}
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            out[(method.upper(), path)] = (Route(path, roles[(method.upper(), path)]), params)
    return out


def _scoped_client(wall: Wall, role: Role, groups: list[str] | None, name: str) -> None:
    UserStore.for_store(wall.store).add(name, role, PASSWORD, camera_groups=groups)
    token = wall.client.post("/auth/login", data={"username": name, "password": PASSWORD}).json()
    wall.client.headers["Authorization"] = f"Bearer {token['access_token']}"


def test_every_route_is_classified(tmp_path: Path) -> None:
    unclassified = []
    for key, (route, params) in _routes(make_wall(tmp_path, role=None)).items():
        guarded = any(p in CAMERA_PARAMS for p in params) and route.role is not None
        admin_only = route.role is Role.ADMIN
        if not (
            guarded
            or admin_only
            or key in SCOPE_FREE
            or key in FILTERED
            or key in RECORD_GUARDED
            or key in CASE_WIDE
        ):
            unclassified.append(key)
    assert unclassified == [], "routes with no camera-scope check and no reason in SCOPE_FREE"


def test_no_listed_route_is_stale(tmp_path: Path) -> None:
    routes = _routes(make_wall(tmp_path, role=None))
    listed = SCOPE_FREE.keys() | FILTERED | RECORD_GUARDED | CASE_WIDE.keys()
    assert sorted(listed - routes.keys()) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR])
def test_camera_routes_answer_404_out_of_scope_and_data_in_scope(tmp_path: Path, role: Role) -> None:
    wall = make_wall(tmp_path, role=None)
    _scoped_client(wall, role, HARBOUR_ONLY, "harbour")
    camera_paths = [
        (route, params) for (m, path), (route, params) in _routes(wall).items()
        if m == "GET" and "{camera_id}" in path and route.role is not None
        and role.covers(route.role)
    ]  # fmt: skip
    assert len(camera_paths) >= 4
    for route, _params in camera_paths:
        for camera_id in ("cam1", "cam3", "cam4"):
            answer = wall.client.get(
                route.path.replace("{camera_id}", camera_id), params={"start": 0, "end": 1}
            )
            assert answer.status_code == 404, (route.path, camera_id, answer.text)
            assert answer.json()["detail"] == f"camera {camera_id!r} is not configured"
        answer = wall.client.get(route.path.replace("{camera_id}", "cam2"), params={"start": 0, "end": 1})
        assert "is not configured" not in answer.text, (route.path, answer.text)
    assert wall.client.get("/cameras/cam2").json()["id"] == "cam2"


@pytest.mark.parametrize(
    ("role", "groups", "expected"),
    [
        (Role.VIEWER, HARBOUR_ONLY, ["cam2"]),
        (Role.OPERATOR, ["Water street"], ["cam1", "cam3"]),
        (Role.VIEWER, [], []),
        (Role.VIEWER, None, ["cam1", "cam2", "cam3", "cam4"]),
        (Role.ADMIN, HARBOUR_ONLY, ["cam1", "cam2", "cam3", "cam4"]),
    ],
)
def test_camera_list_holds_only_cameras_in_scope(
    tmp_path: Path, role: Role, groups: list[str] | None, expected: list[str]
) -> None:
    wall = make_wall(tmp_path, role=None)
    _scoped_client(wall, role, groups, "someone")
    listed = wall.client.get("/cameras").json()
    assert [c["id"] for c in listed["items"]] == expected
    assert listed["count"] == len(expected)
    if groups == HARBOUR_ONLY and role is not Role.ADMIN:
        assert listed["groups"] == ["Harbour"]
        assert wall.client.get("/cameras", params={"group": "Water street"}).json()["items"] == []


def test_query_camera_out_of_scope_is_404(tmp_path: Path) -> None:
    wall = make_wall(tmp_path, role=None)
    _scoped_client(wall, Role.OPERATOR, HARBOUR_ONLY, "harbour")
    for path in ("/sightings", "/alerts"):
        assert wall.client.get(path, params={"camera": "cam1"}).status_code == 404
        assert wall.client.get(path, params={"camera": "cam2"}).status_code == 200
    assert wall.client.get("/alerts", params={"camera_id": "cam3"}).status_code == 404


def test_scope_is_read_from_the_database_on_each_request(tmp_path: Path) -> None:
    wall = make_wall(tmp_path, role=None)
    _scoped_client(wall, Role.VIEWER, HARBOUR_ONLY, "harbour")
    assert wall.client.get("/cameras/cam1").status_code == 404
    UserStore.for_store(wall.store).set_camera_groups("harbour", None)
    assert wall.client.get("/cameras/cam1").status_code == 200


def test_admin_sets_camera_groups_through_the_users_api_audited(tmp_path: Path) -> None:
    wall = make_wall(tmp_path, role=Role.ADMIN)
    added = wall.client.post(
        "/users",
        json={"name": "harbour", "role": "viewer", "password": PASSWORD, "camera_groups": HARBOUR_ONLY},
    )
    assert added.status_code == 201, added.text
    assert added.json()["camera_groups"] == HARBOUR_ONLY
    bad = wall.client.put("/users/harbour/camera-groups", json={"camera_groups": ["Moon"], "reason": "typo"})
    assert bad.status_code == 422
    assert "Moon" in bad.json()["detail"]
    assert (
        wall.client.put(
            "/users/nobody/camera-groups", json={"camera_groups": None, "reason": "x y"}
        ).status_code
        == 404
    )
    moved = wall.client.put(
        "/users/harbour/camera-groups",
        json={"camera_groups": ["Water street"], "reason": "moved to the bridge"},
    )
    assert moved.status_code == 200, moved.text
    assert UserStore.for_store(wall.store).get("harbour").camera_groups == ("Water street",)  # type: ignore[union-attr]
    actions = [r.action for r in CaseStore.for_store(wall.store).audit_trail(None)]
    assert "user.camera_groups" in actions
    token = wall.client.post("/auth/login", data={"username": "harbour", "password": PASSWORD}).json()
    answer = wall.client.get("/cameras", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert [c["id"] for c in answer.json()["items"]] == ["cam1", "cam3"]


def test_a_sighting_of_an_out_of_scope_camera_is_404(tmp_path: Path) -> None:
    wall = make_wall(tmp_path, role=None)
    seen = {
        cam: Sighting(cam, 1, 100.0, 101.0, (0, 0, 10, 20), None, (PathPoint(100.0, 5.0, 20.0),), 0.9, 3)
        for cam in ("cam1", "cam2")
    }
    for sighting in seen.values():
        assert wall.store.add_sighting(sighting)
    _scoped_client(wall, Role.OPERATOR, HARBOUR_ONLY, "harbour")
    outside = wall.client.get(f"/sightings/{seen['cam1'].id}")
    assert (
        outside.status_code == 404 and outside.json()["detail"] == f"sighting {seen['cam1'].id!r} not found"
    )
    assert wall.client.get(f"/sightings/{seen['cam1'].id}/crop.jpg").status_code == 404
    assert wall.client.get(f"/sightings/{seen['cam2'].id}").json()["camera_id"] == "cam2"
    listed = wall.client.get("/sightings", params={"limit": 1}).json()
    assert [s["camera_id"] for s in listed["items"]] == ["cam2"] and listed["count"] == 1
    crop = wall.client.get(f"/sightings/{seen['cam2'].id}/crop.jpg")
    assert crop.json()["detail"] == f"sighting {seen['cam2'].id!r} has no crop"  # found, only no crop
