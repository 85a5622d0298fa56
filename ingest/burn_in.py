"""Privacy masks burned into an exported clip: decode, black out the masked areas, re-encode H.264.

A stream-copied clip (`ingest.clips`) carries every pixel the camera saw. Where a camera has
privacy masks, `burn_masks` decodes the clip, fills each mask black in the decoded picture itself
(in YUV: luma to black, chroma to neutral, so no colour conversion round trip), and encodes it
again with libx264 at the same resolution and frame timing, a keyframe every
`KEYFRAME_INTERVAL_S` seconds. Frame timestamps are kept as decoded, so a held frame over a
recording gap stays held and clip time still maps to wall time. The masked pixels are not in the
output at all: no player setting, overlay or re-mux can bring them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ingest.masks import Polygon, apply_privacy_masks

KEYFRAME_INTERVAL_S = 2.0
"""A keyframe this often: a player seeks in the re-encoded clip as in a recorded segment."""
ENCODER = "libx264"
PRESET = "veryfast"
"""x264 speed preset. A slower one makes the file a little smaller at the same quality, and costs
encode time linearly (``medium`` is about 2x ``veryfast``)."""
CRF = 20
"""x264 constant quality: lower keeps more detail outside the masks and makes the file larger."""


@dataclass(frozen=True)
class BurnReport:
    """What the re-encode did (recorded in the evidence manifest)."""

    frames: int
    width: int
    height: int
    fps: float
    encoder: str
    options: dict[str, str]


def burn_masks(source: Path, target: Path, masks: Sequence[Polygon]) -> BurnReport:
    """Re-encode `source` into `target` (MP4) with every mask filled black in every frame.

    Args:
        source: A clip (MP4, one video stream), e.g. a stream-copied export.
        target: Where the masked clip goes (overwritten).
        masks: Polygons with vertices normalised to [0, 1] (the camera's ``privacy_masks``).

    Returns:
        Frames written, the picture size and rate, the encoder and its options.

    Raises:
        ValueError: No masks (nothing to burn in: stream copy instead) or no frame decoded.
    """
    import av

    if not masks:
        raise ValueError("burn_masks: no masks given; a clip without masks is stream-copied, not re-encoded")
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"
        encoder = _Encoder(out, stream, masks)
        for frame in inp.decode(stream):
            encoder.write(frame)
        return encoder.finish()


class _Encoder:
    """One output stream, opened on the first frame (its size and format are known only then)."""

    def __init__(self, out: Any, stream: Any, masks: Sequence[Polygon]) -> None:
        self.out, self.masks = out, masks
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self.rate = rate
        self.ostream: Any = None
        self.painter: _Painter | None = None
        self.frames = 0
        self.options = {
            "preset": PRESET,
            "crf": str(CRF),
            "g": str(max(1, round(self.fps * KEYFRAME_INTERVAL_S))),
            "keyint_min": str(max(1, round(self.fps * KEYFRAME_INTERVAL_S))),
            "sc_threshold": "0",
        }

    def _open(self, frame: Any) -> None:
        self.ostream = self.out.add_stream(ENCODER, rate=self.rate, options=self.options)
        self.ostream.width, self.ostream.height = frame.width, frame.height
        self.ostream.time_base = self.time_base
        self.ostream.codec_context.time_base = self.time_base
        self.painter = _Painter(frame.width, frame.height, frame.format.name, self.masks)
        self.ostream.pix_fmt = self.painter.pix_fmt

    def write(self, frame: Any) -> None:
        if self.ostream is None:
            self._open(frame)
        assert self.painter is not None
        masked = self.painter.paint(frame)
        masked.pts, masked.time_base = frame.pts, frame.time_base
        self.out.mux(self.ostream.encode(masked))
        self.frames += 1

    def finish(self) -> BurnReport:
        if self.ostream is None:
            raise ValueError("burn_masks: no frame could be decoded from the clip")
        self.out.mux(self.ostream.encode(None))
        width, height = self.ostream.width, self.ostream.height
        return BurnReport(self.frames, width, height, round(self.fps, 3), ENCODER, dict(self.options))


class _Painter:
    """Fills the masks in decoded frames: on the YUV planes when the picture allows, else in BGR.

    Luma goes to black (16 in limited range, 0 in full range ``yuvj``), chroma to neutral 128;
    the chroma planes get the masks rasterised at their own half resolution.
    """

    def __init__(self, width: int, height: int, pix_fmt: str, masks: Sequence[Polygon]) -> None:
        self.width, self.height = width, height
        self.yuv = pix_fmt in ("yuv420p", "yuvj420p") and width % 2 == 0 and height % 2 == 0
        self.pix_fmt = pix_fmt if self.yuv else "yuv420p"
        self.black = 0 if pix_fmt == "yuvj420p" else 16
        self.masks = masks
        self.luma = _raster(width, height, masks)
        self.chroma = _raster(width // 2, height // 2, masks)

    def paint(self, frame: Any) -> Any:
        import av

        if not self.yuv:
            image = apply_privacy_masks(frame.to_ndarray(format="bgr24"), self.masks)
            return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        planes = frame.to_ndarray()  # (H * 3 / 2, W): Y, then U and V each (H / 4, W) = (H / 2, W / 2)
        h, w = self.height, self.width
        planes[:h][self.luma] = self.black
        chroma = planes[h:].reshape(-1)  # a view: U then V, each (H / 2) x (W / 2) in row order
        size = (h // 2) * (w // 2)
        chroma[:size].reshape(h // 2, w // 2)[self.chroma] = 128
        chroma[size:].reshape(h // 2, w // 2)[self.chroma] = 128
        return av.VideoFrame.from_ndarray(planes, format=self.pix_fmt)


def _raster(width: int, height: int, masks: Sequence[Polygon]) -> npt.NDArray[np.bool_]:
    """(height, width) boolean: True inside any mask (normalised polygons scaled to the plane)."""
    plane = np.zeros((height, width), np.uint8)
    scale = np.array([width, height], dtype=np.float32)
    polygons = [np.round(np.asarray(mask, np.float32) * scale).astype(np.int32) for mask in masks]
    cv2.fillPoly(plane, polygons, 1)
    return plane.astype(bool)
