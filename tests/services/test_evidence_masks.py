"""Privacy masks burned into exports: black inside the mask, unchanged outside, unmasked is audited.

Real footage, real recorded segments, real re-encode: cam1 and cam2 record the same file, cam1
has a mask and cam2 none, so the stream-copied cam2 clip is the reference for cam1's pixels.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from config.models import Polygon
from ingest.clips import ClipError, export_clip
from tests.services.test_evidence import T0, Site, make_site
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.services.evidence import EvidenceExport, Masking, export_evidence
from vigil.services.evidence_verify import verify_bundle

LEFT_BAND = [(0.1, 0.1), (0.45, 0.1), (0.45, 0.9), (0.1, 0.9)]  # a rectangle, normalised
MASKS = {"cam1": [Polygon(name="garden", polygon=LEFT_BAND)]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("masked"))
    yield made
    made.store.close()


def export(site: Site, name: str, masking: Masking, user: str = "ann") -> EvidenceExport:
    return export_evidence(
        site.store,
        ["cam1", "cam2"],
        T0 + 1.0,
        T0 + 3.0,
        site.root / name,
        key=site.key,
        site="riverside",
        user=user,
        reason="mediation 2026-114: noise complaint",
        masking=masking,
    )


@pytest.fixture(scope="module")
def masked(site: Site) -> EvidenceExport:
    return export(site, "masked.zip", Masking(MASKS))


def frames(bundle: Path, member: str, into: Path) -> tuple[list[npt.NDArray[np.uint8]], list[bool]]:
    """Every decoded frame (BGR) of one clip of a bundle, and which were keyframes."""
    path = into / member.replace("/", "_")
    with zipfile.ZipFile(bundle) as archive:
        path.write_bytes(archive.read(member))
    images, keys = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            images.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
            keys.append(bool(frame.key_frame))
    return images, keys


def regions(shape: tuple[int, ...], margin: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(inside the mask shrunk by `margin` px, outside it grown by `margin` px) as boolean images."""
    height, width = shape[:2]
    (x0, y0), (x1, y1) = LEFT_BAND[0], LEFT_BAND[2]
    ys, xs = np.mgrid[0:height, 0:width]
    left, right, top, bottom = x0 * width, x1 * width, y0 * height, y1 * height
    inside = (xs > left + margin) & (xs < right - margin) & (ys > top + margin) & (ys < bottom - margin)
    near = (xs > left - margin) & (xs < right + margin) & (ys > top - margin) & (ys < bottom + margin)
    return inside, ~near


def test_masked_pixels_are_black_and_the_rest_is_unchanged_within_codec_tolerance(
    masked: EvidenceExport, tmp_path: Path
) -> None:
    burned, keys = frames(masked.bundle, "clips/cam1.mp4", tmp_path)
    reference, _ = frames(masked.bundle, "clips/cam2.mp4", tmp_path)  # same footage, stream-copied
    assert len(burned) == len(reference) > 10 and burned[0].shape == reference[0].shape
    inside, outside = regions(burned[0].shape, margin=4)
    worst_inside, diffs, psnrs = 0, [], []
    for ours, theirs in zip(burned, reference, strict=True):
        worst_inside = max(worst_inside, int(ours[inside].max()))
        error = np.abs(ours[outside].astype(np.int16) - theirs[outside].astype(np.int16))
        diffs.append(float(error.mean()))
        psnrs.append(10 * np.log10(255**2 / max(float((error.astype(np.float64) ** 2).mean()), 1e-9)))
    assert worst_inside <= 6, f"brightest pixel inside the mask: {worst_inside} (expected black)"
    assert float(reference[len(reference) // 2][inside].mean()) > 40  # there was picture to hide
    assert max(diffs) < 3.0 and min(psnrs) > 35.0, (max(diffs), min(psnrs))
    fps = 10  # the sample's rate: a keyframe every 2 s is every 20th frame
    assert [i for i, key in enumerate(keys) if key][:3] == [0, 2 * fps, 4 * fps][: sum(keys[:41])]


def test_the_manifest_names_the_burned_in_masks_and_still_the_source_segments(
    site: Site, masked: EvidenceExport
) -> None:
    cam1, cam2 = masked.manifest["cameras"]
    assert (cam1["masking"], cam1["reencoded"]) == ("burned_in", True)
    assert cam1["privacy_masks"] == [{"name": "garden", "polygon": [list(p) for p in LEFT_BAND]}]
    assert cam1["reencode"]["encoder"] == "libx264" and cam1["reencode"]["width"] == 768
    assert cam1["segments"][0]["sha256"] == hashlib.sha256(site.segments[0].read_bytes()).hexdigest()
    assert (cam2["masking"], cam2["reencoded"], cam2["privacy_masks"]) == ("none", False, [])
    report = verify_bundle(masked.bundle, public_key=site.key.public, site=site.context())
    assert report.ok, [f.message for f in report.failures]
    rows = CaseStore.for_store(site.store).audit_trail()
    mine = [r for r in rows if r.detail.get("manifest_sha256") == masked.manifest_sha256]
    assert {(r.action, r.detail["camera_id"], r.detail["masking"]) for r in mine} == {
        ("export_clip", "cam1", "burned_in"),
        ("export_clip", "cam2", "none"),
    }


def test_an_unmasked_export_is_a_stream_copy_says_so_and_is_audited_as_its_own_action(
    site: Site, masked: EvidenceExport
) -> None:
    plain = export(site, "unmasked.zip", Masking(MASKS, unmasked=True), user="root-admin")
    cam1 = plain.manifest["cameras"][0]
    assert (cam1["masking"], cam1["reencoded"]) == ("unmasked", False)
    assert cam1["privacy_masks"][0]["name"] == "garden"  # which masks were left out
    with zipfile.ZipFile(plain.bundle) as archive:
        assert archive.read("clips/cam1.mp4") == archive.read("clips/cam2.mp4")  # untouched pixels
    rows = [r for r in CaseStore.for_store(site.store).audit_trail() if r.action == "evidence.unmasked"]
    assert [(r.user, r.detail["camera_id"], r.detail["manifest_sha256"]) for r in rows] == [
        ("root-admin", "cam1", plain.manifest_sha256)
    ]
    assert rows[0].reason == "mediation 2026-114: noise complaint"
    assert verify_bundle(plain.bundle, public_key=site.key.public, site=site.context()).ok


def test_segments_deleted_under_an_export_are_an_error_naming_the_gap(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    try:
        index = RecordingIndex.for_store(site.store)
        site.segments[0].unlink()  # cam1's only segment, gone from disk but still indexed
        with pytest.raises(ClipError, match=r"gone from disk .* leaving the gap 20\d\d-.*cam1\.mp4"):
            export_clip(index, "cam1", T0 + 1, T0 + 3, tmp_path / "out.mp4")
        with pytest.raises(ClipError, match="older than its oldest recording"):
            export_clip(index, "cam2", T0 - 900, T0 - 600, tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.mp4.part").exists()
    finally:
        site.store.close()


def test_a_clip_manifest_json_records_the_masks(site: Site, tmp_path: Path) -> None:
    index = RecordingIndex.for_store(site.store)
    manifest = export_clip(index, "cam1", T0 + 1, T0 + 2, tmp_path / "c.mp4", masks=[LEFT_BAND])
    written = json.loads((tmp_path / "c.mp4.json").read_text())
    assert written["privacy_masks"] == [[list(p) for p in LEFT_BAND]]
    assert written["reencode"]["frames"] > 0 and manifest.sha256 == written["sha256"]
