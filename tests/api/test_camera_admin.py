"""Camera administration: add, change, disable, remove cameras, zones, reload; the YAML file and the audit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from api import ApiServices, Role, create_app
from config.loader import load_config
from config.models import VigilConfig
from tests.api.test_api import make_site
from tests.conftest import PERSON_CLIP
from tests.factories import auth_headers
from tests.test_pipeline import BrightDetector
from vigil.infra.db import Store
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.runtime import Runtime
from vigil.services.site_config import SiteConfigService, SiteDiff

SITE_YAML = """\
# Water street
data_dir: data
defaults:
  detect_fps: 4
cameras:
  - id: gate
    url: ${GATE_URL}
    role: ai
    zones:
      - name: door
        polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
  - id: bridge
    name: Bridge
    url: ${BRIDGE_URL:-rtsp://10.0.0.2/main}
rules:
  - name: door-watch
    type: zone_intrusion
    camera: gate
    zone: door
"""
GATE_URL = "rtsp://viewer:s3cret@10.0.0.1/main"
SQUARE = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]


@dataclass
class RecordingRunner:
    """The running cameras, as far as the service can tell: each config it was asked to run."""

    calls: list[tuple[VigilConfig, SiteDiff]] = field(default_factory=list)

    def reconfigure(self, config: VigilConfig, diff: SiteDiff) -> None:
        self.calls.append((config, diff))


@dataclass
class AdminSite:
    client: TestClient
    store: Store
    path: Path
    runner: RecordingRunner

    def yaml(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.path.read_text()))

    def audit(self) -> list[AuditRecord]:
        """Audit rows of camera administration, oldest first (logins left out)."""
        rows = CaseStore.for_store(self.store).audit_trail()
        return [row for row in reversed(rows) if not row.action.startswith("login")]

    def login(self, role: Role) -> None:
        self.client.headers.update(auth_headers(self.client, self.store, role))


@pytest.fixture
def admin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminSite]:
    """A site run from a YAML file with ${VAR} URLs, an admin logged in."""
    monkeypatch.setenv("GATE_URL", GATE_URL)
    monkeypatch.delenv("BRIDGE_URL", raising=False)
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML)
    config = load_config(path)
    store = Store.open(Path(config.data_dir) / "vigil.db")
    runner = RecordingRunner()
    site = SiteConfigService(path, config, runner, CaseStore.for_store(store))
    services = ApiServices(store=store, health=dict, data_dir=Path(config.data_dir), site=site)
    admin = AdminSite(TestClient(create_app(config, services)), store, path, runner)
    admin.login(Role.ADMIN)
    yield admin
    store.close()


def _camera(camera_id: str = "lane", **fields: Any) -> dict[str, Any]:
    return {"id": camera_id, "url": "rtsp://10.0.0.9/main", **fields}


# -- add ----------------------------------------------------------------------------------------


def test_add_camera_rewrites_the_file_keeps_env_references_and_a_backup(admin_site: AdminSite) -> None:
    body = {"camera": _camera(name="Lane", role="ai"), "reason": "new camera on the lane"}
    response = admin_site.client.post("/cameras", json=body)
    assert response.status_code == 201, response.text
    camera = response.json()
    assert (camera["id"], camera["name"], camera["role"], camera["enabled"]) == ("lane", "Lane", "ai", True)
    assert camera["url"] == "rtsp://10.0.0.9/main" and camera["detect_fps"] == 4  # defaults: apply
    text = admin_site.path.read_text()
    assert "${GATE_URL}" in text and "${BRIDGE_URL:-rtsp://10.0.0.2/main}" in text
    assert "s3cret" not in text  # the resolved URL of another camera never lands in the file
    written = admin_site.yaml()
    assert written["cameras"][2] == {
        "id": "lane",
        "name": "Lane",
        "url": "rtsp://10.0.0.9/main",
        "role": "ai",
    }
    assert written["defaults"] == {"detect_fps": 4} and written["rules"][0]["name"] == "door-watch"
    assert admin_site.path.with_name("site.yaml.bak").read_text() == SITE_YAML
    assert load_config(admin_site.path).camera("lane").role.value == "ai"  # the file loads as it runs
    ((_, diff),) = admin_site.runner.calls
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (("lane",), (), (), 2)
    # Every route reads the config as it runs now.
    assert [c["id"] for c in admin_site.client.get("/cameras").json()["items"]] == ["gate", "bridge", "lane"]
    (audit,) = admin_site.audit()
    assert (audit.action, audit.reason, audit.case_id, audit.user) == (
        "camera.add",
        "new camera on the lane",
        None,
        "test-admin",
    )
    assert "10.0.0.9" not in str(audit.detail)  # stream URLs stay out of the audit log


def test_duplicate_camera_id_is_409_and_nothing_changes(admin_site: AdminSite) -> None:
    response = admin_site.client.post("/cameras", json={"camera": _camera("gate"), "reason": "again"})
    assert response.status_code == 409
    assert response.json() == {"detail": "camera 'gate' is configured already"}
    assert admin_site.path.read_text() == SITE_YAML and not admin_site.runner.calls and not admin_site.audit()


@pytest.mark.parametrize(
    ("method", "url", "body", "detail"),
    [
        # a polygon of two points: the request model refuses it, naming the field
        (
            "post",
            "/cameras",
            {"camera": _camera(zones=[{"name": "z", "polygon": [[0, 0], [1, 1]]}]), "reason": "zones"},
            "camera.zones.0.polygon: Value error, needs at least 3 points, got 2",
        ),
        # a URL naming an unset variable: the loader's path and message
        (
            "post",
            "/cameras",
            {"camera": {"id": "lane", "url": "${LANE_URL}"}, "reason": "env"},
            "cameras[2].url: environment variable LANE_URL is not set",
        ),
        # removing the zone a rule watches names the rule
        (
            "put",
            "/cameras/gate/zones",
            {"zones": [{"name": "yard", "polygon": SQUARE}], "reason": "redraw"},
            "rules[0].zone: camera 'gate' has no zone 'door' (rule 'door-watch')",
        ),
        # an AI-only rule on a camera made record-only
        (
            "put",
            "/cameras/gate",
            {
                "camera": {"id": "gate", "url": GATE_URL, "zones": [{"name": "door", "polygon": SQUARE}]},
                "reason": "record only",
            },
            "rules[0].camera: 'gate' is record-only; rules need role 'ai' (rule 'door-watch')",
        ),
        # the path's camera and the body's must agree
        (
            "put",
            "/cameras/bridge",
            {"camera": _camera("bridge2"), "reason": "rename"},
            "camera.id: expected 'bridge' (the camera being changed), got 'bridge2'",
        ),
        # the reason is required and audited
        (
            "post",
            "/cameras/bridge/disable",
            {"reason": ""},
            "reason: String should have at least 3 characters",
        ),
        ("delete", "/cameras/gate?reason=not+watched", None, "rules[0].camera: unknown camera 'gate'"),
    ],
)
def test_invalid_changes_are_422_naming_the_path_and_apply_nothing(
    admin_site: AdminSite, method: str, url: str, body: dict[str, Any] | None, detail: str
) -> None:
    response = admin_site.client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert admin_site.path.read_text() == SITE_YAML
    assert not admin_site.path.with_name("site.yaml.bak").exists()
    assert not admin_site.runner.calls and not admin_site.audit()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("put", "/cameras/nope", {"camera": _camera("nope"), "reason": "change"}),
        ("post", "/cameras/nope/disable", {"reason": "change"}),
        ("put", "/cameras/nope/zones", {"zones": [], "reason": "change"}),
        ("delete", "/cameras/nope?reason=gone+already", None),
    ],
)
def test_unknown_camera_is_404(
    admin_site: AdminSite, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = admin_site.client.request(method, url, json=body)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "camera 'nope' is not configured"}


# -- change, zones, disable, remove -------------------------------------------------------------


def test_zones_update_in_place_without_a_restart(admin_site: AdminSite) -> None:
    zones = [{"name": "door", "polygon": SQUARE}, {"name": "yard", "polygon": [[0, 0], [1, 0], [1, 1]]}]
    masks = [{"name": "window", "polygon": [[0.6, 0.0], [1.0, 0.0], [1.0, 0.3]]}]
    response = admin_site.client.put(
        "/cameras/gate/zones", json={"zones": zones, "privacy_masks": masks, "reason": "door moved"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"zones": zones, "privacy_masks": masks, "lines": []}
    ((config, diff),) = admin_site.runner.calls
    assert (diff.rezoned, diff.restarted, diff.changed) == (("gate",), (), ("gate",))
    assert [zone.name for zone in config.camera("gate").zones] == ["door", "yard"]
    gate = admin_site.yaml()["cameras"][0]
    assert gate["url"] == "${GATE_URL}" and gate["zones"][1]["name"] == "yard"
    assert gate["privacy_masks"] == masks
    (audit,) = admin_site.audit()
    assert audit.action == "zones.update" and audit.detail == {
        "camera_id": "gate",
        "zones": ["door", "yard"],
        "privacy_masks": 1,
    }


def test_update_camera_restarts_it_and_keeps_its_env_reference(admin_site: AdminSite) -> None:
    # The console sends the camera back as it was shown, URL resolved: the file keeps ${...}.
    body = {
        "camera": {"id": "bridge", "name": "Bridge north", "url": "rtsp://10.0.0.2/main"},
        "reason": "rename",
    }
    response = admin_site.client.put("/cameras/bridge", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Bridge north"
    bridge = admin_site.yaml()["cameras"][1]
    assert bridge == {"id": "bridge", "name": "Bridge north", "url": "${BRIDGE_URL:-rtsp://10.0.0.2/main}"}
    ((_, diff),) = admin_site.runner.calls
    assert (diff.restarted, diff.rezoned, diff.unchanged) == (("bridge",), (), 1)
    assert admin_site.audit()[0].detail == {"camera_id": "bridge", "fields": ["name"]}


def test_disable_enable_and_remove(admin_site: AdminSite) -> None:
    client = admin_site.client
    response = client.post("/cameras/bridge/disable", json={"reason": "lens broken"})
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert admin_site.yaml()["cameras"][1]["enabled"] is False
    assert client.post("/cameras/bridge/enable", json={"reason": "lens fixed"}).json()["enabled"] is True
    response = client.delete("/cameras/bridge", params={"reason": "taken down"})
    assert response.status_code == 204 and response.content == b""
    assert [camera["id"] for camera in admin_site.yaml()["cameras"]] == ["gate"]
    assert [diff.restarted or diff.removed for _, diff in admin_site.runner.calls] == [("bridge",)] * 3
    assert [(row.action, row.reason) for row in admin_site.audit()] == [
        ("camera.disable", "lens broken"),
        ("camera.enable", "lens fixed"),
        ("camera.remove", "taken down"),
    ]
    # The backup is the version before the last change.
    assert [
        c["id"] for c in yaml.safe_load(admin_site.path.with_name("site.yaml.bak").read_text())["cameras"]
    ] == ["gate", "bridge"]


# -- reload -------------------------------------------------------------------------------------


def test_reload_applies_what_differs_and_a_hand_edit_blocks_writes_until_then(admin_site: AdminSite) -> None:
    doc = admin_site.yaml()
    doc["cameras"][0]["zones"].append({"name": "yard", "polygon": SQUARE})
    doc["cameras"].append({"id": "lane", "url": "rtsp://10.0.0.9/main"})
    doc["detector"] = {"score_threshold": 0.5}
    admin_site.path.write_text(yaml.safe_dump(doc, sort_keys=False))
    # The file changed by hand: the API does not write over it before a reload.
    response = admin_site.client.post("/cameras/bridge/disable", json={"reason": "lens broken"})
    assert response.status_code == 409 and "POST /config/reload" in response.json()["detail"]
    response = admin_site.client.post("/config/reload", json={"reason": "edited by hand"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "added": ["lane"],
        "removed": [],
        "changed": ["gate"],
        "unchanged": 1,
        "zones_only": ["gate"],
        "not_applied": ["detector"],
    }
    assert [row.action for row in admin_site.audit()] == ["config.reload"]
    assert (
        admin_site.client.post("/cameras/bridge/disable", json={"reason": "lens broken"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("cameras: [\n", "not valid YAML"),  # not YAML
        (SITE_YAML.replace("zone: door", "zone: gone"), "rules[0].zone: camera 'gate' has no zone 'gone'"),
        (
            SITE_YAML.replace("role: ai", "role: ai\n    fps: 3"),
            "cameras[0].fps: Extra inputs are not permitted",
        ),
    ],
)
def test_reload_of_an_invalid_file_is_422_and_applies_nothing(
    admin_site: AdminSite, text: str, detail: str
) -> None:
    admin_site.path.write_text(text)
    response = admin_site.client.post("/config/reload", json={"reason": "edited by hand"})
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert not admin_site.runner.calls and not admin_site.audit()
    assert len(admin_site.client.get("/cameras").json()["items"]) == 2


# -- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR])
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/cameras", {"camera": _camera(), "reason": "new camera"}),
        ("put", "/cameras/gate/zones", {"zones": [], "reason": "redraw"}),
        ("delete", "/cameras/bridge?reason=taken+down", None),
        ("post", "/config/reload", {"reason": "edited by hand"}),
    ],
)
def test_only_admins_administer_cameras(
    admin_site: AdminSite, role: Role, method: str, url: str, body: dict[str, Any] | None
) -> None:
    admin_site.login(role)
    assert admin_site.client.request(method, url, json=body).status_code == 403
    assert admin_site.path.read_text() == SITE_YAML and not admin_site.runner.calls


def test_without_a_config_file_camera_administration_is_503(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.ADMIN)
    response = site.client.post("/config/reload", json={"reason": "edited by hand"})
    assert response.status_code == 503
    assert response.json() == {"detail": "camera administration needs `vigil run` with a config file"}
    site.store.close()


# -- the real runtime ---------------------------------------------------------------------------


@pytest.mark.slow
def test_running_site_adds_rezones_and_removes_a_camera_without_touching_the_other(
    tmp_path: Path,
) -> None:
    """`vigil run CONFIG` as it runs: file-source AI cameras, shard processes, the detect thread."""
    path = tmp_path / "site.yaml"
    gate = {"id": "gate", "url": str(PERSON_CLIP), "role": "ai", "detect_fps": 2}
    path.write_text(yaml.safe_dump({"data_dir": "data", "cameras": [gate]}))
    runtime = Runtime(load_config(path), detector=BrightDetector(), config_path=path)
    runtime.start()
    try:
        assert runtime.store is not None and runtime.ingest is not None and runtime._worker is not None
        api = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=30)
        api.headers.update(auth_headers(api, runtime.store, Role.ADMIN))
        source, shards = runtime.ingest.source("gate"), runtime.ingest.shard_pids()
        processor = runtime._worker.pipeline._processors["gate"]
        assert source is not None and shards

        lane = {"id": "lane", "url": str(PERSON_CLIP), "role": "ai", "detect_fps": 2}
        assert api.post("/cameras", json={"camera": lane, "reason": "new"}).status_code == 201
        assert runtime.ingest.source("lane") is not None and "lane" in runtime._worker.pipeline.camera_ids

        zones = [{"name": "door", "polygon": SQUARE}]
        masks = [{"name": "window", "polygon": [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3]]}]
        response = api.put(
            "/cameras/gate/zones", json={"zones": zones, "privacy_masks": masks, "reason": "door"}
        )
        assert response.status_code == 200, response.text
        assert runtime._worker._masks["gate"] == [[(0.0, 0.0), (0.3, 0.0), (0.3, 0.3)]]

        assert api.delete("/cameras/lane", params={"reason": "test over"}).status_code == 204
        assert runtime.ingest.source("lane") is None and "lane" not in runtime._worker.pipeline.camera_ids
        # The other camera ran on throughout: same reader thread, same processor, same shard processes.
        assert runtime.ingest.source("gate") is source and source._thread is not None
        assert source._thread.is_alive()
        assert runtime._worker.pipeline._processors["gate"] is processor
        assert runtime.ingest.shard_pids() == shards
        frames = runtime.stats.frames
        deadline = time.monotonic() + 20
        while runtime.stats.frames == frames and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runtime.stats.frames > frames, "the gate camera stopped being detected on"
    finally:
        runtime.stop()
