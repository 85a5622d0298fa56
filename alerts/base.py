"""The rule contract: one verb, `evaluate`, called once per processed frame of one camera."""

from __future__ import annotations

from typing import Protocol

from vigil.core.types import Alert, CrossingCount, Detections


class Rule(Protocol):
    """A per-camera alert rule. Implementations keep their own per-track state."""

    name: str
    camera_id: str

    def evaluate(self, tracked: Detections, frame_size: tuple[int, int], timestamp: float) -> list[Alert]:
        """Return the alerts raised by this frame.

        Args:
            tracked: Detections of the frame with `tracker_id` set.
            frame_size: (width, height) of the frame the boxes are in.
            timestamp: Frame time, epoch seconds.
        """
        ...

    def reset(self) -> None:
        """Forget per-track state (the camera's tracker was reset)."""
        ...


class LineCounter(Protocol):
    """A rule that counts line crossings per interval (`alerts.lines.LineCrossing`)."""

    def drain_counts(self, now: float) -> list[CrossingCount]:
        """The counts of the intervals closed by `now` (end <= now), oldest first, each once."""
        ...
