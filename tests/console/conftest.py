"""A live site for the console's browser tests: a real `Runtime`, uvicorn, Chromium through Playwright.

The site is served the way ``vigil run --role central`` serves it (SQLite store, case service,
memory bus, the API on a free loopback port). Its sightings are real: people detected by the
embedded detector in the bundled sample clip, cropped and described as the pipeline does, spread
over the cameras in the last half hour. Alerts and a recorded segment are seeded the same way
tests/api/test_fuzz.py seeds them. New alerts and sightings go through the bus, as live ones do.

Chromium is Debian's (/usr/bin/chromium, installed by ``vigil.sh``), started with the flags the
project's machines need. Every page records its console errors and uncaught exceptions; the
`page` fixture fails the test on any.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from alerts.search.descriptors import describe_crop
from config.loader import load_config
from config.models import DetectorConfig
from detectors.registry import build_detector
from ingest.recorder import Segment
from tests.conftest import PERSON_CLIP
from tests.db.test_store import make_alert, make_sighting
from tests.factories import TEST_PASSWORD, make_detections, make_user
from vigil.core.events import Topic
from vigil.core.types import Frame, Sighting
from vigil.infra.bus import MemoryBus
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.users import Role
from vigil.roles import Role as RuntimeRole
from vigil.runtime import Runtime
from vigil.services.site_config import SiteConfigService

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
"""Where the tests leave their screenshots (ignored by git) unless ``--screenshots DIR`` says."""
SAMPLE_TIMES_S = [10.0, 12.0, 14.0, 16.0, 18.0, 26.0, 30.0, 34.0, 38.0, 54.0]
"""Sample-clip times with one person in view: a grey cardigan until ~18 s, then black clothes."""
CAMERAS = ["gate", "bridge", "quay", "market"]


@dataclass
class ConsoleSite:
    url: str
    runtime: Runtime
    data_dir: Path
    config_path: Path
    sightings: list[Sighting]
    users: dict[str, str] = field(default_factory=dict)
    """Role name -> user name; every password is `TEST_PASSWORD`."""

    def publish(self, topic: Topic, key: str, event: Any) -> None:
        """Put an event on the site's bus, as the detect stage does for live ones."""
        self.runtime.bus.publish(topic, key, event)


def site_document(data_dir: Path) -> dict[str, Any]:
    return {
        "site": "Water street (test)",
        "timezone": "Europe/Amsterdam",
        "data_dir": str(data_dir),
        "api": {"candidates_per_minute": 1e6, "exports_per_minute": 1e6},
        "cameras": [
            {
                "id": "gate",
                "name": "North gate",
                "url": "rtsp://10.0.0.1/a",
                "role": "ai",
                "group": "Water street",
                "position": {"x": 0, "y": 0},
                "zones": [{"name": "quay-edge", "polygon": [[0.1, 0.6], [0.5, 0.6], [0.5, 0.9]]}],
            },
            {
                "id": "bridge",
                "name": "Bridge",
                "url": "rtsp://10.0.0.2/a",
                "role": "ai",
                "group": "Water street",
                "position": {"x": 120, "y": 40},
            },
            {
                "id": "quay",
                "name": "Quay",
                "url": "rtsp://10.0.0.3/a",
                "group": "Harbour",
                "position": {"x": 60, "y": -50},
            },
            {
                "id": "market",
                "name": "Market square",
                "url": "rtsp://10.0.0.4/a",
                "group": "Harbour",
                "position": {"x": 250, "y": 0},
            },
        ],
        "links": [{"from": "gate", "to": "bridge", "walk_s": 90}],
    }


def sample_frame(at_s: float) -> np.ndarray:
    capture = cv2.VideoCapture(str(PERSON_CLIP))
    capture.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"could not decode {PERSON_CLIP} at {at_s} s"
    return frame


def real_people() -> list[tuple[np.ndarray, tuple[float, float, float, float], int]]:
    """(crop, box, frame height) of the most confident person in frames of the sample clip."""
    detector = build_detector(DetectorConfig())
    capture = cv2.VideoCapture(str(PERSON_CLIP))
    people = []
    try:
        for at in SAMPLE_TIMES_S:
            capture.set(cv2.CAP_PROP_POS_MSEC, at * 1000)
            ok, frame = capture.read()
            assert ok, f"could not decode {PERSON_CLIP} at {at} s"
            detections = detector.detect([np.asarray(frame, dtype=np.uint8)])[0]
            assert len(detections), f"no person found in {PERSON_CLIP.name} at {at} s"
            best = int(np.argmax(detections.confidence))
            x1, y1, x2, y2 = (float(v) for v in detections.xyxy[best])
            crop = frame[int(y1) : int(y2), int(x1) : int(x2)]
            people.append((crop, (x1, y1, x2, y2), frame.shape[0]))
    finally:
        capture.release()
    return people


def seed(runtime: Runtime, data_dir: Path, now: float) -> list[Sighting]:
    """Real sightings over the last half hour on every camera, alerts, a recorded segment."""
    store = runtime.store
    assert store is not None
    crops = data_dir / "crops" / "seed"
    crops.mkdir(parents=True, exist_ok=True)
    sightings = []
    for i, (crop, box, height) in enumerate(real_people()):
        path = crops / f"{i}.jpg"
        cv2.imwrite(str(path), crop)
        start = now - 1500 + 120 * i
        sighting = make_sighting(
            CAMERAS[i % len(CAMERAS)],
            start,
            start + 8,
            tracker_id=i + 1,
            best_box=box,
            crop_path=str(path.relative_to(data_dir)),
            descriptor=describe_crop(crop, box, height).to_vector(),
        )
        sightings.append(sighting)
        store.add_sighting(sighting)
    for i, camera in enumerate(["gate", "bridge", "gate"]):
        store.add_alert(
            make_alert(
                camera,
                now - 600 + 60 * i,
                rule="quay-edge",
                zone="quay-edge",
                message="person in zone quay-edge",
                box=(10.0, 20.0, 50.0, 120.0),
            )
        )
    # Record workers leave a 480x270 snapshot per camera; 'market' has none yet (never opened).
    snapshots = data_dir / "snapshots"
    snapshots.mkdir(exist_ok=True)
    frame = sample_frame(30.0)
    for camera in ["gate", "bridge", "quay"]:
        cv2.imwrite(str(snapshots / f"{camera}.jpg"), cv2.resize(frame, (480, 270)))
    # The AI camera 'gate' has an analysed frame with one tracked person, as the detect worker leaves it.
    runtime.live_view.update(
        Frame(camera_id="gate", index=1, timestamp=now, image=frame),
        make_detections(xyxy=[list(sightings[6].best_box)], confidence=[0.9], tracker_id=[7]),
    )
    # The first sighting's camera has a recording around it, so it can be exported as evidence.
    first = sightings[0]
    segment = data_dir / "recordings" / first.camera_id / f"{first.camera_id}.mp4"
    segment.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PERSON_CLIP, segment)
    RecordingIndex.for_store(store).add_segments(
        [Segment(first.camera_id, segment, first.start - 60, first.start + 79, segment.stat().st_size, 1394)]
    )
    return sightings


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    data_dir = tmp_path_factory.mktemp("console")
    config_path = data_dir / "site.yaml"
    config_path.write_text(yaml.safe_dump(site_document(data_dir), sort_keys=False))
    runtime = Runtime(load_config(config_path), role=RuntimeRole.CENTRAL, bus=MemoryBus())
    runtime.start()
    try:
        sightings = seed(runtime, data_dir, time.time())
        assert runtime.store is not None
        # Camera administration on the site's YAML file (a central node applies no camera changes).
        admin = SiteConfigService(config_path, runtime.config, runtime, CaseStore.for_store(runtime.store))
        url = runtime.serve_api(host="127.0.0.1", port=0, site=admin)
        users = {role.value: make_user(runtime.store, role) for role in Role}
        yield ConsoleSite(url, runtime, data_dir, config_path, sightings, users)
    finally:
        runtime.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./vigil.sh setup (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class PageErrors:
    """What the page logged as errors; a test that provokes an HTTP error on purpose allows it."""

    messages: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def allow_status(self, status: int) -> None:
        """Chromium logs every 4xx answer as a console error; this test expects `status`."""
        self.allowed_statuses.add(status)

    def watch(self, page: Any, label: str) -> None:
        """Record `page`'s console errors (with the URL they name) and uncaught exceptions."""

        def on_console(message: Any) -> None:
            if message.type == "error":
                self.messages.append(f"{label}: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.messages.append(f"{label} page error: {error}"))

    def unexpected(self) -> list[str]:
        allowed = [f"status of {status} " for status in self.allowed_statuses]
        return [m for m in self.messages if not any(a in m for a in allowed)]


@pytest.fixture
def errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Any, site: ConsoleSite, errors: PageErrors) -> Iterator[Any]:
    """A fresh browser context at 1920x1080 on the site; fails the test on any JS error."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, base_url=site.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors.watch(page, "console")
    yield page
    context.close()
    unexpected = errors.unexpected()
    assert unexpected == [], "the console logged errors:\n" + "\n".join(unexpected)


def log_in(page: Any, site: ConsoleSite, role: str) -> None:
    """Log in through the console's own form as the seeded user with `role`."""
    page.goto("/console/")
    page.get_by_label("User name").fill(site.users[role])
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


@pytest.fixture(scope="session", autouse=True)
def screenshot_dir(pytestconfig: pytest.Config) -> Path:
    global _screenshots
    chosen = pytestconfig.getoption("--screenshots")
    _screenshots = Path(chosen).resolve() if chosen else SCREENSHOTS
    return _screenshots


_screenshots = SCREENSHOTS


def screenshot(page: Any, name: str) -> Path:
    """Save what the page shows now as ``<screenshots>/<name>.png`` for a reviewer to look at."""
    _screenshots.mkdir(parents=True, exist_ok=True)
    target = _screenshots / f"{name}.png"
    page.screenshot(path=str(target), full_page=False)
    return target


def later(sighting: Sighting, seconds: float, **changes: Any) -> Sighting:
    """A copy of `sighting` `seconds` later with a new id (a new track of the same person)."""
    return dataclasses.replace(
        sighting, id=uuid.uuid4().hex, start=sighting.start + seconds, end=sighting.end + seconds, **changes
    )
