"""Case bundle: one signed export of a case's confirmed sightings, verified, opened offline.

Real recorded segments (the sample footage), a real re-encode on the masked camera, the real
verifier; the index page is parsed and every link followed inside the bundle.
"""

from __future__ import annotations

import html.parser
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.models import Polygon
from ingest.clips import ClipError
from tests.db.test_store import make_sighting
from tests.services.test_evidence import T0, Site, make_site
from vigil.core.errors import ValidationError
from vigil.core.types import Sighting
from vigil.infra.db.cases import AuditRecord, CaseRecord, CaseStore, FeedbackRecord, Verdict
from vigil.services.case_bundle import CaseSite, case_windows, export_case_bundle
from vigil.services.cases import CaseNotFound
from vigil.services.evidence import EvidenceExport, Masking
from vigil.services.evidence_verify import verify_bundle

MASKS = {"cam2": [Polygon(name="houses", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])]}


def sighting(camera: str, start: float, end: float, crop: str | None = None) -> Sighting:
    return make_sighting(camera, T0 + start, T0 + end, crop_path=crop)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        # one sighting: its span padded by 10 s either side
        ([("cam1", 20, 25)], [("cam1", 10, 35, "cam1-1.mp4")]),
        # two on one camera whose padded windows overlap: merged into one clip
        ([("cam1", 20, 25), ("cam1", 40, 41)], [("cam1", 10, 51, "cam1-1.mp4")]),
        # far apart on one camera: two clips, numbered per camera
        ([("cam1", 20, 25), ("cam1", 90, 91)],
         [("cam1", 10, 35, "cam1-1.mp4"), ("cam1", 80, 101, "cam1-2.mp4")]),
        # the same moment on two cameras: one clip each, never merged across cameras
        ([("cam2", 20, 25), ("cam1", 20, 25)],
         [("cam1", 10, 35, "cam1-1.mp4"), ("cam2", 10, 35, "cam2-1.mp4")]),
    ],
)  # fmt: skip
def test_windows_pad_each_sighting_and_merge_overlaps_per_camera(
    spans: list[tuple[str, float, float]], expected: list[tuple[str, float, float, str]]
) -> None:
    windows = case_windows([sighting(c, a, b) for c, a, b in spans], pad_s=10.0)
    assert [(w.camera_id, w.start - T0, w.end - T0, w.name) for w in windows] == expected


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("case"))
    yield made
    made.store.close()


def open_case(site: Site, confirmed: list[Sighting], rejected: list[Sighting]) -> CaseRecord:
    cases = CaseStore.for_store(site.store)
    case = CaseRecord(reason="missing person 2026-31, Ana (8)", opened_by="olga", window_start=T0)
    cases.add_case(case)
    cases.audit(AuditRecord(T0, "olga", "open_case", case.id, case.reason, {}))
    site.store.add_sightings([*confirmed, *rejected])
    for s in confirmed:
        cases.add_feedback(FeedbackRecord(case.id, s.id, Verdict.CONFIRM, "olga", T0 + 1))
    for s in rejected:  # confirmed first, then rejected: the latest verdict counts
        cases.add_feedback(FeedbackRecord(case.id, s.id, Verdict.CONFIRM, "olga", T0 + 1))
        cases.add_feedback(FeedbackRecord(case.id, s.id, Verdict.REJECT, "piet", T0 + 2))
    return case


def case_site(site: Site) -> CaseSite:
    return CaseSite("riverside", site.data_dir, "Europe/Amsterdam", {"cam1": "North <gate>"}, Masking(MASKS))


@pytest.fixture(scope="module")
def bundle(site: Site) -> tuple[CaseRecord, EvidenceExport, list[Sighting]]:
    crop = site.data_dir / "crops" / "a.jpg"
    crop.parent.mkdir(parents=True, exist_ok=True)
    crop.write_bytes(b"\xff\xd8\xff\xe0 a real crop would be here \xff\xd9")
    trail = [sighting("cam1", 20, 24, "crops/a.jpg"), sighting("cam2", 30, 33), sighting("cam1", 28, 30)]
    case = open_case(site, trail, rejected=[sighting("cam2", 100, 104)])
    export = export_case_bundle(
        site.store,
        case.id,
        site.root / "case.zip",
        key=site.key,
        site=case_site(site),
        user="mia",
        reason="mediation 2026-140",
        pad_s=3.0,
    )
    return case, export, sorted(trail, key=lambda s: s.start)


def test_the_bundle_holds_each_confirmed_sightings_clip_crop_trail_audit_and_verifies(
    site: Site, bundle: tuple[CaseRecord, EvidenceExport, list[Sighting]]
) -> None:
    case, export, trail = bundle
    with zipfile.ZipFile(export.bundle) as archive:
        names = set(archive.namelist())
        trail_json = json.loads(archive.read("trail.json"))
        audit = json.loads(archive.read("audit.json"))
    crop = f"crops/{trail[0].id}.jpg"
    assert {"clips/cam1-1.mp4", "clips/cam2-1.mp4", crop, "trail.json", "audit.json", "index.html"} <= names
    assert not any(n.startswith("clips/cam2-2") for n in names)  # the rejected sighting is left out
    assert [s["sighting_id"] for s in trail_json["sightings"]] == [s.id for s in trail]
    first = trail_json["sightings"][0]
    assert (first["clip"], first["crop"]) == ("clips/cam1-1.mp4", crop)
    covered = next(c["covered"]["start"] for c in export.manifest["cameras"] if c["clip"] == first["clip"])
    assert first["clip_offset_s"] == pytest.approx(trail[0].start - covered, abs=1e-3)
    assert 3.0 <= first["clip_offset_s"] <= 3.0 + 2.5  # the pad, back to the keyframe before it
    assert trail_json["sightings"][1]["clip"] == "clips/cam1-1.mp4"  # 28..30 merged with 20..24
    assert [r["action"] for r in audit] == ["open_case"] and len(audit[0]["row_hash"]) == 64
    manifest = export.manifest
    assert (manifest["kind"], manifest["case"]["id"], manifest["case_id"]) == ("case", case.id, case.id)
    masking = {c["clip"]: c["masking"] for c in manifest["cameras"]}
    assert masking == {"clips/cam1-1.mp4": "none", "clips/cam2-1.mp4": "burned_in"}
    report = verify_bundle(export.bundle, public_key=site.key.public, site=site.context())
    assert report.ok, [f.message for f in report.failures]
    assert "index.html" in {f.file for f in report.findings if f.check == "sha256"}
    rows = CaseStore.for_store(site.store).audit_trail(case.id)
    assert {r.action for r in rows if r.detail.get("manifest_sha256") == export.manifest_sha256} == {
        "export_clip",
        "export_case",
    }


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [v for k, v in attrs if k in ("href", "src") and v is not None]


def test_the_index_page_opens_offline_with_relative_links_and_site_local_times(
    bundle: tuple[CaseRecord, EvidenceExport, list[Sighting]],
) -> None:
    _, export, trail = bundle
    with zipfile.ZipFile(export.bundle) as archive:
        page = archive.read("index.html").decode()
        names = set(archive.namelist())
    parser = _Links()
    parser.feed(page)
    assert "script" not in parser.tags and parser.links
    assert all(link in names for link in parser.links), [x for x in parser.links if x not in names]
    # T0 is 2026-05-28 20:26:40 UTC: 22:26:40 in Amsterdam, summer time.
    assert "2026-05-28 22:27:00 CEST (UTC+0200)" in page  # the first sighting, T0 + 20 s
    assert "North &lt;gate&gt; (cam1)" in page and "<gate>" not in page  # names escaped
    assert "burned in" in page and "mediation 2026-140" in page
    assert page.count("<tr><td>") >= len(trail)


def test_a_case_with_nothing_confirmed_or_unknown_or_deleted_is_a_clear_error(
    site: Site, tmp_path: Path
) -> None:
    def export(case_id: str) -> EvidenceExport:
        return export_case_bundle(
            site.store,
            case_id,
            tmp_path / "x.zip",
            key=site.key,
            site=case_site(site),
            user="m",
            reason="why",
        )

    empty = open_case(site, [], rejected=[sighting("cam1", 40, 41)])
    with pytest.raises(ValidationError, match="no confirmed sightings"):
        export(empty.id)
    with pytest.raises(CaseNotFound, match="not found"):
        export("nope")
    gone = open_case(site, [sighting("cam1", 5000, 5005)], rejected=[])  # long after the recording
    with pytest.raises(ClipError, match="camera 'cam1' has no recording between"):
        export(gone.id)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_vigil_export_case_writes_a_bundle_vigil_verify_accepts(
    site: Site,
    bundle: tuple[CaseRecord, EvidenceExport, list[Sighting]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vigil.commands import export_case, verify

    case = bundle[0]
    out = tmp_path / "case.zip"
    argv = [str(site.config), "--case", case.id, "-o", str(out), "--reason", "court 2026-7", "--pad", "2"]
    monkeypatch.setenv("VIGIL_PASSWORD", "not anyone's password")
    assert export_case.main([*argv, "--user", "mia"]) == 1  # no such Vigil user: refused, audited
    assert "evidence.denied" in capsys.readouterr().err
    assert export_case.main(argv) == 0  # no --user: the OS user
    with zipfile.ZipFile(out) as written:
        assert json.loads(written.read("manifest.json"))["exporter"].startswith("os:")
    printed = capsys.readouterr().out
    assert "3 confirmed sighting(s) in 2 clip(s)" in printed and "open index.html" in printed
    assert verify.main([str(out), "--config", str(site.config)]) == 0
    assert export_case.main([str(site.config), "--case", "nope", "-o", str(out), "--reason", "why"]) == 1
    assert "not found" in capsys.readouterr().err
