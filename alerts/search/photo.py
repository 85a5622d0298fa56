"""The person in an uploaded photo: what a case's photo query is described from.

Shared by the case service (a parent's phone photo) and `vigil eval search`.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Detector
from tracker.sighting import crop
from vigil.core.types import Image


def person_in_photo(photo: Image, detector: Detector) -> Image:
    """The most prominent person of an uploaded photo, or the whole photo when none is found.

    Phone photos are often tight crops of a small person, which the detector (trained on
    whole scenes) misses: the photo is scaled to at least `_PHOTO_MIN_HEIGHT` pixels and
    padded with grey before detection. Among boxes lying mostly inside the photo, the one
    with the best score x area x centrality wins.
    """
    height, width = photo.shape[:2]
    scale = max(1.0, _PHOTO_MIN_HEIGHT / height)
    scaled = cv2.resize(photo, None, fx=scale, fy=scale) if scale > 1.0 else photo
    pad_y, pad_x = scaled.shape[0] // 2, scaled.shape[1] // 2
    canvas = cv2.copyMakeBorder(
        scaled, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(128, 128, 128)
    )
    detections = detector.detect([np.asarray(canvas, np.uint8)])[0]
    boxes = (detections.xyxy - np.array([pad_x, pad_y, pad_x, pad_y], np.float32)) / scale
    clipped = np.clip(boxes, 0, [width, height, width, height])
    inside = _area(clipped) / np.maximum(_area(boxes), 1e-9)
    centre = np.hypot(
        (clipped[:, 0] + clipped[:, 2]) / 2 / width - 0.5, (clipped[:, 1] + clipped[:, 3]) / 2 / height - 0.5
    )
    merit = detections.confidence * _area(clipped) * np.clip(1.0 - centre, 0.0, 1.0)
    merit = np.where((inside >= 0.8) & (_area(clipped) >= 0.1 * width * height), merit, -1.0)
    if not len(merit) or merit.max() <= 0:
        return photo
    pixels = crop(photo, clipped[int(np.argmax(merit))])
    return pixels if pixels.size else photo


_PHOTO_MIN_HEIGHT = 250


def _area(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(
        np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    )
