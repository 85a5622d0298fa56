"""``/holds`` and ``/retention``: legal holds and retention runs over the API, admins only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import Role
from config.loader import parse_config
from tests.api.test_api import Site, make_site
from tests.db.test_store import make_sighting
from tests.factories import auth_headers
from vigil.infra.bus import MemoryBus
from vigil.infra.db.cases import CaseRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.roles import Role as RuntimeRole
from vigil.runtime import Runtime
from vigil.services.retention import RetentionService

T0 = 1_780_000_000.0


class Seg:
    def __init__(self, camera_id: str, path: Path, start: float, end: float) -> None:
        self.camera_id, self.path, self.start, self.end, self.size, self.packets = (
            camera_id,
            path,
            start,
            end,
            4,
            1,
        )


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Site]:
    """An admin's site with 60 s of cam1 recorded from T0 (two files) and one open case."""
    site = make_site(tmp_path, role=Role.ADMIN)
    files = []
    for i in range(2):
        path = site.data_dir / "recordings" / f"cam1-{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mp4!")
        files.append(Seg("cam1", path, T0 + 30 * i, T0 + 30 * (i + 1)))
    RecordingIndex.for_store(site.store).add_segments(files)
    CaseStore.for_store(site.store).add_case(
        CaseRecord(reason="missing: grey coat", opened_by="ann", window_start=T0, window_end=T0 + 60, id="c1")
    )
    yield site
    site.store.close()


SPAN = {"cameras": ["cam1"], "start": str(T0), "end": "2026-05-28T20:27:20Z", "reason": "court order 2026-7"}
"""cam1 from T0 for 40 s, the end in ISO-8601."""


def test_an_admin_places_lists_and_releases_a_span_hold(admin: Site) -> None:
    placed = admin.client.post("/holds", json=SPAN)
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["cameras"], hold["start"], hold["active"], hold["case_id"]) == (["cam1"], T0, True, None)
    assert admin.client.get(f"/holds/{hold['id']}").json() == hold
    listed = admin.client.get("/holds", params={"active": "true"}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == hold["id"]

    released = admin.client.post(f"/holds/{hold['id']}/release", json={"reason": "order lifted"})
    assert released.status_code == 200, released.text
    assert (released.json()["active"], released.json()["release_reason"]) == (False, "order lifted")
    again = admin.client.post(f"/holds/{hold['id']}/release", json={"reason": "order lifted"})
    assert again.status_code == 409 and "already released" in again.json()["detail"]
    assert admin.client.get("/holds", params={"active": "true"}).json()["count"] == 0
    assert admin.client.get("/holds", params={"active": "false"}).json()["count"] == 1
    trail = CaseStore.for_store(admin.store).audit_trail()
    assert [(r.action, r.reason) for r in trail[:2]] == [
        ("legal_hold.release", "order lifted"),
        ("legal_hold.place", "court order 2026-7"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({**SPAN, "start": str(T0 + 3600), "end": str(T0 + 7200)}, 422, "camera 'cam1' has no recording in"),
        ({**SPAN, "cameras": ["cam2"]}, 422, "camera 'cam2' has no recording .* no recording at all"),
        ({**SPAN, "cameras": ["nope"]}, 404, "no camera 'nope' on this site"),
        ({**SPAN, "start": str(T0 + 60), "end": str(T0)}, 422, "start before end"),
        ({**SPAN, "start": "yesterday"}, 422, "start: "),
        ({**SPAN, "reason": "no"}, 422, "reason"),
        ({"case_id": "c404", "reason": "court order 1"}, 404, "case 'c404' not found"),
        ({**SPAN, "case_id": "c1"}, 422, "either case_id or cameras"),
        ({"cameras": ["cam1"], "reason": "court order 1"}, 422, "all three"),
    ],
)
def test_a_bad_hold_is_a_clear_error(admin: Site, body: dict[str, Any], status: int, detail: str) -> None:
    answer = admin.client.post("/holds", json=body)
    assert answer.status_code == status, answer.text
    assert re.search(detail, answer.json()["detail"]), answer.json()
    assert admin.client.get("/holds").json()["count"] == 0  # nothing half-placed


def test_a_case_hold_covers_its_window_and_a_second_one_conflicts(admin: Site) -> None:
    placed = admin.client.post("/holds", json={"case_id": "c1", "reason": "court order 2026-8"})
    assert placed.status_code == 201, placed.text
    assert (placed.json()["cameras"], placed.json()["start"], placed.json()["end"]) == (None, T0, T0 + 60)
    second = admin.client.post("/holds", json={"case_id": "c1", "reason": "court order 2026-9"})
    assert second.status_code == 409 and "already held" in second.json()["detail"]
    assert [r.action for r in CaseStore.for_store(admin.store).audit_trail(case_id="c1")] == [
        "legal_hold.place"
    ]


ROUTES = [
    ("get", "/holds", None),
    ("post", "/holds", SPAN),
    ("get", "/holds/x", None),
    ("post", "/holds/x/release", {"reason": "order lifted"}),
    ("get", "/retention", None),
    ("post", "/retention/run", {"reason": "policy check"}),
]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR, None])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_admins_reach_holds_and_retention(
    admin: Site, role: Role | None, method: str, path: str, body: dict[str, str] | None
) -> None:
    client = TestClient(admin.client.app)
    if role is not None:
        client.headers.update(auth_headers(client, admin.store, role, name=f"u-{role.value}"))
    answer = client.request(method, path, json=body)
    assert answer.status_code == (401 if role is None else 403), answer.text


def test_retention_runs_on_demand_and_reports(admin: Site) -> None:
    crop = admin.data_dir / "crops" / "old.jpg"
    crop.write_bytes(b"jpeg")
    admin.store.add_sightings([make_sighting("cam1", 100.0, 105.0, crop_path="crops/old.jpg")])
    running = RetentionService.from_config(admin.client.app.state.config, admin.store, admin.data_dir)  # type: ignore[attr-defined]
    admin.client.app.state.retention = running  # type: ignore[attr-defined]
    assert admin.client.get("/retention").json()["last_run"] is None

    answer = admin.client.post("/retention/run", json={"reason": "checking the new policy"})

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["deleted"]["sightings"] == 1 and report["files"] == 1 and not crop.exists()
    state = admin.client.get("/retention").json()
    assert state["sightings_days"] == 30 and state["last_run"]["deleted"] == report["deleted"]
    (audited,) = CaseStore.for_store(admin.store).audit_page("retention.run")[0]
    assert audited.reason == "checking the new policy" and audited.user != "vigil"


def test_the_running_service_retains_on_schedule_and_on_demand_over_http(tmp_path: Path) -> None:
    """A central `Runtime` served by uvicorn: its retention service answers the API and /metrics."""
    config = parse_config(
        {"data_dir": str(tmp_path), "cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/a"}]}
    )
    runtime = Runtime(config, role=RuntimeRole.CENTRAL, bus=MemoryBus())
    runtime.start()
    try:
        assert runtime.store is not None and runtime.retention is not None
        (tmp_path / "crops").mkdir()
        (tmp_path / "crops" / "old.jpg").write_bytes(b"jpeg")
        runtime.store.add_sightings([make_sighting("cam1", 100.0, 105.0, crop_path="crops/old.jpg")])
        with httpx.Client(base_url=runtime.serve_api(host="127.0.0.1", port=0), timeout=10) as client:
            client.headers.update(auth_headers(client, runtime.store, Role.ADMIN))
            answer = client.post("/retention/run", json={"reason": "checking the new policy"})
            assert answer.status_code == 200, answer.text
            assert (
                answer.json()["deleted"]["sightings"] == 1 and not (tmp_path / "crops" / "old.jpg").exists()
            )
            assert runtime.retention.runs == 1  # the runtime's own service ran it
            metrics = client.get("/metrics").text
        assert 'vigil_retention_deleted_total{kind="sightings"} 1.0' in metrics
        assert "vigil_retention_runs_total 1.0" in metrics
    finally:
        runtime.stop()
