"""The latest analysed frame of every AI camera and its tracked boxes, for the camera wall.

The detect thread hands each processed frame to `LiveView.update`: a reference to the frame
and its tracker output is kept, nothing is copied, scaled or encoded there (frames and
detections are never written after they are made). The API asks for a camera's
`LiveFrame`; only then is the image scaled to at most `MAX_WIDTH` pixels wide and
JPEG-encoded, once per frame whoever asks.

Per camera two frames are held at most: the latest, and the one whose boxes the API last
described, so an image requested right after its boxes is that frame even when a newer one
arrived in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.core.types import Detections, Frame, Image

MAX_WIDTH = 640
"""Widest image served, pixels; wider frames are scaled down (boxes with them)."""
JPEG_QUALITY = 80


@dataclass(frozen=True)
class LiveBox:
    """One tracked box in the served image's pixels."""

    box: tuple[float, float, float, float]
    tracker_id: int | None
    confidence: float
    coasted: bool


@dataclass
class LiveFrame:
    """One analysed frame of one camera and what the tracker had in it.

    Attributes:
        camera_id: Configured camera id.
        timestamp: Capture time of the frame, epoch seconds.
        image: The analysed frame (privacy masks applied), full size, BGR (H, W, 3).
        tracked: The tracker's output for it, in `image`'s pixels (coasted boxes included).
    """

    camera_id: str
    timestamp: float
    image: Image
    tracked: Detections
    _jpeg: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def scale(self) -> float:
        """Served size over analysed size (1.0 when the frame is at most `MAX_WIDTH` wide)."""
        return min(1.0, MAX_WIDTH / int(self.image.shape[1]))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the served image."""
        height, width = self.image.shape[:2]
        return max(1, round(width * self.scale)), max(1, round(height * self.scale))

    def boxes(self) -> list[LiveBox]:
        """The tracked boxes scaled to the served image, rounded to 0.1 px."""
        xyxy = self.tracked.xyxy.astype(np.float64) * self.scale
        ids = self.tracked.tracker_id
        coasted = self.tracked.data.get("coasted")
        return [
            LiveBox(
                box=(round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)),
                tracker_id=None if ids is None else int(ids[i]),
                confidence=round(float(self.tracked.confidence[i]), 3),
                coasted=bool(coasted[i]) if coasted is not None else False,
            )
            for i, (x1, y1, x2, y2) in enumerate(xyxy.tolist())
        ]

    def jpeg(self, prepare: Callable[[Image], Image] | None = None) -> bytes:
        """The served image as JPEG: scaled, passed through `prepare`, encoded on the first call only.

        Args:
            prepare: Applied to the scaled image before encoding (e.g. the camera's privacy
                masks once more); it must return a new image, not write into its input.

        Returns:
            The JPEG bytes, the same object on every later call for this frame.
        """
        with self._lock:
            if self._jpeg is None:
                image = self.image
                if self.scale < 1.0:
                    image = np.asarray(cv2.resize(image, self.size, interpolation=cv2.INTER_AREA), np.uint8)
                if prepare is not None:
                    image = prepare(image)
                ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:  # pragma: no cover - OpenCV encodes any (H, W, 3) uint8 image
                    raise RuntimeError(f"camera {self.camera_id}: JPEG encoding of a live frame failed")
                self._jpeg = encoded.tobytes()
            return self._jpeg


class LiveView:
    """Thread-safe holder of each camera's latest analysed frame (written by the detect thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, LiveFrame] = {}
        self._described: dict[str, LiveFrame] = {}

    def update(self, frame: Frame, tracked: Detections) -> None:
        """Keep `frame` and its tracker output as the camera's latest (references, no copy)."""
        live = LiveFrame(frame.camera_id, frame.timestamp, frame.image, tracked)
        with self._lock:
            self._latest[frame.camera_id] = live

    def remove(self, camera_id: str) -> None:
        """Forget a camera (it stopped): its last frame is no longer live."""
        with self._lock:
            self._latest.pop(camera_id, None)
            self._described.pop(camera_id, None)

    def current(self, camera_id: str) -> LiveFrame | None:
        """The camera's latest frame, remembered as described until the next call; None before the first."""
        with self._lock:
            live = self._latest.get(camera_id)
            if live is not None:
                self._described[camera_id] = live
            return live

    def frame(self, camera_id: str, timestamp: float | None = None) -> LiveFrame | None:
        """The frame captured at `timestamp` when still held (latest or last described), else the latest."""
        with self._lock:
            latest = self._latest.get(camera_id)
            described = self._described.get(camera_id)
        if timestamp is not None and described is not None and described.timestamp == timestamp:
            return described
        return latest

    def camera_ids(self) -> list[str]:
        """Cameras with a live frame."""
        with self._lock:
            return list(self._latest)
