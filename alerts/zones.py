"""Zone intrusion: a person whose foot point stands inside a polygon raises an alert."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from alerts.common import RuleGate, foot_points
from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, AlertSeverity, Detections


def points_in_polygon(
    points: npt.NDArray[np.floating], polygon: npt.NDArray[np.floating]
) -> npt.NDArray[np.bool_]:
    """Which points lie inside a polygon, vectorised over points and edges (even-odd rule).

    Agrees with `cv2.pointPolygonTest` everywhere but exactly on an edge, where a point may
    count either way (a foot point does not stay on a line of zero width).

    Args:
        points: (N, 2) x, y.
        polygon: (M, 2) vertices, same coordinate system.

    Returns:
        (N,) booleans.
    """
    return ZoneShape(np.asarray(polygon, dtype=np.float64)).contains(points, (1, 1))


@dataclass
class ZoneShape:
    """A zone polygon, normalised to [0, 1], with its edges prepared per frame size.

    `contains` casts a ray to the right of each point and counts the edges it crosses
    (odd: inside), all points and edges at once.
    """

    polygon: npt.NDArray[np.float64]  # (M, 2), normalised (or in pixels with frame size (1, 1))
    _size: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _edges: tuple[npt.NDArray[np.float64], ...] = field(default=(), init=False, repr=False)

    def contains(
        self, points: npt.NDArray[np.floating], frame_size: tuple[int, int]
    ) -> npt.NDArray[np.bool_]:
        """Which of (N, 2) pixel points of a `frame_size` (width, height) frame are inside."""
        if self._size != frame_size:
            a = np.asarray(self.polygon, dtype=np.float64) * frame_size
            b = np.roll(a, -1, axis=0)
            dy = b[:, 1] - a[:, 1]
            slope = np.divide(b[:, 0] - a[:, 0], dy, out=np.zeros_like(dy), where=dy != 0)
            self._edges = (a[:, 0], a[:, 1], b[:, 1], slope)
            self._size = frame_size
        ax, ay, by, slope = self._edges
        p = np.asarray(points, dtype=np.float64)
        px, py = p[:, 0:1], p[:, 1:2]
        crossed = ((ay > py) != (by > py)) & (px < ax + (py - ay) * slope)
        inside: npt.NDArray[np.bool_] = (np.count_nonzero(crossed, axis=1) & 1).astype(bool)
        return inside


def points_in_polygon_cv2(
    points: npt.NDArray[np.floating], polygon: npt.NDArray[np.floating]
) -> npt.NDArray[np.bool_]:
    """The former per-point `cv2.pointPolygonTest` loop: the reference the benchmark compares with."""
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points], dtype=bool
    )


@dataclass
class ZoneIntrusion:
    """Alert once per person who stays `min_frames` consecutive frames inside a zone.

    The foot point (bottom centre of the box) is tested, not the whole box: a person
    standing behind a zone must not trigger it. After an alert the same track is quiet
    for `cooldown_s`, so one person does not raise one alert per frame. Outside the gate's
    schedule it raises nothing and forgets its streaks.
    """

    name: str
    camera_id: str
    zone: str
    polygon: npt.NDArray[np.float32]  # (M, 2), normalised to [0, 1]
    min_frames: int = 2
    cooldown_s: float = 60.0
    severity: AlertSeverity = AlertSeverity.WARNING
    gate: RuleGate = field(default_factory=RuleGate)
    _inside_frames: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _last_alert: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    _shape: ZoneShape = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.polygon, dtype=np.float32)
        if self.polygon.ndim != 2 or self.polygon.shape[1] != 2 or len(self.polygon) < 3:
            raise ValidationError(f"ZoneIntrusion.polygon: expected (M>=3, 2), got {self.polygon.shape}")
        self._shape = ZoneShape(self.polygon.astype(np.float64))

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if tracked.tracker_id is None:
            raise ValidationError("ZoneIntrusion.evaluate: detections must be tracked (tracker_id is None)")
        if not self.gate.active(timestamp):
            self.reset()
            return []
        tracked = self.gate.admit(tracked, self.name)
        assert tracked.tracker_id is not None  # admit keeps the column
        inside = self._shape.contains(foot_points(tracked), frame_size) if len(tracked) else np.zeros(0, bool)
        alerts = []
        present = set()
        for row, (track_id, is_inside) in enumerate(
            zip(tracked.tracker_id.tolist(), inside.tolist(), strict=True)
        ):
            present.add(track_id)
            self._inside_frames[track_id] = self._inside_frames.get(track_id, 0) + 1 if is_inside else 0
            if self._inside_frames[track_id] < self.min_frames:
                continue
            last = self._last_alert.get(track_id)
            if last is not None and timestamp - last < self.cooldown_s:
                continue
            self._last_alert[track_id] = timestamp
            x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[row])
            alerts.append(
                Alert(
                    kind=AlertKind.ZONE_INTRUSION,
                    rule=self.name,
                    camera_id=self.camera_id,
                    timestamp=timestamp,
                    message=f"person (track {track_id}) inside zone '{self.zone}' on {self.camera_id}",
                    tracker_id=track_id,
                    zone=self.zone,
                    box=(x1, y1, x2, y2),
                    severity=self.severity,
                )
            )
        # Tracks not in this frame lose their streak: "consecutive" means consecutive.
        for track_id in list(self._inside_frames):
            if track_id not in present:
                del self._inside_frames[track_id]
        for track_id, last in list(self._last_alert.items()):
            if timestamp - last >= self.cooldown_s and track_id not in present:
                del self._last_alert[track_id]
        return alerts

    def reset(self) -> None:
        self._inside_frames.clear()
        self._last_alert.clear()
