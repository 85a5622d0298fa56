"""Multi-object tracking: one `Tracker` per camera, turning detections into tracks.

- `Tracker` (`tracker.base`): the contract, ``update(detections, frame=None) -> Detections``
  and ``reset()``; `CoastingTracker` adds ``coast()`` and ``update(..., looked=regions)``
  for frames or areas the detector skipped.
- `VigilTracker` (`tracker.vigil_track`): Vigil's tracker.
- `SightingBuilder` (`tracker.sighting`): turns tracked detections into `Sighting`s.
"""

from tracker.base import CoastingTracker, Tracker
from tracker.vigil_track import VigilTracker, VigilTrackerConfig

__all__ = ["CoastingTracker", "Tracker", "VigilTracker", "VigilTrackerConfig"]
