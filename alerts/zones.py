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
    """Which points lie inside (or on the edge of) a polygon, vectorised over points and edges.

    Even-odd ray casting (as `cv2.pointPolygonTest`), plus the points within 1e-6 of an
    edge, which count as inside like cv2's edge points do.

    Args:
        points: (N, 2) x, y.
        polygon: (M, 2) vertices, same coordinate system.

    Returns:
        (N,) booleans.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    a = np.asarray(polygon, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    px, py = p[..., 0], p[..., 1]  # (N, 1)
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]  # (M,)
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (straddles & (px < x_cross)).sum(axis=1) % 2 == 1
    # On an edge: the projection onto the edge lands on the point.
    ex, ey = bx - ax, by - ay
    length2 = np.maximum(ex * ex + ey * ey, 1e-300)
    t = np.clip(((px - ax) * ex + (py - ay) * ey) / length2, 0.0, 1.0)
    on_edge = ((px - ax - t * ex) ** 2 + (py - ay - t * ey) ** 2 <= 1e-12).any(axis=1)
    result: npt.NDArray[np.bool_] = inside | on_edge
    return result


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

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.polygon, dtype=np.float32)
        if self.polygon.ndim != 2 or self.polygon.shape[1] != 2 or len(self.polygon) < 3:
            raise ValidationError(f"ZoneIntrusion.polygon: expected (M>=3, 2), got {self.polygon.shape}")

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        if tracked.tracker_id is None:
            raise ValidationError("ZoneIntrusion.evaluate: detections must be tracked (tracker_id is None)")
        if not self.gate.active(timestamp):
            self.reset()
            return []
        tracked = self.gate.admit(tracked, self.name)
        assert tracked.tracker_id is not None  # admit keeps the column
        width, height = frame_size
        polygon = self.polygon * np.array([width, height], dtype=np.float32)
        inside = points_in_polygon(foot_points(tracked), polygon) if len(tracked) else np.zeros(0, bool)
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
