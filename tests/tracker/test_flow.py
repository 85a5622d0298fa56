"""Coasting by optical flow: `tracker.flow` and the tracker's use of it (synthetic frames)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from tests.factories import make_detections
from tracker import VigilTracker
from tracker.flow import box_shifts, grey_small

FRAME = (360, 640)  # height, width: the flow's work size, no resize


def make_frame(person_x: float, person_y: float = 100.0) -> npt.NDArray[np.uint8]:
    """A flat floor with one textured 40x100 'person' whose top-left is at (person_x, person_y)."""
    image = np.full((*FRAME, 3), 128, np.uint8)
    texture = np.random.default_rng(0).integers(0, 255, (100, 40), dtype=np.uint8)
    x, y = round(person_x), round(person_y)
    image[y : y + 100, x : x + 40] = texture[..., None]
    return image


def box(person_x: float, person_y: float = 100.0) -> list[float]:
    return [person_x, person_y, person_x + 40, person_y + 100]


@pytest.mark.parametrize(
    ("moved", "expected_ok"),
    [
        ((12.0, 0.0), True),  # a walker at 5 fps: 12 px a frame
        ((-8.0, 6.0), True),  # turned back and down
        ((0.0, 0.0), True),  # standing still: a zero shift, trusted
    ],
)
def test_box_shifts_follow_the_textured_person(moved: tuple[float, float], expected_ok: bool) -> None:
    before, scale = grey_small(make_frame(200))
    after, _ = grey_small(make_frame(200 + moved[0], 100 + moved[1]))
    shifts, ok = box_shifts(before, after, scale, np.array([box(200)]))
    assert ok.tolist() == [expected_ok]
    assert shifts[0] == pytest.approx(moved, abs=1.0)


def test_box_shifts_do_not_trust_a_flat_box() -> None:
    before, scale = grey_small(make_frame(200))
    after, _ = grey_small(make_frame(212))
    shifts, ok = box_shifts(before, after, scale, np.array([box(450)]))  # nothing but floor there
    assert ok.tolist() == [False] and shifts[0].tolist() == [0.0, 0.0]


def test_coasting_follows_a_walker_who_turns_back() -> None:
    # Seen walking right at 15 px a frame, then coasted while walking back left: the pace alone would
    # carry the box right (to x=175), the flow keeps it on the person (x=115).
    tracker = VigilTracker(frame_rate=5)
    for x in (100.0, 115.0, 130.0):
        tracker.update(make_detections(xyxy=[box(x)], confidence=[0.9]), make_frame(x))
    coasted = tracker.coast(make_frame(130))
    for x in (125.0, 120.0, 115.0):
        coasted = tracker.coast(make_frame(x))
    assert coasted.xyxy[0, 0] == pytest.approx(115.0, abs=2.0)


def test_a_confirmed_track_just_missed_is_looked_at_again() -> None:
    tracker = VigilTracker(frame_rate=5)
    tracker.update(make_detections(xyxy=[box(100)], confidence=[0.9]))  # first frame: confirmed
    assert tracker.live_boxes()[1].tolist() == [True]
    tracker.update(make_detections())  # looked at, not found
    assert tracker.live_boxes()[1].tolist() == [False]
