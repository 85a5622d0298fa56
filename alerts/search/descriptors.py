"""What a person looks like, computed once per track from its best crop.

A `Descriptor` holds four cues, each usable alone and fused by `alerts.search.ranking`:

- ``appearance``: colour layout — two histograms of the grey-world white-balanced crop
  (`grey_world`: another camera's colour cast mostly cancels) in six horizontal stripes,
  each stripe also reading half of the stripe above, weighted towards the crop's vertical
  centre line (the background sits at the sides), Hellinger-normalised: HSV (8 hue x 3
  saturation x 3 value) and CIE Lab (4 L x 4 a x 4 b). Each half is L2-normalised and scaled by
  1/sqrt(2), so a dot product is the mean of the two cosines. Unlike a whole-crop
  histogram it knows a red top over blue trousers from a blue top over red trousers; Lab
  adds what HSV bins blur (dark and desaturated clothes, where hue is noise): on the
  one-by-one dev set the pair reaches mAP 0.87 where HSV stripes alone reach 0.83.
- ``upper`` / ``lower``: named clothing colours (`alerts.search.colours`) of the torso
  (15-50 % of the box height) and legs (50-90 %), as fractions.
- size: box height and foot row in the frame, to compare a person with others standing
  at the same image height on the same camera (`ranking.SizeModel`); never an age.
- ``embedding``: optional learned appearance vector from an `Embedder` (None when no
  model is configured).

Descriptors travel in `Sighting.descriptor` as a flat float tuple (`to_vector` /
`from_vector`), so the existing sightings table stores them unchanged. The vector's first
value is its format version: version 1 (HSV stripes only) still reads, its appearance
padded with zeros where Lab goes (its cosine with a version-2 vector counts the HSV half).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from alerts.search.colours import COLOURS, ColourScore, colour_distribution, top_colours
from vigil.core.errors import ValidationError
from vigil.core.types import Image, Sighting

Vector = npt.NDArray[np.float32]

FORMAT_VERSION = 2.0
_READABLE_VERSIONS = (1.0, FORMAT_VERSION)
STRIPES = 6
_H_BINS, _S_BINS, _V_BINS = 8, 3, 3
_L_BINS, _AB_BINS = 4, 4  # lightness, and each of a and b
HSV_DIM = STRIPES * _H_BINS * _S_BINS * _V_BINS
LAB_DIM = STRIPES * _L_BINS * _AB_BINS * _AB_BINS
APPEARANCE_DIM = HSV_DIM + LAB_DIM
_NORM_SIZE = (48, 128)  # (width, height) every crop is resized to before histograms
_UPPER = (0.15, 0.50)
_LOWER = (0.50, 0.90)
_CENTRE_SIGMA = 0.30  # of the crop width; smaller trusts the centre line more


class Embedder(Protocol):
    """A learned appearance model: crops in, L2-normalised vectors out."""

    dim: int

    def embed(self, crops: list[Image]) -> npt.NDArray[np.float32]:
        """Vectors for BGR crops, shape (N, dim), rows L2-normalised."""
        ...


@dataclass(frozen=True)
class Descriptor:
    """The search cues of one person crop.

    Attributes:
        appearance: Stripe colour-layout vector, shape (APPEARANCE_DIM,), L2-normalised.
        upper / lower: Named-colour fractions of torso and legs, shape (len(COLOURS),).
        height_px: Box height in pixels in its frame.
        foot_y: Box bottom row in pixels (where the person stands).
        image_height: Height of the frame in pixels (0 when unknown, e.g. an uploaded photo).
        embedding: Learned appearance vector (L2-normalised) or None.
    """

    appearance: Vector
    upper: Vector
    lower: Vector
    height_px: float
    foot_y: float
    image_height: float
    embedding: Vector | None = None

    @property
    def upper_colours(self) -> list[ColourScore]:
        return top_colours(self.upper)

    @property
    def lower_colours(self) -> list[ColourScore]:
        return top_colours(self.lower)

    def to_vector(self) -> tuple[float, ...]:
        """Flat form for `Sighting.descriptor`: version, sizes, then every array."""
        embedding = np.zeros(0, np.float32) if self.embedding is None else self.embedding
        head = [FORMAT_VERSION, float(len(self.appearance)), float(len(embedding))]
        tail = [self.height_px, self.foot_y, self.image_height]
        parts = [np.asarray(head), self.appearance, self.upper, self.lower, np.asarray(tail), embedding]
        return tuple(float(v) for v in np.concatenate(parts))

    @classmethod
    def from_vector(cls, values: tuple[float, ...] | list[float] | npt.NDArray[Any]) -> Descriptor:
        """Inverse of `to_vector`.

        Raises:
            ValidationError: The vector is not in this format or has the wrong length.
        """
        array = np.asarray(values, np.float32)
        if len(array) < 3 or float(array[0]) not in _READABLE_VERSIONS:
            raise ValidationError(
                f"descriptor: expected format version in {_READABLE_VERSIONS}, got {array[:1]}"
            )
        d, e, n = int(array[1]), int(array[2]), len(COLOURS)
        expected = 3 + d + 2 * n + 3 + e
        if len(array) != expected:
            raise ValidationError(f"descriptor: expected {expected} values, got {len(array)}")
        at = 3 + d + 2 * n
        appearance = array[3 : 3 + d]
        if array[0] == 1.0 and d == HSV_DIM:
            appearance = np.concatenate([appearance / np.sqrt(2.0), np.zeros(LAB_DIM, np.float32)])
        return cls(
            appearance=appearance.astype(np.float32),
            upper=array[3 + d : 3 + d + n],
            lower=array[3 + d + n : at],
            height_px=float(array[at]),
            foot_y=float(array[at + 1]),
            image_height=float(array[at + 2]),
            embedding=array[at + 3 :] if e else None,
        )


def centre_weights(height: int, width: int) -> npt.NDArray[np.float32]:
    """Per-pixel weight (height, width): a Gaussian across the crop's width, peak at the centre line."""
    x = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    row = np.exp(-0.5 * (x / _CENTRE_SIGMA) ** 2)
    return np.broadcast_to(row, (height, width)).astype(np.float32)


def grey_world(crop: Image) -> Image:
    """The crop with each channel scaled so the channel means agree (grey-world white balance).

    A phone or another camera renders the same clothes with another white balance; this
    removes most of that cast before colours are read, at the price of a slight shift
    on crops dominated by one colour.
    """
    pixels = crop.astype(np.float32)
    means = pixels.reshape(-1, 3).mean(axis=0)
    gains = means.mean() / np.maximum(means, 1.0)
    return np.asarray(np.clip(pixels * gains, 0, 255), np.uint8)


def stripe_histograms(crop: Image) -> Vector:
    """The ``appearance`` vector of a BGR crop, shape (APPEARANCE_DIM,), L2-normalised.

    The HSV stripes come first (HSV_DIM values), then the Lab stripes (LAB_DIM).
    """
    if crop.size == 0:
        return np.zeros(APPEARANCE_DIM, np.float32)
    small = grey_world(np.asarray(cv2.resize(crop, _NORM_SIZE, interpolation=cv2.INTER_AREA), np.uint8))
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.int64)
    h = np.minimum(hsv[..., 0] * _H_BINS // 180, _H_BINS - 1)
    s = np.minimum(hsv[..., 1] * _S_BINS // 256, _S_BINS - 1)
    v = np.minimum(hsv[..., 2] * _V_BINS // 256, _V_BINS - 1)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.int64)
    lightness, a, b = (
        lab[..., 0] * _L_BINS // 256,
        lab[..., 1] * _AB_BINS // 256,
        lab[..., 2] * _AB_BINS // 256,
    )
    halves = [
        _stripes((h * _S_BINS + s) * _V_BINS + v, _H_BINS * _S_BINS * _V_BINS),
        _stripes((lightness * _AB_BINS + a) * _AB_BINS + b, _L_BINS * _AB_BINS * _AB_BINS),
    ]
    return np.concatenate([half / np.sqrt(2.0) for half in halves]).astype(np.float32)


def _stripes(bins: npt.NDArray[np.int64], per_stripe: int) -> Vector:
    """Centre-weighted histograms of `STRIPES` horizontal stripes of a bin-index image, L2-normalised."""
    weights = centre_weights(*bins.shape)
    edges = np.linspace(0, bins.shape[0], STRIPES + 1).astype(int)
    parts = []
    for top, bottom in zip(edges[:-1], edges[1:], strict=True):
        counts = np.bincount(
            bins[top:bottom].ravel(), weights=weights[top:bottom].ravel(), minlength=per_stripe
        )
        parts.append(counts / max(counts.sum(), 1e-9))
    # Each stripe reads its own rows and the stripe above, half each: where a box's top edge
    # cuts (a loose photo crop vs a tight detector box) shifts the body by a fraction of a
    # stripe, and the overlap keeps that from moving colours into another stripe.
    parts = [np.sqrt(0.5 * p + 0.5 * q) for p, q in zip(parts, [parts[0], *parts[:-1]], strict=True)]
    vector = np.concatenate(parts).astype(np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def body_colours(crop: Image) -> tuple[Vector, Vector]:
    """Named-colour fractions of the torso and legs of a BGR person crop."""
    height, width = crop.shape[:2]
    weights = centre_weights(height, width)

    def band(lo: float, hi: float) -> Vector:
        top, bottom = int(lo * height), max(int(lo * height) + 1, int(hi * height))
        return colour_distribution(crop[top:bottom], weights[top:bottom])

    return band(*_UPPER), band(*_LOWER)


def describe_crop(
    crop: Image,
    box: tuple[float, float, float, float] | None = None,
    image_height: float = 0.0,
    embedder: Embedder | None = None,
) -> Descriptor:
    """All cues of one person crop.

    Args:
        crop: BGR pixels of the person's box (H, W, 3).
        box: The box in its frame (x1, y1, x2, y2); None for a crop with no frame (size unknown).
        image_height: Frame height in pixels, 0 when unknown.
        embedder: Optional learned model for ``embedding``.

    Raises:
        ValidationError: The crop is empty.
    """
    if crop.size == 0 or crop.ndim != 3:
        raise ValidationError(f"describe_crop: expected a non-empty (H, W, 3) crop, got {crop.shape}")
    upper, lower = body_colours(crop)
    height_px = float(crop.shape[0]) if box is None else float(box[3] - box[1])
    foot_y = 0.0 if box is None else float(box[3])
    embedding = None if embedder is None else embedder.embed([crop])[0].astype(np.float32)
    return Descriptor(
        appearance=stripe_histograms(crop),
        upper=upper,
        lower=lower,
        height_px=height_px,
        foot_y=foot_y,
        image_height=float(image_height),
        embedding=embedding,
    )


def describe(
    sighting: Sighting, crop: Image, image_height: float, embedder: Embedder | None = None
) -> Sighting:
    """The sighting with its descriptor filled from its best crop (a new object).

    Call this in the sighting builder's output path, before the sighting is published.

    Args:
        sighting: A finished sighting; its ``best_box`` is the crop's box.
        crop: BGR pixels of ``best_box``.
        image_height: Height of the camera frame in pixels.
        embedder: Optional learned model.
    """
    descriptor = describe_crop(crop, sighting.best_box, image_height, embedder)
    return dataclasses.replace(sighting, descriptor=descriptor.to_vector())


def hsv_baseline(crop: Image) -> Vector:
    """The classic whole-crop matcher's vector: H (50) x S (60) histogram, for correlation.

    Returned mean-centred and L2-normalised, so a dot product equals OpenCV's
    ``HISTCMP_CORREL`` between the two histograms.
    """
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [50, 60], [0, 180, 0, 256]).ravel().astype(np.float64)
    hist -= hist.mean()
    return (hist / max(float(np.linalg.norm(hist)), 1e-9)).astype(np.float32)
