"""``GET /exports``: clips exported through ``/cameras/{id}/clip.mp4`` listed from the audit log."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import av
import pytest

from api import Role
from ingest.recorder import Segment
from tests.api.test_api import Site, make_site
from tests.conftest import PERSON_CLIP
from tests.factories import auth_headers
from vigil.infra.db.recordings import RecordingIndex

T0 = 1_780_000_000.0


@dataclass(frozen=True)
class Export:
    user: str
    camera_id: str
    start: float
    end: float
    reason: str
    case: str | None
    sha256: str


@pytest.fixture
def exported(tmp_path: Path) -> Iterator[tuple[Site, list[Export]]]:
    """Three real clips cut from recorded segments by two mediators, oldest first."""
    if not PERSON_CLIP.is_file():
        pytest.skip(f"sample clip missing: {PERSON_CLIP}")
    site = make_site(tmp_path, role=None)
    with av.open(str(PERSON_CLIP)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        duration, frames = float(stream.duration * stream.time_base), stream.frames
    segments = []
    for camera in ("cam1", "cam2"):
        path = tmp_path / f"{camera}.mp4"
        shutil.copy(PERSON_CLIP, path)
        segments.append(Segment(camera, path, T0, T0 + duration, path.stat().st_size, frames))
    RecordingIndex.for_store(site.store).add_segments(segments)
    asked = [
        ("ann", "cam1", 1.0, 4.0, "mediation 2026-114: noise complaint", "case-a"),
        ("bob", "cam2", 2.0, 6.0, "police request 77", None),
        ("ann", "cam2", 10.0, 12.0, "mediation 2026-115: bike theft", "case-b"),
    ]
    done = []
    for user, camera, start, end, reason, case in asked:
        site.client.headers.update(auth_headers(site.client, site.store, Role.MEDIATOR, name=user))
        params: dict[str, str | float] = {"start": T0 + start, "end": T0 + end, "reason": reason}
        if case:
            params["case"] = case
        response = site.client.get(f"/cameras/{camera}/clip.mp4", params=params)
        assert response.status_code == 200, response.text
        sha = response.headers["x-vigil-clip-sha256"]
        assert sha == hashlib.sha256(response.content).hexdigest()
        done.append(Export(user, camera, T0 + start, T0 + end, reason, case, sha))
    yield site, done
    site.store.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # every export, newest first
        ("", [2, 1, 0]),
        # one user's
        ("user=ann", [2, 0]),
        # one case's
        ("case_id=case-a", [0]),
        # one camera's
        ("camera_id=cam2", [2, 1]),
        # filters combine
        ("camera_id=cam2&user=ann", [2]),
        # paging: the second page of one
        ("limit=1&offset=1", [1]),
        # nobody's
        ("user=carol", []),
    ],
)
def test_lists_exports_newest_first_with_filters(
    exported: tuple[Site, list[Export]], query: str, expected: list[int]
) -> None:
    site, done = exported
    response = site.client.get(f"/exports?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["sha256"] for item in body["items"]] == [done[i].sha256 for i in expected]
    total = {"limit=1&offset=1": 3}.get(query, len(expected))
    assert body["count"] == total


def test_an_export_says_who_why_what_and_where_to_cut_it_again(exported: tuple[Site, list[Export]]) -> None:
    site, done = exported
    item = site.client.get("/exports", params={"case_id": "case-a"}).json()["items"][0]
    first = done[0]
    assert (item["user"], item["camera_id"], item["case_id"], item["reason"]) == (
        "ann",
        "cam1",
        "case-a",
        first.reason,
    )
    assert (item["requested_start"], item["requested_end"]) == pytest.approx((first.start, first.end))
    # The covered span is keyframe-aligned around the asked one.
    assert item["start"] <= first.start and item["end"] >= first.end - 0.2
    assert item["gaps"] == 0 and item["at"] > 0
    # clip_url cuts the same span again: a new export, audited like any other.
    again = site.client.get(f"{item['clip_url']}&{urlencode({'reason': 'copy for the court'})}")
    assert again.status_code == 200, again.text
    assert site.client.get("/exports", params={"case_id": "case-a"}).json()["count"] == 2


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_below_mediator_is_refused(exported: tuple[Site, list[Export]], role: Role) -> None:
    site, _ = exported
    site.client.headers.update(auth_headers(site.client, site.store, role))
    response = site.client.get("/exports")
    assert response.status_code == 403 and "mediator" in response.json()["detail"]


@pytest.mark.parametrize(
    "reason",
    [
        "\x17\U000a3fa3\x1e",  # control characters: the fuzzer's find, once a 500
        "   \t ",  # blank once stripped
    ],
)
def test_an_export_without_a_real_reason_is_a_422_and_not_listed(
    exported: tuple[Site, list[Export]], reason: str
) -> None:
    site, done = exported
    params = {"start": T0 + 1.0, "end": T0 + 4.0, "reason": reason}
    response = site.client.get("/cameras/cam1/clip.mp4", params=params)
    assert response.status_code == 422, response.text
    assert "say why" in response.json()["detail"]
    assert site.client.get("/exports").json()["count"] == len(done)


def test_evidence_zip_is_a_signed_bundle_that_verifies_against_the_served_public_key(
    exported: tuple[Site, list[Export]], tmp_path: Path
) -> None:
    from vigil.infra.signing import load_public_key
    from vigil.services.evidence_verify import verify_bundle

    site, done = exported
    # The public key needs no login (it is made to be handed out); it is never the private key.
    served = site.client.get("/evidence/public-key", headers={"Authorization": ""})
    assert served.status_code == 200 and b"BEGIN PUBLIC KEY" in served.content
    assert b"PRIVATE" not in served.content
    key = load_public_key(served.content)
    params = {"start": T0 + 1.0, "end": T0 + 4.0, "reason": "court copy 2026-9", "case": "case-a"}
    response = site.client.get("/cameras/cam1/evidence.zip", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["x-vigil-key-fingerprint"] == served.headers["x-vigil-key-fingerprint"]
    bundle = tmp_path / "evidence.zip"
    bundle.write_bytes(response.content)
    report = verify_bundle(bundle, public_key=key, key_source="GET /evidence/public-key")
    assert report.ok, [f.message for f in report.failures]
    # It is an export like clip.mp4: listed, with the manifest's SHA-256 in its audit row.
    assert site.client.get("/exports").json()["count"] == len(done) + 1
    viewer = site.client.get("/cameras/cam1/evidence.zip", params=params, headers={"Authorization": ""})
    assert viewer.status_code == 401


@pytest.fixture
def masked_site(tmp_path: Path) -> Iterator[Site]:
    """cam1 has a privacy mask over its left half; recorded from the sample footage."""
    from fastapi.testclient import TestClient

    from api import ApiServices, create_app
    from config.models import VigilConfig
    from vigil.infra.db import Store

    if not PERSON_CLIP.is_file():
        pytest.skip(f"sample clip missing: {PERSON_CLIP}")
    config = VigilConfig.model_validate(
        {
            "cameras": [
                {"id": "cam1", "url": "rtsp://10.0.0.1/main",
                 "privacy_masks": [{"name": "houses", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]},
            ]
        }
    )  # fmt: skip
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(data_dir / "vigil.db")
    client = TestClient(create_app(config, ApiServices(store=store, health=dict, data_dir=data_dir)))
    with av.open(str(PERSON_CLIP)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
    path = tmp_path / "cam1.mp4"
    shutil.copy(PERSON_CLIP, path)
    RecordingIndex.for_store(store).add_segments([Segment("cam1", path, T0, T0 + duration, 1, 1)])
    yield Site(client, store, data_dir, {})
    store.close()


@pytest.mark.parametrize(
    ("role", "unmasked", "status", "masking"),
    [
        # a mediator's export of a masked camera: masks burned in
        (Role.MEDIATOR, False, 200, "burned_in"),
        # a mediator may not leave them out: 403, nothing exported
        (Role.MEDIATOR, True, 403, None),
        # an admin may, with the reason, audited as evidence.unmasked
        (Role.ADMIN, True, 200, "unmasked"),
    ],
)
def test_masked_cameras_export_burned_in_and_only_an_admin_gets_them_unmasked(
    masked_site: Site, role: Role, unmasked: bool, status: int, masking: str | None
) -> None:
    from vigil.infra.db.cases import CaseStore

    site = masked_site
    site.client.headers.update(auth_headers(site.client, site.store, role, name=f"{role.value}1"))
    params = {"start": T0 + 1.0, "end": T0 + 3.0, "reason": "court copy 2026-9", "unmasked": unmasked}
    response = site.client.get("/cameras/cam1/evidence.zip", params=params)
    assert response.status_code == status, response.text
    rows = [r for r in CaseStore.for_store(site.store).audit_trail() if r.action != "login"]
    if masking is None:
        assert "admin" in response.json()["detail"] and rows == []
        return
    assert response.headers["x-vigil-masking"] == masking
    actions = sorted(r.action for r in rows)
    assert actions == (["evidence.unmasked", "export_clip"] if unmasked else ["export_clip"])


def test_a_case_bundle_is_a_mediators_signed_export_of_the_confirmed_trail(
    masked_site: Site, tmp_path: Path
) -> None:
    from tests.db.test_store import make_sighting
    from vigil.infra.db.cases import CaseRecord, CaseStore, FeedbackRecord, Verdict
    from vigil.services.evidence_verify import verify_bundle

    site = masked_site
    cases = CaseStore.for_store(site.store)
    case, empty = CaseRecord("missing child 2026-31", "olga", T0), CaseRecord("lost dog 2026-32", "olga", T0)
    cases.add_case(case)
    cases.add_case(empty)
    seen = make_sighting("cam1", T0 + 20, T0 + 24, crop_path=None)
    site.store.add_sightings([seen])
    cases.add_feedback(FeedbackRecord(case.id, seen.id, Verdict.CONFIRM, "olga", T0 + 1))
    body = {"reason": "mediation 2026-140", "pad_s": 2}
    site.client.headers.update(auth_headers(site.client, site.store, Role.OPERATOR, name="op"))
    assert site.client.post(f"/cases/{case.id}/bundle", json=body).status_code == 403
    site.client.headers.update(auth_headers(site.client, site.store, Role.MEDIATOR, name="mia"))
    response = site.client.post(f"/cases/{case.id}/bundle", json=body)
    assert response.status_code == 200, response.text
    bundle = tmp_path / "case.zip"
    bundle.write_bytes(response.content)
    report = verify_bundle(bundle)
    assert report.ok, [f.message for f in report.failures]
    with zipfile.ZipFile(bundle) as archive:
        assert {"index.html", "trail.json", "audit.json", "clips/cam1-1.mp4"} <= set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["exporter"], manifest["cameras"][0]["masking"]) == ("mia", "burned_in")
    assert (
        response.headers["x-vigil-manifest-sha256"]
        == hashlib.sha256(zipfile.ZipFile(bundle).read("manifest.json")).hexdigest()
    )
    refused = site.client.post(f"/cases/{empty.id}/bundle", json=body)
    assert refused.status_code == 422 and "no confirmed sightings" in refused.json()["detail"]
    assert site.client.post("/cases/nope/bundle", json=body).status_code == 404
    unmasked = site.client.post(f"/cases/{case.id}/bundle", json={**body, "unmasked": True})
    assert unmasked.status_code == 403 and "admin" in unmasked.json()["detail"]
    # bystander redaction needs the site's detector: without one it is a clear 503, with one it is done
    redacted = site.client.post(f"/cases/{case.id}/bundle", json={**body, "redact_bystanders": True})
    assert redacted.status_code == 503 and "detector" in redacted.json()["detail"]
    from dataclasses import replace

    from config.models import DetectorConfig
    from detectors.registry import LazyDetector

    app = site.client.app
    app.state.services = replace(app.state.services, detector=LazyDetector(DetectorConfig()))  # type: ignore[attr-defined]
    site.client.headers.update(auth_headers(site.client, site.store, Role.MEDIATOR, name="max"))  # rate limit
    redacted = site.client.post(f"/cases/{case.id}/bundle", json={**body, "redact_bystanders": True})
    assert redacted.status_code == 200, redacted.text
    bundle.write_bytes(redacted.content)
    assert verify_bundle(bundle).ok
    with zipfile.ZipFile(bundle) as archive:
        camera = json.loads(archive.read("manifest.json"))["cameras"][0]
    # the sighting has no descriptor, so nothing says what the subject looks like: everyone is blurred
    assert camera["masking"] == "burned_in" and camera["bystanders"]["subject_examples"] == 0
    assert camera["bystanders"]["samples"] >= 8 and camera["bystanders"]["subject_shown"] == 0
