"""``/alerts``: triage filters, triage routes and their refusals, roles, crops, the live feed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api import ApiServices, create_app
from tests.api.test_api import JPEG, make_config
from tests.db.test_store import make_alert
from tests.factories import FAST_HASHER, auth_headers, make_user
from vigil.core.types import AlertKind, AlertSeverity
from vigil.infra.db import Store
from vigil.infra.db.alerts import AlertTriageStore, Triage, TriageAction, TriagedAlert
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.users import Role, UserStore
from vigil.services.alert_feed import AlertFeed, FeedEvent, FeedKind

ALERT_FIELDS = {
    "id",
    "kind",
    "rule",
    "camera_id",
    "timestamp",
    "message",
    "tracker_id",
    "zone",
    "box",
    "severity",
    "direction",
    "value",
    "phase",
    "group_id",
}
TRIAGE_FIELDS = {"state", "assignee", "updated_at", "updated_by", "crop_url", "group_size"}


@dataclass
class AlertSite:
    client: TestClient
    store: Store
    data_dir: Path
    feed: AlertFeed

    def login(self, role: Role) -> dict[str, str]:
        return auth_headers(self.client, self.store, role)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[AlertSite]:
    """Three alerts (z1 at t=100 on cam1, l2 at 200 on cam2, z3 at 300 on cam1); no one logged in."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(data_dir / "vigil.db")
    feed = AlertFeed()
    services = ApiServices(store=store, health=dict, data_dir=data_dir, alert_feed=feed)
    store.add_alert(make_alert("cam1", 100.0, id="z1"))
    store.add_alert(
        make_alert("cam2", 200.0, AlertKind.DWELL, rule="bench", id="l2", severity=AlertSeverity.CRITICAL)
    )
    store.add_alert(make_alert("cam1", 300.0, id="z3"))
    yield AlertSite(TestClient(create_app(make_config(), services)), store, data_dir, feed)
    store.close()


@pytest.fixture
def operator(site: AlertSite) -> dict[str, str]:
    return site.login(Role.OPERATOR)


def _triage(
    site: AlertSite, alert_id: str, action: TriageAction, note: str | None = None, assignee: str | None = None
) -> None:
    AlertTriageStore.for_store(site.store).apply(
        alert_id, action, "test-operator", note=note, assignee=assignee
    )


def _ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    return [item["id"] for item in body["items"]]


# -- listing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["z3", "l2", "z1"]),  # newest first
        ("?state=new", ["z3"]),  # no triage yet counts as new
        ("?state=acknowledged,resolved", ["l2", "z1"]),  # comma list
        ("?state=acknowledged&state=resolved", ["l2", "z1"]),  # repeated
        ("?state=resolved", ["z1"]),
        ("?assignee=test-mediator", ["l2"]),
        ("?assignee=nobody", []),
        ("?rule=bench", ["l2"]),
        ("?camera_id=cam1", ["z3", "z1"]),
        ("?camera_id=cam1&camera=cam2", []),  # both must hold
        ("?camera_id=cam1&state=new", ["z3"]),
        ("?since=150", ["z3", "l2"]),  # epoch seconds
        ("?until=1970-01-01T00:03:20Z", ["l2", "z1"]),  # ISO-8601, t=200
        ("?since=150&end=250", ["l2"]),  # mixed with the old names: both bounds hold
        ("?kind=dwell&state=acknowledged", ["l2"]),
        ("?severity=critical", ["l2"]),
        ("?severity=warning&camera_id=cam1", ["z3", "z1"]),  # the default severity
        ("?severity=info", []),
        ("?state=new,acknowledged&limit=1&offset=1", ["l2"]),
    ],
)
def test_list_filters(site: AlertSite, query: str, expected: list[str]) -> None:
    make_user(site.store, Role.MEDIATOR)
    _triage(site, "z1", TriageAction.RESOLVE, note="done")
    _triage(site, "l2", TriageAction.ACKNOWLEDGE)
    _triage(site, "l2", TriageAction.ASSIGN, assignee="test-mediator")
    response = site.client.get(f"/alerts{query}", headers=site.login(Role.VIEWER))
    assert response.status_code == 200, response.text
    assert _ids(response) == expected
    if "limit" not in query:
        assert response.json()["count"] == len(expected)


def test_list_items_carry_the_alert_and_its_triage(site: AlertSite) -> None:
    _triage(site, "z1", TriageAction.ACKNOWLEDGE)
    items = site.client.get("/alerts", headers=site.login(Role.VIEWER)).json()["items"]
    assert set(items[0]) == ALERT_FIELDS | TRIAGE_FIELDS
    z3, _, z1 = items
    assert (z3["state"], z3["assignee"], z3["updated_at"], z3["updated_by"]) == ("new", None, None, None)
    assert (z1["state"], z1["updated_by"]) == ("acknowledged", "test-operator")
    assert z1["updated_at"] > 0


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("?state=open", "state: expected new, acknowledged, resolved, got 'open'"),
        ("?state=new,", "state: expected new, acknowledged, resolved, got ''"),
        ("?since=300&until=100", "since must not be after until"),
        ("?since=soon", "since: expected epoch seconds or an ISO-8601 time, got 'soon'"),
        ("?until=nan", "until: expected a finite time"),
        (f"?rule={'r' * 200}", "rule: String should have at most 128 characters"),
        ("?severity=loud", "severity: Input should be 'info', 'warning' or 'critical'"),
    ],
)
def test_bad_filters_are_422(site: AlertSite, query: str, detail: str) -> None:
    response = site.client.get(f"/alerts{query}", headers=site.login(Role.VIEWER))
    assert response.status_code == 422
    assert detail in response.json()["detail"]


# -- one alert and its triage -----------------------------------------------------------------


def test_read_alert_with_history_and_unknown_id(site: AlertSite) -> None:
    viewer = site.login(Role.VIEWER)
    assert site.client.get("/alerts/z1", headers=viewer).json()["history"] == []
    _triage(site, "z1", TriageAction.ACKNOWLEDGE, note="on it")
    body = site.client.get("/alerts/z1", headers=viewer).json()
    assert body["state"] == "acknowledged"
    assert [(h["user"], h["action"], h["note"]) for h in body["history"]] == [
        ("test-operator", "acknowledge", "on it")
    ]
    missing = site.client.get("/alerts/nope", headers=viewer)
    assert missing.status_code == 404 and missing.json() == {"detail": "alert 'nope' not found"}


def test_triage_round_trip(site: AlertSite, operator: dict[str, str]) -> None:
    make_user(site.store, Role.MEDIATOR)
    post = site.client.post
    assert post("/alerts/z1/acknowledge", headers=operator).json()["state"] == "acknowledged"  # no body
    assert post("/alerts/z1/acknowledge", json={}, headers=operator).status_code == 200
    assigned = post("/alerts/z1/assign", json={"user": "test-mediator"}, headers=operator).json()
    assert (assigned["state"], assigned["assignee"]) == ("acknowledged", "test-mediator")
    resolved = post("/alerts/z1/resolve", json={"note": "a cleaner"}, headers=operator).json()
    assert (resolved["state"], resolved["updated_by"]) == ("resolved", "test-operator")
    reopened = post("/alerts/z1/reopen", json={"note": "came back"}, headers=operator).json()
    assert (reopened["state"], reopened["assignee"]) == ("new", "test-mediator")
    unassigned = post("/alerts/z1/assign", json={"user": None}, headers=operator).json()
    assert unassigned["assignee"] is None
    assert set(unassigned) == ALERT_FIELDS | TRIAGE_FIELDS | {"history"}
    assert [(h["action"], h["note"]) for h in unassigned["history"]] == [
        ("acknowledge", None),
        ("acknowledge", None),
        ("assign", None),
        ("resolve", "a cleaner"),
        ("reopen", "came back"),
        ("unassign", None),
    ]
    audit = CaseStore.for_store(site.store).audit_trail()
    assert [a.action for a in audit if a.action.startswith("alert.")][:2] == [
        "alert.unassign",
        "alert.reopen",
    ]
    assert next(a for a in audit if a.action == "alert.resolve").reason == "a cleaner"


@pytest.mark.parametrize(
    ("url", "body", "status", "detail"),
    [
        ("/alerts/nope/acknowledge", None, 404, "alert 'nope' not found"),
        ("/alerts/nope/resolve", {"note": "x"}, 404, "alert 'nope' not found"),
        ("/alerts/z1/resolve", None, 422, "Field required"),  # the note is required
        ("/alerts/z1/resolve", {}, 422, "note: Field required"),
        ("/alerts/z1/resolve", {"note": ""}, 422, "note: String should have at least 1 character"),
        ("/alerts/z1/resolve", {"note": "   "}, 422, "note: String should match pattern"),  # blank
        ("/alerts/z1/resolve", {"note": "x" * 2001}, 422, "at most 2000 characters"),
        ("/alerts/z1/acknowledge", {"note": "x", "by": "me"}, 422, "by: Extra inputs are not permitted"),
        ("/alerts/z1/assign", {}, 422, "user: Field required"),  # null unassigns; missing is a mistake
        ("/alerts/z1/assign", {"user": "ghost"}, 422, "user: 'ghost' is not a user"),
        ("/alerts/z1/assign", {"user": "test-viewer"}, 422, "user: 'test-viewer' is a viewer"),
        ("/alerts/z1/assign", {"user": "gone"}, 422, "user: 'gone' is disabled"),
        ("/alerts/z1/reopen", {}, 409, "cannot reopen: the alert is new; only a resolved alert reopens"),
    ],
)
def test_triage_refusals(
    site: AlertSite, operator: dict[str, str], url: str, body: object, status: int, detail: str
) -> None:
    make_user(site.store, Role.VIEWER)
    make_user(site.store, Role.OPERATOR, "gone")
    UserStore.for_store(site.store, hasher=FAST_HASHER).set_disabled("gone", True)
    response = site.client.post(url, json=body, headers=operator)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert AlertTriageStore.for_store(site.store).history("z1") == []  # nothing was recorded


def test_acknowledging_a_resolved_alert_is_409(site: AlertSite, operator: dict[str, str]) -> None:
    site.client.post("/alerts/z1/resolve", json={"note": "false alarm"}, headers=operator)
    response = site.client.post("/alerts/z1/acknowledge", json={"note": "late"}, headers=operator)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "cannot acknowledge: the alert is resolved by test-operator; reopen it first"
    }


# -- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "method", "url", "body", "status"),
    [
        (Role.VIEWER, "get", "/alerts", None, 200),
        (Role.VIEWER, "get", "/alerts/z1", None, 200),
        (Role.VIEWER, "post", "/alerts/z1/acknowledge", {}, 403),  # viewers watch, never triage
        (Role.VIEWER, "post", "/alerts/z1/resolve", {"note": "x"}, 403),
        (Role.VIEWER, "post", "/alerts/z1/assign", {"user": None}, 403),
        (Role.VIEWER, "post", "/alerts/z1/reopen", {}, 403),
        (Role.VIEWER, "get", "/alerts/z1/crop.jpg", None, 403),  # images of people need operator
        (Role.OPERATOR, "post", "/alerts/z1/acknowledge", {}, 200),
        (Role.ADMIN, "post", "/alerts/z1/resolve", {"note": "x"}, 200),
        (None, "get", "/alerts/z1", None, 401),
        (None, "post", "/alerts/z1/acknowledge", {}, 401),
    ],
)
def test_roles(site: AlertSite, role: Role | None, method: str, url: str, body: object, status: int) -> None:
    headers = {} if role is None else site.login(role)
    response = site.client.request(method, url, json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert "needs role 'operator'" in response.json()["detail"]


def test_cookie_triage_needs_the_console_header(site: AlertSite) -> None:
    make_user(site.store, Role.OPERATOR)
    session = {"username": "test-operator", "password": "correct horse battery"}
    assert site.client.post("/auth/session", data=session).status_code == 200
    assert site.client.post("/alerts/z1/acknowledge").status_code == 403
    assert site.client.post("/alerts/z1/acknowledge", headers={"x-vigil-console": "1"}).status_code == 200


# -- crops ------------------------------------------------------------------------------------


def test_crop_is_served_and_listed(site: AlertSite, operator: dict[str, str]) -> None:
    (site.data_dir / "alert-crops").mkdir()
    (site.data_dir / "alert-crops" / "z1.jpg").write_bytes(JPEG)
    response = site.client.get("/alerts/z1/crop.jpg", headers=operator)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, no-store"
    assert response.content == JPEG
    crops = {
        item["id"]: item["crop_url"] for item in site.client.get("/alerts", headers=operator).json()["items"]
    }
    assert crops == {"z1": "/alerts/z1/crop.jpg", "l2": None, "z3": None}


@pytest.mark.parametrize(
    ("alert_id", "detail"),
    [
        ("z3", "alert 'z3' has no crop"),  # stored, but no crop on disk
        ("nope", "alert 'nope' not found"),
    ],
)
def test_crop_404(site: AlertSite, operator: dict[str, str], alert_id: str, detail: str) -> None:
    response = site.client.get(f"/alerts/{alert_id}/crop.jpg", headers=operator)
    assert response.status_code == 404 and response.json() == {"detail": detail}


# -- the live feed ----------------------------------------------------------------------------


def test_live_feed_pushes_new_alerts_and_triage_from_any_user(site: AlertSite) -> None:
    viewer = site.login(Role.VIEWER)
    other = site.login(Role.OPERATOR)
    with site.client.websocket_connect("/alerts/live", headers=viewer) as socket:
        fresh = make_alert("cam2", 400.0, id="n4")
        site.store.add_alert(fresh)
        site.feed.publish_alerts([fresh])  # what the central consumer does once it stored it
        message = socket.receive_json()
        assert message["type"] == "alert"
        assert (message["alert"]["id"], message["alert"]["state"]) == ("n4", "new")
        assert set(message["alert"]) == ALERT_FIELDS | TRIAGE_FIELDS
        site.client.post("/alerts/n4/acknowledge", json={"note": "on my way"}, headers=other)
        message = socket.receive_json()
        assert message["type"] == "triage"
        assert (message["alert"]["id"], message["alert"]["state"]) == ("n4", "acknowledged")
        assert message["alert"]["updated_by"] == "test-operator"
    assert site.feed.subscribers == 0  # the closed socket unsubscribed


def test_live_feed_works_without_a_fed_hub(tmp_path: Path) -> None:
    """An app built without the runtime's feed still pushes this API's triage changes."""
    store = Store.open(tmp_path / "vigil.db")
    store.add_alert(make_alert(id="a1"))
    client = TestClient(create_app(make_config(), ApiServices(store=store, health=dict, data_dir=tmp_path)))
    headers = auth_headers(client, store, Role.OPERATOR)
    with client.websocket_connect("/alerts/live", headers=headers) as socket:
        client.post("/alerts/a1/resolve", json={"note": "checked"}, headers=headers)
        assert socket.receive_json()["alert"]["state"] == "resolved"
    store.close()


def test_live_feed_refuses_without_login(site: AlertSite) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, site.client.websocket_connect("/alerts/live"):
        pass
    assert refused.value.code == 1008 and "not logged in" in refused.value.reason


def test_live_feed_closes_a_client_too_far_behind(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "vigil.db")
    feed = AlertFeed(max_queue=2)
    services = ApiServices(store=store, health=dict, data_dir=tmp_path, alert_feed=feed)
    client = TestClient(create_app(make_config(), services))
    headers = auth_headers(client, store, Role.VIEWER)
    events = [FeedEvent(FeedKind.ALERT, TriagedAlert(make_alert(id=f"s{i}"), Triage())) for i in range(3)]
    with client.websocket_connect("/alerts/live", headers=headers) as socket:
        (subscription,) = feed._subscriptions
        # Two events queued and not yet sent (queued without a wake-up: the socket cannot have
        # read them), then a third: the client is two behind, the most it may be.
        subscription._queue.extend(events[:2])
        feed.publish(events[2])
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1013 and "reload /alerts" in str(closed.value.reason)
    assert (feed.subscribers, feed.dropped) == (0, 1)
    store.close()
