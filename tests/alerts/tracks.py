"""Synthetic tracks for rule tests: people given by their foot point, frame after frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from alerts.base import Rule
from vigil.core.types import Alert, Detections

SIZE = (100, 100)  # frame (width, height) of the rule tests: 1 px = 0.01 normalised
HEIGHT = 20.0  # box height, px
WIDTH = 8.0


def people(
    *feet: tuple[int, float, float], score: float = 0.9, lying: Sequence[float] | None = None
) -> Detections:
    """One frame: (track id, foot x, foot y) per person, pixels; optional posture column."""
    xyxy = [[x - WIDTH / 2, y - HEIGHT, x + WIDTH / 2, y] for _, x, y in feet]
    n = len(feet)
    return Detections(
        xyxy=np.array(xyxy, dtype=np.float32).reshape(n, 4),
        confidence=np.full(n, score, np.float32),
        class_id=np.zeros(n, np.int64),
        tracker_id=np.array([track for track, _, _ in feet], dtype=np.int64),
        data={} if lying is None else {"lying": np.array(lying, dtype=np.float32)},
    )


def walk(track: int, start: tuple[float, float], end: tuple[float, float], frames: int) -> list[Detections]:
    """A person walking in a straight line from `start` to `end` (foot points, px) over `frames`."""
    xs = np.linspace(start[0], end[0], frames)
    ys = np.linspace(start[1], end[1], frames)
    return [people((track, float(x), float(y))) for x, y in zip(xs, ys, strict=True)]


def feed(rule: Rule, frames: Iterable[Detections], t0: float = 1_000.0, dt: float = 0.2) -> list[list[Alert]]:
    """Run a rule over frames `dt` seconds apart; the alerts of each frame."""
    return [rule.evaluate(frame, SIZE, t0 + i * dt) for i, frame in enumerate(frames)]


def flat(alerts: list[list[Alert]]) -> list[Alert]:
    return [alert for frame in alerts for alert in frame]
