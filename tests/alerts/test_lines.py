"""Line crossing: sides with a dead band, one count per real crossing, counts per interval, speed."""

from __future__ import annotations

import numpy as np
import pytest

from alerts.calibration import GroundPlane
from alerts.common import ObjectFilter, RuleGate
from alerts.lines import CrossingDetector, LineCrossing, side_of_polyline
from config.models import Calibration
from tests.alerts.tracks import SIZE, feed, flat, people, walk
from vigil.core.types import AlertKind, AlertSeverity, Detections, Direction

# A line across the middle of the 100x100 frame, drawn left to right, x from 10 to 90 px.
# Walking it from its first point, the lower half (y > 50) is on the right hand: 'in'.
LINE = np.array([[0.1, 0.5], [0.9, 0.5]])
IN, OUT = Direction.IN, Direction.OUT
# Square 10 m a side seen straight from above: 1 px = 0.1 m in the 100x100 frame.
TOP_DOWN = Calibration(image=[(0, 0), (1, 0), (1, 1), (0, 1)], ground=[(0, 0), (10, 0), (10, 10), (0, 10)])


def detector(**kwargs: object) -> CrossingDetector:
    return CrossingDetector(LINE, in_side=kwargs.pop("in_side", "right"), hysteresis=0.05, **kwargs)  # type: ignore[arg-type]


def directions(
    det: CrossingDetector, frames: list[Detections], dt: float = 0.2
) -> list[tuple[int, Direction]]:
    out = []
    for i, frame in enumerate(frames):
        out += [(c.track, c.direction) for c in det.update(frame, SIZE, 1000.0 + i * dt)]
    return out


def at(*ys: float, track: int = 1, x: float = 50.0) -> list[Detections]:
    """One person at foot height `y` (px) frame after frame, at `x`."""
    return [people((track, x, y)) for y in ys]


@pytest.mark.parametrize(
    ("point", "in_side", "expected"),
    [
        ((50, 80), "right", 1),  # below a left-to-right line: the walker's right hand
        ((50, 20), "right", -1),  # above it: left hand, 'out'
        ((50, 20), "left", 1),  # the same point with in_side left
        ((50, 52), "right", 0),  # 2 px from the line: inside the 5 px band
        ((95, 80), "right", 2),  # beyond the last point
        ((5, 20), "right", 2),  # beyond the first point
        ((90, 80), "right", 1),  # exactly under the end point: still within the line's reach
    ],
)
def test_side_of_polyline(point: tuple[float, float], in_side: str, expected: int) -> None:
    sides = side_of_polyline(np.array([point], float), LINE * SIZE, in_side, band=5.0)
    assert sides.tolist() == [expected]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # walking down across the line: one crossing 'in'
        (at(30, 40, 50, 60, 70), [(1, IN)]),
        # jitter on the line (within the 5 px band) after coming from above: no crossing ...
        (at(30, 40, 47, 53, 48, 54, 46, 52, 45.5), []),
        # ... and once the person walks on, exactly one
        (at(30, 40, 47, 53, 48, 54, 46, 52, 60, 54, 58, 70), [(1, IN)]),
        # there and back: one each way
        (at(30, 60, 70, 60, 40, 30), [(1, IN), (1, OUT)]),
        # a track born on the in side has crossed nothing
        (at(60, 70, 80), []),
        # first seen on the line (in the band) on its out half, then walking off 'in': a crossing
        (at(47, 53, 60, 70), [(1, IN)]),
        # first seen in the band on the in half, walking on 'in': it never crossed the line
        (at(53, 60, 70), []),
        # first seen in the band on the out half, walking back 'out': no crossing either
        (at(47, 40, 30), []),
        # first seen in the band, jittering over the line inside it: nothing
        (at(47, 53, 48, 52, 46), []),
        # a track briefly lost (absent frames) keeps its side: lost above, found below is a crossing
        (at(30, 40) + [people()] * 5 + at(60, 70), [(1, IN)]),
        # walking round the end of the line (beyond x = 90) forgets the side: no crossing
        (
            walk(1, (50, 30), (95, 30), 5) + walk(1, (95, 30), (95, 70), 5) + walk(1, (95, 70), (50, 70), 5),
            [],
        ),
        # crossing near the end, still over the line: counts
        (walk(1, (88, 30), (88, 70), 6), [(1, IN)]),
        # two people crossing opposite ways in the same frames
        (
            [
                people((1, 50, y1), (2, 30, y2))
                for y1, y2 in zip([30, 40, 60, 70], [70, 60, 40, 30], strict=True)
            ],
            [(1, IN), (2, OUT)],
        ),
    ],
)
def test_crossings(frames: list[Detections], expected: list[tuple[int, Direction]]) -> None:
    assert directions(detector(), frames) == expected


def test_a_track_gone_longer_than_forget_after_starts_over() -> None:
    det = detector(forget_after_s=2.0)
    assert directions(det, at(30, 40) + [people()] * 20 + at(60, 70)) == []  # 4 s away: a new person


def test_polyline_crossings_count_per_segment() -> None:
    # A V: down from (10, 20) to (50, 80), up to (90, 20); 'in' is inside the V (above it).
    det = CrossingDetector(np.array([[0.1, 0.2], [0.5, 0.8], [0.9, 0.2]]), in_side="left", hysteresis=0.05)
    frames = walk(1, (30, 80), (30, 30), 6) + walk(1, (30, 30), (70, 30), 4) + walk(1, (70, 30), (70, 90), 6)
    assert directions(det, frames) == [(1, IN), (1, OUT)]


def rule(**kwargs: object) -> LineCrossing:
    defaults: dict[str, object] = {
        "name": "gate-count",
        "camera_id": "cam1",
        "line": "gate",
        "detector": detector(),
    }
    return LineCrossing(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_counts_per_interval_are_handed_out_once_closed() -> None:
    counter = rule(count_interval_s=10.0)
    # t 1000..1001: one person in; t 1003..1004: another out; t 1012..1013: a third in.
    feed(counter, at(30, 40, 60, 70, track=1), t0=1000.0)
    feed(counter, at(70, 60, 40, 30, track=2), t0=1003.0)
    assert counter.drain_counts(1009.9) == []  # [1000, 1010) is still open
    feed(counter, at(30, 40, 60, 70, track=3), t0=1012.0)
    (first,) = counter.drain_counts(1010.0)
    assert (first.start, first.end, first.count_in, first.count_out) == (1000.0, 1010.0, 1, 1)
    assert (first.rule, first.camera_id, first.line) == ("gate-count", "cam1", "gate")
    assert counter.drain_counts(1015.0) == []  # handed out once; [1010, 1020) still open
    feed(counter, [people()], t0=1031.0)  # a watched but empty interval [1030, 1040)
    drained = counter.drain_counts(1040.0)
    # [1020, 1030) saw no frame: not reported (not watched), [1030, 1040) reports zero
    assert [(c.start, c.count_in, c.count_out) for c in drained] == [(1010.0, 1, 0), (1030.0, 0, 0)]


@pytest.mark.parametrize(
    ("alert_on", "expected"),
    [
        (frozenset(), []),  # default: count only
        (frozenset({IN}), [IN]),  # only the chosen direction alerts
        (frozenset({IN, OUT}), [IN, OUT]),
    ],
)
def test_alert_on_directions(alert_on: frozenset[Direction], expected: list[Direction]) -> None:
    counter = rule(alert_on=alert_on, cooldown_s=0.0)
    alerts = flat(feed(counter, at(30, 60, 70, 40, 30)))
    assert [a.direction for a in alerts] == expected


def test_alert_fields_and_message() -> None:
    counter = rule(
        alert_on=frozenset({IN}), severity=AlertSeverity.CRITICAL, labels={IN: "into the old town"}
    )
    (alert,) = flat(feed(counter, at(30, 60)))
    assert alert.kind is AlertKind.LINE_CROSSING and alert.severity is AlertSeverity.CRITICAL
    assert (alert.zone, alert.tracker_id, alert.direction, alert.value) == ("gate", 1, IN, None)
    assert alert.message == "person (track 1) crossed line 'gate' in (into the old town) on cam1"


def test_cooldown_quiets_a_person_pacing_over_the_line() -> None:
    counter = rule(alert_on=frozenset({IN, OUT}), cooldown_s=5.0)
    alerts = flat(feed(counter, at(30, 60, 30, 60, 30, 60)))  # 1 s of pacing: 5 crossings
    assert len(alerts) == 1
    assert counter.drain_counts(2000.0)[0].count_in == 3  # counting is not cooled down


@pytest.mark.parametrize(
    ("px_per_frame", "expected"),
    [
        (4.0, [pytest.approx(2.0, rel=0.02)]),  # 4 px per 0.2 s = 20 px/s = 2 m/s: over 1.5 m/s
        (1.0, []),  # 0.5 m/s: a stroll
    ],
)
def test_speed_over_max_alerts_with_calibration(px_per_frame: float, expected: list[object]) -> None:
    plane = GroundPlane.from_config(TOP_DOWN)
    counter = rule(detector=detector(plane=plane), max_speed_mps=1.5)
    ys = 20 + px_per_frame * np.arange(int(60 / px_per_frame))
    alerts = flat(feed(counter, at(*ys.tolist())))
    assert [a.value for a in alerts] == expected
    assert all("m/s" in a.message for a in alerts)


def test_crossing_carries_speed_when_calibrated() -> None:
    det = detector(plane=GroundPlane.from_config(TOP_DOWN))
    crossings = [c for i, f in enumerate(at(*range(20, 80, 2))) for c in det.update(f, SIZE, i * 0.2)]
    (crossing,) = crossings
    assert crossing.speed_mps == pytest.approx(1.0, rel=0.02)  # 10 px/s = 1 m/s
    assert crossing.point == (50.0, crossing.box[3])


def test_outside_schedule_nothing_counts_and_sides_are_forgotten() -> None:
    from alerts.schedule import Schedule
    from config.rules import ActivePeriod

    # active 00:00-00:01 UTC (epoch 0 is a Thursday) only
    counter = rule(gate=RuleGate(schedule=Schedule([ActivePeriod(start="00:00", end="00:01")])))
    feed(counter, at(30, 40), t0=50.0)  # active: seen above
    feed(counter, at(60, 70), t0=61.0)  # inactive: crossed, not counted
    feed(counter, at(70, 40), t0=86_400.0 + 10)  # next day: below, then above: one 'out'
    counts = counter.drain_counts(10**6)
    assert [(c.count_in, c.count_out) for c in counts] == [(0, 0), (0, 1)]


def test_filters_hide_small_boxes() -> None:
    counter = rule(gate=RuleGate(filter=ObjectFilter(min_height_px=25)))  # the test boxes are 20 px
    feed(counter, at(30, 40, 60, 70))
    assert counter.drain_counts(2000.0)[0].count_in == 0


def test_reset_keeps_counts_and_forgets_sides() -> None:
    counter = rule()
    feed(counter, at(30, 40, 60, 70))
    counter.reset()
    feed(counter, at(70, 60, 40, 30), t0=1002.0)  # after reset the track is 'new': born below, crosses out
    (count,) = counter.drain_counts(2000.0)
    assert (count.count_in, count.count_out) == (1, 1)
