"""The contract every tracker backend fulfils."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vigil.core.types import Detections


@runtime_checkable
class Tracker(Protocol):
    """Follows objects across the frames of one camera.

    One instance per camera: it owns that camera's tracks and id counter.
    """

    def update(self, detections: Detections, frame: npt.NDArray[np.uint8] | None = None) -> Detections:
        """Associate one frame's detections with the running tracks.

        Args:
            detections: This frame's detections; never modified.
            frame: The BGR image (H, W, 3), when available, for image-based cues
                (camera-motion compensation). Trackers that need none ignore it.

        Returns:
            New `Detections` holding the confirmed tracks seen in this frame, with
            ``tracker_id`` set; ids are unique within the session (until `reset`).
        """
        ...

    def reset(self) -> None:
        """Forget every track and restart ids: call when the stream restarts."""
        ...


@runtime_checkable
class CoastingTracker(Tracker, Protocol):
    """A tracker that can advance its tracks through frames or areas the detector skipped."""

    def update(
        self,
        detections: Detections,
        frame: npt.NDArray[np.uint8] | None = None,
        looked: npt.ArrayLike | None = None,
    ) -> Detections:
        """`Tracker.update`; with ``looked`` (K, 4) xyxy regions, tracks outside them coast."""
        ...

    def coast(self, frame: npt.NDArray[np.uint8] | None = None) -> Detections:
        """Advance one frame not looked at: the live confirmed tracks at their predicted boxes."""
        ...

    def live_boxes(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """(T, 4) xyxy of every live track (unconfirmed and recently lost too) and (T,) confirmed."""
        ...
