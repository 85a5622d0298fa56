import numpy as np

from alerts.zones import ZoneIntrusion
from ingest.masks import apply_privacy_masks
from tests.factories import make_detections, make_frame
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker
from vigil.pipeline import CameraProcessor


def make_processor() -> CameraProcessor:
    zone = ZoneIntrusion(
        name="r",
        camera_id="cam1",
        zone="z",
        polygon=np.array([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]),
        min_frames=1,
    )
    return CameraProcessor(
        "cam1", VigilTracker(frame_rate=5), SightingBuilder("cam1", finish_after_s=1.0), [zone]
    )


def walk(processor: CameraProcessor, start_index: int, steps: int, t0: float):  # type: ignore[no-untyped-def]
    """One person walking right across a 320x240 frame, 10 px per frame at 5 fps."""
    results = []
    for i in range(steps):
        x = 20 + 10 * i
        frame = make_frame(index=start_index + i, timestamp=t0 + i * 0.2)
        results.append(
            processor.process(frame, make_detections(xyxy=[[x, 60, x + 30, 180]], confidence=[0.9]))
        )
    return results


def test_person_walking_into_zone_gives_alert_and_one_sighting() -> None:
    processor = make_processor()
    results = walk(processor, 0, 25, 1000.0)
    assert sum(len(r.alerts) for r in results) == 1  # crossing x=160 once
    ids = {
        int(i) for r in results for i in (r.tracked.tracker_id if r.tracked.tracker_id is not None else [])
    }
    assert len(ids) == 1  # one identity all the way
    # Nothing seen for longer than finish_after_s: the track ends as one sighting.
    empty = processor.process(make_frame(index=25, timestamp=1000.0 + 25 * 0.2 + 2.0), make_detections())
    assert len(empty.sightings) == 1
    sighting = empty.sightings[0]
    assert sighting.frames >= 20 and not sighting.short
    assert sighting.path[0].x < sighting.path[-1].x  # walked right


def test_stream_restart_finishes_open_tracks_and_resets_ids() -> None:
    processor = make_processor()
    walk(processor, 100, 5, 1000.0)
    after = walk(processor, 0, 5, 1010.0)  # frame index went back: the stream restarted
    assert len(after[0].sightings) == 1


def test_privacy_mask_blacks_out_without_touching_input() -> None:
    image = np.full((10, 20, 3), 255, np.uint8)
    masked = apply_privacy_masks(image, [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]])
    assert image.min() == 255  # caller's image untouched
    assert masked[:, :9].max() == 0 and masked[:, 12:].min() == 255
    assert apply_privacy_masks(image, []) is image


def test_gated_processor_skips_still_frames_and_plans_regions_around_motion() -> None:
    from detectors.gating import RegionPlan, RegionPlanner

    processor = CameraProcessor(
        "cam1",
        VigilTracker(frame_rate=5),
        SightingBuilder("cam1"),
        [],
        planner=RegionPlanner(region_px=(96, 96)),
    )
    still = np.full((240, 320, 3), 120, np.uint8)
    plans = [processor.plan(make_frame(index=i, timestamp=i * 0.2)) for i in range(3)]
    # make_frame gives black frames: after the first (background learning), nothing moves.
    assert plans[-1] is None
    moved = still.copy()
    moved[100:180, 200:240] = 255  # a bright "person" appears on the right
    from vigil.core.types import Frame

    processor.plan(Frame("cam1", 3, 0.8, still))
    plan = processor.plan(Frame("cam1", 4, 1.0, moved))
    assert isinstance(plan, RegionPlan) and len(plan) >= 1
    x1, y1 = plan.regions[:, :2].min(axis=0).tolist()
    x2, y2 = plan.regions[:, 2:].max(axis=0).tolist()
    assert x1 <= 200 and x2 >= 240 and y1 <= 100 and y2 >= 180  # the regions cover the change


def test_processor_without_planner_detects_every_frame() -> None:
    assert make_processor().plan(make_frame()) is True


def test_gated_processor_coasts_tracks_on_skipped_frames_and_keeps_ids() -> None:
    from detectors.gating import RegionPlanner
    from vigil.core.types import Frame

    processor = CameraProcessor(
        "cam1",
        VigilTracker(frame_rate=5),
        SightingBuilder("cam1"),
        [],
        planner=RegionPlanner(recheck_interval_s=1.0),
    )
    still = np.full((240, 320, 3), 120, np.uint8)
    kinds: list[str] = []
    ids: set[int] = set()
    for i in range(10):
        frame = Frame("cam1", i, i * 0.2, still)
        # Frame 0 is processed without a plan (a full look) so a track exists; then nothing
        # moves, so the planner looks in full only at re-checks, once a second.
        plan = processor.plan(frame) if i else True
        x = 20 + 2 * i
        seen = make_detections(xyxy=[[x, 60, x + 30, 180]]) if plan is not None else make_detections()
        tracked = processor.process(frame, seen).tracked
        kinds.append("skip" if plan is None else "look")
        assert len(tracked) == 1, f"frame {i} ({kinds[-1]}): the person must be reported"
        assert bool(tracked.data["coasted"][0]) == (plan is None)
        ids.update(tracked.tracker_id.tolist() if tracked.tracker_id is not None else [])
    assert kinds == ["look"] * 2 + ["skip"] * 4 + ["look"] + ["skip"] * 3 and ids == {1}


def test_gated_processor_without_tracks_skips_as_before() -> None:
    from detectors.gating import RegionPlanner

    processor = CameraProcessor(
        "cam1", VigilTracker(frame_rate=5), SightingBuilder("cam1"), [], planner=RegionPlanner()
    )
    for i in range(3):
        frame = make_frame(index=i, timestamp=i * 0.2)
        plan = processor.plan(frame)
        # The first frame has no background yet: one full look; a still, empty scene then costs nothing.
        assert (plan is not None and plan.full_frame) if i == 0 else plan is None  # type: ignore[union-attr]
        assert len(processor.process(frame, make_detections()).tracked) == 0
