"""``/rules``: rules read, added, changed, switched and removed through the site's YAML; line counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api import Role
from tests.api.test_camera_admin import GATE_URL, SITE_YAML, SQUARE, AdminSite, admin_site
from vigil.core.types import CrossingCount

__all__ = ["admin_site"]  # the fixture, shared with camera administration's tests

LINE = {"name": "gate-line", "points": [[0.1, 0.6], [0.9, 0.6]], "in_side": "right", "in_label": "into town"}
ZONES = {"zones": [{"name": "door", "polygon": SQUARE}], "lines": [LINE], "reason": "draw the gate line"}
COUNT_RULE = {"name": "gate-count", "type": "line_crossing", "camera": "gate", "line": "gate-line"}
CALIBRATION = {
    "image": [[0.1, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]],
    "ground": [[0.0, 10.0], [8.0, 10.0], [8.0, 0.0], [0.0, 0.0]],
}


def _with_line(site: AdminSite) -> None:
    response = site.client.put("/cameras/gate/zones", json=ZONES)
    assert response.status_code == 200, response.text
    site.runner.calls.clear()


def test_rules_are_listed_with_type_camera_severity_schedule_and_whether_active(
    admin_site: AdminSite,
) -> None:
    admin_site.login(Role.VIEWER)
    response = admin_site.client.get("/rules")
    assert response.status_code == 200, response.text
    (rule,) = response.json()["items"]
    assert {
        k: rule[k] for k in ("name", "type", "camera", "enabled", "severity", "schedule", "active_now")
    } == {
        "name": "door-watch",
        "type": "zone_intrusion",
        "camera": "gate",
        "enabled": True,
        "severity": "warning",
        "schedule": [],
        "active_now": True,
    }
    assert rule["target"] == "door" and rule["rule"]["min_frames"] == 2
    assert admin_site.client.get("/rules/door-watch").json() == rule
    assert admin_site.client.get("/rules/nope").status_code == 404


def test_lines_and_calibration_round_trip_through_camera_administration(admin_site: AdminSite) -> None:
    _with_line(admin_site)
    assert admin_site.yaml()["cameras"][0]["lines"] == [LINE]
    assert admin_site.client.get("/cameras").json()["items"][0]["lines"] == [{**LINE, "out_label": ""}]
    body = {
        "camera": {
            "id": "gate",
            "url": GATE_URL,
            "role": "ai",
            "zones": [{"name": "door", "polygon": SQUARE}],
            "lines": [LINE],
            "calibration": CALIBRATION,
        },
        "reason": "measured the square",
    }
    response = admin_site.client.put("/cameras/gate", json=body)
    assert response.status_code == 200, response.text
    assert (
        response.json()["calibration"] == CALIBRATION and response.json()["lines"][0]["name"] == "gate-line"
    )
    assert admin_site.yaml()["cameras"][0]["calibration"] == CALIBRATION
    # Lines and calibration are what rules read: the camera takes them without a restart.
    ((_, diff),) = admin_site.runner.calls
    assert (diff.rezoned, diff.restarted) == (("gate",), ())
    # The zone editor without `lines` keeps the camera's lines.
    response = admin_site.client.put(
        "/cameras/gate/zones", json={"zones": ZONES["zones"], "reason": "redraw"}
    )
    assert response.json()["lines"][0]["name"] == "gate-line"


def test_add_change_switch_and_remove_a_rule_rewrites_the_file_restarts_nothing_and_audits(
    admin_site: AdminSite,
) -> None:
    _with_line(admin_site)
    client = admin_site.client
    body = {"rule": {**COUNT_RULE, "alert_on": ["in"], "severity": "critical"}, "reason": "count the gate"}
    response = client.post("/rules", json=body)
    assert response.status_code == 201, response.text
    shown = response.json()
    assert (shown["type"], shown["severity"], shown["target"], shown["rule"]["count_interval_s"]) == (
        "line_crossing",
        "critical",
        "gate-line",
        60.0,
    )
    # Only what was given is written: defaults stay defaults.
    assert admin_site.yaml()["rules"][1] == {**COUNT_RULE, "alert_on": ["in"], "severity": "critical"}
    night = [{"days": ["fri", "sat"], "start": "20:00", "end": "06:00"}]
    changed = {"rule": {**COUNT_RULE, "schedule": night, "count_interval_s": 300}, "reason": "nights only"}
    response = client.put("/rules/gate-count", json=changed)
    assert response.status_code == 200, response.text
    assert response.json()["schedule"] == [{"days": ["fri", "sat"], "start": "20:00", "end": "06:00"}]
    assert client.post("/rules/gate-count/disable", json={"reason": "road works"}).json()["enabled"] is False
    assert admin_site.yaml()["rules"][1]["enabled"] is False
    listed = {r["name"]: r for r in client.get("/rules").json()["items"]}
    assert listed["gate-count"]["active_now"] is False  # disabled: not active whatever the time
    assert client.post("/rules/gate-count/enable", json={"reason": "road open"}).json()["enabled"] is True
    assert client.delete("/rules/gate-count", params={"reason": "counted enough"}).status_code == 204
    assert [r["name"] for r in admin_site.yaml()["rules"]] == ["door-watch"]
    # Every change re-zoned the gate camera in place; the bridge was never touched.
    diffs = [diff for _, diff in admin_site.runner.calls]
    assert [(d.rezoned, d.restarted, d.added, d.removed) for d in diffs] == [(("gate",), (), (), ())] * 5
    assert [(row.action, row.reason, row.user) for row in admin_site.audit()[1:]] == [
        ("rule.add", "count the gate", "test-admin"),
        ("rule.update", "nights only", "test-admin"),
        ("rule.disable", "road works", "test-admin"),
        ("rule.enable", "road open", "test-admin"),
        ("rule.remove", "counted enough", "test-admin"),
    ]
    update = admin_site.audit()[2]
    assert update.detail == {
        "rule": "gate-count",
        "type": "line_crossing",
        "camera_id": "gate",
        "fields": ["alert_on", "count_interval_s", "schedule", "severity"],
    }
    assert admin_site.path.with_name("site.yaml.bak").exists()


@pytest.mark.parametrize(
    ("method", "url", "body", "detail"),
    [
        # a line with one point: the line's own validator, with its path
        (
            "put",
            "/cameras/gate/zones",
            {"zones": [], "lines": [{"name": "l", "points": [[0.1, 0.1]]}], "reason": "draw"},
            "lines.0.points: Value error, needs at least 2 points, got 1",
        ),
        # a degenerate calibration: three points in a row
        (
            "put",
            "/cameras/gate",
            {
                "camera": {
                    "id": "gate",
                    "url": GATE_URL,
                    "role": "ai",
                    "zones": [{"name": "door", "polygon": SQUARE}],
                    "calibration": {**CALIBRATION, "image": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.1, 0.9]]},
                },
                "reason": "calibrate",
            },
            "camera.calibration.image: Value error, points 1, 2, 3 lie on one line",
        ),
        # a rule on a camera that does not exist
        (
            "post",
            "/rules",
            {"rule": {**COUNT_RULE, "camera": "nope"}, "reason": "count"},
            "rules[1].camera: unknown camera 'nope' (rule 'gate-count')",
        ),
        # a line the camera does not have
        (
            "post",
            "/rules",
            {"rule": {**COUNT_RULE, "line": "ghost"}, "reason": "count"},
            "rules[1].line: camera 'gate' has no line 'ghost' (rule 'gate-count')",
        ),
        # a zone the camera does not have
        (
            "post",
            "/rules",
            {
                "rule": {"name": "linger", "type": "dwell", "camera": "gate", "zone": "yard"},
                "reason": "dwell",
            },
            "rules[1].zone: camera 'gate' has no zone 'yard' (rule 'linger')",
        ),
        # metres without a calibration
        (
            "post",
            "/rules",
            {"rule": {**COUNT_RULE, "line": "door", "max_speed_mps": 3}, "reason": "runners"},
            "rules[1].line: camera 'gate' has no line 'door'",
        ),
        # a rule body that is not a rule: the model's path
        (
            "post",
            "/rules",
            {
                "rule": {"name": "crowd", "type": "occupancy", "camera": "gate", "zone": "door"},
                "reason": "crowd",
            },
            "give at least one of max_people, min_people, max_density_per_m2",
        ),
        (
            "post",
            "/rules",
            {"rule": {**COUNT_RULE, "schedule": [{"start": "25:00", "end": "06:00"}]}, "reason": "nights"},
            "rule.line_crossing.schedule.0.start",
        ),
        # the path's rule and the body's must agree
        (
            "put",
            "/rules/door-watch",
            {
                "rule": {"name": "door2", "type": "zone_intrusion", "camera": "gate", "zone": "door"},
                "reason": "rename",
            },
            "rule.name: expected 'door-watch' (the rule being changed), got 'door2'",
        ),
    ],
)
def test_invalid_rule_and_camera_changes_are_422_naming_the_path_and_apply_nothing(
    admin_site: AdminSite, method: str, url: str, body: dict[str, Any], detail: str
) -> None:
    response = admin_site.client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert admin_site.path.read_text() == SITE_YAML
    assert not admin_site.runner.calls and not admin_site.audit()


def test_speed_without_calibration_is_refused_with_its_path(admin_site: AdminSite) -> None:
    _with_line(admin_site)
    body = {"rule": {**COUNT_RULE, "max_speed_mps": 3}, "reason": "runners"}
    response = admin_site.client.post("/rules", json=body)
    assert response.status_code == 422
    assert "rules[1].max_speed_mps: camera 'gate' has no calibration" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url", "body", "code", "detail"),
    [
        (
            "put",
            "/rules/nope",
            {"rule": {**COUNT_RULE, "name": "nope"}, "reason": "x" * 3},
            404,
            "rule 'nope' is not configured",
        ),
        ("post", "/rules/nope/enable", {"reason": "again"}, 404, "rule 'nope' is not configured"),
        ("delete", "/rules/nope?reason=gone+already", None, 404, "rule 'nope' is not configured"),
        (
            "post",
            "/rules",
            {
                "rule": {"name": "door-watch", "type": "zone_intrusion", "camera": "gate", "zone": "door"},
                "reason": "dup",
            },
            409,
            "rule 'door-watch' is configured already",
        ),
    ],
)
def test_unknown_rule_is_404_and_a_taken_name_409(
    admin_site: AdminSite, method: str, url: str, body: dict[str, Any] | None, code: int, detail: str
) -> None:
    response = admin_site.client.request(method, url, json=body)
    assert response.status_code == code, response.text
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR])
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/rules", {"rule": COUNT_RULE, "reason": "count"}),
        ("post", "/rules/door-watch/disable", {"reason": "quiet"}),
        ("delete", "/rules/door-watch?reason=taken+down", None),
    ],
)
def test_only_admins_change_rules(
    admin_site: AdminSite, role: Role, method: str, url: str, body: dict[str, Any] | None
) -> None:
    admin_site.login(role)
    assert admin_site.client.request(method, url, json=body).status_code == 403
    assert admin_site.path.read_text() == SITE_YAML and not admin_site.runner.calls


# -- counts -------------------------------------------------------------------------------------


def test_counts_are_summed_per_direction_into_the_asked_intervals(admin_site: AdminSite) -> None:
    _with_line(admin_site)
    assert admin_site.client.post("/rules", json={"rule": COUNT_RULE, "reason": "count"}).status_code == 201
    rows = [
        CrossingCount("gate-count", "gate", "gate-line", 3600.0, 3660.0, count_in=3, count_out=1),
        CrossingCount(
            "gate-count", "gate", "gate-line", 3600.0, 3660.0, count_in=2
        ),  # resumed after a restart
        CrossingCount("gate-count", "gate", "gate-line", 3660.0, 3720.0, count_out=5),
        CrossingCount("gate-count", "gate", "gate-line", 7200.0, 7260.0, count_in=4),
        CrossingCount("gate-count", "gate", "gate-line", 10800.0, 10860.0, count_in=100),  # after `until`
        CrossingCount("other", "gate", "gate-line", 3600.0, 3660.0, count_in=50),  # another rule
    ]
    admin_site.store.add_crossing_counts(rows)
    admin_site.login(Role.VIEWER)
    response = admin_site.client.get(
        "/rules/gate-count/counts", params={"since": 3600, "until": "1970-01-01T03:00:00Z", "interval": 3600}
    )
    assert response.status_code == 200, response.text
    counts = response.json()
    assert [(b["start"], b["end"], b["count_in"], b["count_out"]) for b in counts["buckets"]] == [
        (3600.0, 7200.0, 5, 6),
        (7200.0, 10800.0, 4, 0),
    ]
    assert (counts["total_in"], counts["total_out"], counts["in_label"], counts["line"]) == (
        9,
        6,
        "into town",
        "gate-line",
    )
    fine = admin_site.client.get(
        "/rules/gate-count/counts", params={"since": 3600, "until": 3720, "interval": 60}
    )
    assert [(b["count_in"], b["count_out"]) for b in fine.json()["buckets"]] == [(5, 1), (0, 5)]


@pytest.mark.parametrize(
    ("url", "code", "detail"),
    [
        (
            "/rules/door-watch/counts",
            422,
            "rule 'door-watch' is a zone_intrusion rule; only line_crossing rules count",
        ),
        ("/rules/nope/counts", 404, "rule 'nope' is not configured"),
        ("/rules/door-watch/counts?since=10&until=5", 422, "since must be before until"),
        (
            "/rules/door-watch/counts?interval=0.5",
            422,
            "interval: Input should be greater than or equal to 1",
        ),
        ("/rules/door-watch/counts?since=yesterday", 422, "since: "),
    ],
)
def test_bad_counts_requests_are_clear_errors(
    admin_site: AdminSite, url: str, code: int, detail: str
) -> None:
    response = admin_site.client.get(url)
    assert response.status_code == code, response.text
    assert detail in response.json()["detail"]


def test_too_many_intervals_are_refused(admin_site: AdminSite, tmp_path: Path) -> None:
    _with_line(admin_site)
    admin_site.client.post("/rules", json={"rule": COUNT_RULE, "reason": "count"})
    response = admin_site.client.get(
        "/rules/gate-count/counts", params={"since": 0, "until": 864000, "interval": 60}
    )
    assert response.status_code == 422 and "at most 10000" in response.json()["detail"]


# -- the real runtime ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_rule_added_through_the_api_raises_alerts_on_the_next_frames_without_touching_other_cameras(
    tmp_path: Path,
) -> None:
    """`vigil run CONFIG` as it runs: two file-source AI cameras, the detect thread, the bus, the store."""
    import time

    import httpx
    import yaml

    from config.loader import load_config
    from tests.conftest import PERSON_CLIP
    from tests.factories import auth_headers
    from tests.test_pipeline import BrightDetector
    from vigil.runtime import Runtime

    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    cameras = [
        {
            "id": camera_id,
            "url": str(PERSON_CLIP),
            "role": "ai",
            "detect_fps": 4,
            "zones": [{"name": "all", "polygon": whole}],
        }
        for camera_id in ("gate", "lane")
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data", "cameras": cameras}))
    runtime = Runtime(load_config(path), detector=BrightDetector(), config_path=path)
    runtime.start()
    try:
        assert runtime.store is not None and runtime.ingest is not None and runtime._worker is not None
        api = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=30)
        api.headers.update(auth_headers(api, runtime.store, Role.ADMIN))
        pipeline = runtime._worker.pipeline
        deadline = time.monotonic() + 20
        while runtime.stats.frames < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runtime.store.list_alerts()[1] == 0  # no rule yet: no alert
        gate, lane = pipeline._processors["gate"], pipeline._processors["lane"]
        lane_source = runtime.ingest.source("lane")

        rule = {
            "name": "yard-watch",
            "type": "zone_intrusion",
            "camera": "gate",
            "zone": "all",
            "min_frames": 1,
        }
        response = api.post("/rules", json={"rule": rule, "reason": "watch the yard"})
        assert response.status_code == 201, response.text
        deadline = time.monotonic() + 30
        while not runtime.store.list_alerts()[1] and time.monotonic() < deadline:
            time.sleep(0.2)
        alerts, _ = runtime.store.list_alerts()
        assert alerts and {(a.rule, a.camera_id) for a in alerts} == {("yard-watch", "gate")}
        # Nothing restarted: same processors (tracks carried on), the other camera's rules untouched.
        assert pipeline._processors["gate"] is gate and pipeline._processors["lane"] is lane
        assert [r.name for r in gate.rules] == ["yard-watch"] and lane.rules == []
        assert runtime.ingest.source("lane") is lane_source
        assert [r["name"] for r in yaml.safe_load(path.read_text())["rules"]] == ["yard-watch"]
    finally:
        runtime.stop()
