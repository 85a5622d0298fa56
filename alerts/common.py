"""What every rule shares: the gate (schedule + object filters), cooldowns, speeds, foot points.

A rule calls `RuleGate.admit` first thing in `evaluate`: outside its schedule it gets None
(and raises nothing), otherwise the tracked objects its filters let through. Speeds come from
`SpeedMeter`, which follows each track's ground position over about a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerts.calibration import GroundPlane
from alerts.schedule import Schedule
from config.rules import RuleFilters
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import Detections


@dataclass(frozen=True)
class ObjectFilter:
    """Which tracked objects a rule sees: score, box height (frame pixels) and class ids."""

    min_score: float = 0.0
    min_height_px: float = 0.0
    class_ids: tuple[int, ...] | None = None  # None: every class

    @classmethod
    def from_config(cls, filters: RuleFilters, class_names: Sequence[str]) -> ObjectFilter:
        """Map class names to the detector's ids.

        Raises:
            ConfigError: a class the detector does not emit.
        """
        unknown = [name for name in filters.classes if name not in class_names]
        if unknown:
            raise ConfigError(
                f"filters.classes: the detector has no class {', '.join(map(repr, unknown))} "
                f"(it has: {', '.join(class_names)})"
            )
        ids = tuple(class_names.index(name) for name in filters.classes) or None
        return cls(filters.min_score, filters.min_height_px, ids)

    @property
    def passes_all(self) -> bool:
        return self.min_score <= 0 and self.min_height_px <= 0 and self.class_ids is None

    def apply(self, tracked: Detections) -> Detections:
        if self.passes_all or not len(tracked):
            return tracked
        keep = (tracked.confidence >= self.min_score) & (
            tracked.xyxy[:, 3] - tracked.xyxy[:, 1] >= self.min_height_px
        )
        if self.class_ids is not None:
            keep &= np.isin(tracked.class_id, self.class_ids)
        return tracked if bool(keep.all()) else tracked[keep]


@dataclass
class RuleGate:
    """A rule's schedule and object filter, applied before it looks at a frame."""

    schedule: Schedule | None = None
    filter: ObjectFilter = field(default_factory=ObjectFilter)

    def admit(self, tracked: Detections, name: str) -> Detections:
        """The objects the rule looks at (validated tracked)."""
        if tracked.tracker_id is None:
            raise ValidationError(f"rule {name!r}: detections must be tracked (tracker_id is None)")
        return self.filter.apply(tracked)

    def active(self, timestamp: float) -> bool:
        return self.schedule is None or self.schedule.active(timestamp)


@dataclass
class Cooldown:
    """Quiet time per key (a track id, or None for the whole rule) after an alert."""

    seconds: float
    _last: dict[int | None, float] = field(default_factory=dict, init=False, repr=False)

    def ready(self, key: int | None, timestamp: float) -> bool:
        last = self._last.get(key)
        return last is None or timestamp - last >= self.seconds

    def mark(self, key: int | None, timestamp: float) -> None:
        self._last[key] = timestamp
        if len(self._last) > 256:  # forget keys whose quiet time is over
            self._last = {k: t for k, t in self._last.items() if timestamp - t < self.seconds}

    def reset(self) -> None:
        self._last.clear()


def foot_points(tracked: Detections) -> npt.NDArray[np.float32]:
    """Bottom centre of each box, (N, 2) pixels: where a person stands."""
    xyxy = tracked.xyxy
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) * 0.5, xyxy[:, 3]], axis=1)


@dataclass
class SpeedMeter:
    """Ground speed of each track, metres per second, over about the last `window_s`.

    Speed is the straight displacement over the window divided by its duration, which is
    much less inflated by foot-point jitter than frame-to-frame steps.
    """

    plane: GroundPlane
    window_s: float = 1.0
    forget_after_s: float = 10.0
    _history: dict[int, deque[tuple[float, float, float]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _pruned_at: float = field(default=-np.inf, init=False, repr=False)

    def update(
        self,
        track_ids: list[int],
        feet_px: npt.NDArray[np.floating],
        frame_size: tuple[int, int],
        timestamp: float,
    ) -> npt.NDArray[np.float64]:
        """Record this frame's positions and return each row's speed, (N,) m/s (NaN: unknown yet)."""
        ground = self.plane.to_ground(feet_px, frame_size)
        speeds = np.full(len(track_ids), np.nan)
        for row, (track_id, (x, y)) in enumerate(zip(track_ids, ground.tolist(), strict=True)):
            history = self._history.get(track_id)
            if history is None:
                history = self._history[track_id] = deque()
            history.append((timestamp, x, y))
            while len(history) > 2 and timestamp - history[1][0] >= self.window_s:
                history.popleft()
            t0, x0, y0 = history[0]
            if timestamp - t0 >= 0.25 * self.window_s:
                speeds[row] = np.hypot(x - x0, y - y0) / (timestamp - t0)
        if timestamp - self._pruned_at > self.forget_after_s:
            self._pruned_at = timestamp
            self._history = {
                k: h for k, h in self._history.items() if timestamp - h[-1][0] < self.forget_after_s
            }
        return speeds

    def reset(self) -> None:
        self._history.clear()
