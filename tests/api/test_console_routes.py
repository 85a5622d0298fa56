"""The console's static routes: a strict CSP, nothing outside the folder, the session probe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.routers.console import CONTENT_SECURITY_POLICY, STATIC
from tests.api.test_api import make_site
from tests.factories import TEST_PASSWORD, make_user


@pytest.mark.parametrize(
    ("path", "status", "media_type"),
    [
        ("/console/", 200, "text/html"),
        ("/console/js/app.js", 200, "text/javascript"),  # module scripts need a JavaScript type
        ("/console/vendor/preact.module.js", 200, "text/javascript"),
        ("/console/console.css", 200, "text/css"),
        ("/console/icon.svg", 200, "image/svg+xml"),
        ("/console/nope.js", 404, "application/json"),
        ("/console/..%2F..%2Fauth.py", 404, "application/json"),  # encoded traversal
        ("/console/%2e%2e/%2e%2e/routers/console.py", 404, "application/json"),
        ("/console/js/../../../app.py", 404, "application/json"),
    ],
)
def test_static_files(tmp_path: Path, path: str, status: int, media_type: str) -> None:
    site = make_site(tmp_path, role=None)
    response = site.client.get(path)
    site.store.close()
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(media_type)
    if status == 200:
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"


def test_root_sends_browsers_to_the_console(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=None)
    response = site.client.get("/", follow_redirects=False)
    site.store.close()
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_settings_say_site_and_time_zone(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=None)
    body = site.client.get("/console/settings.json").json()
    site.store.close()
    assert set(body) == {"site", "timezone", "version"}
    assert body["timezone"] == "UTC"


def test_session_probe_is_never_a_401(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=None)
    client = site.client
    assert client.get("/auth/session").json() == {"user": None, "role": None}
    client.cookies.set("vigil_session", "forged")
    assert client.get("/auth/session").json() == {"user": None, "role": None}
    client.cookies.clear()
    name = make_user(site.store)
    assert client.post("/auth/session", data={"username": name, "password": TEST_PASSWORD}).status_code == 200
    assert client.get("/auth/session").json() == {"user": name, "role": "operator"}
    site.store.close()


def test_index_preloads_every_module() -> None:
    """The page asks for all its modules at once (``modulepreload``), not one import level at a time."""
    index = (STATIC / "index.html").read_text()
    preloaded = set(re.findall(r'rel="modulepreload" href="/console/([^"]+)"', index))
    modules = {str(p.relative_to(STATIC)) for p in STATIC.rglob("*.js")} - {"js/app.js"}
    assert preloaded == modules
