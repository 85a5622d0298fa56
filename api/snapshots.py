"""Camera snapshots as the camera wall may show them: privacy masks blacked out.

Record workers refresh ``<data_dir>/snapshots/<camera_id>.jpg`` from the main stream, which
is not masked. Before a snapshot leaves the API its camera's privacy masks are filled black;
the masked JPEG is cached per file version (modification time and size) and mask set, so a
wall refreshing every camera every few seconds decodes each snapshot once.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from config.models import Polygon
from ingest.masks import apply_privacy_masks
from vigil.core.errors import SourceError

SNAPSHOT_DIR = "snapshots"
"""Folder of the snapshot files under the data directory (the record workers' ``snapshot_dir``)."""

MaskKey = tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True)
class Snapshot:
    """A snapshot ready to serve: JPEG bytes and when the file was written (epoch seconds)."""

    jpeg: bytes
    written_at: float


class UnreadableSnapshot(SourceError):
    """The snapshot file is not a JPEG OpenCV can decode, so its masks cannot be applied."""


def snapshot_path(data_dir: Path, camera_id: str) -> Path:
    """Where the record worker writes `camera_id`'s snapshot."""
    return data_dir / SNAPSHOT_DIR / f"{camera_id}.jpg"


def read_snapshot(path: Path, masks: Sequence[Polygon]) -> Snapshot | None:
    """The snapshot at `path` with `masks` blacked out, or None when there is none yet.

    Args:
        path: The snapshot file (`snapshot_path`).
        masks: The camera's privacy masks (normalised polygons).

    Returns:
        The masked JPEG and the file's modification time; None when the file does not exist.

    Raises:
        UnreadableSnapshot: The file does not decode (it is never served unmasked).
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key: MaskKey = tuple(tuple((float(x), float(y)) for x, y in mask.polygon) for mask in masks)
    jpeg = _masked(str(path), stat.st_mtime_ns, stat.st_size, key)
    if jpeg is None:
        return None
    return Snapshot(jpeg=jpeg, written_at=stat.st_mtime_ns / 1e9)


@lru_cache(maxsize=256)
def _masked(path: str, mtime_ns: int, size: int, masks: MaskKey) -> bytes | None:
    """The file's bytes, masked; `mtime_ns` and `size` only key the cache to the file's version."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:  # removed between stat and read
        return None
    if not masks:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableSnapshot(f"{path}: not a decodable JPEG ({len(data)} bytes)")
    masked = apply_privacy_masks(np.asarray(image, np.uint8), masks)
    ok, encoded = cv2.imencode(".jpg", masked, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:  # pragma: no cover - OpenCV encodes any decoded image
        raise UnreadableSnapshot(f"{path}: JPEG encoding failed")
    return bytes(encoded.tobytes())
