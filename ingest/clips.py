"""Clip export for mediators: cut from recorded segments without re-encoding, with a manifest.

`export_clip` copies packets from the segments overlapping the request into one MP4. Cuts
fall on keyframes, so the clip starts at the last keyframe at or before the requested start
and ends at the first keyframe at or after the requested end: the *covered* span can be
slightly wider than the request, and is reported exactly. Segments are joined in time order
with their real time offsets, so clip time maps to wall time; a recording gap inside the span
is stated in the manifest (a player shows it as a held frame), never papered over.

A camera with privacy masks gets them burned in: the stream-copied cut is decoded, the masks
are filled black and it is re-encoded (`ingest.burn_in`); the manifest then names the masks and
the encoder. Without masks nothing is re-encoded.

The manifest (``<clip>.json``) records camera, requested and covered times, the source
segments, the gaps, the masks burned in, and the SHA-256 of the clip file, for the chain of
custody.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ingest.masks import Polygon
from vigil.core.errors import VigilError

if TYPE_CHECKING:
    from ingest.burn_in import Redactor

GAP_TOLERANCE_S = 0.5
"""Segments further apart than this are a gap (less is timestamp rounding between segments)."""


class ClipError(VigilError):
    """A clip cannot be cut: nothing recorded in the span, or the segments are unreadable."""


class _Index(Protocol):
    def segments(self, camera_id: str, start: float, end: float) -> list[Any]: ...

    def gaps(self, camera_id: str, start: float, end: float) -> list[Any]: ...

    def extent(self, camera_id: str) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class ClipSegment:
    path: str
    start: float
    end: float


@dataclass(frozen=True)
class ClipGap:
    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class ClipManifest:
    """What a clip holds and where it came from (written beside it as JSON)."""

    camera_id: str
    file: str
    requested_start: float
    requested_end: float
    covered_start: float
    covered_end: float
    segments: list[ClipSegment]
    gaps: list[ClipGap]
    packets: int
    size: int
    sha256: str
    created_at: float = field(default_factory=time.time)
    exported_by: str | None = None
    """Chain of custody: who exported it (`vigil.services.evidence`)."""
    reason: str | None = None
    """Chain of custody: why (a case or a mediation reference)."""
    case_id: str | None = None
    privacy_masks: list[list[tuple[float, float]]] = field(default_factory=list)
    """The masks burned into the clip (normalised polygons); empty: the clip is stream-copied."""
    reencode: dict[str, Any] | None = None
    """How the masked clip was re-encoded (encoder, options, frames, size, rate); None: stream copy."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def export_clip(
    index: _Index,
    camera_id: str,
    start: float,
    end: float,
    output: Path,
    *,
    write_manifest: bool = True,
    masks: Sequence[Polygon] = (),
    redactor: Redactor | None = None,
) -> ClipManifest:
    """Cut ``[start, end]`` of a camera's recording into `output` (MP4) and write ``<output>.json``.

    ``write_manifest=False`` skips the ``.json`` (a signed evidence bundle carries its own manifest).
    With `masks` (normalised polygons, the camera's ``privacy_masks``) the cut is re-encoded with
    the masks burned in (`ingest.burn_in.burn_masks`); with a `redactor` (bystander redaction) it
    is re-encoded with the boxes it names hidden too; with neither, it is stream-copied.

    Returns:
        The manifest.

    Raises:
        ClipError: ``start >= end``, nothing recorded overlaps the span (the message gives
            what is recorded), a segment's file is gone (the message names the span it leaves
            out), or no segment could be read.
    """
    if end <= start:
        raise ClipError(f"clip: expected start < end, got start={start} end={end}")
    segments = index.segments(camera_id, start, end)
    if not segments:
        raise ClipError(_nothing_recorded(index, camera_id, start, end))
    _check_files(camera_id, segments)
    output.parent.mkdir(parents=True, exist_ok=True)
    part = output.with_name(output.name + ".part")
    cut, used = _cut(camera_id, segments, start, end, part)
    assert cut.covered_start is not None
    reencode = _burn(part, masks, redactor) if masks or redactor is not None else None
    os.replace(part, output)
    covered = (cut.covered_start, cut.covered_end)
    manifest = ClipManifest(
        camera_id=camera_id,
        file=output.name,
        requested_start=start,
        requested_end=end,
        covered_start=covered[0],
        covered_end=covered[1],
        segments=used,
        gaps=_gaps(index, camera_id, used, start, end),
        packets=cut.packets,
        size=output.stat().st_size,
        sha256=_sha256(output),
        privacy_masks=[[(float(x), float(y)) for x, y in mask] for mask in masks],
        reencode=reencode,
    )
    if write_manifest:
        output.with_name(output.name + ".json").write_text(manifest.to_json())
    return manifest


def _cut(
    camera_id: str, segments: Sequence[Any], start: float, end: float, part: Path
) -> tuple[_Cutter, list[ClipSegment]]:
    """Stream-copy the span from the segments into `part`; the cutter and the segments used."""
    cut = _Cutter(start, end)
    used: list[ClipSegment] = []
    try:
        for segment in segments:
            if cut.done:
                break
            if cut.copy(segment, part):
                used.append(ClipSegment(str(segment.path), segment.start, segment.end))
        cut.close()
    except BaseException:
        cut.close()
        part.unlink(missing_ok=True)
        raise
    if cut.packets == 0 or cut.covered_start is None:
        part.unlink(missing_ok=True)
        raise ClipError(f"camera {camera_id!r}: segments overlap the span but none could be read")
    return cut, used


def _nothing_recorded(index: _Index, camera_id: str, start: float, end: float) -> str:
    extent = index.extent(camera_id)
    span = f"camera {camera_id!r} has no recording between {_iso(start)} and {_iso(end)}"
    if extent is None:
        return f"{span}; recorded: nothing"
    recorded = f"recorded: {_iso(extent[0])} .. {_iso(extent[1])} (with gaps)"
    if end <= extent[0]:
        return (
            f"{span}: the gap {_iso(start)} .. {_iso(end)} is older than its oldest recording, "
            f"deleted by retention or never recorded; {recorded}"
        )
    return f"{span}; {recorded}"


def _check_files(camera_id: str, segments: Sequence[Any]) -> None:
    """Every segment the index lists must still be on disk: a clip never silently skips one."""
    missing = [s for s in segments if not Path(s.path).is_file()]
    if missing:
        gone = ", ".join(f"{_iso(s.start)} .. {_iso(s.end)} ({s.path})" for s in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ClipError(
            f"camera {camera_id!r}: {len(missing)} recorded segment(s) in the span are gone from disk "
            f"(deleted by retention or moved), leaving the gap {gone}{more}; nothing exported"
        )


def _burn(part: Path, masks: Sequence[Polygon], redactor: Redactor | None) -> dict[str, Any]:
    """Re-encode the stream-copied `part` in place with the masks (and the redactor's boxes) burned in."""
    from ingest.burn_in import burn_masks

    burned = part.with_name(part.name + ".masked")
    try:
        report = burn_masks(part, burned, masks, redactor)
        os.replace(burned, part)
    except BaseException:
        burned.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        raise
    return asdict(report)


class _Cutter:
    """Copies packets of consecutive segments into one output, keyframe-aligned at both ends."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.out: Any = None
        self.ostream: Any = None
        self.covered_start: float | None = None
        self.covered_end = start
        self.packets = 0
        self.done = False
        self._last_dts: int | None = None
        self._shift: int | None = None

    def copy(self, segment: Any, part: Path) -> bool:
        """Copy the packets of one segment that fall in the clip; returns whether any were written."""
        import av

        try:
            source = av.open(str(segment.path))
        except (OSError, av.FFmpegError):
            return False
        with source:
            stream = source.streams.video[0]
            tb = float(stream.time_base or 1 / 90000)
            first_pts: int | None = None
            pending: list[tuple[Any, float]] = []  # the GOP before `start`, kept until start is reached
            wrote = False
            for packet in source.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                if first_pts is None:
                    first_pts = packet.pts
                at = segment.start + (packet.pts - first_pts) * tb
                if packet.is_keyframe and at >= self.end and self.covered_start is not None:
                    self.done = True
                    break
                if self.covered_start is None and at < self.start:
                    pending = [(packet, at)] if packet.is_keyframe else [*pending, (packet, at)]
                    continue
                if self.covered_start is None:
                    if not pending and not packet.is_keyframe:
                        continue  # no keyframe yet to start from
                    self._begin(stream, part, [*pending, (packet, at)], tb)
                    pending = []
                    wrote = True
                    continue
                self._mux(packet, at, tb)
                wrote = True
            if wrote and not self.done:
                self._cover_last_frame(stream, segment.end)
        return wrote

    def _begin(self, stream: Any, part: Path, held: list[tuple[Any, float]], tb: float) -> None:
        """Start the clip at the first held packet (a keyframe): open the output, write the GOP."""
        import av

        if self.out is None:
            self.out = av.open(str(part), "w", format="mp4")
            self.ostream = self.out.add_stream_from_template(stream)
        self.covered_start = held[0][1]
        for packet, at in held:
            self._mux(packet, at, tb)

    def _cover_last_frame(self, stream: Any, segment_end: float) -> None:
        """The last packet written shows for one frame more, up to the segment's end."""
        rate = stream.average_rate
        frame = 1.0 / float(rate) if rate else 0.04
        self.covered_end = max(self.covered_end, min(segment_end, self.covered_end + frame))

    def _mux(self, packet: Any, at: float, tb: float) -> None:
        assert self.covered_start is not None
        delay = (packet.pts - packet.dts) if packet.dts is not None else 0
        if self._shift is None:
            self._shift = delay  # the first keyframe's reorder delay (B-frames), so dts starts >= 0
        # One shift for every packet: B-frames keep their presentation order (pts - dts kept).
        pts = round((at - self.covered_start) / tb) + self._shift
        dts = pts - delay
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
        packet.pts, packet.dts = max(pts, dts), dts
        self._last_dts = dts
        packet.stream = self.ostream
        self.out.mux(packet)
        self.packets += 1
        self.covered_end = max(self.covered_end, at)

    def close(self) -> None:
        out, self.out = self.out, None
        if out is not None:
            out.close()


def _gaps(index: _Index, camera_id: str, used: list[ClipSegment], start: float, end: float) -> list[ClipGap]:
    recorded = {(g.start, g.end): g.reason for g in index.gaps(camera_id, start, end)}
    gaps: list[ClipGap] = []
    if used and used[0].start > start + GAP_TOLERANCE_S:
        gaps.append(ClipGap(start, used[0].start, "not recorded before the first segment"))
    for prev, nxt in zip(used, used[1:], strict=False):
        if nxt.start - prev.end > GAP_TOLERANCE_S:
            reason = next(
                (r for (a, b), r in recorded.items() if a < nxt.start and b > prev.end), "not recorded"
            )
            gaps.append(ClipGap(prev.end, nxt.start, reason))
    if used and used[-1].end < end - GAP_TOLERANCE_S:
        gaps.append(ClipGap(used[-1].end, end, "not recorded after the last segment"))
    return gaps


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
