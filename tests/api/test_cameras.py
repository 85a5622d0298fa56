"""The camera wall and the site map: camera fields and filters, masked snapshots, live boxes, roles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api import ApiServices, Role, create_app
from config.models import VigilConfig
from tests.factories import auth_headers, make_detections
from vigil.core.types import CameraHealth, Frame, HealthState
from vigil.infra.db import Store
from vigil.infra.live_view import LiveView

LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
TOP_RIGHT = [[0.75, 0.0], [1.0, 0.0], [1.0, 0.25], [0.75, 0.25]]


def make_config() -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "site": "Water street",
            "timezone": "Europe/Amsterdam",
            "cameras": [
                {"id": "cam1", "name": "North gate", "url": "rtsp://10.0.0.1/main", "role": "ai",
                 "group": "Water street", "position": {"x": -10, "y": 5},
                 "zones": [{"name": "rail", "polygon": [[0, 0.5], [1, 0.5], [1, 1]]}],
                 "privacy_masks": [{"name": "window", "polygon": TOP_RIGHT}]},
                {"id": "cam2", "name": "Harbour", "url": "rtsp://10.0.0.2/main", "group": "Harbour",
                 "privacy_masks": [{"name": "houses", "polygon": LEFT_HALF}]},
                {"id": "cam3", "name": "Bridge", "url": "rtsp://10.0.0.3/main", "group": "Water street",
                 "position": {"x": 40, "y": -2}, "enabled": False},
                {"id": "cam4", "name": "Spare", "url": "rtsp://10.0.0.4/main", "role": "ai"},
            ],
            "links": [{"from": "cam1", "to": "cam3", "walk_s": 95}],
        }
    )  # fmt: skip


@dataclass
class Wall:
    client: TestClient
    store: Store
    data_dir: Path
    live: LiveView
    health: dict[str, CameraHealth] = field(default_factory=dict)

    def write_snapshot(self, camera_id: str, image: np.ndarray, mtime: float = 1_000.0) -> Path:
        path = self.data_dir / "snapshots" / f"{camera_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, jpeg = cv2.imencode(".jpg", image)
        assert ok
        path.write_bytes(jpeg.tobytes())
        os.utime(path, (mtime, mtime))
        return path


def make_wall(tmp_path: Path, role: Role | None = Role.VIEWER, *, live: bool = True) -> Wall:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True)
    store = Store.open(data_dir / "vigil.db")
    health: dict[str, CameraHealth] = {}
    holder = LiveView()
    services = ApiServices(
        store=store, health=lambda: health, data_dir=data_dir, live=holder if live else None
    )
    client = TestClient(create_app(make_config(), services))
    if role is not None:
        client.headers.update(auth_headers(client, store, role))
    return Wall(client, store, data_dir, holder, health)


@pytest.fixture
def wall(tmp_path: Path) -> Iterator[Wall]:
    wall = make_wall(tmp_path)
    yield wall
    wall.store.close()


def decode(content: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def white(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


# -- the camera list --------------------------------------------------------------------------


def test_cameras_carry_group_position_urls_zones_and_masks(wall: Wall) -> None:
    body = wall.client.get("/cameras").json()
    cam1, cam2, _, cam4 = body["items"]
    assert body["groups"] == ["Harbour", "Water street"]
    assert cam1["group"] == "Water street" and cam1["position"] == {"x": -10.0, "y": 5.0}
    assert cam1["snapshot_url"] == "/cameras/cam1/snapshot.jpg" and cam1["live_url"] == "/cameras/cam1/live"
    assert cam1["zones"] == [{"name": "rail", "polygon": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]]}]
    assert cam1["privacy_masks"] == [{"name": "window", "polygon": TOP_RIGHT}]
    assert cam1["state"] == "unknown" and cam1["health"] is None  # never opened
    assert cam2["live_url"] is None and cam2["position"] is None  # record-only, not placed
    assert cam4["group"] == "" and cam4["live_url"] == "/cameras/cam4/live"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["cam1", "cam2", "cam3", "cam4"]),  # no filter: config order
        ("?state=online", ["cam1"]),  # live health
        ("?state=offline", ["cam2"]),  # stored health stands in for the live state
        ("?state=unknown", ["cam3", "cam4"]),  # never opened
        ("?state=degraded", []),
        ("?group=Water%20street", ["cam1", "cam3"]),
        ("?group=Nowhere", []),
        ("?role=ai", ["cam1", "cam4"]),
        ("?role=record&group=Water%20street", ["cam3"]),  # filters combine
        ("?state=unknown&role=ai", ["cam4"]),
    ],
)
def test_camera_filters(wall: Wall, query: str, expected: list[str]) -> None:
    wall.health["cam1"] = CameraHealth("cam1", HealthState.ONLINE, "streaming", since=1.0)
    wall.store.upsert_health(CameraHealth("cam2", HealthState.OFFLINE, "connection refused", since=1.0))
    body = wall.client.get(f"/cameras{query}").json()
    assert [camera["id"] for camera in body["items"]] == expected and body["count"] == len(expected)
    assert body["groups"] == ["Harbour", "Water street"]  # the filter choices do not shrink


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?state=sleeping", "state"),  # not a state
        ("?role=ptz", "role"),  # not a role
        (f"?group={'x' * 65}", "group"),  # longer than any group can be
    ],
)
def test_bad_camera_filters_are_422_naming_the_parameter(wall: Wall, query: str, named: str) -> None:
    response = wall.client.get(f"/cameras{query}")
    assert response.status_code == 422 and response.json()["detail"].startswith(f"{named}:")


# -- snapshots --------------------------------------------------------------------------------


def test_snapshot_has_privacy_masks_blacked_out_and_is_not_cached(wall: Wall) -> None:
    path = wall.write_snapshot("cam2", white(480, 270))
    on_disk = path.read_bytes()
    response = wall.client.get("/cameras/cam2/snapshot.jpg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert float(response.headers["x-frame-time"]) == pytest.approx(1_000.0)
    image = decode(response.content)
    assert image.shape == (270, 480, 3)
    assert image[:, :230].max() < 20  # the left half (the houses) is black
    assert image[:, 250:].min() > 235  # the rest is as recorded
    assert path.read_bytes() == on_disk  # the recording side's file is untouched


def test_a_rewritten_snapshot_is_served_fresh(wall: Wall) -> None:
    wall.write_snapshot("cam2", white(480, 270), mtime=1_000.0)
    assert decode(wall.client.get("/cameras/cam2/snapshot.jpg").content)[:, 300:].min() > 235
    wall.write_snapshot("cam2", np.full((270, 480, 3), 90, np.uint8), mtime=1_060.0)
    fresh = wall.client.get("/cameras/cam2/snapshot.jpg")
    assert float(fresh.headers["x-frame-time"]) == pytest.approx(1_060.0)
    assert abs(int(decode(fresh.content)[:, 300:].mean()) - 90) < 5  # the new picture, not the cached one


@pytest.mark.parametrize(
    ("camera_id", "contents", "detail"),
    [
        ("cam2", None, "camera 'cam2' has no snapshot yet"),  # not opened yet
        ("nope", None, "camera 'nope' is not configured"),
        # a file that does not decode cannot be masked, so it is never served
        ("cam2", b"\xff\xd8 not really a jpeg", "the snapshot of camera 'cam2' is unreadable"),
    ],
)
def test_snapshot_404s(wall: Wall, camera_id: str, contents: bytes | None, detail: str) -> None:
    if contents is not None:
        (wall.data_dir / "snapshots").mkdir()
        (wall.data_dir / "snapshots" / f"{camera_id}.jpg").write_bytes(contents)
    response = wall.client.get(f"/cameras/{camera_id}/snapshot.jpg")
    assert response.status_code == 404 and response.json()["detail"].startswith(detail)


def test_ai_camera_snapshot_is_the_analysed_frame_when_newer(wall: Wall) -> None:
    wall.write_snapshot("cam1", np.full((270, 480, 3), 60, np.uint8), mtime=1_000.0)
    wall.live.update(Frame("cam1", 0, 900.0, white(1280, 720)), make_detections())  # older: snapshot wins
    older = wall.client.get("/cameras/cam1/snapshot.jpg")
    assert decode(older.content).shape == (270, 480, 3)
    wall.live.update(Frame("cam1", 1, 1_005.0, white(1280, 720)), make_detections())
    newer = wall.client.get("/cameras/cam1/snapshot.jpg")
    assert newer.headers["cache-control"] == "no-store"
    assert float(newer.headers["x-frame-time"]) == pytest.approx(1_005.0)
    image = decode(newer.content)
    assert image.shape == (360, 640, 3)  # the analysed frame, scaled to 640 wide
    assert image[:80, 490:].max() < 20 and image[150:, :400].min() > 235  # its mask (top right) is black


# -- live boxes -------------------------------------------------------------------------------


def test_live_boxes_are_in_the_served_image_pixels(wall: Wall) -> None:
    tracked = make_detections(xyxy=[[100, 200, 300, 700], [1000, 10, 1200, 100]], confidence=[0.9, 0.4],
                              tracker_id=[3, 8])  # fmt: skip
    wall.live.update(Frame("cam1", 7, 1_234.5, white(1280, 720)), tracked)
    response = wall.client.get("/cameras/cam1/live")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in ("camera_id", "timestamp", "width", "height")} == {
        "camera_id": "cam1", "timestamp": 1_234.5, "width": 640, "height": 360}  # fmt: skip
    assert body["boxes"] == [
        {"box": [50.0, 100.0, 150.0, 350.0], "tracker_id": 3, "confidence": 0.9, "coasted": False},
        {"box": [500.0, 5.0, 600.0, 50.0], "tracker_id": 8, "confidence": 0.4, "coasted": False},
    ]
    assert body["image_url"] == "/cameras/cam1/live.jpg?t=1234.5"
    jpeg = wall.client.get(body["image_url"])
    assert jpeg.status_code == 200 and jpeg.headers["cache-control"] == "no-store"
    image = decode(jpeg.content)
    assert image.shape == (360, 640, 3)
    # The camera's mask is applied to what is served, even on a frame handed over unmasked.
    assert image[:80, 490:].max() < 20 and image[150:, :400].min() > 235


def test_live_jpeg_is_the_frame_the_boxes_were_described_on(wall: Wall) -> None:
    wall.live.update(Frame("cam1", 0, 10.0, white(640, 360)), make_detections())
    url = wall.client.get("/cameras/cam1/live").json()["image_url"]
    wall.live.update(Frame("cam1", 1, 10.2, np.zeros((360, 640, 3), np.uint8)), make_detections())
    assert wall.client.get(url).headers["x-frame-time"] == "10.000"  # the described one
    assert wall.client.get("/cameras/cam1/live.jpg").headers["x-frame-time"] == "10.200"  # the latest


@pytest.mark.parametrize(
    ("camera_id", "live", "detail"),
    [
        ("cam2", True, "camera 'cam2' is record-only"),  # no detection on record-only cameras
        ("cam4", True, "camera 'cam4' has no analysed frame yet"),  # AI, but no frame so far
        ("cam1", False, "camera 'cam1' has no analysed frame yet"),  # no detection on this node
        ("nope", True, "camera 'nope' is not configured"),
    ],
)
def test_live_404s(tmp_path: Path, camera_id: str, live: bool, detail: str) -> None:
    wall = make_wall(tmp_path, live=live)
    if live:
        wall.live.update(Frame("cam1", 0, 1.0, white(64, 48)), make_detections())
    for path in (f"/cameras/{camera_id}/live", f"/cameras/{camera_id}/live.jpg"):
        response = wall.client.get(path)
        assert response.status_code == 404 and response.json()["detail"].startswith(detail), path
    wall.store.close()


# -- the site map -----------------------------------------------------------------------------


def test_site_map_places_cameras_and_lists_links_and_the_unplaced(wall: Wall) -> None:
    response = wall.client.get("/site/map")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "site": "Water street",
        "timezone": "Europe/Amsterdam",
        "cameras": [
            {"id": "cam1", "name": "North gate", "role": "ai", "group": "Water street", "x": -10.0, "y": 5.0},
            {"id": "cam3", "name": "Bridge", "role": "record", "group": "Water street", "x": 40.0, "y": -2.0},
        ],
        "links": [{"from": "cam1", "to": "cam3", "walk_s": 95.0}],
        "bounds": {"min_x": -10.0, "min_y": -2.0, "max_x": 40.0, "max_y": 5.0},
        "unplaced": ["cam2", "cam4"],
        "units": "m",
    }


# -- roles ------------------------------------------------------------------------------------

WALL_ROUTES = [
    "/cameras?group=Harbour",
    "/cameras/cam2/snapshot.jpg",
    "/cameras/cam1/live",
    "/cameras/cam1/live.jpg",
    "/site/map",
]


@pytest.mark.parametrize("path", WALL_ROUTES)
def test_wall_routes_need_a_login_and_a_viewer_is_enough(tmp_path: Path, path: str) -> None:
    anonymous = make_wall(tmp_path / "anonymous", role=None)
    assert anonymous.client.get(path).status_code == 401
    anonymous.store.close()
    viewer = make_wall(tmp_path / "viewer", role=Role.VIEWER)
    viewer.write_snapshot("cam2", white(48, 27))
    viewer.live.update(Frame("cam1", 0, 1.0, white(64, 48)), make_detections())
    assert viewer.client.get(path).status_code == 200
    viewer.store.close()
