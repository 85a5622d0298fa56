"""Privacy masks: areas blacked out before anything is analysed or exported."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vigil.core.types import Image

Polygon = Sequence[tuple[float, float]]


def apply_privacy_masks(image: Image, masks: Sequence[Polygon]) -> Image:
    """Return a copy of `image` with each normalised polygon filled black (the input is untouched).

    Args:
        image: BGR image (H, W, 3).
        masks: Polygons with vertices normalised to [0, 1].

    Returns:
        The masked image, or `image` itself when there are no masks.
    """
    if not masks:
        return image
    height, width = image.shape[:2]
    masked = image.copy()
    scale = np.array([width, height], dtype=np.float32)
    polygons = [np.round(np.asarray(mask, np.float32) * scale).astype(np.int32) for mask in masks]
    cv2.fillPoly(masked, polygons, (0, 0, 0))
    return masked
