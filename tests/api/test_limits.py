"""Request limits: body size (JSON and photos), decompression bombs, per-user rate limits.

Small limits are configured so the tests send kilobytes, not megabytes; the refusals are the
same at the defaults (`config.models.ApiConfig`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from alerts.search.graph import CameraGraph
from api import ApiServices, Role, create_app
from api.images import ImageHeader, read_header
from api.limits import RateLimiter
from config.models import VigilConfig
from tests.factories import auth_headers
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseStore
from vigil.services.cases import CaseService

MAX_BODY = 4096
MAX_PHOTO = 64 * 1024
MAX_PIXELS = 1_000_000
PER_MINUTE = 6.0  # one token every 10 s
BURST = 2
FORM = "application/x-www-form-urlencoded"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class LimitedSite:
    client: TestClient
    store: Store
    clock: Clock
    case_id: str


def _config() -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "api": {
                "max_body_bytes": MAX_BODY,
                "max_photo_bytes": MAX_PHOTO,
                "max_photo_pixels": MAX_PIXELS,
                "candidates_per_minute": PER_MINUTE,
                "exports_per_minute": PER_MINUTE,
                "backscans_per_minute": PER_MINUTE,
                "rate_burst": BURST,
            },
            "cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/main", "role": "ai"}],
        }
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LimitedSite]:
    """A mediator's client (every limited route is open to it) on a site with one open case."""
    config = _config()
    store = Store.open(tmp_path / "vigil.db")
    service = CaseService(store, CaseStore.for_store(store), CameraGraph.from_cameras(config.cameras), None)
    app = create_app(config, ApiServices(store=store, health=dict, data_dir=tmp_path, cases=service))
    clock = Clock()
    app.state.rate_limiter = RateLimiter.from_config(config.api, clock=clock)
    with TestClient(app) as client:
        client.headers.update(auth_headers(client, store, Role.MEDIATOR))
        case = client.post("/cases", json={"reason": "test: child missing at the north gate"})
        assert case.status_code == 201, case.text
        yield LimitedSite(client, store, clock, case.json()["id"])
    store.close()


# -- images: what their headers declare ------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring `width` x `height` (8-bit RGB), no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, then a baseline SOF0 frame header declaring `width` x `height`."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    components = b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"  # Y, Cb, Cr: sampling and table ids
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + sof0


def encoded(extension: str, width: int = 64, height: int = 128) -> bytes:
    ok, data = cv2.imencode(extension, np.full((height, width, 3), 127, np.uint8))
    assert ok
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encoded(".png"), ImageHeader("png", 64, 128)),  # a real PNG
        (encoded(".jpg"), ImageHeader("jpeg", 64, 128)),  # a real JPEG (APP0, DQT, SOF0 ...)
        (png_header(50_000, 50_000), ImageHeader("png", 50_000, 50_000)),  # a bomb's header is read as is
        (jpeg_header(65_000, 65_000), ImageHeader("jpeg", 65_000, 65_000)),
        (png_header(0, 10), None),  # no pixels
        (encoded(".png")[:20], None),  # cut inside IHDR
        (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, None),  # scan data before any frame header
        (b"\xff\xd8\xff\xe0\x00\x01", None),  # segment length below its own 2 bytes
        (encoded(".bmp"), None),  # a format the API does not take
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_image_header_is_read_without_decoding(data: bytes, expected: ImageHeader | None) -> None:
    assert read_header(data) == expected


# -- body size and photos --------------------------------------------------------------------


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    """A streamed body of `total` bytes: no Content-Length, so only counting can catch it."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "detail"),
    [
        # JSON over max_body_bytes, announced by Content-Length: refused before it is read.
        ("/cases", b'{"reason": "' + b"x" * MAX_BODY + b'"}', "application/json", 413, "at most 4096 bytes"),
        # The same, streamed without Content-Length: refused once the count passes the limit.
        ("/cases", chunks(MAX_BODY + 1), "application/json", 413, "at most 4096 bytes"),
        # The login form is a body like any other.
        ("/auth/login", b"username=a&password=" + b"x" * MAX_BODY, FORM, 413, "at most 4096 bytes"),
        # A photo over max_photo_bytes, announced and streamed.
        ("/cases/{case}/photos", b"\xff\xd8" + b"x" * MAX_PHOTO, "image/jpeg", 413, "at most 65536 bytes"),
        ("/cases/{case}/photos", chunks(MAX_PHOTO + 1), "image/jpeg", 413, "at most 65536 bytes"),
        # Over the JSON limit but under the photo limit: the photo route's own limit applies,
        # and the bytes are then judged as an image.
        ("/cases/{case}/photos", b"x" * (2 * MAX_BODY), "image/jpeg", 422, "expected a JPEG or PNG image"),
        # Decompression bombs: 57 and 33 bytes declaring billions of pixels; nothing is decoded.
        ("/cases/{case}/photos", png_header(50_000, 50_000), "image/png", 413, "50000 x 50000"),
        ("/cases/{case}/photos", jpeg_header(65_000, 65_000), "image/jpeg", 413, "65000 x 65000"),
        # Just over the pixel limit.
        ("/cases/{case}/photos", png_header(1001, 1000), "image/png", 413, "at most 1000000 pixels"),
        # Not an image at all, or a format the API does not take.
        ("/cases/{case}/photos", b"%PDF-1.7 " * 50, "application/pdf", 422, "expected a JPEG or PNG image"),
        ("/cases/{case}/photos", encoded(".bmp"), "image/bmp", 422, "expected a JPEG or PNG image"),
        # A header that passes but data that does not decode.
        ("/cases/{case}/photos", png_header(64, 64), "image/png", 422, "could not be decoded"),
        # A real photo under every limit reaches the case service (which has no detector here).
        ("/cases/{case}/photos", encoded(".png"), "image/png", 422, "no detector configured"),
    ],
)
def test_bodies_over_their_limit_are_refused(
    site: LimitedSite,
    path: str,
    body: bytes | Iterator[bytes],
    content_type: str,
    status: int,
    detail: str,
) -> None:
    url = path.format(case=site.case_id)
    response = site.client.post(url, content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str) and detail in response.json()["detail"]  # one shape
    assert site.client.get(f"/cases/{site.case_id}").json()["photos"] == 0


def test_a_body_under_the_limit_passes_whole(site: LimitedSite) -> None:
    """The middleware hands the body on intact, streamed or not."""
    reason = "test: " + "y" * 1900  # 1.9 KB: under the 4 KB limit, over one 1 KB chunk
    for body in (f'{{"reason": "{reason}"}}'.encode(), iter([b'{"reason": "', reason.encode(), b'"}'])):
        response = site.client.post("/cases", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 201, response.text
        assert response.json()["reason"] == reason


# -- rate limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cases/{case}/candidates"),  # ranks every sighting in the window
        ("GET", "/cameras/cam1/clip.json?start=100&end=110"),  # cuts a clip (here: nothing recorded)
        ("GET", "/cameras/cam1/clip.mp4?start=100&end=110&reason=test+export"),  # shares the exports bucket
        ("POST", "/cases/{case}/backscan"),  # queues decoding work (here: back-scan not enabled)
    ],
)
def test_expensive_routes_are_rate_limited_per_user_and_recover(
    site: LimitedSite, method: str, path: str
) -> None:
    url = path.format(case=site.case_id)
    for _ in range(BURST):
        assert site.client.request(method, url).status_code != 429  # the burst passes
    refused = site.client.request(method, url)
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "10"  # one token every 60 / PER_MINUTE s
    assert "try again in 10 s" in refused.json()["detail"]
    # Another user has a bucket of their own.
    other = auth_headers(site.client, site.store, Role.ADMIN)
    assert site.client.request(method, url, headers=other).status_code != 429
    site.clock.now += 5  # half a token: still refused, and told to wait the rest
    again = site.client.request(method, url)
    assert again.status_code == 429 and again.headers["Retry-After"] == "5"
    site.clock.now += 5
    assert site.client.request(method, url).status_code != 429  # recovered
    assert site.client.request(method, url).status_code == 429  # one token, one request


def test_refused_requests_use_no_tokens(site: LimitedSite) -> None:
    """A request that fails its login or role check never reaches the bucket."""
    url = f"/cases/{site.case_id}/candidates"
    viewer = auth_headers(site.client, site.store, Role.VIEWER)
    for _ in range(BURST + 1):
        assert site.client.get(url, headers={"Authorization": "Bearer nonsense"}).status_code == 401
        assert site.client.get(url, headers=viewer).status_code == 403
    assert site.client.get(url).status_code == 200  # the mediator's burst is whole
