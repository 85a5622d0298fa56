"""Named clothing colours: a small fixed palette an operator can say out loud.

Pixels are classified in HSV (OpenCV ranges: H 0-180, S and V 0-255) by hand-set
thresholds; a region's colours are the fractions of its (foreground-weighted) pixels
in each name. The palette is closed (`COLOURS`) so descriptions validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vigil.core.errors import ValidationError

COLOURS: tuple[str, ...] = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)  # fmt: skip
"""The palette, in the order of every colour-distribution vector."""

_INDEX = {name: i for i, name in enumerate(COLOURS)}
# Below this value a pixel is black whatever its hue; below this saturation it is achromatic.
_DARK_V = 55
_GREY_S = 45
_WHITE_V = 185


@dataclass(frozen=True)
class ColourScore:
    """One named colour of a region and the fraction of the region it covers (its confidence)."""

    name: str
    confidence: float


def colour_index(name: str) -> int:
    """Position of a colour name in `COLOURS`.

    Raises:
        ValidationError: The name is not in the palette.
    """
    try:
        return _INDEX[name.strip().lower()]
    except KeyError:
        raise ValidationError(f"colour: expected one of {', '.join(COLOURS)}, got {name!r}") from None


def pixel_names(hsv: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Palette index of every pixel, same shape as ``hsv[..., 0]``.

    Args:
        hsv: OpenCV HSV image (..., 3), uint8.
    """
    h = hsv[..., 0].astype(np.int64)
    s = hsv[..., 1].astype(np.int64)
    v = hsv[..., 2].astype(np.int64)
    # Hue bands (OpenCV hue is degrees / 2).
    hue = np.select(
        [h < 8, h < 20, h < 33, h < 85, h < 130, h < 150, h < 170],
        [_INDEX["red"], _INDEX["orange"], _INDEX["yellow"], _INDEX["green"], _INDEX["blue"],
         _INDEX["purple"], _INDEX["pink"]],
        default=_INDEX["red"],
    )  # fmt: skip
    # Dark orange / red is what clothing and skin call brown.
    hue = np.where(
        ((hue == _INDEX["orange"]) | (hue == _INDEX["red"])) & (v < 140) & (s > 60), _INDEX["brown"], hue
    )
    achromatic = np.where(v >= _WHITE_V, _INDEX["white"], _INDEX["grey"])
    names = np.where(s < _GREY_S, achromatic, hue)
    return np.where(v < _DARK_V, _INDEX["black"], names).astype(np.int64)


def colour_distribution(
    bgr: npt.NDArray[np.uint8], weights: npt.NDArray[np.floating[Any]] | None = None
) -> npt.NDArray[np.float32]:
    """Fraction of the region in each palette colour, shape (len(COLOURS),), sums to 1 (or 0 if empty).

    Args:
        bgr: Region pixels (H, W, 3), uint8 BGR.
        weights: Per-pixel weight (H, W), e.g. a centre prior that discounts background.
    """
    if bgr.size == 0:
        return np.zeros(len(COLOURS), np.float32)
    names = pixel_names(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV), np.uint8))
    w = np.ones(names.shape) if weights is None else np.asarray(weights, np.float64)
    counts = np.bincount(names.ravel(), weights=w.ravel(), minlength=len(COLOURS))
    total = counts.sum()
    return (counts / total if total > 0 else counts).astype(np.float32)


def top_colours(
    distribution: npt.NDArray[np.floating[Any]], k: int = 2, floor: float = 0.15
) -> list[ColourScore]:
    """The `k` strongest colours covering at least `floor` of the region, strongest first."""
    order = np.argsort(-np.asarray(distribution))[:k]
    return [
        ColourScore(COLOURS[i], round(float(distribution[i]), 3)) for i in order if distribution[i] >= floor
    ]


def named_vector(names: list[str]) -> npt.NDArray[np.float32]:
    """A distribution spread evenly over the given names (a described colour), shape (len(COLOURS),)."""
    vector = np.zeros(len(COLOURS), np.float32)
    for name in names:
        vector[colour_index(name)] = 1.0
    return vector / max(1.0, float(vector.sum()))
