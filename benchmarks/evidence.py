"""Evidence export: the plain clip export (before signing) against the signed bundle, side by side.

Builds 10 s recorded segments from the shared sample footage once with ffmpeg (stream copy, as
the recorder writes them), indexes them for three cameras, then on the same span times:

- ``clip`` (baseline): `ingest.clips.export_clip` per camera, an unsigned clip and JSON beside it;
- ``bundle``: `vigil.services.evidence.export_evidence` for the three cameras, one signed ZIP
  (source segments hashed, manifest signed, audited, spans held);
- ``verify``: `vigil.services.evidence_verify.verify_bundle` on it, alone and with the site
  (every source segment re-hashed, the audit chain walked).

Then the privacy-mask rows, on footage at the site's real bitrate: the sample transcoded once
by the site simulator to its 720p25 main stream (`ingest.sim.prepare` with `MAIN_720P`: x264,
2 Mbit/s, keyframe every 2 s), looped to ``--masked-seconds`` and cut into 10 s segments, three
cameras, one signed bundle each way:

- ``bundle 720p, no masks``: stream copy (the baseline of the mask rows);
- ``bundle 720p, masks burned in``: every camera with a mask (a quarter of the picture), so every
  clip is decoded, masked and re-encoded (`ingest.burn_in`);
- ``masks + bystanders redacted``: the same, and bystander redaction (`vigil.services.redaction`,
  the default detector twice a second of footage, every person box pixelated and blurred).

Usage: ``python -m benchmarks.evidence [--seconds 120] [--repeat 3] [--masked-seconds 300]``;
prints seconds (best of the repeats), the ratio to the baseline, x real time (span seconds per
wall second) and, for the mask rows, wall time per span second (the target: <= 2 with masks,
<= 10 s in all without).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CAMERAS = ("cam1", "cam2", "cam3")
T0 = 1_780_000_000.0


def build_segments(
    footage: Path, folder: Path, seconds: float | None = None
) -> list[tuple[Path, float, float, int]]:
    """10 s stream-copied MP4 segments of `footage` (looped to `seconds` if given) from T0."""
    import av

    loop = ["-stream_loop", "-1"] if seconds is not None else []
    limit = ["-t", f"{seconds:.0f}"] if seconds is not None else []
    subprocess.run(
        ["ffmpeg", "-v", "error", *loop, "-i", str(footage), *limit, "-c", "copy", "-f", "segment",
         "-segment_time", "10", "-reset_timestamps", "1", str(folder / "seg%03d.mp4")],
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
    parser.add_argument(
        "--masked-seconds", type=float, default=300.0, help="span of the mask rows (0 skips them)"
    )
    parser.add_argument("--masked-repeat", type=int, default=1, help="repeats of the mask rows")
    parser.add_argument(
        "--no-redaction", action="store_true", help="skip the bystander redaction row (the slowest)"
    )
    args = parser.parse_args(argv)
    sample = REPO / "samples" / "one-by-one-person-detection.mp4"
    with tempfile.TemporaryDirectory(prefix="vigil-bench-evidence-") as tmp:
        work = Path(tmp)
        if args.seconds > 0:
            (work / "plain").mkdir()
            built = build_segments(sample, work / "plain")
            rows = measure(work / "plain", built, (T0 + 2.0, T0 + 2.0 + args.seconds), args.repeat)
            print(f"span {args.seconds:.0f} s x {len(CAMERAS)} cameras, best of {args.repeat}")
            _print(rows, args.seconds)
        if args.masked_seconds > 0:
            masked = measure_masks(
                work / "masked", sample, args.masked_seconds, args.masked_repeat, not args.no_redaction
            )
            print(
                f"privacy masks: span {args.masked_seconds:.0f} s x {len(CAMERAS)} cameras, 720p25 2 Mbit/s "
                f"(vigil sim main stream), best of {args.masked_repeat}, {os.cpu_count()} CPU(s), "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            _print(masked, args.masked_seconds, per_span=True)
    return 0


def _print(rows: list[tuple[str, float]], span: float, per_span: bool = False) -> None:
    base = rows[0][1]
    for name, seconds in rows:
        ratio, speed = seconds / base, span / seconds
        extra = f"  {seconds / span:6.3f} s per span second" if per_span else ""
        print(f"{name:34s} {seconds:7.3f} s  {ratio:5.2f}x baseline  {speed:7.1f}x real time{extra}")


def measure_masks(
    work: Path, footage: Path, seconds: float, repeat: int, redaction: bool = True
) -> list[tuple[str, float]]:
    """Best-of-`repeat` seconds of one 3-camera signed bundle without masks, with masks burned in,
    and with masks and bystander redaction."""
    from config.models import DetectorConfig, Polygon
    from detectors.registry import build_detector
    from ingest.sim import MAIN_720P, default_cache_dir, prepare
    from vigil.infra.signing import SiteKey
    from vigil.services.evidence import Masking, export_evidence
    from vigil.services.redaction import BystanderRedactor

    main_stream = prepare(footage, MAIN_720P, default_cache_dir())
    (work / "src").mkdir(parents=True)
    built = build_segments(main_stream, work / "src", seconds + 20.0)
    store = _index(work, built)
    key = SiteKey.load_or_create(work)
    corner = [Polygon(name="houses", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)])]
    span = (T0 + 2.0, T0 + 2.0 + seconds)

    def bundle(masking: Masking) -> Callable[[int], None]:
        def run(i: int) -> None:
            out = work / f"m{i}-{len(masking.masks)}.zip"
            export_evidence(
                store, list(CAMERAS), *span, out, key=key, site="bench", user="b", reason="benchmark",
                masking=masking,
            )  # fmt: skip
            out.unlink()

        return run

    masks = dict.fromkeys(CAMERAS, corner)
    rows = [
        ("bundle 720p, no masks", best(bundle(Masking()), repeat)),
        ("bundle 720p, masks burned in", best(bundle(Masking(masks)), repeat)),
    ]
    if redaction:
        detector = build_detector(DetectorConfig())
        redacting = Masking(masks, bystanders=lambda _camera: BystanderRedactor(detector, []))
        rows.append(("masks + bystanders redacted", best(bundle(redacting), repeat)))
    store.close()
    return rows


def _index(work: Path, built: list[tuple[Path, float, float, int]]) -> Any:
    """A store whose recording index holds `built` for every camera (hard links, same bytes)."""
    from ingest.recorder import Segment
    from vigil.infra.db.recordings import RecordingIndex
    from vigil.infra.db.store import Store

    segments = []
    for cam in CAMERAS:
        (work / cam).mkdir()
        for path, start, end, size in built:
            (work / cam / path.name).hardlink_to(path)
            segments.append(Segment(cam, work / cam / path.name, start, end, size, 0))
    store = Store.open(work / "vigil.db")
    RecordingIndex.for_store(store).add_segments(segments)
    return store


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
