"""From tracked detections to `Sighting`s: one per finished track, with its best crop.

`SightingBuilder` follows one camera. Each frame it takes the tracker's output and the
`Frame`; it extends every seen track's bottom-centre path, keeps the best-looking crop
so far, and when a track has not been seen for ``finish_after_s`` seconds (or the stream
restarts, or `flush` is called) it emits the track as a `Sighting`.

Best crop (`crop_quality`): the product of
- detection confidence;
- size: box height relative to ``full_height`` pixels, capped at 1 (a 40-pixel person
  is no use to an operator);
- not cut by the frame edge: a box touching the border is probably cut (x 0.3);
- unoccluded: 1 minus the largest fraction of the box covered by another box in the
  same frame;
- sharpness: variance of the Laplacian of the grey crop (scaled to a fixed height so
  big and small crops compare), squashed into [0.5, 1] — computed only when the other
  factors could beat the current best, since it is the one costly factor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vigil.core.types import Detections, Frame, Image, PathPoint, Sighting

CropSaver = Callable[[str, str, Image], str | None]
"""(sighting id, camera id, BGR crop) -> path to store in `Sighting.crop_path`, or None."""

_EDGE_PENALTY = 0.3
_SHARPNESS_HEIGHT = 64
_SHARPNESS_SCALE = 100.0
MAX_PATH_POINTS = 512
"""A track's foot path keeps at most this many points: past it, every other point is dropped
(first and latest kept), so a track that never ends (someone sitting for hours, a static false
positive) costs bounded memory and per-frame work while its path still spans the whole stay."""


def geometric_quality(
    xyxy: npt.NDArray[np.float32],
    confidence: npt.NDArray[np.float32],
    width: int,
    height: int,
    full_height: float = 160.0,
    edge_margin: float = 2.0,
) -> npt.NDArray[np.float64]:
    """Crop quality of every box without the sharpness factor, shape (N,), in [0, 1].

    Args:
        xyxy: All boxes of one frame (N, 4); each is judged against the others for occlusion.
        confidence: Detection scores (N,).
        width / height: Frame size in pixels.
        full_height: Box height (pixels) at which size stops adding quality.
        edge_margin: Boxes closer than this to the border count as cut by the frame edge.
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    box_height = boxes[:, 3] - boxes[:, 1]
    size = np.clip(box_height / full_height, 0.0, 1.0)
    cut = (
        (boxes[:, 0] < edge_margin)
        | (boxes[:, 1] < edge_margin)
        | (boxes[:, 2] > width - edge_margin)
        | (boxes[:, 3] > height - edge_margin)
    )
    edge = np.where(cut, _EDGE_PENALTY, 1.0)
    return np.asarray(confidence, dtype=np.float64) * size * edge * (1.0 - _covered_fraction(boxes))


def _covered_fraction(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Largest fraction of each box's area that one other box covers, shape (N,)."""
    if len(boxes) < 2:
        return np.zeros(len(boxes))
    top_left = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=2)
    np.fill_diagonal(inter, 0.0)
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-9)
    covered: npt.NDArray[np.float64] = np.clip(inter.max(axis=1) / area, 0.0, 1.0)
    return covered


def sharpness(crop: Image) -> float:
    """Focus measure in [0.5, 1]: Laplacian variance of the grey crop at a fixed height."""
    if crop.size == 0:
        return 0.5
    grey = crop.astype(np.float64).mean(axis=2)
    step = max(1, grey.shape[0] // _SHARPNESS_HEIGHT)
    grey = grey[::step, ::step]
    if min(grey.shape) < 3:
        return 0.5
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    variance = float(laplacian.var())
    return 0.5 + 0.5 * variance / (variance + _SHARPNESS_SCALE)


def crop(image: Image, xyxy: npt.NDArray[np.float32]) -> Image:
    """The box's pixels (a copy), clipped to the image; may be empty."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(xyxy, dtype=np.float64)
    left, top = int(np.clip(np.floor(x1), 0, w)), int(np.clip(np.floor(y1), 0, h))
    right, bottom = int(np.clip(np.ceil(x2), 0, w)), int(np.clip(np.ceil(y2), 0, h))
    return np.array(image[top:bottom, left:right])


@dataclass
class _OpenTrack:
    """What the builder has gathered so far about one running track."""

    start: float
    end: float
    path: list[PathPoint] = field(default_factory=list)
    confidence_sum: float = 0.0
    frames: int = 0
    best_quality: float = -1.0
    best_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    best_crop: Image | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Given at the start, so live updates and the finished sighting share it."""

    def add_point(self, point: PathPoint) -> None:
        """Append to the path; thin it to half when it reaches `MAX_PATH_POINTS`."""
        self.path.append(point)
        if len(self.path) >= MAX_PATH_POINTS:
            self.path = [*self.path[:-1:2], self.path[-1]]


class SightingBuilder:
    """Turns one camera's tracked detections into `Sighting`s of finished tracks.

    Args:
        camera_id: Camera these frames come from.
        data_dir: Where to save best crops as ``crops/<camera_id>/<sighting id>.jpg``
            (the stored `crop_path` is relative to it); ignored when ``save_crop`` is given.
        save_crop: Callback that stores a crop and returns its path; overrides ``data_dir``.
            With neither, crops are not saved and ``crop_path`` is None.
        finish_after_s: A track unseen this long is finished. Keep it above the
            tracker's ``lost_seconds``, or re-found tracks split into two sightings.
        min_frames: Tracks seen in fewer frames are marked ``short``.
        min_duration_s: Tracks shorter than this are marked ``short``.
        full_height: Box height in pixels at which a crop is big enough.
    """

    def __init__(
        self,
        camera_id: str,
        *,
        data_dir: Path | None = None,
        save_crop: CropSaver | None = None,
        finish_after_s: float = 3.0,
        min_frames: int = 5,
        min_duration_s: float = 0.5,
        full_height: float = 160.0,
    ) -> None:
        self.camera_id = camera_id
        self.finish_after_s = finish_after_s
        self.min_frames = min_frames
        self.min_duration_s = min_duration_s
        self.full_height = full_height
        self._save_crop = save_crop or (_jpeg_saver(Path(data_dir)) if data_dir is not None else None)
        self._open: dict[int, _OpenTrack] = {}
        self._last_index = -1

    def update(self, tracked: Detections, frame: Frame) -> list[Sighting]:
        """Take one frame's tracker output; return the sightings that finished.

        A frame index lower than the previous one means the stream restarted (and the
        tracker was reset): every open track is finished first.
        """
        finished = self.flush() if frame.index < self._last_index else []
        self._last_index = frame.index
        if len(tracked) and tracked.tracker_id is None:
            raise ValueError("SightingBuilder.update: expected tracked detections with tracker_id, got None")
        quality = geometric_quality(
            tracked.xyxy, tracked.confidence, frame.width, frame.height, self.full_height
        )
        feet = tracked.bottom_center
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0, np.int64)
        for row, track_id in enumerate(ids.tolist()):
            track = self._open.setdefault(track_id, _OpenTrack(start=frame.timestamp, end=frame.timestamp))
            track.end = frame.timestamp
            track.frames += 1
            track.confidence_sum += float(tracked.confidence[row])
            track.add_point(PathPoint(frame.timestamp, float(feet[row, 0]), float(feet[row, 1])))
            # Sharpness only scales quality down, so only a geometric winner is worth cropping.
            if quality[row] > track.best_quality:
                pixels = crop(frame.image, tracked.xyxy[row])
                total = quality[row] * sharpness(pixels)
                if total > track.best_quality:
                    track.best_quality = float(total)
                    track.best_box = tuple(float(v) for v in tracked.xyxy[row])  # type: ignore[assignment]
                    track.best_crop = pixels
        stale = [k for k, t in self._open.items() if frame.timestamp - t.end > self.finish_after_s]
        return finished + [self._finish(k) for k in stale]

    def flush(self) -> list[Sighting]:
        """Finish every open track (end of stream, or before a tracker reset)."""
        return [self._finish(k) for k in list(self._open)]

    def live(self, min_age_s: float = 1.0) -> list[tuple[Sighting, Image]]:
        """Provisional sightings of the open tracks seen for at least `min_age_s`, with best crops.

        Each carries the id its finished sighting will have, so live case matching and the
        stored sighting refer to one person. Crops are not saved (``crop_path`` is None).
        """
        return [
            (self._sighting(track_id, track, None), track.best_crop)
            for track_id, track in self._open.items()
            if track.end - track.start >= min_age_s and track.best_crop is not None and track.best_crop.size
        ]

    def _finish(self, track_id: int) -> Sighting:
        track = self._open.pop(track_id)
        crop_path = None
        if self._save_crop is not None and track.best_crop is not None and track.best_crop.size:
            crop_path = self._save_crop(track.id, self.camera_id, track.best_crop)
        return self._sighting(track_id, track, crop_path)

    def _sighting(self, track_id: int, track: _OpenTrack, crop_path: str | None) -> Sighting:
        return Sighting(
            id=track.id,
            camera_id=self.camera_id,
            tracker_id=track_id,
            start=track.start,
            end=track.end,
            best_box=track.best_box,
            crop_path=crop_path,
            path=tuple(track.path),
            confidence=track.confidence_sum / track.frames,
            frames=track.frames,
            short=track.frames < self.min_frames or track.end - track.start < self.min_duration_s,
        )


def _jpeg_saver(data_dir: Path) -> CropSaver:
    """Save crops as ``data_dir/crops/<camera>/<id>.jpg``; return the path relative to data_dir."""

    def save(sighting_id: str, camera_id: str, pixels: Image) -> str:
        import cv2  # only when crops are saved

        relative = Path("crops") / camera_id / f"{sighting_id}.jpg"
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(target), pixels):
            raise OSError(f"could not write crop {target}")
        return relative.as_posix()

    return save
