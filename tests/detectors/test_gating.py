"""Motion detection and the region planner, on synthetic frames (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.gating import RegionPlan, RegionPlanner, cover
from detectors.motion import MotionDetector
from tests.factories import make_detections
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker
from vigil.core.types import Frame, Image
from vigil.pipeline import CameraProcessor


def make_frame(boxes: list[tuple[int, int, int, int]] = (), brightness: int = 120) -> Image:  # type: ignore[assignment]
    image = np.full((720, 1280, 3), brightness, np.uint8)
    for x1, y1, x2, y2 in boxes:
        image[y1:y2, x1:x2] = 20
    return image


def test_static_scene_has_no_motion_and_no_inference() -> None:
    planner = RegionPlanner()
    first = planner.plan(make_frame(), (), 0.0)
    assert first is not None and first.full_frame  # no background yet: one full look
    assert planner.plan(make_frame(), (), 0.2) is None
    assert planner.plan(make_frame(), (), 0.4) is None


def test_a_moving_person_gets_one_model_sized_region_around_it() -> None:
    planner = RegionPlanner(region_px=(384, 288))
    planner.plan(make_frame(), (), 0.0)
    plan = planner.plan(make_frame([(600, 300, 640, 380)]), (), 0.2)
    assert plan is not None and len(plan) == 1 and not plan.full_frame
    x1, y1, x2, y2 = plan.regions[0]
    assert (x2 - x1, y2 - y1) == (384, 288)
    assert x1 <= 600 and y1 <= 300 and x2 >= 640 and y2 >= 380


def test_global_lighting_change_is_not_motion() -> None:
    motion = MotionDetector()
    motion.update(make_frame(brightness=100))
    assert len(motion.update(make_frame(brightness=160))) == 0  # mean-normalised: no change


def test_motion_mask_hides_motion() -> None:
    motion = MotionDetector(masks=[[(0.4, 0.3), (0.6, 0.3), (0.6, 0.7), (0.4, 0.7)]])
    motion.update(make_frame())
    assert len(motion.update(make_frame([(600, 300, 640, 380)]))) == 0
    assert len(motion.update(make_frame([(100, 100, 140, 180)]))) == 1


def test_standing_tracks_are_rechecked_only_at_the_interval() -> None:
    planner = RegionPlanner(recheck_interval_s=1.0)
    still = [(100, 100, 140, 180)]
    planner.plan(make_frame(), still, 0.0)
    assert planner.plan(make_frame(), still, 0.2) is None  # no motion, re-check not due
    due = planner.plan(make_frame(), still, 1.1)
    assert due is not None and due.tracked == 1


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([(10, 10, 50, 90), (60, 20, 100, 100)], 1),  # neighbours share one region
        ([(10, 10, 50, 90), (1200, 600, 1240, 700)], 2),  # opposite corners need two
        ([(0, 0, 1000, 600)], 1),  # bigger than a region: one region, shown smaller
        ([], 0),  # nothing to cover
    ],
)
def test_cover_counts(boxes: list[tuple[int, int, int, int]], expected: int) -> None:
    regions = cover(np.array(boxes, float).reshape(-1, 4), 1280, 720, (384, 288))
    assert len(regions) == expected
    for box in boxes:  # every box lies wholly inside some region
        assert any(r[0] <= box[0] and r[1] <= box[1] and r[2] >= box[2] and r[3] >= box[3] for r in regions)


def test_motion_everywhere_never_costs_more_than_tiling() -> None:
    planner = RegionPlanner()
    planner.plan(make_frame(), (), 0.0)
    movers = [(x, y, x + 30, y + 60) for x in range(20, 1240, 160) for y in range(20, 660, 160)]
    plan = planner.plan(make_frame(movers), (), 0.2)
    assert plan is not None and len(plan) <= 12  # the 4x3 tiling of 384x288 regions


TRACK = (600, 300, 640, 380)  # a tracked person's predicted box


@pytest.mark.parametrize(
    ("coast", "moving", "timestamp", "expected"),
    [
        # Coasting, between re-checks: motion on the tracked person is explained: no inference.
        (True, [TRACK], 0.2, "skip"),
        # Coasting: a new person far from every track is unexplained: detect around them only.
        (True, [TRACK, (100, 100, 140, 180)], 0.2, "partial"),
        # Coasting, re-check due: a full look at all motion and every track.
        (True, [TRACK], 1.1, "full"),
        # Without coasting, all motion is looked at every frame.
        (False, [TRACK], 0.2, "full"),
    ],
)
def test_coasting_planner_detects_only_unexplained_motion(
    coast: bool, moving: list[tuple[int, int, int, int]], timestamp: float, expected: str
) -> None:
    planner = RegionPlanner(recheck_interval_s=1.0, coast=coast)
    planner.plan(make_frame(), [TRACK], 0.0)
    plan = planner.plan(make_frame(moving), [TRACK], timestamp)
    kind = "skip" if plan is None else "partial" if plan.partial else "full"
    assert kind == expected
    if kind == "partial":
        assert plan is not None and len(plan) == 1
        x1, y1, x2, y2 = plan.regions[0]
        assert x1 <= 100 and y1 <= 100 and x2 >= 140 and y2 >= 180  # the newcomer is covered
        assert not (x1 <= 600 and x2 >= 640)  # the tracked person is left to the tracker


def test_motion_where_a_track_lately_was_is_explained() -> None:
    # A tracked walker leaves a trail in the background model; the trail is not news.
    planner = RegionPlanner(recheck_interval_s=10.0)
    planner.plan(make_frame([(600, 300, 640, 380)]), [], 0.0)
    planner.plan(make_frame([(600, 300, 640, 380)]), [(600, 300, 640, 380)], 0.2)
    assert planner.plan(make_frame([(680, 300, 720, 380)]), [(680, 300, 720, 380)], 0.4) is None


def test_unconfirmed_tracks_are_looked_at_between_rechecks() -> None:
    planner = RegionPlanner(recheck_interval_s=10.0)
    planner.plan(make_frame(), [], 0.0)
    plan = planner.plan(make_frame(), [TRACK], 0.2, pending_xyxy=[TRACK])
    assert plan is not None and plan.partial and plan.tracked == 1


def test_a_track_missed_at_a_look_is_looked_at_again_next_frame() -> None:
    # A region crop can miss a person the last look found; unlooked, the track would stay lost
    # until the next re-check, so the camera looks at it again at once.
    tracker = VigilTracker(frame_rate=5)
    processor = CameraProcessor(
        "cam", tracker, SightingBuilder("cam"), [], planner=RegionPlanner(recheck_interval_s=1.0)
    )
    for index, (timestamp, found) in enumerate(
        [(0.0, [TRACK]), (1.1, [])]
    ):  # seen, then missed at a re-check
        frame = Frame("cam", index, timestamp, make_frame())
        processor.plan(frame)
        processor.process(frame, make_detections(xyxy=found))
    plan = processor.plan(Frame("cam", 2, 1.3, make_frame()))
    assert isinstance(plan, RegionPlan) and plan.partial and plan.tracked == 1


def test_unconfirmed_tracks_far_apart_share_one_packed_input() -> None:
    planner = RegionPlanner(recheck_interval_s=10.0)
    planner.plan(make_frame(), [], 0.0)
    pending = [(100, 100, 140, 180), (1100, 500, 1140, 580)]  # opposite corners: two regions unpacked
    plan = planner.plan(make_frame(), pending, 0.2, pending_xyxy=pending)
    assert plan is not None and len(plan) == 1 and len(plan.regions) == 0 and len(plan.cells) == 2
    assert plan.cell_scale == (300 / 384, 300 / 288)  # shown as large as in a region
    for x1, y1, x2, y2 in pending:  # each track lies inside a cell, with room around it
        assert any(c[0] <= x1 - 24 and c[1] <= y1 and c[2] >= x2 + 24 and c[3] >= y2 for c in plan.looked)
    unpacked = RegionPlanner(recheck_interval_s=10.0, pack=False)
    unpacked.plan(make_frame(), [], 0.0)
    assert len(unpacked.plan(make_frame(), pending, 0.2, pending_xyxy=pending) or ()) == 2


# Walkers in a diagonal chain: their moving areas merge into one blob much larger than they are.
CHAIN = [(100 + 60 * k, 100 + 40 * k, 150 + 60 * k, 200 + 40 * k) for k in range(8)]


@pytest.mark.parametrize(
    ("newcomer", "expected"),
    [
        (None, "skip"),  # only the tracked walkers changed: nothing to look at
        ((1100, 500, 1140, 580), "newcomer"),  # someone untracked changed: look there only
    ],
)
def test_between_rechecks_only_change_outside_tracks_is_news(
    newcomer: tuple[int, int, int, int] | None, expected: str
) -> None:
    planner = RegionPlanner(recheck_interval_s=10.0)
    planner.plan(make_frame(), [], 0.0)
    planner.plan(make_frame(CHAIN), CHAIN, 0.2)  # they appear (the background still shows the floor)
    moved = [(x1 + 8, y1, x2 + 8, y2) for x1, y1, x2, y2 in CHAIN]
    plan = planner.plan(make_frame(moved + ([newcomer] if newcomer else [])), moved, 0.4)
    if expected == "skip":
        assert plan is None
    else:
        assert plan is not None and plan.partial and len(plan) == 1
        assert all(box[0] >= 600 for box in plan.looked)  # right of the chain: the newcomer only
