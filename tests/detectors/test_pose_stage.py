"""The posture stage in the pipeline: budget, cadence, privacy masks, lazy model, person_down end to end.

Real pieces: MoveNet lightning on frames of the bundled CC-BY indoor clip, the real tracker,
the pipeline and the person_down rule built from a site config. The lying person is that
clip's real walker with the whole frame turned 90 degrees; the detector of that test is an
oracle (it returns the person's known box), because neither SSDLite nor NanoDet box him on
his side at their default thresholds (``benchmarks/pose.py`` measures it): the test is about
the stage and the rule, the benchmark about the detectors. Model tests skip without the
fetched MoveNet (``./vigil.sh setup``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from alerts import build_rules
from config.loader import parse_config
from config.models import VigilConfig
from detectors.pose import PoseEstimator, default_models_dir
from detectors.pose_stage import LYING, PoseModel, PostureStage
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import AlertKind, AlertPhase, Detections, Frame, Image
from vigil.pipeline import FrameOutput, FramePipeline, build_processor

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "samples" / "one-by-one-person-detection.mp4"  # 768x432, 10 fps
needs_movenet = pytest.mark.skipif(
    not (default_models_dir() / "movenet-lightning.json").is_file(),
    reason="MoveNet not fetched: run ./vigil.sh setup",
)
# The walker in frame 300 of the clip (found by SSDLite), and that box once the frame is
# turned 90 degrees clockwise: (x, y) -> (431 - y, x).
PERSON_FRAME, PERSON_BOX = 300, np.array([370.8, 0.0, 536.3, 380.8], np.float32)
TURNED_BOX = np.array([431 - 380.8, 370.8, 431 - 0.0, 536.3], np.float32)

SITE: dict[str, Any] = {
    "data_dir": "data",
    "cameras": [
        {
            "id": "hall",
            "url": str(CLIP),
            "role": "ai",
            "detect_fps": 5,
            "motion": {"enabled": False},
            "zones": [{"name": "floor", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
    ],
    "rules": [
        {"name": "down", "type": "person_down", "camera": "hall", "enabled": True, "min_seconds": 2.0},
    ],
}


def site(tmp_path: Path, **rule: object) -> VigilConfig:
    data = copy.deepcopy(SITE)
    data["data_dir"] = str(tmp_path / "data")
    data["rules"][0].update(rule)
    return parse_config(data, environ={})


def clip_frames(start: int, count: int) -> list[Image]:
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, image = capture.read()
        assert ok
        frames.append(np.asarray(image, np.uint8))
    capture.release()
    return frames


class CountingBuild:
    """Builds the real estimator and counts the builds (0: the model was never loaded)."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> PoseEstimator:
        self.builds += 1
        return SpyEstimator()


class SpyEstimator(PoseEstimator):
    """The real MoveNet, remembering the boxes of every call."""

    def __init__(self) -> None:
        super().__init__("lightning")
        self.calls: list[npt.NDArray[np.float32]] = []

    def estimate(self, image: Image, boxes: npt.ArrayLike) -> npt.NDArray[np.float32]:
        self.calls.append(np.asarray(boxes, np.float32))
        return super().estimate(image, boxes)


class OracleDetector:
    """Returns the same person box in every image (the rotated walker's)."""

    name = "oracle"
    class_names: Sequence[str] = ("person",)

    def __init__(self, box: npt.NDArray[np.float32]) -> None:
        self.box = box

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        return [
            Detections(xyxy=self.box[None].copy(), confidence=np.array([0.9]), class_id=np.zeros(1, np.int64))
            for _ in images
        ]


def run(pipeline: FramePipeline, images: list[Image], fps: float, t0: float = 1_000.0) -> list[FrameOutput]:
    return [
        output
        for index, image in enumerate(images)
        for output in pipeline.step([Frame("hall", index, t0 + index / fps, image)])
    ]


# -- the stage on its own ---------------------------------------------------------------------------


def tracked(boxes: list[list[float]], class_ids: list[int] | None = None) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.array(class_ids if class_ids is not None else [0] * n, np.int64),
        tracker_id=np.arange(1, n + 1, dtype=np.int64),
    )


# Five people of different sizes (rows 0..4; row 0 largest).
CROWD = [
    [370, 0, 536, 380],
    [10, 10, 110, 250],
    [600, 100, 680, 300],
    [200, 200, 260, 350],
    [700, 300, 740, 400],
]


@pytest.fixture(scope="module")
def spy() -> SpyEstimator:
    return SpyEstimator() if (default_models_dir() / "movenet-lightning.json").is_file() else None  # type: ignore[return-value]


@pytest.fixture(scope="module")
def frame() -> Image:
    return clip_frames(PERSON_FRAME, 1)[0]


@needs_movenet
@pytest.mark.parametrize(
    ("max_per_frame", "every_frames", "expected"),
    [
        # 2 a frame, each track every 3rd frame: largest first, then the next ones while the first wait
        (2, 3, [[0, 1], [2, 3], [4], [0, 1], [2, 3], [4]]),
        # a budget of 5 covers everyone, every frame
        (5, 1, [[0, 1, 2, 3, 4]] * 6),
        # 1 a frame, every 2nd frame: the largest two alternate and the three smallest wait
        (1, 2, [[0], [1], [0], [1], [0], [1]]),
    ],
)
def test_largest_people_first_within_the_budget_and_each_track_at_most_every_k_frames(
    spy: SpyEstimator, frame: Image, max_per_frame: int, every_frames: int, expected: list[list[int]]
) -> None:
    stage = PostureStage(PoseModel(build=lambda: spy), max_per_frame=max_per_frame, every_frames=every_frames)
    people = tracked([[float(v) for v in box] for box in CROWD])
    scored = []
    for _ in expected:
        spy.calls.clear()
        lying = stage.annotate(frame, people, np.ones(len(people), bool)).data[LYING]
        rows = [
            int(np.flatnonzero((people.xyxy == box).all(axis=1))[0]) for call in spy.calls for box in call
        ]
        scored.append(sorted(rows))
        assert lying.shape == (5,) and lying.dtype == np.float32
    assert scored == expected
    assert stage.crops == sum(len(rows) for rows in expected)


@needs_movenet
def test_a_track_keeps_its_score_between_rescorings_and_new_ids_start_unscored(
    spy: SpyEstimator, frame: Image
) -> None:
    stage = PostureStage(PoseModel(build=lambda: spy), max_per_frame=1, every_frames=3)
    wide = [[100.0, 300.0, 400.0, 380.0]]  # a wide box: its score is high
    first = stage.annotate(frame, tracked(wide), np.ones(1, bool)).data[LYING][0]
    spy.calls.clear()
    again = stage.annotate(frame, tracked(wide), np.ones(1, bool)).data[LYING][0]
    assert spy.calls == [] and again == first > 0.5
    renamed = dict(tracked(wide).__dict__)
    renamed["tracker_id"] = np.array([7], np.int64)  # the tracker restarted: another person
    stage.reset()
    assert stage.annotate(frame, Detections(**renamed), np.ones(1, bool)).data[LYING][0] == first
    assert len(spy.calls) == 1  # scored afresh, not carried over


@needs_movenet
@pytest.mark.parametrize(
    ("mask", "scored"),
    [
        # no mask: both people
        ([], [0, 1]),
        # a mask over the left person: only the right one is looked at
        ([[(0.0, 0.0), (0.2, 0.0), (0.2, 1.0), (0.0, 1.0)]], [1]),
        # a mask over half the right person's box (x 570..650 of 490..650): refused at 0.5
        ([[(570 / 768, 0.0), (1.0, 0.0), (1.0, 1.0), (570 / 768, 1.0)]], [0]),
        # a mask over a quarter of it: still scored
        ([[(610 / 768, 0.0), (1.0, 0.0), (1.0, 1.0), (610 / 768, 1.0)]], [0, 1]),
    ],
)
def test_no_pose_on_people_under_a_privacy_mask(
    spy: SpyEstimator, frame: Image, mask: list[list[tuple[float, float]]], scored: list[int]
) -> None:
    people = tracked([[10.0, 10.0, 110.0, 250.0], [490.0, 100.0, 650.0, 300.0]])
    stage = PostureStage(PoseModel(build=lambda: spy), masks=mask)
    spy.calls.clear()
    lying = stage.annotate(frame, people, np.ones(2, bool)).data[LYING]
    looked = [int(np.flatnonzero((people.xyxy == box).all(axis=1))[0]) for call in spy.calls for box in call]
    assert sorted(looked) == scored
    assert all(lying[row] == 0.0 for row in {0, 1} - set(scored))


@needs_movenet
def test_rows_not_asked_for_non_people_and_tiny_boxes_cost_no_crop(spy: SpyEstimator, frame: Image) -> None:
    people = tracked(
        [[370, 0, 536, 380], [10, 10, 110, 250], [10, 300, 200, 360], [600, 400, 620, 410]],
        class_ids=[0, 0, 2, 0],  # a person, a person not asked for, a car, a tiny wide person
    )
    spy.calls.clear()
    lying = (
        PostureStage(PoseModel(build=lambda: spy))
        .annotate(frame, people, np.array([True, False, True, True]))
        .data[LYING]
    )
    assert [len(call) for call in spy.calls] == [1]  # only the big person asked for
    assert lying[0] < 0.2 and lying[1] == 0.0 and lying[2] == 0.0
    assert lying[3] > 0.5  # 20x10 px: the box cue alone (wide: lying)


def test_bad_rows_and_untracked_detections_are_refused() -> None:
    stage = PostureStage(PoseModel(build=CountingBuild()))
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValidationError, match="rows"):
        stage.annotate(image, tracked([[0, 0, 10, 40]]), np.ones(2, bool))
    untracked = Detections(
        xyxy=np.zeros((1, 4), np.float32), confidence=np.ones(1), class_id=np.zeros(1, np.int64)
    )
    with pytest.raises(ValidationError, match="tracked"):
        stage.annotate(image, untracked, np.ones(1, bool))
    with pytest.raises(ValidationError, match="max_per_frame"):
        PostureStage(PoseModel(), max_per_frame=0)


def test_a_missing_model_is_reported_once_and_the_stage_adds_no_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VIGIL_POSE_MODELS", str(tmp_path))  # nothing fetched there
    model = PoseModel()
    stage = PostureStage(model)
    people = tracked([[0, 0, 60, 200]])
    with caplog.at_level(logging.ERROR, logger="detectors.pose_stage"):
        for _ in range(5):
            assert (
                LYING not in stage.annotate(np.zeros((240, 320, 3), np.uint8), people, np.ones(1, bool)).data
            )
    assert len(caplog.records) == 1 and "./vigil.sh setup" in caplog.records[0].getMessage()
    with pytest.raises(ModelError, match=r"vigil\.sh setup"):
        model.get()


# -- in the pipeline, on real footage ---------------------------------------------------------------


@needs_movenet
def test_with_the_rule_on_tracked_people_get_lying_scores_and_upright_walking_raises_nothing(
    tmp_path: Path,
) -> None:
    from detectors.ssdlite import SsdliteDetector

    build = CountingBuild()
    detector = SsdliteDetector()
    config = site(tmp_path)
    pipeline = FramePipeline(detector)
    pipeline.add(
        build_processor(
            config, config.camera("hall"), detector, build_rules(config)["hall"], pose=PoseModel(build=build)
        )
    )
    outputs = run(pipeline, clip_frames(290, 20)[::2], fps=5)
    people = [o.tracked for o in outputs if len(o.tracked)]
    assert len(people) >= 5 and all(LYING in t.data for t in people)
    assert max(float(t.data[LYING].max()) for t in people) < 0.3  # he walks upright
    assert not [a for o in outputs for a in o.alerts]
    assert build.builds == 1 and pipeline.stats.pose_crops >= 3 and pipeline.stats.pose_seconds > 0


@needs_movenet
def test_a_person_lying_on_their_side_raises_person_down_after_min_seconds(tmp_path: Path) -> None:
    turned = np.ascontiguousarray(cv2.rotate(clip_frames(PERSON_FRAME, 1)[0], cv2.ROTATE_90_CLOCKWISE))
    config = site(tmp_path, min_seconds=2.0)
    detector = OracleDetector(TURNED_BOX)
    pipeline = FramePipeline(detector)
    pipeline.add(build_processor(config, config.camera("hall"), detector, build_rules(config)["hall"]))
    outputs = run(pipeline, [np.asarray(turned, np.uint8)] * 20, fps=5)  # 4 s lying still
    scored = [o for o in outputs if len(o.tracked)]
    first = scored[0].frame.timestamp
    assert all(float(o.tracked.data[LYING][0]) > 0.8 for o in scored)
    alerts = [(o.frame.timestamp, a) for o in outputs for a in o.alerts]
    assert [(a.kind, a.phase) for _, a in alerts] == [(AlertKind.PERSON_DOWN, AlertPhase.START)]
    assert 2.0 <= alerts[0][0] - first < 2.5
    # 20 frames, rescored every 3rd: a third of them cost a crop
    assert pipeline.stats.pose_crops == len(range(0, len(scored), 3))


@pytest.mark.parametrize(
    "rules",
    [
        # the person_down rule switched off
        [{"name": "down", "type": "person_down", "camera": "hall", "enabled": False}],
        # other rules only
        [{"name": "in", "type": "zone_intrusion", "camera": "hall", "zone": "floor"}],
    ],
)
def test_without_a_person_down_rule_the_pose_model_is_never_loaded(
    tmp_path: Path, rules: list[dict[str, object]]
) -> None:
    data = copy.deepcopy(SITE)
    data["data_dir"], data["rules"] = str(tmp_path / "data"), rules
    config = parse_config(data, environ={})
    build = CountingBuild()
    detector = OracleDetector(PERSON_BOX)
    pipeline = FramePipeline(detector)
    camera_rules = build_rules(config).get("hall", [])
    pipeline.add(
        build_processor(config, config.camera("hall"), detector, camera_rules, pose=PoseModel(build=build))
    )
    outputs = run(pipeline, clip_frames(PERSON_FRAME, 6), fps=5)
    assert any(len(o.tracked) for o in outputs)
    assert all(LYING not in o.tracked.data for o in outputs)
    assert build.builds == 0 and pipeline.stats.pose_crops == 0


def test_vigil_run_with_a_person_down_rule_and_no_model_stops_at_start_naming_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.runtime import Runtime

    monkeypatch.setenv("VIGIL_POSE_MODELS", str(tmp_path / "empty"))
    runtime = Runtime(site(tmp_path), detector=OracleDetector(PERSON_BOX))
    try:
        with pytest.raises(ModelError, match=r"MoveNet.*\./vigil\.sh setup"):
            runtime.start()
    finally:
        runtime.stop()


@needs_movenet
def test_privacy_masks_changed_while_running_take_effect_on_the_next_frame(tmp_path: Path) -> None:
    config = site(tmp_path)
    detector = OracleDetector(PERSON_BOX)
    pipeline = FramePipeline(detector)
    pipeline.add(build_processor(config, config.camera("hall"), detector, build_rules(config)["hall"]))
    images = clip_frames(PERSON_FRAME, 8)
    run(pipeline, images[:4], fps=5)
    crops = pipeline.stats.pose_crops
    assert crops > 0
    pipeline.set_privacy_masks("hall", [[(0.4, 0.0), (0.8, 0.0), (0.8, 1.0), (0.4, 1.0)]])  # over him
    outputs = [
        o
        for i, image in enumerate(images[4:], 4)
        for o in pipeline.step([Frame("hall", i, 1e3 + i / 5, image)])
    ]
    assert pipeline.stats.pose_crops == crops
    assert all(float(o.tracked.data[LYING].max(initial=0.0)) == 0.0 for o in outputs)


@needs_movenet
@pytest.mark.slow
def test_vigil_run_scores_posture_only_on_the_camera_with_a_person_down_rule(tmp_path: Path) -> None:
    """`vigil run` as it runs: two file-source AI cameras, the detect thread, the real SSDLite."""
    import time

    from detectors.ssdlite import SsdliteDetector
    from vigil.runtime import Runtime

    data = copy.deepcopy(SITE)
    data["data_dir"] = str(tmp_path / "data")
    data["cameras"].append({**data["cameras"][0], "id": "lane"})
    runtime = Runtime(parse_config(data, environ={}), detector=SsdliteDetector())
    runtime.start()
    try:
        assert runtime.pose.loaded and runtime._worker is not None  # loaded at start, not on a frame
        processors = runtime._worker.pipeline._processors
        hall, lane = processors["hall"].posture, processors["lane"].posture
        assert hall is not None and lane is not None
        deadline = time.monotonic() + 60
        while hall.crops == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hall.crops > 0 and runtime.stats.pose_crops >= hall.crops
        assert lane.crops == 0 and runtime._worker.pipeline.stats.frames > 0
    finally:
        runtime.stop()
