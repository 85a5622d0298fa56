"""The operator console in a real browser (Chromium via Playwright) against a live site.

Each test works one screen the way its user would — by role and accessible name, as a screen
reader finds the controls — and fails on any JavaScript error the page logs. Screenshots land in
build/screenshots/ at 1920x1080 (and 1280x800 for the laptop check).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import PERSON_CLIP
from tests.console.conftest import ConsoleSite, PageErrors, later, log_in, screenshot
from tests.db.test_store import make_alert
from tests.factories import TEST_PASSWORD
from vigil.core.events import Topic

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE_LOAD_LIMIT_S = 1.0


def test_login_roles_and_page_load(page: Any, site: ConsoleSite, errors: PageErrors) -> None:
    errors.allow_status(401)  # the wrong password below
    page.goto("/")  # the root sends people to the console
    page.get_by_role("button", name="Log in").wait_for()
    assert page.url == f"{site.url}/console/"
    page.reload()
    page.get_by_role("button", name="Log in").wait_for()
    # In the browser's own clock: navigation start to the login form rendered.
    first_screen_s = (
        page.evaluate("() => performance.getEntriesByName('vigil:first-screen')[0].startTime") / 1000
    )
    assert first_screen_s <= PAGE_LOAD_LIMIT_S, f"login page took {first_screen_s:.2f} s"

    page.get_by_label("User name").fill(site.users["operator"])
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()

    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("article", name="North gate, not opened yet").wait_for()
    wall_s = (
        page.evaluate("() => performance.measure('wall', 'vigil:logged-in', 'vigil:wall').duration") / 1000
    )
    assert wall_s <= PAGE_LOAD_LIMIT_S, f"camera wall took {wall_s:.2f} s after login"

    nav = page.get_by_role("navigation", name="Screens")
    assert nav.get_by_role("link").all_inner_texts() == [
        "Cameras",
        "Alerts",
        "Missing persons",
    ]  # operator: no evidence, no admin
    # The token is an HttpOnly cookie: nothing in the page, its storage or its URL holds it.
    assert page.evaluate("() => document.cookie") == ""
    assert page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)") == "{}{}"
    assert "token" not in page.url

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    page.reload()
    page.get_by_role("button", name="Log in").wait_for()  # the session really ended


def test_camera_wall_filters_and_health(page: Any, site: ConsoleSite) -> None:
    log_in(page, site, "viewer")
    tiles = page.get_by_role("list", name="Camera tiles").get_by_role("listitem")
    tiles.first.wait_for()
    assert tiles.count() == 4
    page.get_by_label("Group").select_option("Harbour")
    page.wait_for_function("() => document.querySelectorAll('.tiles > li').length === 2")
    names = page.get_by_role("list", name="Camera tiles").get_by_role("button").all_inner_texts()
    assert sorted(names) == ["Market square", "Quay"]
    page.get_by_label("Group").select_option("")
    # The AI camera shows its analysed frame with the tracked person boxed; 'market' has no picture.
    gate = page.get_by_role("article", name="North gate, not opened yet")
    gate.get_by_text("1 person").wait_for()
    assert gate.locator("svg.boxes rect").count() == 1
    gate.get_by_role("img", name="Latest picture of North gate").wait_for()
    market = page.get_by_role("article", name="Market square, not opened yet")
    market.get_by_text("no picture yet").wait_for()
    page.get_by_role("img", name="Latest picture of Quay").wait_for()
    assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    screenshot(page, "wall-1920x1080")


def test_alert_inbox_live_and_triage(page: Any, site: ConsoleSite) -> None:
    log_in(page, site, "operator")
    page.get_by_role("link", name="Alerts").click()
    inbox = page.get_by_role("table", name="Alert inbox")
    inbox.get_by_role("row").nth(1).wait_for()
    page.get_by_role("status").filter(has_text="live").wait_for()
    before = inbox.get_by_role("row").count()

    # A new alert from the pipeline arrives without a reload (pushed over /alerts/live).
    alert = make_alert(
        "bridge", time.time(), rule="quay-edge", zone="quay-edge", message="person at the water's edge"
    )
    site.publish(Topic.ALERTS, alert.camera_id, alert)
    row = inbox.get_by_role("row").filter(has_text="person at the water's edge")
    row.wait_for(timeout=5000)
    assert inbox.get_by_role("row").count() == before + 1

    row.get_by_role("button", name=f"Acknowledge alert {alert.id}").click()
    row.get_by_text("acknowledged").wait_for()
    row.get_by_role("combobox", name=f"Assign alert {alert.id}").select_option(site.users["operator"])
    row.get_by_text(site.users["operator"]).first.wait_for()
    row.get_by_role("button", name=f"Resolve alert {alert.id}").click()
    dialog = page.get_by_role("dialog", name="Resolve alert")
    dialog.get_by_label("What was done (note)").fill("Warden walked the person away from the edge.")
    dialog.get_by_role("button", name="Resolve with note").click()
    dialog.wait_for(state="detached")
    # Resolved alerts leave the default (open) view; the history says who did what.
    row.wait_for(state="detached")
    page.get_by_label("State").select_option("resolved")
    row.get_by_role("link", name=f"Details of alert {alert.id}").click()
    history = page.get_by_role("list", name="Alert history")
    history.get_by_text("Warden walked the person away").wait_for()
    assert history.get_by_role("listitem").count() >= 3  # acknowledge, assign, resolve
    screenshot(page, "alert-detail")


def photo_of_black_clothes() -> bytes:
    capture = cv2.VideoCapture(str(PERSON_CLIP))
    capture.set(cv2.CAP_PROP_POS_MSEC, 28_000)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return bytes(cv2.imencode(".jpg", frame)[1])


def test_missing_person_case_end_to_end(
    page: Any, site: ConsoleSite, tmp_path: Path, errors: PageErrors
) -> None:
    errors.allow_status(401)  # the session is ended on purpose below
    errors.allow_status(422)  # and a photo that is not an image is refused
    log_in(page, site, "operator")
    # From the camera she was last seen at: the wall's camera view starts the case there.
    page.get_by_role("button", name="Open camera North gate").click()
    page.get_by_role("link", name="Search for a missing person last seen here").click()
    form = page.get_by_role("form", name="New case")
    expect(form.get_by_label("Last seen at camera")).to_have_value("gate")
    form.get_by_label("Reason (audited: who asked, why)").fill(
        "Girl (6) lost near the gate, reported by her father"
    )
    form.get_by_role("button", name="Upper body: black").click()
    form.get_by_role("button", name="Lower body: black").click()
    assert form.get_by_role("button", name="Upper body: black").get_attribute("aria-pressed") == "true"
    form.get_by_label("Child").check()
    photo = tmp_path / "her.jpg"
    photo.write_bytes(photo_of_black_clothes())
    form.get_by_text("Choose photo").set_input_files(str(photo))
    form.get_by_role("img", name="Photo to upload").wait_for()
    form.get_by_role("button", name="Open case and search").click()

    page.wait_for_url("**/console/#/cases/*")
    grid = page.get_by_role("list", name="Candidates")
    candidates = grid.get_by_role("listitem")
    candidates.first.wait_for()
    assert candidates.count() >= 5
    # Why each ranks: score parts as labelled meters.
    first = candidates.first
    for part in ("appearance", "colours", "size", "place and time"):
        assert first.get_by_role("meter", name=part).count() == 1
    screenshot(page, "case-candidates")
    # The workspace as a page load: navigation start to the candidate grid filled.
    page.reload()
    candidates.first.wait_for()
    workspace_s = page.evaluate("() => performance.getEntriesByName('vigil:candidates')[0].startTime") / 1000
    print(f"case workspace page load: {workspace_s:.3f} s")
    assert workspace_s <= PAGE_LOAD_LIMIT_S, f"case workspace took {workspace_s:.2f} s to load"
    # A crop can be seen large; the order can be switched to earliest first.
    first.get_by_role("button", name="Enlarge candidate 1").click()
    page.get_by_role("dialog").get_by_role("img").wait_for()
    page.get_by_role("button", name="Close dialog").click()
    page.get_by_role("combobox", name="Order").select_option("time")
    starts = [c.get_attribute("aria-label") for c in candidates.all()]
    page.get_by_role("combobox", name="Order").select_option("score")
    assert len(starts) == candidates.count()

    # Keyboard: focus the grid, confirm the first, move on, reject the next.
    first.focus()
    page.keyboard.press("c")
    page.get_by_role("status").filter(has_text="Confirmed the sighting").wait_for()
    trail = page.get_by_role("list", name="Confirmed sightings in time order")
    trail.get_by_role("listitem").first.wait_for()
    page.locator("figure.sitemap svg[aria-label^='Site map. Trail: ']").wait_for()
    second = candidates.nth(1)
    second.get_by_role("button", name="Reject").click()
    page.get_by_role("status").filter(has_text="Rejected the sighting").wait_for()
    assert page.get_by_role("list", name="Suggested next cameras").get_by_role("listitem").count() >= 1

    # Find similar from a candidate: an audited search under the case's reason.
    candidates.nth(2).get_by_role("button", name="Find similar to candidate 3").click()
    similar = page.get_by_role("list", name="Similar sightings")
    similar.get_by_role("listitem").first.wait_for()
    assert similar.get_by_role("meter", name="similarity").count() >= 3
    page.get_by_role("button", name="Close dialog").click()

    # A new sighting of her arrives while the page is open: a live case alert.
    case_id = page.url.rsplit("/", 1)[1]
    case = page.evaluate("async (id) => (await fetch(`/cases/${id}`)).json()", case_id)
    seen = next(s for s in site.sightings if s.id == case["trail"][0]["id"])
    site.publish(Topic.SIGHTINGS, "bridge", later(seen, time.time() - seen.start, camera_id="bridge"))
    page.get_by_role("list", name="Live case alerts").get_by_role("listitem").first.wait_for(timeout=10_000)
    screenshot(page, "case-workspace")

    # A photo that is not an image: a clear message on the page, the case unchanged.
    junk = tmp_path / "notes.jpg"
    junk.write_bytes(b"these are notes, not a picture")
    page.get_by_text("Add a photo").click()
    page.get_by_text("Choose photo").set_input_files(str(junk))
    page.get_by_role("button", name="Upload photo").click()
    page.get_by_role("alert").filter(has_text="Photo refused").wait_for()

    # The session ends mid-action: the page stays, a login appears over it, nothing half-saved.
    page.context.clear_cookies()
    candidates.nth(3).get_by_role("button", name="Reject").click()
    relogin = page.get_by_role("dialog", name="Session ended")
    relogin.get_by_text("what you just did was not saved").wait_for()
    assert candidates.count() >= 5  # the workspace is still there underneath
    relogin.get_by_label("User name").fill(site.users["operator"])
    relogin.get_by_label("Password").fill(TEST_PASSWORD)
    relogin.get_by_role("button", name="Log in").click()
    relogin.wait_for(state="detached")
    assert candidates.nth(3).get_by_role("button", name="Reject").get_attribute("aria-pressed") == "false"
    candidates.nth(3).get_by_role("button", name="Reject").click()
    page.get_by_role("status").filter(has_text="Rejected the sighting").wait_for()

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close case").click()
    page.get_by_text("closed", exact=True).wait_for()


def test_mediator_downloads_signed_bundle_that_verifies_against_the_linked_key(
    page: Any, site: ConsoleSite, tmp_path: Path
) -> None:
    from vigil.infra.signing import load_public_key
    from vigil.services.evidence_verify import verify_bundle

    log_in(page, site, "mediator")
    nav = page.get_by_role("navigation", name="Screens")
    assert nav.get_by_role("link").all_inner_texts() == ["Cameras", "Alerts", "Missing persons", "Evidence"]
    page.get_by_role("link", name="Evidence").click()
    page.get_by_role("button", name="New export").click()
    recorded = site.sightings[0]
    page.get_by_role("combobox", name="Export from camera").select_option(recorded.camera_id)
    dialog = page.get_by_role("dialog", name=f"Export clip from {recorded.camera_id}")
    dialog.get_by_label("From").fill(_local(recorded.start - 20))
    dialog.get_by_label("To").fill(_local(recorded.start + 40))
    expect(dialog.get_by_label("Export without privacy masks")).to_have_count(0)  # admins only
    with page.expect_download() as download:
        dialog.get_by_label("Reason (audited)").fill("Mediation 2026-114: dispute at the gate")
        dialog.get_by_role("button", name="Download signed bundle").click()
    name = download.value.suggested_filename
    assert name.startswith(recorded.camera_id) and name.endswith("-evidence.zip")
    bundle = tmp_path / name
    download.value.save_as(bundle)
    manifest = dialog.get_by_role("region", name="Clip manifest")
    expect(manifest).to_contain_text(f"vigil verify {name} --public-key site.pem")
    with page.expect_download() as key_download:
        manifest.get_by_role("link", name="site's public key").click()
    pem = tmp_path / "site.pem"
    key_download.value.save_as(pem)
    # The bundle verifies offline against the key the console links to, and the console showed
    # the manifest's real SHA-256 and the fingerprint vigil verify prints.
    report = verify_bundle(bundle, public_key=load_public_key(pem.read_bytes()), key_source="console link")
    assert report.ok, [f.message for f in report.failures]
    with zipfile.ZipFile(bundle) as archive:
        manifest_sha = hashlib.sha256(archive.read("manifest.json")).hexdigest()
        fingerprint = json.loads(archive.read("manifest.json"))["key_fingerprint"]
        clip_name = next(n for n in archive.namelist() if n.endswith(".mp4"))
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(archive.read(clip_name))
    assert manifest.locator("code.manifest-sha").inner_text() == manifest_sha
    assert manifest.locator("code.fingerprint").inner_text() == fingerprint
    # The bundle's clip is a playable MP4: ffprobe reads a video stream with frames in it.
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,nb_read_packets",
            "-of",
            "json",
            str(clip),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264" and int(stream["nb_read_packets"]) > 100
    sha = manifest.locator("code.clip-sha").inner_text()
    assert sha == hashlib.sha256(clip.read_bytes()).hexdigest()
    # The MP4 alone is still there for a quick look, signed and audited the same way.
    with page.expect_download() as mp4:
        dialog.get_by_role("button", name="MP4 only").click()
    assert mp4.value.suggested_filename.endswith(".mp4")
    expect(manifest.locator("code.fingerprint")).to_have_text(fingerprint)
    dialog.get_by_role("button", name="Close dialog").click()
    table = page.get_by_role("table", name="Exports")
    expect(table.get_by_role("row").filter(has_text="Mediation 2026-114")).to_have_count(2)
    assert sha[:16] in table.inner_text()


def test_admin_exports_without_privacy_masks_warned_and_marked_unmasked(
    page: Any, site: ConsoleSite, tmp_path: Path
) -> None:
    log_in(page, site, "admin")
    recorded = site.sightings[0]
    _set_mask(page, recorded.camera_id, [{"name": "window", "polygon": [[0, 0], [0.3, 0], [0.3, 0.3]]}])
    try:
        _export_unmasked(page, recorded, tmp_path)
    finally:
        _set_mask(page, recorded.camera_id, [])


def _set_mask(page: Any, camera_id: str, masks: list[dict[str, Any]]) -> None:
    """Give the camera these privacy masks, keeping its zones and lines (through the admin API)."""
    camera = page.request.get(f"/cameras/{camera_id}").json()
    zones = [{"name": z["name"], "polygon": z["polygon"]} for z in camera["zones"]]
    body = {"zones": zones, "privacy_masks": masks, "reason": "test: a masked camera"}
    done = page.request.put(f"/cameras/{camera_id}/zones", data=body, headers={"x-vigil-console": "1"})
    assert done.ok, done.text()


def _export_unmasked(page: Any, recorded: Any, tmp_path: Path) -> None:
    page.goto("/console/#/exports")
    page.get_by_role("button", name="New export").click()
    page.get_by_role("combobox", name="Export from camera").select_option(recorded.camera_id)
    dialog = page.get_by_role("dialog", name=f"Export clip from {recorded.camera_id}")
    dialog.get_by_label("From").fill(_local(recorded.start - 20))
    dialog.get_by_label("To").fill(_local(recorded.start + 40))
    dialog.get_by_label("Reason (audited)").fill("Court order 2026-12: unmasked copy")
    warning = dialog.get_by_role("status").filter(has_text="Without masks")
    expect(warning).to_have_count(0)
    dialog.get_by_label("Export without privacy masks").check()
    expect(warning).to_contain_text("audited as an unmasked export")
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download signed bundle").click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        cameras = json.loads(archive.read("manifest.json"))["cameras"]
    assert [c["masking"] for c in cameras] == ["unmasked"]
    expect(dialog.get_by_role("region", name="Clip manifest")).to_contain_text("unmasked")


def _local(epoch: float) -> str:
    """An <input type="datetime-local"> value in the test site's time zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(epoch, ZoneInfo("Europe/Amsterdam")).strftime("%Y-%m-%dT%H:%M")


def test_admin_draws_zone_and_manages_users(page: Any, site: ConsoleSite, errors: PageErrors) -> None:
    errors.allow_status(422)  # the bow tie below
    log_in(page, site, "admin")
    page.goto("/console/#/admin/zones/bridge")
    area = page.get_by_role("application", name="Zone drawing area: click to add points")
    area.wait_for()
    page.get_by_role("button", name="Draw polygon").click()
    box = area.bounding_box()
    for fx, fy in [(0.2, 0.2), (0.6, 0.2), (0.6, 0.7), (0.2, 0.7)]:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.get_by_role("button", name="Finish polygon").click()
    page.get_by_label("Name").fill("bridge-rail")
    page.get_by_role("button", name="Save zones").click()
    reason = page.get_by_role("dialog", name="Save zones of bridge")
    reason.get_by_label("Reason (audited)").fill("New risk spot: the bridge rail")
    reason.get_by_role("button", name="Apply").click()
    page.get_by_role("status").filter(has_text="Saved 1 zones").wait_for()
    saved = yaml.safe_load(site.config_path.read_text())
    bridge = next(c for c in saved["cameras"] if c["id"] == "bridge")
    assert [z["name"] for z in bridge["zones"]] == ["bridge-rail"]
    assert len(bridge["zones"][0]["polygon"]) == 4
    screenshot(page, "admin-zones")

    # A bow tie (edges crossing) is refused with a message that says why; the file is unchanged.
    page.get_by_role("button", name="Draw polygon").click()
    for fx, fy in [(0.1, 0.1), (0.4, 0.4), (0.4, 0.1), (0.1, 0.4)]:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.get_by_role("button", name="Finish polygon").click()
    page.get_by_role("button", name="Save zones").click()
    reason = page.get_by_role("dialog", name="Save zones of bridge")
    reason.get_by_label("Reason (audited)").fill("A second zone")
    reason.get_by_role("button", name="Apply").click()
    page.get_by_role("alert").filter(has_text="cross").wait_for()
    assert yaml.safe_load(site.config_path.read_text()) == saved

    # A new camera through the form: validated, written to the YAML with a reason.
    page.get_by_role("link", name="Cameras").last.click()
    page.get_by_role("button", name="Add camera").click()
    new = page.get_by_role("form", name="New camera")
    new.get_by_label("Id").fill("pier")
    new.get_by_label("Name").fill("Pier head")
    new.get_by_label("Stream URL").fill("rtsp://10.0.0.9/pier")
    new.get_by_label("Group").fill("Harbour")
    new.get_by_role("button", name="Save camera").click()
    reason = page.get_by_role("dialog", name="Add camera pier")
    reason.get_by_label("Reason (audited)").fill("New camera at the pier head")
    reason.get_by_role("button", name="Apply").click()
    page.get_by_role("table", name="Cameras").get_by_role("row").filter(has_text="Pier head").wait_for()
    assert "pier" in [c["id"] for c in yaml.safe_load(site.config_path.read_text())["cameras"]]

    page.get_by_role("link", name="Users").click()
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Name").fill("ana")
    form.get_by_label("Role").select_option("operator")
    form.get_by_label("Password").fill("a long enough password 42")
    form.get_by_role("button", name="Add user").click()
    users = page.get_by_role("table", name="Users")
    users.get_by_role("row").filter(has_text="ana").wait_for()
    page.get_by_role("button", name="Disable user ana").click()
    users.get_by_role("row").filter(has_text="ana").get_by_text("disabled").wait_for()


ROLE_SCREENS = [
    ("viewer", ["wall", "alerts"]),
    ("operator", ["wall", "alerts", "cases"]),
    ("mediator", ["wall", "alerts", "cases", "exports"]),
    (
        "admin",
        ["wall", "alerts", "cases", "exports", "rules", "admin/zones/gate", "admin/cameras", "admin/users"],
    ),
]

UNNAMED_CONTROLS = """() => [
    ...document.querySelectorAll('button, a[href], input, select, textarea, [role=meter]'),
  ]
  .filter(e => e.offsetParent !== null)
  .filter(e => {
    const label = e.getAttribute('aria-label') || e.getAttribute('title')
      || (e.labels && e.labels.length && e.labels[0].textContent)
      || e.getAttribute('aria-labelledby') || (e.tagName !== 'INPUT' && e.textContent.trim());
    return !label || !String(label).trim();
  })
  .map(e => e.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize(("role", "screens"), ROLE_SCREENS)
def test_every_control_has_an_accessible_name_and_fits_a_laptop(
    page: Any, site: ConsoleSite, role: str, screens: list[str]
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, site, role)
    for screen in screens:
        page.goto(f"/console/#/{screen}")
        page.get_by_role("main").locator("h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED_CONTROLS) == [], f"{screen}: controls without a name"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{screen}: {overflow} px wider than a 1280x800 laptop"
        if role == "admin":
            screenshot(page, f"laptop-{screen.replace('/', '-')}")


def test_viewer_sees_no_crop_and_no_case(page: Any, site: ConsoleSite) -> None:
    log_in(page, site, "viewer")
    nav = page.get_by_role("navigation", name="Screens")
    assert nav.get_by_role("link").all_inner_texts() == ["Cameras", "Alerts"]
    page.get_by_role("link", name="Alerts").click()
    inbox = page.get_by_role("table", name="Alert inbox")
    inbox.get_by_role("row").nth(1).wait_for()
    assert inbox.locator("img").count() == 0
    assert inbox.get_by_role("button", name="Acknowledge").count() == 0
    page.goto("/console/#/cases")  # typed by hand: the wall, not a case
    page.get_by_role("heading", name="Cameras").wait_for()
    assert page.get_by_role("list", name="Candidates").count() == 0
