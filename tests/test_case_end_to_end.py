"""A lost-person case through the API on live RTSP footage: photo, candidates, confirm, trail, alert."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import httpx
import pytest

from api import Role
from config.loader import parse_config
from tests.conftest import PERSON_CLIP, SimulatorFactory
from tests.factories import auth_headers
from vigil.runtime import Runtime

pytestmark = [pytest.mark.slow, pytest.mark.rtsp]

# In the sample clip a person in a grey cardigan passes at ~7-18 s, then a person dressed in
# black at ~22-35 s. The "parent's photo" is a frame of the second one.
PHOTO_AT_S = 28.0


def photo_of_second_person() -> bytes:
    capture = cv2.VideoCapture(str(PERSON_CLIP))
    capture.set(cv2.CAP_PROP_POS_MSEC, PHOTO_AT_S * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok, "could not decode the sample clip"
    ok, jpeg = cv2.imencode(".jpg", frame)
    return bytes(jpeg)


def test_case_from_photo_finds_her_ranks_her_first_and_alerts(
    rtsp_sim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    sim = rtsp_sim_factory([PERSON_CLIP], cameras=1)
    config = parse_config(
        {"data_dir": str(tmp_path), "cameras": [{"id": "cam1", "url": sim.urls[0], "role": "ai"}]}
    )
    runtime = Runtime(config)
    runtime.start()
    try:
        assert runtime.store is not None
        api = httpx.Client(base_url=runtime.serve_api("127.0.0.1", 0), timeout=30)
        # A search needs a logged-in user: operators search, mediators read the audit log.
        assert api.post("/cases", json={"reason": "no login"}).status_code == 401
        api.headers.update(auth_headers(api, runtime.store, Role.OPERATOR))
        # Opening a case without a reason is refused: every search must say why.
        assert api.post("/cases", json={"upper": ["black"]}).status_code == 422
        case = api.post(
            "/cases",
            json={
                "reason": "test: child reported missing at the gallery",
                "threshold": 0.7,
                "window_start": time.time() - 60,
            },
        ).json()
        upload = api.post(
            f"/cases/{case['id']}/photos",
            content=photo_of_second_person(),
            headers={"content-type": "image/jpeg"},
        )
        assert upload.status_code == 201, upload.text
        assert "black" in upload.json()["upper_colours"] + upload.json()["lower_colours"]

        # Live watch: the case alert arrives while she is still in view (provisional sighting).
        deadline = time.monotonic() + 90
        alerts: list[dict] = []
        while time.monotonic() < deadline and not alerts:
            time.sleep(0.25)
            alerts = api.get("/alerts", params={"kind": "case_match"}).json()["items"]
        seen_at = time.time()
        assert alerts, f"no case alert within 90 s; stats {runtime.stats}"

        # Her sighting is stored only when her track ends; wait for both passers-by.
        while time.monotonic() < deadline and api.get("/sightings").json()["count"] < 2:
            time.sleep(1.0)

        candidates = api.get(f"/cases/{case['id']}/candidates").json()["items"]
        assert len(candidates) >= 2, "both passers-by should be candidates"
        top = candidates[0]
        assert {"appearance", "colours", "size", "place_time", "penalty"} <= set(top)  # the operator sees why
        assert top["score"] > candidates[-1]["score"]
        # The top candidate is the person in black: later in time than the person in grey.
        assert top["sighting"]["start"] == max(c["sighting"]["start"] for c in candidates[:2])
        # The live alert came while she was still in view, a few seconds after her track began
        # (the track itself starts ~0.8 s after she appears: 4 detections at 5 fps).
        assert alerts[0]["tracker_id"] == top["sighting"]["tracker_id"]
        latency = seen_at - top["sighting"]["start"]
        print(f"case alert {latency:.1f} s after her track started")
        assert latency <= 4.0

        verdict = api.post(
            f"/cases/{case['id']}/feedback", json={"sighting_id": top["sighting"]["id"], "verdict": "confirm"}
        )
        assert verdict.status_code == 200, verdict.text
        trail = api.get(f"/cases/{case['id']}").json()["trail"]
        assert [s["id"] for s in trail] == [top["sighting"]["id"]]
        assert api.get(f"/cases/{case['id']}/audit").status_code == 403  # the audit log is for mediators
        mediator = auth_headers(api, runtime.store, Role.MEDIATOR)
        audit = api.get(f"/cases/{case['id']}/audit", headers=mediator).json()
        assert {entry["action"] for entry in audit} >= {"open_case", "upload_photo", "search", "confirm"}
        assert {entry["user"] for entry in audit} == {"test-operator"}  # who searched, by name
    finally:
        runtime.stop()
