"""Camera scope, route by route, on real records: a scoped user gets nothing of other cameras.

One site, seeded with a sighting, an alert, a rule and an export on an in-scope camera and on
out-of-scope ones, and a case whose trail has both. Then every GET operation of
``app.openapi()`` a scoped viewer, operator or mediator may call is called (path parameters
filled from `INSIDE`, required query parameters from `QUERY`): no answer may name an
out-of-scope camera or record. Every operation with a record id in its path is called again
with the out-of-scope record: a 404. A route whose parameters the tables cannot fill fails
the test, so a new route is walked as soon as it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.search.graph import CameraGraph
from api import ApiServices, Role, create_app
from config.models import VigilConfig
from tests.api.test_sightings_search import REASON, dressed
from tests.factories import auth_headers
from vigil.core.types import Alert, AlertKind, Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import AuditRecord, CaseRecord, CaseStore, Verdict
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.users import UserStore
from vigil.services.backscan import BackscanService
from vigil.services.cases import CaseService

PASSWORD = "scope-password-1"
GROUPS = ["Water street"]
"""cam1 and cam3; cam2 (Harbour) and cam4 (no group) are out of scope."""
OUTSIDE_CAMERAS = ("cam2", "cam4")
RULE = {"type": "zone_intrusion", "zone": "rail"}
ZONE = {"name": "rail", "polygon": [[0, 0.5], [1, 0.5], [1, 1]]}
QUERY = {"reason": REASON, "start": "900", "end": "5000"}
"""Values of the required query parameters (a route requiring another fails the walk)."""


def site_config() -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "site": "Water street",
            "cameras": [
                {"id": "cam1", "url": "rtsp://10.0.0.1/main", "role": "ai", "group": "Water street",
                 "position": {"x": 0, "y": 0}, "zones": [ZONE]},
                {"id": "cam2", "url": "rtsp://10.0.0.2/main", "group": "Harbour",
                 "position": {"x": 50, "y": 0}},
                {"id": "cam3", "url": "rtsp://10.0.0.3/main", "group": "Water street",
                 "position": {"x": 0, "y": 60}},
                {"id": "cam4", "url": "rtsp://10.0.0.4/main", "role": "ai", "position": {"x": 90, "y": 0},
                 "zones": [ZONE]},
            ],
            "links": [
                {"from": "cam1", "to": "cam3", "walk_s": 60},
                {"from": "cam1", "to": "cam2", "walk_s": 40},
                {"from": "cam2", "to": "cam4", "walk_s": 30},
            ],
            "rules": [{"name": "rail-in", "camera": "cam1", **RULE},
                      {"name": "rail-out", "camera": "cam4", **RULE}],
        }
    )  # fmt: skip


@dataclass
class ScopedSite:
    client: TestClient
    store: Store
    inside: dict[str, str]
    """Path parameter -> the id of a record on an in-scope camera."""
    outside: dict[str, str]
    """Path parameter -> the id of a record on an out-of-scope camera (cases are site-wide)."""
    secrets: list[str]
    """Strings (camera and record ids) no answer to a scoped user may hold."""

    def login(self, role: Role) -> dict[str, str]:
        name = f"scoped-{role.value}"
        if UserStore.for_store(self.store).get(name) is None:
            UserStore.for_store(self.store).add(name, role, PASSWORD, camera_groups=GROUPS)
        token = self.client.post("/auth/login", data={"username": name, "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScopedSite]:
    data_dir = tmp_path_factory.mktemp("scope")
    config = site_config()
    store = Store.open(data_dir / "vigil.db")
    cases = CaseStore.for_store(store)
    service = CaseService(store, cases, CameraGraph.from_cameras(config.cameras), detector=None)
    services = ApiServices(store=store, health=dict, data_dir=data_dir, cases=service)
    seen_in = dressed("red", "blue", camera_id="cam1", start=1000.0)
    seen_out = dressed("red", "blue", camera_id="cam2", start=1100.0)
    seen_far = dressed("red", "blue", camera_id="cam4", start=1200.0)
    store.add_sightings([seen_in, seen_out, seen_far])
    alert_in = Alert(AlertKind.ZONE_INTRUSION, "rail-in", "cam1", 1000.0, "someone on the rail")
    alert_out = Alert(AlertKind.ZONE_INTRUSION, "rail-out", "cam4", 1200.0, "someone on the rail")
    store.add_alerts([alert_in, alert_out])
    case = CaseRecord(reason=REASON, opened_by="admin", window_start=900.0, window_end=5000.0)
    service.open_case(case)
    for seen in (seen_in, seen_out):
        service.feedback(case.id, seen.id, Verdict.CONFIRM, "admin")
    for camera in ("cam1", "cam2"):
        detail = {"camera_id": camera, "requested": [1000.0, 1010.0], "sha256": "0" * 64}
        cases.audit(AuditRecord(1000.0, "admin", "export_clip", case.id, REASON, detail))
    backscan = BackscanService(
        config=config,
        cases=service,
        case_store=cases,
        store=store,
        recordings=RecordingIndex.for_store(store),
        graph=CameraGraph.from_cameras(config.cameras),
        detector=_no_detector,
        publish=_no_sighting,
    )
    backscan.submit(case.id, "admin")  # by an unscoped user: every camera in reach is in its plan
    app = create_app(config, services)
    app.state.backscan = backscan
    with TestClient(app) as client:
        yield ScopedSite(
            client,
            store,
            inside={"camera_id": "cam1", "sighting_id": seen_in.id, "alert_id": alert_in.id,
                    "case_id": case.id, "name": "rail-in"},
            outside={"camera_id": "cam4", "sighting_id": seen_out.id, "alert_id": alert_out.id,
                     "name": "rail-out"},
            secrets=[*(json.dumps(c) for c in OUTSIDE_CAMERAS), seen_out.id, seen_far.id, alert_out.id,
                     '"rail-out"'],
        )  # fmt: skip
    backscan.stop()
    store.close()


def _no_detector() -> Any:
    raise AssertionError("nothing is recorded, so the back-scan has nothing to detect on")


def _no_sighting(sighting: Sighting) -> None:
    raise AssertionError(f"nothing is recorded, so the back-scan finds nothing, got {sighting}")


def _operations(client: TestClient, method: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    app = client.app
    assert isinstance(app, FastAPI)
    for path, ops in app.openapi()["paths"].items():
        op = ops.get(method.lower())
        if op is not None:
            yield path, op.get("parameters", [])


def _fill(path: str, params: list[dict[str, Any]], ids: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    """The URL and query of one call; None when a path parameter has no record in `ids`."""
    for param in params:
        if param["in"] == "path":
            if param["name"] not in ids:
                return None
            path = path.replace("{" + param["name"] + "}", ids[param["name"]])
    query = {p["name"]: QUERY[p["name"]] for p in params if p["in"] == "query" and p.get("required")}
    return path, query


ADMIN_PARAMS = {"hold_id", "job_id", "event_id"}
"""Path parameters only admin routes have (admins are never scoped)."""


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR])
def test_no_get_route_shows_a_scoped_user_anything_of_other_cameras(site: ScopedSite, role: Role) -> None:
    headers = site.login(role)
    walked, unfillable = [], []
    for path, params in _operations(site.client, "GET"):
        names = {p["name"] for p in params if p["in"] == "path"}
        required = {p["name"] for p in params if p["in"] == "query" and p.get("required")}
        if names & ADMIN_PARAMS:
            continue
        if names - site.inside.keys() or required - QUERY.keys():
            unfillable.append(path)
            continue
        call = _fill(path, params, site.inside)
        assert call is not None
        answer = site.client.get(call[0], params=call[1], headers=headers)
        assert answer.status_code < 500, (path, answer.status_code, answer.text)
        text = answer.content.decode("utf-8", "replace")
        leaked = [secret for secret in site.secrets if secret in text]
        assert leaked == [], (path, answer.status_code, leaked, text[:400])
        walked.append(path)
    assert unfillable == [], "add the path / query parameter to INSIDE / OUTSIDE / QUERY of this test"
    assert len(walked) >= 25


BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/alerts/{alert_id}/acknowledge"): {"note": "on my way"},
    ("POST", "/alerts/{alert_id}/resolve"): {"note": "seen"},
    ("POST", "/alerts/{alert_id}/assign"): {"user": None},
    ("POST", "/alerts/{alert_id}/reopen"): {"note": "again"},
}
"""Valid bodies, so that the refusal is the scope's and not the body's."""


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_a_record_of_another_camera_is_404_on_every_route_naming_it(site: ScopedSite, method: str) -> None:
    headers = site.login(Role.MEDIATOR)
    refused, admin_only = [], []
    for path, params in _operations(site.client, method):
        names = {p["name"] for p in params if p["in"] == "path"}
        if not names or names & ADMIN_PARAMS or not names <= site.outside.keys():
            continue
        call = _fill(path, params, site.outside)
        assert call is not None
        body = BODIES.get((method, path))
        answer = site.client.request(method, call[0], params=call[1], headers=headers, json=body)
        if answer.status_code == 403 and "needs role 'admin'" in answer.text:
            admin_only.append(path)  # never shown to a scoped user at all (admins are never scoped)
            continue
        assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
        detail = answer.json()["detail"]  # worded as for an id that does not exist, nothing more
        assert detail.endswith(("not found", "is not configured")), (path, detail)
        refused.append(path)
    assert len(refused) >= {"GET": 10, "POST": 4, "PUT": 0, "DELETE": 0}[method], refused
    assert refused or admin_only


def test_the_case_shows_a_scoped_user_only_the_trail_on_their_cameras(site: ScopedSite) -> None:
    headers = site.login(Role.OPERATOR)
    case_id = site.inside["case_id"]
    case = site.client.get(f"/cases/{case_id}", headers=headers).json()
    assert [s["id"] for s in case["trail"]] == [site.inside["sighting_id"]]
    assert case["last_confirmed_camera"] == "cam1"
    unscoped = auth_headers(site.client, site.store, Role.OPERATOR, name="everywhere")
    everything = site.client.get(f"/cases/{case_id}", headers=unscoped).json()
    assert len(everything["trail"]) == 2 and everything["last_confirmed_camera"] == "cam2"
    candidates = site.client.get(f"/cases/{case_id}/candidates", headers=unscoped).json()["items"]
    assert [c["sighting"]["camera_id"] for c in candidates] == ["cam4"]  # what the scoped user must not see
    assert site.client.get(f"/cases/{case_id}/candidates", headers=headers).json()["items"] == []
    verdict = {"sighting_id": site.outside["sighting_id"], "verdict": "reject"}
    refused = site.client.post(f"/cases/{case_id}/feedback", json=verdict, headers=headers)
    assert refused.status_code == 404, refused.text


def test_a_scoped_mediator_cannot_bundle_a_case_with_other_cameras(site: ScopedSite) -> None:
    headers = site.login(Role.MEDIATOR)
    answer = site.client.post(
        f"/cases/{site.inside['case_id']}/bundle", json={"reason": REASON}, headers=headers
    )
    assert answer.status_code == 403, answer.text
    assert "outside your camera groups" in answer.json()["detail"]


def test_lists_hold_the_in_scope_rows(site: ScopedSite) -> None:
    """The walk above shows nothing leaks; this shows the lists are not simply empty."""
    headers = site.login(Role.MEDIATOR)
    get = site.client.get
    assert [a["id"] for a in get("/alerts", headers=headers).json()["items"]] == [site.inside["alert_id"]]
    assert get("/alerts", headers=headers).json()["count"] == 1
    assert [r["name"] for r in get("/rules", headers=headers).json()["items"]] == ["rail-in"]
    assert [e["camera_id"] for e in get("/exports", headers=headers).json()["items"]] == ["cam1"]
    site_map = get("/site/map", headers=headers).json()
    assert sorted(c["id"] for c in site_map["cameras"]) == ["cam1", "cam3"]
    assert [(link["from"], link["to"]) for link in site_map["links"]] == [("cam1", "cam3")]
    found = get("/sightings", params={"upper": "red", "reason": REASON}, headers=headers).json()
    assert [s["camera_id"] for s in found["items"]] == ["cam1"] and found["count"] == 1
    similar = get(
        f"/sightings/{site.inside['sighting_id']}/similar", params={"reason": REASON}, headers=headers
    ).json()
    assert similar["items"] == []  # its look-alikes are on cam2 and cam4
    # From her last confirmed place (cam2, out of scope): its in-scope neighbours, nearest first.
    suggestions = get(f"/cases/{site.inside['case_id']}/suggestions", headers=headers).json()
    assert [r["camera_id"] for r in suggestions] == ["cam1", "cam3"]


def test_the_live_alert_feed_pushes_only_in_scope_alerts(site: ScopedSite) -> None:
    headers = site.login(Role.VIEWER)
    app = site.client.app
    assert isinstance(app, FastAPI)
    feed = app.state.services.alert_feed
    with site.client.websocket_connect("/alerts/live", headers=headers) as socket:
        outside = Alert(AlertKind.ZONE_INTRUSION, "rail-out", "cam4", 1300.0, "someone on the rail")
        inside = Alert(AlertKind.ZONE_INTRUSION, "rail-in", "cam1", 1301.0, "someone on the rail")
        site.store.add_alerts([outside, inside])
        feed.publish_alerts([outside, inside])
        message = socket.receive_json()
        assert message["alert"]["id"] == inside.id  # the out-of-scope one, published first, never came
