"""Bystander redaction: every person in a case's clips is blurred except the case's subject.

Real footage (the bundled clip: people walking up one at a time), the real default detector, the
real re-encode and the real verifier. The subject is the man in the grey shirt (about 124..136 s
into the clip); the man in black before him (77..84 s) is a bystander.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from alerts.search.descriptors import Descriptor, describe_crop
from config.models import DetectorConfig
from detectors.base import Detector
from detectors.registry import build_detector
from ingest.burn_in import BoxPx, burn_masks
from ingest.clips import export_clip
from tests.conftest import PERSON_CLIP
from tests.services.test_case_bundle import open_case, sighting
from tests.services.test_evidence import T0, Site, make_site
from vigil.core.types import Image
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.services.case_bundle import CaseSite, export_case_bundle
from vigil.services.evidence_verify import verify_bundle
from vigil.services.redaction import BystanderRedactor

SUBJECT_AT = 130.0  # the man in the grey shirt
BYSTANDER_AT = 80.0  # the man in black


def frame_at(path: Path, at: float) -> Image:
    """The BGR frame of `path` nearest to `at` seconds (clip time)."""
    best: tuple[float, Image] | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            distance = abs(float(frame.time or 0.0) - at)
            if best is None or distance < best[0]:
                best = (distance, frame.to_ndarray(format="bgr24"))
            if float(frame.time or 0.0) > at + 1:
                break
    assert best is not None, f"{path}: no frame decoded"
    return best[1]


def person_box(detector: Detector, image: Image) -> BoxPx:
    detections = detector.detect([image])[0]
    assert len(detections.xyxy), "the footage should show one person here"
    best = int(np.argmax(detections.confidence))
    x1, y1, x2, y2 = (int(v) for v in detections.xyxy[best])
    return x1, y1, x2, y2


def sharpness(image: Image, box: BoxPx) -> float:
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def difference(a: Image, b: Image, box: BoxPx) -> float:
    x1, y1, x2, y2 = box
    return float(np.abs(a[y1:y2, x1:x2].astype(np.int16) - b[y1:y2, x1:x2].astype(np.int16)).mean())


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector(DetectorConfig())


@pytest.fixture(scope="module")
def subject(detector: Detector) -> Descriptor:
    image = frame_at(PERSON_CLIP, SUBJECT_AT)
    x1, y1, x2, y2 = person_box(detector, image)
    return describe_crop(image[y1:y2, x1:x2], (x1, y1, x2, y2), float(image.shape[0]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("redact"))
    yield made
    made.store.close()


def redacted_clip(site: Site, at: float, redactor: BystanderRedactor, name: str) -> tuple[Path, float]:
    """Cut (at - 2, at + 2) of cam1 with `redactor`; the clip and the clip time of `at`."""
    out = site.root / name
    manifest = export_clip(RecordingIndex.for_store(site.store), "cam1", T0 + at - 2, T0 + at + 2, out,
                           redactor=redactor)  # fmt: skip
    assert manifest.reencode is not None and manifest.reencode["redaction"]["samples"] >= 6
    return out, T0 + at - manifest.covered_start


def test_the_subject_stays_sharp_and_a_bystander_is_blurred(
    site: Site, detector: Detector, subject: Descriptor
) -> None:
    redactor = BystanderRedactor(detector, [subject])
    clip, at = redacted_clip(site, SUBJECT_AT, redactor, "subject.mp4")
    source, shown = frame_at(PERSON_CLIP, SUBJECT_AT), frame_at(clip, at)
    box = person_box(detector, source)
    assert difference(source, shown, box) < 8, "the subject is shown as recorded (re-encode only)"
    assert sharpness(shown, box) > 0.5 * sharpness(source, box)
    assert redactor.report()["subject_shown"] >= redactor.report()["samples"] - 1

    redactor = BystanderRedactor(detector, [subject])
    clip, at = redacted_clip(site, BYSTANDER_AT, redactor, "bystander.mp4")
    source, shown = frame_at(PERSON_CLIP, BYSTANDER_AT), frame_at(clip, at)
    box = person_box(detector, source)
    assert sharpness(shown, box) < 0.1 * sharpness(source, box), "the man in black is a bystander"
    assert difference(source, shown, box) > 15
    report = redactor.report()
    assert report["subject_shown"] == 0 and report["people_hidden"] >= report["samples"] - 1


def test_without_an_example_of_the_subject_everyone_is_blurred(site: Site, detector: Detector) -> None:
    redactor = BystanderRedactor(detector, [])
    clip, at = redacted_clip(site, SUBJECT_AT, redactor, "nobody.mp4")
    source, shown = frame_at(PERSON_CLIP, SUBJECT_AT), frame_at(clip, at)
    box = person_box(detector, source)
    assert sharpness(shown, box) < 0.1 * sharpness(source, box)
    assert redactor.report()["subject_shown"] == 0


class Scripted:
    """A redactor that answers from a script (one box list per sample), to check the timing."""

    sample_every_s = 1.0

    def __init__(self, answers: Sequence[list[BoxPx]]) -> None:
        self.answers = list(answers)
        self.asked = 0

    def hide(self, image: Image) -> list[BoxPx]:
        self.asked += 1
        return self.answers.pop(0) if self.answers else []

    def report(self) -> dict[str, Any]:
        return {"asked": self.asked}


def test_frames_between_two_samples_hide_the_boxes_of_both(site: Site, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    export_clip(RecordingIndex.for_store(site.store), "cam1", T0 + 10, T0 + 13, cut, write_manifest=False)
    left, right = (0, 0, 200, 200), (500, 200, 700, 400)
    burned = tmp_path / "burned.mp4"
    # sample 1 hides `left`, sample 2 `right`, then nothing: the frames between 1 and 2 hide both.
    report = burn_masks(cut, burned, [], Scripted([[left], [right]]))
    assert report.redaction is not None and report.redaction["asked"] >= 3
    original, hidden = frame_at(cut, 0.5), frame_at(burned, 0.5)
    for box in (left, right):
        assert sharpness(hidden, box) < 0.2 * sharpness(original, box) + 1.0
    # between sample 2 (`right`) and sample 3 (nothing): only `right` is hidden
    original, hidden = frame_at(cut, 1.5), frame_at(burned, 1.5)
    assert difference(original, hidden, left) < 8
    assert sharpness(hidden, right) < 0.2 * sharpness(original, right) + 1.0
    # after sample 3 and 4 (nothing): nothing is hidden
    assert difference(frame_at(cut, 2.5), frame_at(burned, 2.5), right) < 8


def test_a_case_bundle_with_redaction_says_what_it_hid_and_verifies(
    site: Site, detector: Detector, subject: Descriptor
) -> None:
    confirmed = replace(sighting("cam1", SUBJECT_AT - 2, SUBJECT_AT + 2), descriptor=subject.to_vector())
    case = open_case(site, [confirmed], [])
    output = site.root / "case-redacted.zip"
    case_site = CaseSite("riverside", site.data_dir, redact_with=detector)
    export = export_case_bundle(site.store, case.id, output, key=site.key, site=case_site, user="olga",
                                reason="mediation 2026-7: bystanders redacted", pad_s=1.0)  # fmt: skip
    camera = export.manifest["cameras"][0]
    assert camera["reencoded"] and camera["bystanders"]["subject_examples"] == 1
    assert camera["bystanders"]["subject_shown"] >= 1 and camera["bystanders"]["detector"] == "ssdlite"
    assert verify_bundle(output, public_key=site.key.public, site=site.context()).ok
    with zipfile.ZipFile(output) as archive:
        assert "subject shown in" in archive.read("index.html").decode()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["cameras"][0]["bystanders"] == camera["bystanders"]
    rows = [r for r in CaseStore.for_store(site.store).audit_excerpt(case.id) if r["action"] == "export_clip"]
    assert rows and rows[-1]["detail"]["bystanders_redacted"] is True
