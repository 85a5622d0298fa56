"""Signed evidence bundles: export, `vigil verify`, every kind of tampering, bad input, the site key."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from ingest.recorder import Segment
from tests.conftest import PERSON_CLIP
from vigil.commands import verify as verify_command
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.infra.signing import SiteKey, public_pem
from vigil.services.evidence import export_evidence
from vigil.services.evidence_verify import SiteContext, VerifyReport, verify_bundle

T0 = 1_780_000_000.0
CAMERAS = ("cam1", "cam2")


@dataclass
class Site:
    """A site on disk: YAML, data dir (database, key), two cameras recorded from real footage."""

    root: Path
    config: Path
    data_dir: Path
    store: Store
    key: SiteKey
    segments: list[Path]

    def context(self, name: str = "riverside") -> SiteContext:
        return SiteContext(name, self.data_dir / "recordings", CaseStore.for_store(self.store))


def make_site(root: Path, name: str = "riverside") -> Site:
    if not PERSON_CLIP.is_file():
        pytest.skip(f"sample clip missing: {PERSON_CLIP}")
    data_dir = root / "data"
    (data_dir / "recordings").mkdir(parents=True)
    config = root / "site.yaml"
    cams = "".join(f"  - id: {c}\n    url: rtsp://10.0.0.1/{c}\n" for c in CAMERAS)
    config.write_text(f"site: {name}\ndata_dir: data\ncameras:\n{cams}")
    with av.open(str(PERSON_CLIP)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        duration, frames = float(stream.duration * stream.time_base), stream.frames
    store = Store.open(data_dir / "vigil.db")
    segments, paths = [], []
    for camera in CAMERAS:
        path = data_dir / "recordings" / f"{camera}.mp4"
        shutil.copy(PERSON_CLIP, path)
        paths.append(path)
        segments.append(Segment(camera, path, T0, T0 + duration, path.stat().st_size, frames))
    RecordingIndex.for_store(store).add_segments(segments)
    return Site(root, config, data_dir, store, SiteKey.load_or_create(data_dir), paths)


def export(site: Site, output: Path, cameras: tuple[str, ...] = CAMERAS, name: str = "riverside") -> Path:
    export_evidence(
        site.store,
        list(cameras),
        T0 + 1.0,
        T0 + 3.0,
        output,
        key=site.key,
        site=name,
        user="ann",
        reason="mediation 2026-114: noise complaint",
        case_id="case-a",
    )
    return output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("site"))
    yield made
    made.store.close()


@pytest.fixture(scope="module")
def bundle(site: Site) -> Path:
    return export(site, site.root / "evidence.zip")


def unpack(bundle: Path, into: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(into)
    return into


def failures(report: VerifyReport) -> list[tuple[str, str]]:
    return [(f.file, f.check) for f in report.failures]


def test_a_bundle_holds_clips_manifest_signature_and_verifies(site: Site, bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    assert names == {"manifest.json", "manifest.sig", "public-key.pem", "clips/cam1.mp4", "clips/cam2.mp4"}
    assert (manifest["site"], manifest["exporter"], manifest["case_id"]) == ("riverside", "ann", "case-a")
    assert manifest["key_fingerprint"] == site.key.fingerprint
    first = manifest["cameras"][0]
    assert first["covered"]["start"] <= T0 + 1.0 and first["covered"]["end"] >= T0 + 2.9
    assert first["segments"][0]["sha256"] == hashlib.sha256(site.segments[0].read_bytes()).hexdigest()
    assert int(manifest["audit_head"].split(":")[0]) >= 0
    report = verify_bundle(bundle, public_key=site.key.public, key_source="test", site=site.context())
    assert report.ok, failures(report)
    checks = {f.check for f in report.findings}
    assert {"signature", "sha256", "size", "source", "audit"} <= checks
    # The export's audit rows carry the manifest's SHA-256; the span is held.
    rows = [r for r in CaseStore.for_store(site.store).audit_trail() if r.action == "export_clip"]
    digest = hashlib.sha256(zipfile.ZipFile(bundle).read("manifest.json")).hexdigest()
    assert {r.detail["camera_id"] for r in rows if r.detail["manifest_sha256"] == digest} == set(CAMERAS)


def test_200_random_byte_flips_across_clip_manifest_and_signature_are_all_detected(
    site: Site, bundle: Path, tmp_path: Path
) -> None:
    folder = unpack(bundle, tmp_path / "unpacked")
    targets = [folder / "clips" / "cam1.mp4", folder / "manifest.json", folder / "manifest.sig"]
    sizes = [p.stat().st_size for p in targets]
    assert verify_bundle(folder, public_key=site.key.public).ok
    rng = random.Random(2026)
    # Offsets uniform over each file in turn (not over the concatenation: the clip would take all).
    offsets = [(i % 3, rng.randrange(sizes[i % 3])) for i in range(200)]
    missed, named = [], set()
    for which, offset in offsets:
        path = targets[which]
        data = bytearray(path.read_bytes())
        data[offset] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        report = verify_bundle(folder, public_key=site.key.public)
        restore(path, bundle, folder)
        if report.ok:
            missed.append((path.name, offset))
        named |= {f.file for f in report.failures}
    assert missed == [], f"{len(missed)} of 200 flips not detected: {missed[:5]}"
    assert {"clips/cam1.mp4", "manifest.sig"} <= named  # each failure names the file or the signature
    assert verify_bundle(folder, public_key=site.key.public).ok


def restore(path: Path, bundle: Path, folder: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        path.write_bytes(archive.read(path.relative_to(folder).as_posix()))


def test_byte_flips_inside_the_zip_are_detected(site: Site, bundle: Path, tmp_path: Path) -> None:
    original = bundle.read_bytes()
    rng = random.Random(7)
    copy = tmp_path / "flipped.zip"
    for _ in range(30):
        data = bytearray(original)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        copy.write_bytes(bytes(data))
        assert not verify_bundle(copy, public_key=site.key.public).ok


def _drop_clip(folder: Path, other: Site) -> None:
    (folder / "clips" / "cam2.mp4").unlink()


def _add_file(folder: Path, other: Site) -> None:
    (folder / "clips" / "cam3.mp4").write_bytes(b"not evidence")


def _resign_with_other_key(folder: Path, other: Site) -> None:
    (folder / "manifest.sig").write_bytes(other.key.sign((folder / "manifest.json").read_bytes()))


def _noop(folder: Path, other: Site) -> None:
    del folder, other


BAD_BUNDLES: list[tuple[str, Callable[[Path, Site], None], str, str, str]] = [
    # (case, what is done to the unpacked bundle, which key checks it, failing file, message part)
    ("missing clip", _drop_clip, "site", "clips/cam2.mp4", "missing file: clips/cam2.mp4"),
    ("added file", _add_file, "site", "clips/cam3.mp4", "not in the manifest"),
    ("signed by another key", _resign_with_other_key, "site", "manifest.sig", "does not match"),
    ("checked with a wrong key", _noop, "other-key", "manifest.sig", "wrong key"),
    ("from another site", _noop, "other-site", "manifest.json", "manifest from another site"),
]


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("other"), name="hilltop")
    yield made
    made.store.close()


@pytest.mark.parametrize(
    ("case", "damage", "checker", "file", "message"), BAD_BUNDLES, ids=[b[0] for b in BAD_BUNDLES]
)
def test_bad_bundles_each_get_their_own_message(
    site: Site,
    other: Site,
    bundle: Path,
    tmp_path: Path,
    case: str,
    damage: Callable[[Path, Site], None],
    checker: str,
    file: str,
    message: str,
) -> None:
    folder = unpack(bundle, tmp_path / "b")
    damage(folder, other)
    if checker == "other-site":
        report = verify_bundle(folder, public_key=other.key.public, site=other.context("hilltop"))
    else:
        key = other.key.public if checker == "other-key" else site.key.public
        report = verify_bundle(folder, public_key=key)
    hits = [f for f in report.failures if f.file == file]
    assert hits and message in hits[0].message, f"{case}: {[(f.file, f.message) for f in report.failures]}"


def test_with_the_site_changed_or_deleted_sources_and_an_edited_audit_log_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(tmp_path)
    try:
        out = export(site, tmp_path / "e.zip", cameras=("cam1", "cam2"))
        assert verify_command.main([str(out), "--config", str(site.config)]) == 0
        capsys.readouterr()
        site.segments[0].write_bytes(site.segments[0].read_bytes()[:-1] + b"\0")  # cam1's recording changed
        site.segments[1].unlink()  # cam2's deleted (by retention, say)
        with site.store._engine.begin() as conn:  # noqa: SLF001 - tampering the database directly
            conn.exec_driver_sql("UPDATE audit_log SET reason = 'edited' WHERE action = 'export_clip'")
        assert verify_command.main([str(out), "--config", str(site.config), "--json"]) == 1
        checks = json.loads(capsys.readouterr().out)["checks"]
        failed = {(c["check"], c["message"].split(":")[0]) for c in checks if not c["ok"]}
        assert ("source", f"source segment {site.segments[0]}") in failed
        assert any(c["check"] == "source" and "is gone" in c["message"] for c in checks)
        assert any(c["check"] == "audit" and "edited" in c["message"] for c in checks if not c["ok"])
    finally:
        site.store.close()


def test_vigil_verify_cli_exit_codes_and_messages(
    site: Site, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "site.pub.pem"
    pem.write_bytes(public_pem(site.key.public))
    assert verify_command.main([str(bundle), "--public-key", str(pem)]) == 0
    assert "intact" in capsys.readouterr().out
    assert verify_command.main([str(bundle)]) == 0  # against the key inside: says so
    out = capsys.readouterr().out
    assert "the key inside the bundle" in out and site.key.fingerprint in out  # to compare with the site's
    assert verify_command.main([str(tmp_path / "nope.zip")]) == 2
    assert "no such bundle" in capsys.readouterr().err
    pem.write_text("not a key")
    assert verify_command.main([str(bundle), "--public-key", str(pem)]) == 2
    assert "expected an Ed25519 public key" in capsys.readouterr().err
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    assert verify_command.main([str(broken)]) == 1
    assert "not a readable evidence bundle" in capsys.readouterr().out


def test_an_export_needs_a_reason_and_a_recording(site: Site, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="reason"):
        export_evidence(
            site.store, ["cam1"], T0, T0 + 2, tmp_path / "x.zip", key=site.key, site="s", user="a", reason=" "
        )
    from ingest.clips import ClipError

    with pytest.raises(ClipError, match="no recording"):
        export_evidence(
            site.store,
            ["cam1"],
            T0 - 99,
            T0 - 90,
            tmp_path / "y.zip",
            key=site.key,
            site="s",
            user="a",
            reason="why",
        )
    assert not (tmp_path / "y.zip").exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_the_site_key_is_made_once_owner_only_and_raced_safely(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        keys = list(pool.map(lambda _: SiteKey.load_or_create(tmp_path), range(6)))
    assert len({k.fingerprint for k in keys}) == 1
    private = tmp_path / "keys" / "evidence_ed25519.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert SiteKey.load_or_create(tmp_path).fingerprint == keys[0].fingerprint
    private.chmod(0o644)
    with pytest.raises(Exception, match="owner-only"):
        SiteKey.load_or_create(tmp_path)
