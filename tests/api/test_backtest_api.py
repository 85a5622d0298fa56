"""``/rules/.../backtest`` over HTTP: a real runtime's API, store, auth and recorded segments."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.auth import Role
from config.loader import parse_config
from tests.conftest import PERSON_CLIP
from tests.factories import auth_headers
from tests.search.test_backscan import record
from tests.services.test_backtest import BASE, site_doc
from vigil.infra.bus import MemoryBus
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.roles import Role as RuntimeRole
from vigil.runtime import Runtime


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Runtime]]:
    data_dir = tmp_path_factory.mktemp("backtest-api")
    doc = site_doc(data_dir)
    doc["api"] = {"backtests_per_minute": 1, "rate_burst": 4}
    runtime = Runtime(parse_config(doc), role=RuntimeRole.CENTRAL, bus=MemoryBus())
    runtime.start()
    assert runtime.store is not None
    RecordingIndex.for_store(runtime.store).add_segments(
        record(PERSON_CLIP, "gate", data_dir / "recordings", 0.0, 40.0, BASE)
    )
    client = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=60)
    client.headers.update(auth_headers(client, runtime.store, Role.ADMIN))
    try:
        yield client, runtime
    finally:
        client.close()
        runtime.stop()


def as_user(api: tuple[httpx.Client, Runtime], name: str, role: Role = Role.ADMIN) -> httpx.Client:
    """A client of its own user: each test has its own rate-limit bucket."""
    client, runtime = api
    assert runtime.store is not None
    other = httpx.Client(base_url=str(client.base_url), timeout=60)
    other.headers.update(auth_headers(other, runtime.store, role, name))
    return other


def wait_done(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job: dict[str, Any] = client.get(f"/rules/backtests/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


WINDOW = {"start": str(BASE), "end": str(BASE + 40), "reason": "test: tune before enabling"}


def test_a_draft_backtest_runs_as_a_job_with_results_crops_and_audit(
    api: tuple[httpx.Client, Runtime],
) -> None:
    client, runtime = api
    draft = {"rule": {"name": "walkway-dwell", "type": "dwell", "zone": "walkway", "min_seconds": 3}}
    started = client.post("/rules/backtest", json={**WINDOW, "draft": draft, "camera": "gate"})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] in ("queued", "running") and job["draft"] and job["requested_by"] == "test-admin"
    # One at a time: a second start while it runs is a 409 naming the running job.
    busy = client.post("/rules/walkway-intrusion/backtest", json=WINDOW)
    assert busy.status_code in (202, 409), busy.text
    if busy.status_code == 409:
        assert job["job_id"] in busy.json()["detail"]
    done = wait_done(client, job["job_id"])
    assert done["state"] == "done" and done["events"], done
    event = done["events"][0]
    assert event["kind"] == "dwell" and event["value"] >= 3 and event["clip_url"].startswith("/cameras/gate/")
    crop = client.get(f"/rules/backtests/{job['job_id']}/events/{event['id']}/crop.jpg")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.content[:2] == b"\xff\xd8"
    assert client.get(f"/rules/backtests/{job['job_id']}/events/nope/crop.jpg").status_code == 404
    assert client.get("/rules/backtests/latest").status_code == 200
    assert sum(hour["events"] for hour in done["hours"]) == len(done["events"])
    assert runtime.store is not None
    audit = CaseStore.for_store(runtime.store).audit_page("backtest_start", user="test-admin")[0]
    assert any(a.detail["job_id"] == job["job_id"] and a.reason == WINDOW["reason"] for a in audit)
    if busy.status_code == 202:
        wait_done(client, busy.json()["job_id"])


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        # a draft that fails validation: the YAML path
        ("/rules/backtest", {**WINDOW, "draft": {"rule": {"name": "d", "type": "dwell", "zone": "pier"}},
         "camera": "gate"}, 422, "rule.zone: camera 'gate' has no zone 'pier'"),
        # an unknown rule
        ("/rules/nope/backtest", WINDOW, 404, "rule 'nope' is not configured"),
        # an unknown camera
        ("/rules/backtest", {**WINDOW, "draft": {"rule": {"name": "d", "type": "dwell", "zone": "x"}},
         "camera": "nope"}, 404, "unknown camera 'nope'"),
        # end before start
        ("/rules/walkway-intrusion/backtest", {**WINDOW, "end": str(BASE - 1)}, 422, "expected start < end"),
        # nothing recorded: names the camera, the window and what is recorded
        ("/rules/walkway-intrusion/backtest",
         {**WINDOW, "start": "2027-01-14T09:00:00", "end": "2027-01-14T10:00"},
         422, "recorded: 2027-01-15T09:00:00+01:00"),
        # not a time
        ("/rules/walkway-intrusion/backtest", {**WINDOW, "start": "yesterday"}, 422,
         "window: expected epoch"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_is_wrong(
    api: tuple[httpx.Client, Runtime], path: str, body: dict[str, Any], status: int, detail: str
) -> None:
    client = as_user(api, f"admin-{status}-{len(detail)}")
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


def test_roles_rate_limit_cancel_and_unknown_jobs(api: tuple[httpx.Client, Runtime]) -> None:
    client = as_user(api, "admin-limits")
    operator = as_user(api, "operator-1", Role.OPERATOR)
    assert operator.post("/rules/walkway-intrusion/backtest", json=WINDOW).status_code == 403  # admins only
    assert operator.get("/rules/backtests/latest").status_code == 403
    assert client.get("/rules/backtests/nope").status_code == 404
    assert client.delete("/rules/backtests/nope").status_code == 404
    started = client.post("/rules/walkway-intrusion/backtest", json=WINDOW)
    assert started.status_code == 202, started.text
    cancelled = client.delete(f"/rules/backtests/{started.json()['job_id']}")
    assert cancelled.status_code == 200
    assert wait_done(client, started.json()["job_id"])["state"] in ("cancelled", "done")
    # The burst (4 starts, refused ones included) is used up: a 429 with Retry-After.
    limited = [client.post("/rules/nope/backtest", json=WINDOW) for _ in range(5)]
    assert limited[-1].status_code == 429 and int(limited[-1].headers["Retry-After"]) >= 1
