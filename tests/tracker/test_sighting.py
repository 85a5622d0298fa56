"""`SightingBuilder` and the best-crop score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_detections, make_frame
from tracker.sighting import MAX_PATH_POINTS, SightingBuilder, geometric_quality, sharpness
from vigil.core.types import Frame


def textured_frame(index: int, timestamp: float, size: tuple[int, int] = (320, 240)) -> Frame:
    frame = make_frame(index=index, timestamp=timestamp, size=size)
    rng = np.random.default_rng(index)
    image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Frame(frame.camera_id, frame.index, frame.timestamp, image)


@pytest.mark.parametrize(
    ("boxes", "confidence", "best"),
    [
        # Larger box wins, all else equal.
        ([[10, 10, 50, 110], [100, 10, 160, 160]], [0.9, 0.9], 1),
        # Same size, the one cut by the left frame edge loses.
        ([[0, 10, 40, 150], [100, 10, 140, 150]], [0.9, 0.9], 1),
        # Same size, the one mostly covered by another box loses (box 2 is the occluder).
        ([[100, 10, 140, 150], [200, 10, 240, 150], [105, 15, 145, 150]], [0.9, 0.9, 0.5], 1),
        # Same geometry, the more confident detection wins.
        ([[10, 10, 50, 150], [200, 10, 240, 150]], [0.5, 0.9], 1),
    ],
)
def test_geometric_quality_prefers(boxes: list[list[float]], confidence: list[float], best: int) -> None:
    dets = make_detections(xyxy=boxes, confidence=confidence)
    quality = geometric_quality(dets.xyxy, dets.confidence, width=320, height=240)
    assert int(np.argmax(quality)) == best


def test_sharpness_prefers_detail_over_blur() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)
    flat = np.full((64, 32, 3), 128, np.uint8)
    assert sharpness(sharp) > 0.9 > 0.6 > sharpness(flat)


def test_builder_emits_finished_tracks_with_path_and_best_crop(tmp_path: Path) -> None:
    builder = SightingBuilder("cam1", data_dir=tmp_path, finish_after_s=1.0, min_frames=3)
    emitted = []
    for i in range(10):
        # Track 1 walks right and grows; track 2 flashes for two frames.
        boxes, ids = [[10 + 5 * i, 20, 40 + 5 * i, 60 + 10 * i]], [1]
        if i in (2, 3):
            boxes.append([200, 20, 240, 120])
            ids.append(2)
        emitted += builder.update(
            make_detections(xyxy=boxes, tracker_id=ids), textured_frame(i, 100.0 + i * 0.1)
        )
    emitted += builder.update(make_detections(), textured_frame(10, 105.0))
    by_id = {s.tracker_id: s for s in emitted}
    assert set(by_id) == {1, 2}
    walker, flash = by_id[1], by_id[2]
    assert (walker.start, walker.frames, walker.short) == (100.0, 10, False)
    assert walker.end == pytest.approx(100.9)
    assert flash.short and flash.frames == 2
    assert [p.x for p in walker.path] == [25 + 5 * i for i in range(10)]
    assert walker.path[0].y == 60
    assert walker.best_box == (55.0, 20.0, 85.0, 150.0)  # the largest box, fully inside the frame
    assert walker.crop_path is not None and (tmp_path / walker.crop_path).is_file()


def test_stream_restart_finishes_open_tracks() -> None:
    saved: list[str] = []

    def save_crop(sid: str, cam: str, pixels: object) -> str:
        saved.append(sid)
        return f"x/{sid}.jpg"

    builder = SightingBuilder("cam1", save_crop=save_crop)
    builder.update(make_detections(xyxy=[[10, 10, 50, 110]], tracker_id=[1]), textured_frame(5, 10.0))
    finished = builder.update(
        make_detections(xyxy=[[10, 10, 50, 110]], tracker_id=[1]), textured_frame(0, 20.0)
    )
    assert len(finished) == 1 and finished[0].end == 10.0 and finished[0].crop_path == f"x/{saved[0]}.jpg"
    assert [s.start for s in builder.flush()] == [20.0]


def test_without_crop_storage_crop_path_is_none() -> None:
    builder = SightingBuilder("cam1")
    builder.update(make_detections(xyxy=[[10, 10, 50, 110]], tracker_id=[7]), textured_frame(0, 1.0))
    (sighting,) = builder.flush()
    assert sighting.crop_path is None and sighting.tracker_id == 7 and sighting.short


def test_a_track_that_never_ends_keeps_a_bounded_path_spanning_its_stay() -> None:
    builder = SightingBuilder("cam1")
    image = textured_frame(0, 0.0)
    frames = 5 * MAX_PATH_POINTS
    for index in range(frames):
        frame = Frame(image.camera_id, index, index / 25.0, image.image)
        builder.update(make_detections(xyxy=[[10, 10, 50, 110]], tracker_id=[1]), frame)
    (sighting,) = builder.flush()
    assert sighting.frames == frames
    assert len(sighting.path) < MAX_PATH_POINTS
    assert sighting.path[0].timestamp == 0.0 and sighting.path[-1].timestamp == (frames - 1) / 25.0
    assert [p.timestamp for p in sighting.path] == sorted(p.timestamp for p in sighting.path)
