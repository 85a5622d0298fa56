"""The whole pipeline over a real RTSP server: camera -> detect -> track -> sighting/alert -> DB -> API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api import ApiServices, Role, create_app
from config.loader import parse_config
from tests.conftest import PERSON_CLIP, SimulatorFactory
from tests.factories import auth_headers
from vigil.infra.db import Store
from vigil.runtime import Runtime, database_url

pytestmark = [pytest.mark.slow, pytest.mark.rtsp]


def demo_like_config(url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    return parse_config(
        {
            "data_dir": str(data_dir),
            "cameras": [
                {
                    "id": "cam1",
                    "url": url,
                    "role": "ai",
                    "detect_fps": 5,
                    # The table the people in the clip walk up to.
                    "zones": [
                        {"name": "table", "polygon": [[0.35, 0.6], [0.8, 0.6], [0.8, 1.0], [0.35, 1.0]]}
                    ],
                }
            ],
            "rules": [
                {"name": "table-intrusion", "type": "zone_intrusion", "camera": "cam1", "zone": "table"}
            ],
        }
    )


def test_sightings_and_zone_alert_land_in_the_database_and_the_api(
    rtsp_sim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP], cameras=1)
    config = demo_like_config(sim.urls[0], tmp_path / "data")
    runtime = Runtime(config)
    runtime.start()
    try:
        assert runtime.store is not None
        api = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=30)
        assert api.get("/alerts").status_code == 401  # nothing but /health without a login
        api.headers.update(auth_headers(api, runtime.store, Role.VIEWER))  # a wall display
        deadline = time.monotonic() + 90
        alerts: list[dict] = []
        while time.monotonic() < deadline and not alerts:
            time.sleep(1.0)
            alerts = api.get("/alerts").json()["items"]
        assert alerts, f"no zone alert within 90 s; stats: {runtime.stats}"
        assert alerts[0]["rule"] == "table-intrusion" and alerts[0]["zone"] == "table"
        cameras = api.get("/cameras").json()
        camera = cameras["items"][0]
        assert camera["id"] == "cam1" and camera["health"]["state"] == "online"
        assert httpx.get(f"{api.base_url}/health").status_code == 200
    finally:
        runtime.stop()
    assert runtime.stats.frames > 20
    # Open tracks were stored at stop; read them back through a fresh API on the same database.
    store = Store.open(database_url(config))
    app = create_app(config, ApiServices(store=store, health=dict, data_dir=Path(config.data_dir)))
    with TestClient(app) as client:
        client.headers.update(auth_headers(client, store, Role.OPERATOR))  # crops need operator
        page = client.get("/sightings", params={"camera": "cam1"}).json()
        assert page["count"] >= 1
        with_crop = [s for s in page["items"] if s["crop_url"]]
        assert with_crop, "no sighting saved a crop"
        crop = client.get(f"/sightings/{with_crop[0]['id']}/crop.jpg")
        assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"  # a JPEG
        assert client.get("/alerts").json()["count"] == runtime.stats.alerts
    store.close()
