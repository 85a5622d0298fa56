"""The per-frame pipeline: `CameraProcessor` frame by frame, `FramePipeline` around a fake detector.

No threads, cameras or model: a fake detector "finds" the bright rectangle drawn in each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from alerts import build_rules
from alerts.zones import ZoneIntrusion
from config.loader import parse_config
from config.models import VigilConfig
from detectors.base import RegionDetector
from detectors.gating import RegionPlan, RegionPlanner
from detectors.tiling import Cells
from ingest.masks import apply_privacy_masks
from tests.factories import make_detections, make_frame
from tracker.sighting import SightingBuilder
from tracker.vigil_track import VigilTracker
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import Detections, Frame, Image
from vigil.pipeline import CameraProcessor, FrameOutput, FramePipeline, build_processor, detect_planned


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
    processor.plan(Frame("cam1", 3, 0.8, still))
    plan = processor.plan(Frame("cam1", 4, 1.0, moved))
    assert isinstance(plan, RegionPlan) and len(plan) >= 1
    x1, y1 = plan.regions[:, :2].min(axis=0).tolist()
    x2, y2 = plan.regions[:, 2:].max(axis=0).tolist()
    assert x1 <= 200 and x2 >= 240 and y1 <= 100 and y2 >= 180  # the regions cover the change


def test_processor_without_planner_detects_every_frame() -> None:
    assert make_processor().plan(make_frame()) is True


def test_gated_processor_coasts_tracks_on_skipped_frames_and_keeps_ids() -> None:
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
    processor = CameraProcessor(
        "cam1", VigilTracker(frame_rate=5), SightingBuilder("cam1"), [], planner=RegionPlanner()
    )
    for i in range(3):
        frame = make_frame(index=i, timestamp=i * 0.2)
        plan = processor.plan(frame)
        # The first frame has no background yet: one full look; a still, empty scene then costs nothing.
        assert (plan is not None and plan.full_frame) if i == 0 else plan is None  # type: ignore[union-attr]
        assert len(processor.process(frame, make_detections()).tracked) == 0


# -- FramePipeline -------------------------------------------------------------------------


class BrightDetector:
    """Finds one person per image: the box around its bright pixels (nothing in a dark frame)."""

    name = "bright"
    class_names: Sequence[str] = ("person",)

    def __init__(self) -> None:
        self.calls: list[int] = []
        """Images per `detect` call."""

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        self.calls.append(len(images))
        return [_bright_box(image) for image in images]


class RegionBrightDetector(BrightDetector):
    """`BrightDetector` that takes regions (a `RegionDetector`), recording what it was asked."""

    def __init__(self, packs_cells: bool) -> None:
        super().__init__()
        self.packs_cells = packs_cells
        self.regions: list[list[npt.ArrayLike | None]] = []

    def detect_many_regions(
        self,
        images: Sequence[Image],
        regions: Sequence[npt.ArrayLike | None],
        cells: Sequence[Cells | None] | None = None,
    ) -> list[Detections]:
        self.regions.append(list(regions))
        return self.detect(images)


def _bright_box(image: Image) -> Detections:
    rows, cols = np.nonzero(image.max(axis=2) > 128)
    if len(rows) == 0:
        return make_detections()
    box = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return make_detections(xyxy=[box], confidence=[0.9])


def site(data_dir: Path, motion: bool = False) -> VigilConfig:
    """Two AI cameras; a zone rule on the right half of cam1."""
    right = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
    return parse_config({
        "data_dir": str(data_dir),
        "cameras": [
            {"id": "cam1", "url": "rtsp://10.0.0.1/a", "role": "ai", "motion": {"enabled": motion},
             "zones": [{"name": "right", "polygon": right}]},
            {"id": "cam2", "url": "rtsp://10.0.0.2/a", "role": "ai", "motion": {"enabled": motion}},
        ],
        "rules": [{"name": "r", "type": "zone_intrusion", "camera": "cam1", "zone": "right"}],
    })  # fmt: skip


def pipeline_for(config: VigilConfig, detector: BrightDetector, **options: float) -> FramePipeline:
    pipeline = FramePipeline(detector, data_dir=Path(config.data_dir), **options)  # type: ignore[arg-type]
    rules = build_rules(config)
    for camera in config.cameras:
        pipeline.add(build_processor(config, camera, detector, rules.get(camera.id, [])))
    return pipeline


def walker(camera_id: str, index: int, timestamp: float, x: int | None) -> Frame:
    """A 320x240 frame; with `x`, a bright person 30x120 px at that left edge."""
    image = np.zeros((240, 320, 3), np.uint8)
    if x is not None:
        image[60:180, x : x + 30] = 255
    return Frame(camera_id, index, timestamp, image)


def test_pipeline_runs_cameras_frame_by_frame_to_described_sightings_and_alerts(tmp_path: Path) -> None:
    config = site(tmp_path)
    detector = BrightDetector()
    pipeline = pipeline_for(config, detector, live_min_age_s=1.0, live_refresh_s=2.0)
    outputs: list[FrameOutput] = []
    for i in range(25):  # a person walks right across cam1 at 5 fps; cam2 stays empty
        at = 1000.0 + 0.2 * i
        outputs += pipeline.step([walker("cam1", i, at, 20 + 10 * i), walker("cam2", i, at, None)])
    assert detector.calls == [2] * 25  # both cameras' frames in one detector call per step
    cam1 = [o for o in outputs if o.frame.camera_id == "cam1"]
    assert all(o.inferred for o in outputs) and sum(len(o.detections) for o in cam1) == 25
    assert sum(len(o.alerts) for o in cam1) == 1  # crossing into the right half once
    assert not any(o.sightings or o.updates or o.alerts for o in outputs if o.frame.camera_id == "cam2")
    # Provisional sightings of the track in view: from 1 s on, refreshed every 2 s, described.
    updates = [(o.frame.timestamp, u) for o in cam1 for u in o.updates]
    assert len(updates) >= 2 and all(u.descriptor is not None for _, u in updates)
    assert all(b - a >= 2.0 for (a, _), (b, _) in zip(updates, updates[1:], strict=False))
    finished = pipeline.finish()
    assert [s.camera_id for s in finished] == ["cam1"] and pipeline.camera_ids == []
    sighting = finished[0]
    assert {u.id for _, u in updates} == {sighting.id}  # live matching and the stored sighting agree
    assert sighting.crop_path is not None and (tmp_path / sighting.crop_path).is_file()
    assert sighting.descriptor is not None  # described from the saved crop
    stats = pipeline.stats
    assert (stats.frames, stats.detections, stats.batches, stats.skipped) == (50, 25, 25, 0)


def test_pipeline_without_live_option_publishes_no_provisional_sightings(tmp_path: Path) -> None:
    pipeline = pipeline_for(site(tmp_path), BrightDetector())
    outputs = [pipeline.step([walker("cam1", i, 0.2 * i, 20 + 10 * i)])[0] for i in range(15)]
    assert not any(o.updates for o in outputs)


def test_unreadable_crop_leaves_the_sighting_undescribed(tmp_path: Path) -> None:
    config = site(tmp_path)
    detector = BrightDetector()
    # The pipeline looks for crops where the builder did not save them.
    pipeline = FramePipeline(detector, data_dir=tmp_path / "elsewhere")
    pipeline.add(build_processor(config, config.camera("cam1"), detector))
    for i in range(10):
        pipeline.step([walker("cam1", i, 0.2 * i, 20 + 10 * i)])
    [sighting] = pipeline.remove("cam1")
    assert sighting.crop_path is not None and sighting.descriptor is None


@pytest.mark.parametrize(
    ("packs_cells", "pack"),
    [
        (True, True),  # a detector that unpacks cells gets packed looks
        (False, False),  # one that only takes regions is never sent cells
    ],
)
def test_gated_pipeline_sends_regions_to_a_region_detector_and_skips_still_frames(
    tmp_path: Path, packs_cells: bool, pack: bool
) -> None:
    config = site(tmp_path, motion=True)
    detector = RegionBrightDetector(packs_cells)
    assert isinstance(detector, RegionDetector) and not isinstance(BrightDetector(), RegionDetector)
    pipeline = pipeline_for(config, detector)
    dark = [pipeline.step([walker("cam2", i, 0.2 * i, None)])[0] for i in range(3)]
    # The first frame has no background yet: one full look; a still, empty scene then costs nothing.
    assert [o.inferred for o in dark] == [True, False, False]
    assert len(detector.regions) == 1 and detector.regions[0][0] is not None
    assert pipeline.stats.skipped == 2
    processor = build_processor(config, config.camera("cam1"), detector)
    assert processor.planner is not None and processor.planner.pack is pack


def test_detect_planned_shows_a_plain_detector_whole_frames_in_chunks() -> None:
    detector = BrightDetector()
    images = [walker("cam1", 0, 0.0, 10 * i).image for i in range(5)]
    found = detect_planned(detector, images, [True] * 5, chunk=2)
    assert detector.calls == [2, 2, 1] and [int(d.xyxy[0, 0]) for d in found] == [0, 10, 20, 30, 40]


def test_step_drops_frames_of_unknown_cameras_and_refuses_two_frames_of_one(tmp_path: Path) -> None:
    pipeline = pipeline_for(site(tmp_path), BrightDetector())
    assert pipeline.step([walker("gone", 0, 0.0, None)]) == []  # e.g. stopped meanwhile
    with pytest.raises(ValidationError, match="one frame per camera"):
        pipeline.step([walker("cam1", 0, 0.0, None), walker("cam1", 1, 0.2, None)])


def test_build_processor_refuses_a_filter_for_a_class_the_detector_lacks(tmp_path: Path) -> None:
    config = parse_config({
        "data_dir": str(tmp_path),
        "detector": {"type": "onnx", "model_path": "people.onnx"},  # names come with the model
        "cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/a", "role": "ai",
                     "filters": {"classes": {"car": {"min_score": 0.5}}}}],
    })  # fmt: skip
    with pytest.raises(ConfigError, match="car"):
        build_processor(config, config.camera("cam1"), BrightDetector())
