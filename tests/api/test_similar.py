"""``GET /sightings/{id}/similar``: ranking, filters, the sighting itself left out, roles, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.search.graph import CameraGraph
from api import ApiServices, Role, create_app
from config.models import VigilConfig
from tests.api.test_api import Site, make_site
from tests.api.test_sightings_search import REASON, dressed
from tests.db.test_store import make_sighting
from tests.factories import auth_headers
from vigil.core.types import Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseStore
from vigil.services.cases import CaseService


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[tuple[Site, dict[str, Sighting]]]:
    """The asked sighting (red over blue on cam1) and others, by name."""
    site = make_site(tmp_path, role=Role.OPERATOR)
    people = {
        "asked": dressed("red", "blue", start=1000.0),
        "twin": dressed("red", "blue", camera_id="cam2", start=1300.0),
        "half": dressed("red", "black", start=1100.0),
        "other": dressed("green", "white", start=1200.0),
        "late_twin": dressed("red", "blue", camera_id="cam2", start=5000.0),
        "bare": make_sighting(start=1150.0, end=1155.0),  # no descriptor: never compared
    }
    site.store.add_sightings(list(people.values()))
    yield site, people
    site.store.close()


def similar(site: Site, sighting_id: str, **params: object) -> dict[str, object]:
    response = site.client.get(f"/sightings/{sighting_id}/similar", params={"reason": REASON, **params})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # everything: the same clothes first, then half the same, then different; itself left out
        ({}, ["twin", "late_twin", "half", "other"]),
        # limit keeps the best
        ({"limit": 2}, ["twin", "late_twin"]),
        # one camera
        ({"camera_id": "cam1"}, ["half", "other"]),
        # a time window (epoch or ISO-8601)
        ({"since": 1050, "until": "1970-01-01T00:25:00Z"}, ["twin", "half", "other"]),
    ],
)
def test_ranked_by_appearance_and_colours(
    gallery: tuple[Site, dict[str, Sighting]], params: dict[str, object], expected: list[str]
) -> None:
    site, people = gallery
    names = {s.id: name for name, s in people.items()}
    body = similar(site, people["asked"].id, **params)
    items = body["items"]
    assert isinstance(items, list)
    twins = [i for i in items if names[i["sighting"]["id"]] in ("twin", "late_twin")]
    # The two identical crops score the same; their order is the store's (newest first) on ties.
    order = [names[i["sighting"]["id"]] for i in items]
    assert sorted(order[: len(twins)]) == sorted(n for n in expected if n.endswith("twin"))
    assert [n for n in order if not n.endswith("twin")] == [n for n in expected if not n.endswith("twin")]
    assert body["count"] == len(items)
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    for item in items:
        assert 0.0 <= item["appearance"] <= 1.0 and 0.0 <= item["colours"] <= 1.0
    if twins:
        assert twins[0]["appearance"] > 0.99 and twins[0]["sighting"]["upper_colours"] == ["red"]


def test_counts_what_it_compared(gallery: tuple[Site, dict[str, Sighting]]) -> None:
    site, people = gallery
    # Five others, one without a descriptor.
    assert similar(site, people["asked"].id)["compared"] == 4


@pytest.mark.parametrize(
    ("role", "path", "status", "detail"),
    [
        # unknown sighting
        (Role.OPERATOR, "/sightings/nope/similar?reason=lost+child", 404, "not found"),
        # a reason is required
        (Role.OPERATOR, "/sightings/{asked}/similar", 422, "reason"),
        (Role.OPERATOR, "/sightings/{asked}/similar?reason=%20%20%20%20", 422, "reason"),
        # a sighting without a descriptor has nothing to compare
        (Role.OPERATOR, "/sightings/{bare}/similar?reason=lost+child", 422, "descriptor"),
        # a bad time
        (Role.OPERATOR, "/sightings/{asked}/similar?reason=lost+child&since=noon", 422, "since"),
        # a viewer may not search people
        (Role.VIEWER, "/sightings/{asked}/similar?reason=lost+child", 403, "operator"),
    ],
)
def test_refused(tmp_path: Path, role: Role, path: str, status: int, detail: str) -> None:
    site = make_site(tmp_path, role=role)
    try:
        asked, bare = dressed("red", "blue"), make_sighting()
        site.store.add_sightings([asked, bare])
        response = site.client.get(path.format(asked=asked.id, bare=bare.id))
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"]
        audit = CaseStore.for_store(site.store).audit_trail()
        assert [a for a in audit if a.action == "search.similar"] == []
    finally:
        site.store.close()


def test_audited(gallery: tuple[Site, dict[str, Sighting]]) -> None:
    site, people = gallery
    body = similar(site, people["asked"].id, camera_id="cam2", limit=1)
    audit = [a for a in CaseStore.for_store(site.store).audit_trail() if a.action == "search.similar"]
    assert len(audit) == 1
    row = audit[0]
    assert row.user == "test-operator" and row.reason == REASON
    assert row.detail["sighting_id"] == people["asked"].id and row.detail["camera_id"] == "cam2"
    items = body["items"]
    assert isinstance(items, list)
    assert row.detail["returned"] == [i["sighting"]["id"] for i in items]


@pytest.fixture
def cases_client(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    """An operator's client of a site whose API has the case service."""
    config = VigilConfig.model_validate(
        {
            "cameras": [
                {"id": "cam1", "url": "rtsp://127.0.0.1/cam1"},
                {"id": "cam2", "url": "rtsp://127.0.0.1/c2"},
            ]
        }
    )
    store = Store.open(tmp_path / "vigil.db")
    service = CaseService(store, CaseStore.for_store(store), CameraGraph.from_cameras(config.cameras))
    services = ApiServices(store=store, health=dict, data_dir=tmp_path, cases=service)
    with TestClient(create_app(config, services)) as client:
        client.headers.update(auth_headers(client, store, Role.OPERATOR))
        yield client, store
    store.close()


def test_open_a_case_from_a_sighting(cases_client: tuple[TestClient, Store]) -> None:
    """``POST /cases`` with ``sighting_id``: the case starts with that sighting confirmed."""
    client, store = cases_client
    seen = dressed("red", "blue", camera_id="cam2", start=1300.0)
    store.add_sightings([seen, dressed("red", "blue", start=1310.0)])
    response = client.post("/cases", json={"reason": REASON, "sighting_id": seen.id, "window_start": 1000})
    assert response.status_code == 201, response.text
    case = response.json()
    assert [s["id"] for s in case["trail"]] == [seen.id] and case["last_confirmed_camera"] == "cam2"
    actions = [a.action for a in CaseStore.for_store(store).audit_trail(case["id"])]
    assert sorted(actions) == ["confirm", "open_case"]
    # Its candidates rank the look-alike first (the confirmed sighting is the example).
    candidates = client.get(f"/cases/{case['id']}/candidates").json()["items"]
    assert candidates and candidates[0]["sighting"]["start"] == 1310.0


def test_open_a_case_from_an_unknown_sighting_is_refused(cases_client: tuple[TestClient, Store]) -> None:
    client, _ = cases_client
    response = client.post("/cases", json={"reason": REASON, "sighting_id": "nope"})
    assert response.status_code == 422, response.text
    assert "nope" in response.json()["detail"]
    assert client.get("/cases").json()["count"] == 0  # no half-opened case left behind
