"""Privacy masks burned into an exported clip: decode, black out the masked areas, re-encode H.264.

A stream-copied clip (`ingest.clips`) carries every pixel the camera saw. Where a camera has
privacy masks, `burn_masks` decodes the clip, fills each mask black in the decoded picture itself
(in YUV: luma to black, chroma to neutral, so no colour conversion round trip), and encodes it
again with libx264 at the same resolution and frame timing, a keyframe every
`KEYFRAME_INTERVAL_S` seconds. Frame timestamps are kept as decoded, so a held frame over a
recording gap stays held and clip time still maps to wall time. The masked pixels are not in the
output at all: no player setting, overlay or re-mux can bring them back.

With a `Redactor` (bystander redaction for a case's evidence) every frame goes through BGR: the
masks are filled first (what must not be analysed is not analysed), the redactor is asked every
`Redactor.sample_every_s` seconds of clip time which boxes to hide, and every frame between two
answers hides the boxes of both (the frames wait for the next answer), so a person walking
between two samples stays covered, and one missed in a single sample is still covered by the
samples either side. Hidden boxes are pixelated in blocks of `PIXEL_BLOCK` and then blurred:
pixelating removes the detail, the blur hides the block edges, and nothing can sharpen it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

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
PIXEL_BLOCK = 12
"""Hidden boxes are averaged over blocks this many pixels wide before the blur."""
BoxPx = tuple[int, int, int, int]
"""x1, y1, x2, y2 in the frame's pixels."""


class Redactor(Protocol):
    """Decides which boxes of a (masked) frame to hide: the bystanders of a case's clip."""

    sample_every_s: float
    """How often (clip time) `hide` is asked; its boxes stand until the next answer."""

    def hide(self, image: npt.NDArray[np.uint8]) -> list[BoxPx]:
        """The boxes to hide in this BGR frame (already masked)."""
        ...

    def report(self) -> dict[str, Any]:
        """What it did, for the evidence manifest."""
        ...


@dataclass(frozen=True)
class BurnReport:
    """What the re-encode did (recorded in the evidence manifest)."""

    frames: int
    width: int
    height: int
    fps: float
    encoder: str
    options: dict[str, str]
    redaction: dict[str, Any] | None = field(default=None)
    """The redactor's report (`Redactor.report`), None without one."""


def burn_masks(
    source: Path, target: Path, masks: Sequence[Polygon], redactor: Redactor | None = None
) -> BurnReport:
    """Re-encode `source` into `target` (MP4) with every mask filled black in every frame.

    Args:
        source: A clip (MP4, one video stream), e.g. a stream-copied export.
        target: Where the masked clip goes (overwritten).
        masks: Polygons with vertices normalised to [0, 1] (the camera's ``privacy_masks``).
        redactor: Also hide the boxes it names (bystanders), pixelated then blurred.

    Returns:
        Frames written, the picture size and rate, the encoder and its options.

    Raises:
        ValueError: No masks and no redactor (nothing to burn in: stream copy instead) or no
            frame decoded.
    """
    import av

    if not masks and redactor is None:
        raise ValueError("burn_masks: no masks given; a clip without masks is stream-copied, not re-encoded")
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"
        encoder = _Encoder(out, stream, masks, redactor)
        for frame in inp.decode(stream):
            encoder.write(frame)
        return encoder.finish()


class _Encoder:
    """One output stream, opened on the first frame (its size and format are known only then)."""

    def __init__(self, out: Any, stream: Any, masks: Sequence[Polygon], redactor: Redactor | None) -> None:
        self.out, self.masks, self.redactor = out, masks, redactor
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self.rate = rate
        self.ostream: Any = None
        self.painter: _Painter | _RedactingPainter | None = None
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
        if self.redactor is not None:
            self.painter = _RedactingPainter(self.masks, self.redactor)
        else:
            self.painter = _Painter(frame.width, frame.height, frame.format.name, self.masks)
        self.ostream.pix_fmt = self.painter.pix_fmt

    def write(self, frame: Any) -> None:
        if self.ostream is None:
            self._open(frame)
        assert self.painter is not None
        self._encode(self.painter.paint(frame))

    def _encode(self, frames: list[Any]) -> None:
        for masked in frames:
            self.out.mux(self.ostream.encode(masked))
            self.frames += 1

    def finish(self) -> BurnReport:
        if self.ostream is None or self.painter is None:
            raise ValueError("burn_masks: no frame could be decoded from the clip")
        self._encode(self.painter.flush())
        self.out.mux(self.ostream.encode(None))
        width, height = self.ostream.width, self.ostream.height
        redaction = None if self.redactor is None else self.redactor.report()
        fps = round(self.fps, 3)
        return BurnReport(self.frames, width, height, fps, ENCODER, dict(self.options), redaction)


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

    def paint(self, frame: Any) -> list[Any]:
        """The masked frame, with the source's timestamp."""
        masked = self._fill(frame)
        masked.pts, masked.time_base = frame.pts, frame.time_base
        return [masked]

    def flush(self) -> list[Any]:
        return []

    def _fill(self, frame: Any) -> Any:
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


class _RedactingPainter:
    """Masks, then hides the redactor's boxes (pixelated, then blurred), in BGR.

    Frames wait in `pending` from one of the redactor's answers to the next; each is then written
    with the boxes of both answers hidden (the last ones, at `flush`, with the last answer's).
    """

    pix_fmt = "yuv420p"

    def __init__(self, masks: Sequence[Polygon], redactor: Redactor) -> None:
        self.masks, self.redactor = masks, redactor
        self.boxes: list[BoxPx] = []
        self.next_at: float | None = None
        self.pending: list[tuple[npt.NDArray[np.uint8], Any, Any]] = []

    def paint(self, frame: Any) -> list[Any]:
        """The frames that are ready: none until the redactor answers again, then those before."""
        image = frame.to_ndarray(format="bgr24")
        if self.masks:
            image = apply_privacy_masks(image, self.masks)
        at = float(frame.time) if frame.time is not None else 0.0
        ready: list[Any] = []
        if self.next_at is None or at >= self.next_at:
            boxes = self.redactor.hide(image)
            ready = self._release([*self.boxes, *boxes])
            self.boxes, self.next_at = boxes, at + self.redactor.sample_every_s
        self.pending.append((image, frame.pts, frame.time_base))
        return ready

    def flush(self) -> list[Any]:
        return self._release(self.boxes)

    def _release(self, boxes: Sequence[BoxPx]) -> list[Any]:
        import av

        ready = []
        for image, pts, time_base in self.pending:
            for box in boxes:
                hide_box(image, box)
            out = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=self.pix_fmt)
            out.pts, out.time_base = pts, time_base
            ready.append(out)
        self.pending = []
        return ready


def hide_box(image: npt.NDArray[np.uint8], box: BoxPx) -> None:
    """Pixelate then blur one box of a BGR image in place (clipped to the image)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, box[0]), max(0, box[1])
    x2, y2 = min(w, box[2]), min(h, box[3])
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    region = image[y1:y2, x1:x2]
    small = cv2.resize(
        region,
        (max(1, (x2 - x1) // PIXEL_BLOCK), max(1, (y2 - y1) // PIXEL_BLOCK)),
        interpolation=cv2.INTER_AREA,
    )
    blocks = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    kernel = PIXEL_BLOCK * 2 + 1
    image[y1:y2, x1:x2] = cv2.GaussianBlur(blocks, (kernel, kernel), 0)


def _raster(width: int, height: int, masks: Sequence[Polygon]) -> npt.NDArray[np.bool_]:
    """(height, width) boolean: True inside any mask (normalised polygons scaled to the plane)."""
    plane = np.zeros((height, width), np.uint8)
    scale = np.array([width, height], dtype=np.float32)
    polygons = [np.round(np.asarray(mask, np.float32) * scale).astype(np.int32) for mask in masks]
    cv2.fillPoly(plane, polygons, 1)
    return plane.astype(bool)
