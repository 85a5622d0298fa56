"""Hostile or broken requests to the case API: a clear 4xx, nothing stored, nothing audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.search.graph import CameraGraph
from api import ApiServices, Role, create_app
from config.models import VigilConfig
from tests.db.test_store import make_sighting
from tests.factories import auth_headers
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseStore
from vigil.services.cases import CaseService


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, CaseStore]]:
    config = VigilConfig.model_validate({"cameras": [{"id": "cam1", "url": "rtsp://127.0.0.1/cam1"}]})
    store = Store.open(tmp_path / "vigil.db")
    cases = CaseStore.for_store(store)
    service = CaseService(store, cases, CameraGraph.from_cameras(config.cameras), detector=None)
    services = ApiServices(store=store, health=dict, data_dir=tmp_path, cases=service)
    with TestClient(create_app(config, services)) as test_client:
        test_client.headers.update(auth_headers(test_client, store, Role.OPERATOR))
        yield test_client, cases
    store.close()


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"", "image/jpeg", "expected a JPEG / PNG body"),  # nothing uploaded
        (b"\xff\xd8not really a jpeg" * 10, "image/jpeg", "expected a JPEG or PNG image"),  # corrupt file
        (b"%PDF-1.7 ...", "application/pdf", "expected a JPEG or PNG image"),  # wrong kind of file
    ],
)
def test_broken_photo_uploads_are_refused_and_not_audited(
    client: tuple[TestClient, CaseStore], body: bytes, content_type: str, detail: str
) -> None:
    api, cases = client
    case = api.post("/cases", json={"reason": "test: child missing at the north gate"}).json()
    response = api.post(f"/cases/{case['id']}/photos", content=body, headers={"content-type": content_type})
    assert response.status_code == 422 and detail in response.json()["detail"]
    assert api.get(f"/cases/{case['id']}").json()["photos"] == 0
    assert "upload_photo" not in {record.action for record in cases.audit_trail(case["id"])}


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("post", "/cases", {"reason": ""}, 422),  # a search must say why
        ("post", "/cases", {"reason": "ok reason", "upper": ["ultraviolet"]}, 422),  # unknown colour
        ("post", "/cases", {"reason": "ok reason", "face_id": "x"}, 422),  # unknown field: no biometrics
        ("get", "/cases/does-not-exist/candidates", None, 404),  # unknown case
        ("post", "/cases/does-not-exist/feedback", {"sighting_id": "s", "verdict": "confirm"}, 404),
    ],
)
def test_hostile_case_requests(
    client: tuple[TestClient, CaseStore],
    method: str,
    path: str,
    payload: dict[str, object] | None,
    status: int,
) -> None:
    api, cases = client
    response = api.request(method.upper(), path, json=payload)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)  # one error shape
    # Nothing happened, nothing to audit (but the fixture's login).
    assert [record.action for record in cases.audit_trail()] == ["login"]


def test_two_operators_deciding_one_candidate_get_a_clear_conflict(
    client: tuple[TestClient, CaseStore], tmp_path: Path
) -> None:
    """Ana confirms; Ben's reject of the same sighting is a 409 naming her, until he overrides."""
    api, cases = client
    store = api.app.state.services.store  # type: ignore[attr-defined]
    sighting = make_sighting("cam1", 100.0, 110.0)
    store.add_sighting(sighting)
    case = api.post(
        "/cases", json={"reason": "test: child missing at the north gate", "window_start": 0}
    ).json()
    feedback = f"/cases/{case['id']}/feedback"
    assert api.post(feedback, json={"sighting_id": sighting.id, "verdict": "confirm"}).status_code == 200
    ben = auth_headers(api, store, Role.OPERATOR, name="ben")
    refused = api.post(feedback, json={"sighting_id": sighting.id, "verdict": "reject"}, headers=ben)
    assert refused.status_code == 409
    assert "test-operator confirmed this sighting" in refused.json()["detail"]
    assert [s["id"] for s in api.get(f"/cases/{case['id']}").json()["trail"]] == [sighting.id]  # unchanged
    # The same verdict from the second operator is no conflict.
    again = api.post(feedback, json={"sighting_id": sighting.id, "verdict": "confirm"}, headers=ben)
    assert again.status_code == 200
    ana = auth_headers(api, store, Role.OPERATOR, name="ana")
    assert (
        api.post(feedback, json={"sighting_id": sighting.id, "verdict": "reject"}, headers=ana).status_code
        == 409
    )
    overridden = api.post(
        feedback, json={"sighting_id": sighting.id, "verdict": "reject", "override": True}, headers=ana
    )
    assert overridden.status_code == 200 and overridden.json()["trail"] == []
    audit = [r for r in cases.audit_trail(case["id"]) if r.action == "reject"]
    assert len(audit) == 1 and audit[0].user == "ana"
    assert audit[0].detail["overrides"]["by"] == "ben"
