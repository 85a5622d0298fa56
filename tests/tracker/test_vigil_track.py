"""Association edge cases of `VigilTracker`, table-driven over small synthetic scenes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from tests.factories import make_detections
from tracker import Tracker, VigilTracker, VigilTrackerConfig
from vigil.core.types import Detections


@dataclass(frozen=True)
class Walker:
    """A box of fixed size moving at constant velocity, visible on some frames."""

    start: tuple[float, float]  # top-left at frame 0
    velocity: tuple[float, float]  # pixels per frame
    size: tuple[float, float] = (40.0, 100.0)
    hidden: tuple[int, ...] = ()  # frames where it is not detected
    score: float = 0.9
    frames: range | None = None  # frames where it exists; None = all

    def box(self, t: int) -> list[float]:
        x, y = self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t
        return [x, y, x + self.size[0], y + self.size[1]]

    def visible(self, t: int) -> bool:
        return t not in self.hidden and (self.frames is None or t in self.frames)


def run(walkers: list[Walker], n_frames: int, tracker: Tracker | None = None) -> list[dict[int, int]]:
    """Per frame, {walker index: reported tracker id} for the walkers that were reported."""
    tracker = tracker or VigilTracker(frame_rate=10)
    history = []
    for t in range(n_frames):
        rows = [i for i, w in enumerate(walkers) if w.visible(t)]
        dets = make_detections(
            xyxy=[walkers[i].box(t) for i in rows], confidence=[walkers[i].score for i in rows]
        )
        out = tracker.update(dets)
        history.append(_attribute(out, dets, rows))
    return history


def _attribute(out: Detections, dets: Detections, rows: list[int]) -> dict[int, int]:
    assert out.tracker_id is not None
    found = {}
    for box, track_id in zip(out.xyxy, out.tracker_id, strict=True):
        row = int(np.argmin(np.abs(dets.xyxy - box).sum(axis=1)))
        found[rows[row]] = int(track_id)
    return found


def ids_of(history: list[dict[int, int]], walker: int) -> set[int]:
    return {frame[walker] for frame in history if walker in frame}


@pytest.mark.parametrize(
    ("walkers", "n_frames", "expected_ids"),
    [
        # Two people cross paths (vertical offset, overlapping boxes mid-way): ids survive.
        ([Walker((0, 100), (8, 0)), Walker((400, 130), (-8, 0))], 50, [{1}, {2}]),
        # Diagonal crossing of two people with the same speed.
        ([Walker((0, 0), (6, 4)), Walker((300, 40), (-6, 4))], 50, [{1}, {2}]),
        # Short occlusion gap (5 frames = 0.5 s at 10 fps) well inside the track buffer: same id.
        ([Walker((0, 100), (5, 0), hidden=tuple(range(20, 25)))], 40, [{1}]),
        # A detection flicker (one missed frame) does not split the track.
        ([Walker((0, 100), (5, 0), hidden=(10,))], 30, [{1}]),
        # Gap far longer than the track buffer: the person comes back as a new track.
        ([Walker((0, 100), (2, 0), hidden=tuple(range(10, 80)))], 90, [{1, 2}]),
        # A standing person and a walker passing right in front of them.
        ([Walker((200, 100), (0, 0)), Walker((0, 110), (10, 0))], 45, [{1}, {2}]),
    ],
)
def test_identity_across_scenes(walkers: list[Walker], n_frames: int, expected_ids: list[set[int]]) -> None:
    history = run(walkers, n_frames)
    assert [ids_of(history, i) for i in range(len(walkers))] == expected_ids


@pytest.mark.parametrize(
    ("walkers", "reported"),
    [
        # A one-frame false positive is never reported and burns no id.
        ([Walker((0, 100), (5, 0)), Walker((300, 300), (0, 0), frames=range(5, 6))], [{1}, set()]),
        # A detection flickering on and off every other frame never confirms.
        (
            [Walker((300, 300), (0, 0), frames=range(0, 1)), Walker((100, 300), (0, 0), hidden=(2, 4, 6, 8))],
            None,
        ),
        # A weak detection alone never starts a track.
        ([Walker((0, 100), (5, 0), score=0.3)], [set()]),
    ],
)
def test_false_starts(walkers: list[Walker], reported: list[set[int]] | None) -> None:
    history = run(walkers, 12)
    if reported is not None:
        assert [ids_of(history, i) for i in range(len(walkers))] == reported
    assert all(len(frame) == len(set(frame.values())) for frame in history)


def test_weak_detection_keeps_running_track() -> None:
    # The person is half-occluded for frames 10-14: the detector's score drops to 0.3.
    tracker = VigilTracker(frame_rate=10)
    walker = Walker((0, 100), (5, 0))
    ids = set()
    for t in range(20):
        score = 0.3 if 10 <= t < 15 else 0.9
        out = tracker.update(make_detections(xyxy=[walker.box(t)], confidence=[score]))
        assert out.tracker_id is not None
        assert len(out) == 1, f"frame {t}: expected the track reported, got {len(out)} rows"
        ids.update(out.tracker_id.tolist())
    assert ids == {1}


def test_reset_restarts_ids_and_forgets_tracks() -> None:
    tracker = VigilTracker(frame_rate=10)
    walker = Walker((0, 100), (5, 0))
    for t in range(5):
        tracker.update(make_detections(xyxy=[walker.box(t), [300, 300, 340, 400]]))
    tracker.reset()
    out = tracker.update(make_detections(xyxy=[[500, 100, 540, 200]]))
    assert out.tracker_id is not None and out.tracker_id.tolist() == [1]


def test_first_frame_confirms_at_once_later_tracks_wait_for_min_hits() -> None:
    tracker = VigilTracker(frame_rate=10, config=VigilTrackerConfig(min_hits=3))
    person, newcomer = [0, 0, 40, 100], [200, 0, 240, 100]
    reported = [tracker.update(make_detections(xyxy=[person] + [newcomer] * (t > 0))) for t in range(4)]
    ids = [sorted(out.tracker_id.tolist()) for out in reported if out.tracker_id is not None]
    # The newcomer appears on frame 1 and is reported from its third hit (frame 3) on, as id 2.
    assert ids == [[1], [1], [1], [1, 2]]


def test_input_untouched_and_columns_carried() -> None:
    tracker = VigilTracker(frame_rate=10)
    dets = Detections(
        xyxy=np.array([[0, 0, 40, 100]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([3]),
        data={"embedding": np.ones((1, 8), np.float32)},
    )
    out = tracker.update(dets)
    assert dets.tracker_id is None
    assert out is not dets
    assert out.class_id.tolist() == [3]
    assert out.data["embedding"].shape == (1, 8)
    np.testing.assert_array_equal(out.xyxy, dets.xyxy)


@pytest.mark.parametrize(
    "frames",
    [
        [[]],  # empty stream start
        [[[0, 0, 40, 100]], [], [], [[0, 0, 40, 100]]],  # empty frames in between
        [[[0, 0, 40, 100]], [[0, 0, 40, 100]] * 3],  # duplicate detections of one person
    ],
)
def test_degenerate_frames(frames: list[list[list[float]]]) -> None:
    tracker = VigilTracker(frame_rate=10)
    for boxes in frames:
        out = tracker.update(make_detections(xyxy=boxes))
        assert out.tracker_id is not None
        assert len(set(out.tracker_id.tolist())) == len(out)


def test_appearance_separates_crossing_people_of_the_same_size() -> None:
    # Two people swap places through a full overlap; only their embeddings tell them apart.
    tracker = VigilTracker(frame_rate=10, config=VigilTrackerConfig())
    a, b = Walker((0, 100), (10, 0)), Walker((200, 100), (-10, 0))
    emb = np.eye(2, 8, dtype=np.float32)
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for t in range(21):
        dets = Detections(
            xyxy=np.array([a.box(t), b.box(t)], np.float32),
            confidence=np.array([0.9, 0.9], np.float32),
            class_id=np.zeros(2, np.int64),
            data={"embedding": emb},
        )
        out = tracker.update(dets)
        assert out.tracker_id is not None
        for row, track_id in zip(out.data["embedding"].argmax(axis=1), out.tracker_id, strict=True):
            seen[int(row)].add(int(track_id))
    assert seen == {0: {1}, 1: {2}}


def test_is_a_tracker() -> None:
    assert isinstance(VigilTracker(), Tracker)


def _iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def _confirmed_walker(tracker: VigilTracker, walker: Walker, frames: int) -> None:
    for t in range(frames):
        tracker.update(make_detections(xyxy=[walker.box(t)]))


@pytest.mark.parametrize(
    ("looks", "expected_ids"),
    [
        # Detect every frame: one id.
        ("DDDDDDDDDDDD", {1}),
        # Detect every third frame, coast between: one id, reported on every frame.
        ("DDDDCCDCCDCC", {1}),
        # A long coast (0.5 s at 10 fps), well inside max_coast_s: still one id.
        ("DDDDCCCCCDDD", {1}),
    ],
)
def test_coasting_keeps_ids_through_skipped_frames(looks: str, expected_ids: set[int]) -> None:
    tracker = VigilTracker(frame_rate=10)
    walker = Walker((0, 100), (5, 0))
    ids: set[int] = set()
    for t, look in enumerate(looks):
        out = tracker.update(make_detections(xyxy=[walker.box(t)])) if look == "D" else tracker.coast()
        assert out.tracker_id is not None
        if t >= 1:  # confirmed from the first frame on (stream start)
            assert len(out) == 1, f"frame {t} ({look}): expected the walker reported"
            assert bool(out.data["coasted"][0]) == (look == "C")
            # Predicted boxes follow the walker well enough to count as found (IoU >= 0.5).
            assert _iou(out.xyxy[0], walker.box(t)) >= 0.5
        ids.update(out.tracker_id.tolist())
    assert ids == expected_ids


def test_coasting_is_bounded_then_not_looked_counts_as_not_seen() -> None:
    config = VigilTrackerConfig(max_coast_s=0.5, track_buffer_s=0.3)
    tracker = VigilTracker(frame_rate=10, config=config)
    _confirmed_walker(tracker, Walker((0, 100), (5, 0)), 3)
    reported = [len(tracker.coast()) for _ in range(12)]
    # 5 coasted frames are free; then every coast is a miss: lost (not reported), then gone.
    assert reported == [1] * 5 + [0] * 7
    assert len(tracker._tracks) == 0


def test_coasting_starts_and_ends_nothing_and_keeps_the_class() -> None:
    tracker = VigilTracker(frame_rate=10)
    tracker.update(make_detections(xyxy=[[0, 0, 40, 100]], class_id=[2]))
    tracker.update(make_detections(xyxy=[[0, 0, 40, 100], [300, 0, 340, 100]], class_id=[2, 0]))
    out = tracker.coast()
    assert out.class_id.tolist() == [2]  # the tentative newcomer is not reported ...
    assert len(tracker._tracks) == 2  # ... nor dropped: coasting is not a miss


@pytest.mark.parametrize(
    ("looked", "reported_coasted"),
    [
        # The region holds the track but no detection: it was looked for and missed.
        ([[0, 0, 200, 300]], False),
        # The region is elsewhere: the track was not looked for, so it coasts.
        ([[500, 0, 700, 300]], True),
    ],
)
def test_update_with_looked_regions_coasts_only_tracks_outside_them(
    looked: list[list[float]], reported_coasted: bool
) -> None:
    tracker = VigilTracker(frame_rate=10)
    walker = Walker((0, 100), (5, 0))
    _confirmed_walker(tracker, walker, 3)
    out = tracker.update(make_detections(), looked=looked)
    assert len(out) == int(reported_coasted)
    assert out.tracker_id is not None and out.tracker_id.tolist() == [1] * int(reported_coasted)
    # Either way the walker is found again when next detected.
    found = tracker.update(make_detections(xyxy=[walker.box(4)]))
    assert found.tracker_id is not None and found.tracker_id.tolist() == [1]


def test_coasting_moves_on_at_the_last_observed_pace() -> None:
    # A walker seen at x=100, 115, 130 (15 px a frame): two coasted frames later it is at x=160,
    # where the filter's velocity, barely adapted at 5 fps, would lag behind.
    tracker = VigilTracker(frame_rate=5)
    for x in (100.0, 115.0, 130.0):
        tracker.update(make_detections(xyxy=[[x, 100, x + 40, 200]], confidence=[0.9]))
    coasted = tracker.coast()
    coasted = tracker.coast()
    assert coasted.xyxy[0, 0] == pytest.approx(160.0, abs=1.0)


def test_live_boxes_include_unconfirmed_tracks() -> None:
    tracker = VigilTracker(frame_rate=5)
    tracker.update(make_detections(xyxy=[[0, 0, 10, 20]], confidence=[0.9]))  # first frame: confirmed
    tracker.update(make_detections(xyxy=[[0, 0, 10, 20], [50, 50, 60, 70]], confidence=[0.9, 0.9]))
    boxes, confirmed = tracker.live_boxes()
    assert boxes.shape == (2, 4) and confirmed.tolist() == [True, False]
