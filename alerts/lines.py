"""Line crossing: people crossing a camera line, per direction, counted per interval.

`CrossingDetector` is the pure per-frame part, usable on its own (the MOTChallenge
evaluation runs it on ground-truth and tracker output): each track's foot point (bottom
centre of its box) is put on one side of the line once it is at least `hysteresis` away
from it, and a crossing is a track whose side changes. A foot point jittering on the line
stays on its old side, so it counts once; walking back counts the other way. A track first
seen within the band starts on the side of the line its foot point is on (it has not
crossed yet), so a person the tracker picks up only on the line still counts. A track that
passes beyond either end of the line (its nearest point on the line is an end point)
forgets its side: walking round the end is no crossing.

`LineCrossing` is the rule around it: per-direction counts per `count_interval_s` (handed
out by `drain_counts`), and alerts for the `alert_on` directions or crossings faster than
`max_speed_mps`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerts.calibration import GroundPlane
from alerts.common import Cooldown, RuleGate, SpeedMeter, foot_points
from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, AlertSeverity, CrossingCount, Detections, Direction

_BEYOND = 2  # side code: beyond an end of the line


@dataclass(frozen=True)
class Crossing:
    """One track crossing the line.

    Attributes:
        track: Tracker id.
        direction: IN (onto the line's in side) or OUT.
        timestamp: Time of the frame where the crossing was confirmed (past the hysteresis).
        point: Foot point then, pixels.
        box: The track's box then, pixels.
        speed_mps: Ground speed then, m/s, if the camera is calibrated and the track was seen
            long enough to tell.
    """

    track: int
    direction: Direction
    timestamp: float
    point: tuple[float, float]
    box: tuple[float, float, float, float]
    speed_mps: float | None = None


def side_of_polyline(
    points: npt.NDArray[np.floating], polyline: npt.NDArray[np.floating], in_side: str, band: float
) -> npt.NDArray[np.int8]:
    """Which side of a directed polyline each point is on, with a dead band.

    Args:
        points: (N, 2) x, y, same units as the polyline (pixels, y down).
        polyline: (K+1, 2) vertices.
        in_side: 'left' or 'right' of the polyline walked from its first vertex, as seen on
            the screen (y down).
        band: Points closer than this to the polyline are on neither side.

    Returns:
        (N,) int8: 1 on the in side, -1 on the out side, 0 within the band, 2 beyond an end
        (the nearest point of the polyline is its first or last vertex).
    """
    a = np.asarray(polyline, dtype=np.float64)
    ax, ay = a[:-1, 0], a[:-1, 1]  # (K,) segment starts
    abx, aby = a[1:, 0] - ax, a[1:, 1] - ay  # (K,) segment vectors
    p = np.asarray(points, dtype=np.float64)
    apx, apy = p[:, 0:1] - ax, p[:, 1:2] - ay  # (N, K)
    t = (apx * abx + apy * aby) / (abx * abx + aby * aby)  # projection along each segment
    t_clip = np.clip(t, 0.0, 1.0)
    dx, dy = apx - t_clip * abx, apy - t_clip * aby
    dist2 = dx * dx + dy * dy
    rows = np.arange(len(p))
    nearest = dist2.argmin(axis=1) if len(ax) > 1 else np.zeros(len(p), np.intp)
    cross = abx[nearest] * apy[rows, nearest] - aby[nearest] * apx[rows, nearest]
    # Screen coordinates have y down: a point on the walker's left has a negative cross product.
    on_in = cross < 0 if in_side == "left" else cross > 0
    side = np.where(on_in, 1, -1).astype(np.int8)
    side[dist2[rows, nearest] < band * band] = 0
    t_near = t[rows, nearest]
    beyond = ((nearest == 0) & (t_near < 0)) | ((nearest == len(ax) - 1) & (t_near > 1))
    side[beyond] = _BEYOND
    return side


@dataclass
class CrossingDetector:
    """Per-track crossings of one line, frame by frame.

    Args:
        points: (K+1, 2) line vertices normalised to [0, 1] (x right, y down), K >= 1.
        in_side: 'left' or 'right' of the line walked from its first point, on the screen.
        hysteresis: How far past the line (fraction of the frame height) a foot point must get
            before it counts as on the other side.
        plane: The camera's ground plane, for speeds; None: `Crossing.speed_mps` is None.
        forget_after_s: A track unseen this long loses its side (a new track id is a new person).
    """

    points: npt.NDArray[np.float64]
    in_side: str = "left"
    hysteresis: float = 0.02
    plane: GroundPlane | None = None
    forget_after_s: float = 30.0
    _sides: dict[int, tuple[int, float]] = field(default_factory=dict, init=False, repr=False)
    _speeds: SpeedMeter | None = field(default=None, init=False, repr=False)
    _pruned_at: float = field(default=-math.inf, init=False, repr=False)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 2 or len(self.points) < 2:
            raise ValidationError(f"CrossingDetector.points: expected (K>=2, 2), got {self.points.shape}")
        if (np.linalg.norm(np.diff(self.points, axis=0), axis=1) == 0).any():
            raise ValidationError("CrossingDetector.points: a segment has zero length")
        if self.in_side not in ("left", "right"):
            raise ValidationError(
                f"CrossingDetector.in_side: expected 'left' or 'right', got {self.in_side!r}"
            )
        if self.plane is not None:
            self._speeds = SpeedMeter(self.plane)

    def update(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Crossing]:
        """The crossings confirmed in this frame.

        Args:
            tracked: Detections with `tracker_id` set.
            frame_size: (width, height) of the frame the boxes are in.
            timestamp: Frame time, seconds.

        Returns:
            One `Crossing` per track whose side changed, in row order.
        """
        if tracked.tracker_id is None:
            raise ValidationError("CrossingDetector.update: detections must be tracked (tracker_id is None)")
        self._prune(timestamp)
        if not len(tracked):
            return []
        width, height = frame_size
        feet = foot_points(tracked)
        sides = side_of_polyline(feet, self.points * (width, height), self.in_side, self.hysteresis * height)
        ids = tracked.tracker_id.tolist()
        speeds = None if self._speeds is None else self._speeds.update(ids, feet, frame_size, timestamp)
        crossings = []
        known = self._sides
        first_on_line = self._first_seen_on_line(ids, sides, feet, (width, height))
        for row, (track_id, side) in enumerate(zip(ids, sides.tolist(), strict=True)):
            if side == 0:  # on the line: keep the old side, note the track is alive
                if track_id in known:
                    known[track_id] = (known[track_id][0], timestamp)
                elif row in first_on_line:
                    known[track_id] = (first_on_line[row], timestamp)
                continue
            if side == _BEYOND:
                known.pop(track_id, None)
                continue
            previous = known.get(track_id)
            known[track_id] = (side, timestamp)
            if previous is None or previous[0] == side:
                continue
            speed = None if speeds is None or math.isnan(speeds[row]) else float(speeds[row])
            x1, y1, x2, y2 = tracked.xyxy[row].tolist()
            crossings.append(
                Crossing(
                    track=track_id,
                    direction=Direction.IN if side == 1 else Direction.OUT,
                    timestamp=timestamp,
                    point=((x1 + x2) / 2, y2),
                    box=(x1, y1, x2, y2),
                    speed_mps=speed,
                )
            )
        return crossings

    def _first_seen_on_line(
        self,
        ids: list[int],
        sides: npt.NDArray[np.int8],
        feet: npt.NDArray[np.float32],
        frame_size: tuple[int, int],
    ) -> dict[int, int]:
        """Row -> the line's side without the band, for tracks seen for the first time in the band.

        A track first seen on the line (a person the tracker confirms only there, or found
        again there after a long occlusion) has not crossed it yet: the side of the line its
        foot point is on is where it comes from, so walking off on the other side beyond the
        band is a crossing, and going back is none. Jitter still cannot count: a side change
        needs the band crossed.
        """
        rows = [row for row, side in enumerate(sides.tolist()) if side == 0 and ids[row] not in self._sides]
        if not rows:
            return {}
        width, height = frame_size
        raw = side_of_polyline(feet[rows], self.points * (width, height), self.in_side, band=0.0)
        return {row: side for row, side in zip(rows, raw.tolist(), strict=True) if side in (1, -1)}

    def _prune(self, timestamp: float) -> None:
        if timestamp - self._pruned_at < 1.0:
            return
        self._pruned_at = timestamp
        self._sides = {k: v for k, v in self._sides.items() if timestamp - v[1] < self.forget_after_s}

    def reset(self) -> None:
        self._sides.clear()
        if self._speeds is not None:
            self._speeds.reset()


@dataclass
class LineCrossing:
    """The line_crossing rule: counts per direction per interval; alerts on chosen crossings.

    Counting intervals are [k * interval, (k + 1) * interval) in epoch seconds. An interval
    in which the rule looked at at least one frame is reported by `drain_counts`, even with
    zero crossings; one with no frame (camera down, outside the schedule) is not, so a gap in
    the counts means "not watched", never "nobody crossed".
    """

    name: str
    camera_id: str
    line: str
    detector: CrossingDetector
    alert_on: frozenset[Direction] = frozenset()
    count_interval_s: float = 60.0
    max_speed_mps: float | None = None
    severity: AlertSeverity = AlertSeverity.WARNING
    cooldown_s: float = 10.0
    gate: RuleGate = field(default_factory=RuleGate)
    labels: dict[Direction, str] = field(default_factory=dict)
    _counts: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False)
    _cooldown: Cooldown = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cooldown = Cooldown(self.cooldown_s)

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if not self.gate.active(timestamp):
            self.detector.reset()  # sides seen before the schedule opens must not count later
            return []
        tracked = self.gate.admit(tracked, self.name)
        counts = self._counts.setdefault(int(timestamp // self.count_interval_s), [0, 0])
        alerts = []
        for crossing in self.detector.update(tracked, frame_size, timestamp):
            counts[0 if crossing.direction is Direction.IN else 1] += 1
            fast = (
                self.max_speed_mps is not None
                and crossing.speed_mps is not None
                and crossing.speed_mps > self.max_speed_mps
            )
            if (fast or crossing.direction in self.alert_on) and self._cooldown.ready(
                crossing.track, timestamp
            ):
                self._cooldown.mark(crossing.track, timestamp)
                alerts.append(self._alert(crossing, fast))
        return alerts

    def _alert(self, crossing: Crossing, fast: bool) -> Alert:
        label = self.labels.get(crossing.direction)
        way = crossing.direction.value + (f" ({label})" if label else "")
        speed = f" at {crossing.speed_mps:.1f} m/s" if crossing.speed_mps is not None and fast else ""
        return Alert(
            kind=AlertKind.LINE_CROSSING,
            rule=self.name,
            camera_id=self.camera_id,
            timestamp=crossing.timestamp,
            message=f"person (track {crossing.track}) crossed line '{self.line}' {way}{speed} "
            f"on {self.camera_id}",
            tracker_id=crossing.track,
            zone=self.line,
            box=crossing.box,
            severity=self.severity,
            direction=crossing.direction,
            value=crossing.speed_mps if fast else None,
        )

    def drain_counts(self, now: float) -> list[CrossingCount]:
        """Counts of the intervals that closed by `now` (end <= now), oldest first; each once.

        Call it as often as convenient (e.g. once a frame or once a minute): an interval is
        handed out once, after it has ended, and then forgotten.
        """
        interval = self.count_interval_s
        closed = sorted(k for k in self._counts if (k + 1) * interval <= now)
        out = []
        for k in closed:
            count_in, count_out = self._counts.pop(k)
            out.append(
                CrossingCount(
                    rule=self.name,
                    camera_id=self.camera_id,
                    line=self.line,
                    start=k * interval,
                    end=(k + 1) * interval,
                    count_in=count_in,
                    count_out=count_out,
                )
            )
        return out

    def reset(self) -> None:
        """Forget track sides (the tracker was reset); counts so far are kept for `drain_counts`."""
        self.detector.reset()
        self._cooldown.reset()
