import numpy as np
import pytest

from alerts.zones import ZoneIntrusion
from tests.factories import make_detections
from vigil.core.errors import ValidationError
from vigil.core.types import AlertKind

# Zone: the lower-right quarter of a 100x100 frame.
QUARTER = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]
INSIDE = [60.0, 40.0, 80.0, 90.0]  # foot point (70, 90): inside
HEAD_ONLY = [60, 10, 80, 45]  # box overlaps nothing of the zone; foot (70, 45) outside
BEHIND = [10, 40, 40, 90]  # foot point (25, 90): left of the zone


def rule(**kwargs: float) -> ZoneIntrusion:
    return ZoneIntrusion(name="r", camera_id="cam1", zone="z", polygon=np.array(QUARTER), **kwargs)  # type: ignore[arg-type]


def run(zone: ZoneIntrusion, frames: list[list[tuple[int, list[float]]]], dt: float = 0.2) -> list[int]:
    """Feed frames of (track id, box); return how many alerts each frame raised."""
    raised = []
    for i, frame in enumerate(frames):
        ids = [track for track, _ in frame]
        dets = make_detections(xyxy=[box for _, box in frame], tracker_id=ids)
        raised.append(len(zone.evaluate(dets, (100, 100), 1000.0 + i * dt)))
    return raised


@pytest.mark.parametrize(
    ("frames", "kwargs", "expected"),
    [
        # standing inside: one alert after min_frames, then quiet (cooldown)
        ([[(1, INSIDE)]] * 6, {"min_frames": 2}, [0, 1, 0, 0, 0, 0]),
        # only the foot point counts: a box whose feet are outside never alerts
        ([[(1, HEAD_ONLY)], [(1, BEHIND)]] * 3, {"min_frames": 1}, [0] * 6),
        # a one-frame blip inside is not enough with min_frames=2
        ([[(1, INSIDE)], [(1, BEHIND)], [(1, INSIDE)], [(1, BEHIND)]], {"min_frames": 2}, [0, 0, 0, 0]),
        # two people inside: one alert each
        ([[(1, INSIDE), (2, INSIDE)]] * 3, {"min_frames": 2}, [0, 2, 0]),
        # cooldown over (0 s): the same person alerts again once re-qualified
        ([[(1, INSIDE)]] * 3, {"min_frames": 1, "cooldown_s": 0.0}, [1, 1, 1]),
    ],
)
def test_zone_intrusion(frames, kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    assert run(rule(**kwargs), frames) == expected


def test_alert_fields() -> None:
    zone = rule(min_frames=1)
    alerts = zone.evaluate(make_detections(xyxy=[INSIDE], tracker_id=[7]), (100, 100), 5.0)
    assert alerts[0].kind is AlertKind.ZONE_INTRUSION
    assert (alerts[0].tracker_id, alerts[0].zone, alerts[0].camera_id) == (7, "z", "cam1")
    assert alerts[0].box == tuple(float(v) for v in INSIDE)


def test_untracked_detections_are_rejected() -> None:
    with pytest.raises(ValidationError, match="tracker_id"):
        rule().evaluate(make_detections(xyxy=[INSIDE]), (100, 100), 0.0)


def test_reset_forgets_cooldown() -> None:
    zone = rule(min_frames=1)
    assert run(zone, [[(1, INSIDE)]]) == [1]
    zone.reset()
    assert run(zone, [[(1, INSIDE)]]) == [1]
