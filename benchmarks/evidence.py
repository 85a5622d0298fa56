"""Evidence export: the plain clip export (before signing) against the signed bundle, side by side.

Builds 10 s recorded segments from the shared sample footage once with ffmpeg (stream copy, as
the recorder writes them), indexes them for three cameras, then on the same span times:

- ``clip`` (baseline): `ingest.clips.export_clip` per camera, an unsigned clip and JSON beside it;
- ``bundle``: `vigil.services.evidence.export_evidence` for the three cameras, one signed ZIP
  (source segments hashed, manifest signed, audited, spans held);
- ``verify``: `vigil.services.evidence_verify.verify_bundle` on it, alone and with the site
  (every source segment re-hashed, the audit chain walked).

Usage: ``python -m benchmarks.evidence [--seconds 120] [--repeat 3]``; prints seconds (best of
the repeats), the ratio to the baseline and x real time (span seconds per wall second).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CAMERAS = ("cam1", "cam2", "cam3")
T0 = 1_780_000_000.0


def build_segments(footage: Path, folder: Path) -> list[tuple[Path, float, float, int]]:
    """10 s stream-copied MP4 segments of `footage`: (path, start, end, size) from T0."""
    import av

    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(footage), "-c", "copy", "-f", "segment", "-segment_time", "10",
         "-reset_timestamps", "1", str(folder / "seg%03d.mp4")],
        check=True,
    )  # fmt: skip
    out, at = [], T0
    for path in sorted(folder.glob("seg*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.duration is not None and stream.time_base is not None
            length = float(stream.duration * stream.time_base)
        out.append((path, at, at + length, path.stat().st_size))
        at += length
    return out


def best(run: Callable[[int], None], repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import REPO

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="span exported per camera")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-evidence-") as tmp:
        work = Path(tmp)
        built = build_segments(REPO / "samples" / "one-by-one-person-detection.mp4", work)
        rows = measure(work, built, (T0 + 2.0, T0 + 2.0 + args.seconds), args.repeat)
    base = rows[0][1]
    print(f"span {args.seconds:.0f} s x {len(CAMERAS)} cameras, best of {args.repeat}")
    for name, seconds in rows:
        ratio, speed = seconds / base, args.seconds / seconds
        print(f"{name:34s} {seconds:7.3f} s  {ratio:5.2f}x baseline  {speed:7.1f}x real time")
    return 0


def measure(
    work: Path, built: list[tuple[Path, float, float, int]], span: tuple[float, float], repeat: int
) -> list[tuple[str, float]]:
    """Best-of-`repeat` seconds of each row, on one store holding the segments for every camera."""
    from ingest.clips import export_clip
    from ingest.recorder import Segment
    from vigil.infra.db.cases import CaseStore
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store
    from vigil.infra.signing import SiteKey
    from vigil.services.evidence import export_evidence
    from vigil.services.evidence_verify import SiteContext, verify_bundle

    segments = []
    for cam in CAMERAS:  # hard links: each camera its own paths, the same bytes, the same work
        (work / cam).mkdir()
        for path, start, end, size in built:
            (work / cam / path.name).hardlink_to(path)
            segments.append(Segment(cam, work / cam / path.name, start, end, size, 0))
    store = Store.open(work / "vigil.db")
    index = RecordingIndex.for_store(store)
    index.add_segments(segments)
    key, site = SiteKey.load_or_create(work), SiteContext("bench", work, CaseStore.for_store(store))

    def clip(i: int) -> None:
        for cam in CAMERAS:
            export_clip(index, cam, *span, work / f"plain{i}-{cam}.mp4")

    def bundle(i: int) -> None:
        out = work / f"b{i}.zip"
        export_evidence(store, list(CAMERAS), *span, out, key=key, site="bench", user="b", reason="benchmark")

    def verify(with_site: bool) -> Callable[[int], None]:
        def run(_: int) -> None:
            report = verify_bundle(work / "b0.zip", public_key=key.public, site=site if with_site else None)
            assert report.ok, [f.message for f in report.failures]

        return run

    rows = [
        ("clip (baseline, 3 cameras)", best(clip, repeat)),
        ("bundle (signed, 3 cameras)", best(bundle, repeat)),
        ("verify bundle", best(verify(False), repeat)),
        ("verify bundle + sources + audit", best(verify(True), repeat)),
    ]
    store.close()
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
