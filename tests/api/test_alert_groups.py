"""``GET /alerts?group_id=`` and the collapsed inbox ``?grouped=true``, over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import ApiServices, create_app
from config.notify import AlertsConfig
from tests.api.test_api import make_config
from tests.db.test_store import make_alert
from tests.factories import auth_headers
from vigil.infra.db import Store
from vigil.infra.db.alerts import AlertGroupLookup, AlertTriageStore, TriageAction
from vigil.infra.db.users import Role
from vigil.services.alert_feed import AlertFeed
from vigil.services.alert_groups import AlertGrouper


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Groups: g1 = a (100), b (130), c (150, acknowledged); g2 = d (500); g3 = x (120, rule bridge)."""
    store = Store.open(tmp_path / "vigil.db")
    alerts = [
        make_alert(id="a", timestamp=100),
        make_alert(id="b", timestamp=130),
        make_alert(id="c", timestamp=150),
        make_alert(id="d", timestamp=500),
        make_alert(id="x", timestamp=120, rule="bridge"),
    ]
    store.add_alerts(AlertGrouper(AlertGroupLookup.for_store(store), AlertsConfig()).assign(alerts))
    AlertTriageStore.for_store(store).apply("c", TriageAction.ACKNOWLEDGE, "op")
    services = ApiServices(store=store, health=dict, data_dir=tmp_path, alert_feed=AlertFeed())
    test_client = TestClient(create_app(make_config(), services))
    yield test_client, auth_headers(test_client, store, Role.VIEWER)
    store.close()


def rows(body: dict[str, Any]) -> list[tuple[str, str | None, int | None]]:
    return [(item["id"], item["group_id"], item["group_size"]) for item in body["items"]]


@pytest.mark.parametrize(
    ("query", "expected", "count"),
    [
        # one group: its first alert and those that joined it, newest first
        ("group_id=a", [("c", "a", None), ("b", "a", None), ("a", None, None)], 3),
        # a group of one is found by its own id
        ("group_id=d", [("d", None, None)], 1),
        # the collapsed inbox: each group's newest alert and its size, newest first
        ("grouped=true", [("d", None, 1), ("c", "a", 3), ("x", None, 1)], 3),
        # filters apply before collapsing: the new alerts of group a are b and a, b the newest
        ("grouped=true&state=new", [("d", None, 1), ("b", "a", 2), ("x", None, 1)], 3),
        # and paging pages groups
        ("grouped=true&limit=1&offset=1", [("c", "a", 3)], 3),
        ("grouped=true&rule=bridge", [("x", None, 1)], 1),
    ],
)
def test_group_queries(
    client: tuple[TestClient, dict[str, str]], query: str, expected: list[Any], count: int
) -> None:
    test_client, headers = client
    response = test_client.get(f"/alerts?{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert (rows(response.json()), response.json()["count"]) == (expected, count)


def test_both_group_filters_is_a_422(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, headers = client
    response = test_client.get("/alerts?grouped=true&group_id=a", headers=headers)
    assert response.status_code == 422
    assert "either" in response.json()["detail"]


def test_openapi_documents_the_group_parameters(client: tuple[TestClient, dict[str, str]]) -> None:
    spec = client[0].get("/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/alerts"]["get"]["parameters"]}
    assert "group" in parameters["group_id"]["description"]
    assert "collapsed inbox" in parameters["grouped"]["description"]
