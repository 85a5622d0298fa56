"""The camera graph: where cameras stand and how long it takes to walk between them.

Built from the cameras' ``position`` (metres on the site map) and the site's ``links:``
(`CameraGraph.from_config`). Walking time between two
cameras is the explicit link time when one is given, else straight-line distance times
`detour` over `walking_speed`. A candidate is *implausible* when it would need her to
move faster than `max_speed` from a confirmed sighting; plausibility falls smoothly
rather than to 0, since positions and clocks are approximate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from config.models import CameraConfig, CameraLink, VigilConfig
from vigil.core.types import Sighting

_FLOOR = 0.05


@dataclass(frozen=True)
class Reachable:
    """A camera she could reach next, and the walking time to it in seconds."""

    camera_id: str
    walk_s: float


@dataclass(frozen=True)
class CameraGraph:
    """Positions and walking links.

    Attributes:
        positions: Camera id -> (x, y) metres.
        links: (camera a, camera b) -> walking seconds, overriding the straight-line estimate.
        walking_speed: Metres per second for suggestions. Raising it suggests farther cameras sooner.
        max_speed: Fastest plausible movement (running child), m/s. Lowering it marks more
            candidates implausible.
        detour: Path length over straight-line distance.
    """

    positions: Mapping[str, tuple[float, float]]
    links: Mapping[tuple[str, str], float] = field(default_factory=dict)
    walking_speed: float = 1.3
    max_speed: float = 3.0
    detour: float = 1.3

    @classmethod
    def from_config(cls, config: VigilConfig) -> CameraGraph:
        """The site's graph: its cameras' positions and its walking links."""
        return cls.from_cameras(config.cameras, config.links)

    @classmethod
    def from_cameras(cls, cameras: Sequence[CameraConfig], links: Sequence[CameraLink] = ()) -> CameraGraph:
        """Positions of the cameras that have one, and the given links (walking seconds, both ways)."""
        return cls(
            positions={c.id: (c.position.x, c.position.y) for c in cameras if c.position is not None},
            links={(link.from_, link.to): link.walk_s for link in links},
        )

    @property
    def camera_ids(self) -> list[str]:
        """Every camera the graph can place: positioned ones, then linked ones without a position."""
        ids = dict.fromkeys(self.positions)
        for a, b in self.links:
            ids.setdefault(a)
            ids.setdefault(b)
        return list(ids)

    def distance(self, a: str, b: str) -> float | None:
        """Walking metres between two cameras, None if either has no position."""
        if a == b:
            return 0.0
        if (a, b) in self.links or (b, a) in self.links:
            return self.links.get((a, b), self.links.get((b, a), 0.0)) * self.walking_speed
        pa, pb = self.positions.get(a), self.positions.get(b)
        if pa is None or pb is None:
            return None
        return math.dist(pa, pb) * self.detour

    def plausibility(
        self, candidates: Sequence[Sighting], confirmed: Sequence[Sighting]
    ) -> npt.NDArray[np.float32]:
        """Per candidate in [FLOOR, 1]: the worst over confirmed sightings of (time had / time needed)^2."""
        result = np.ones(len(candidates), np.float32)
        for i, candidate in enumerate(candidates):
            for anchor in confirmed:
                if anchor.id == candidate.id:
                    continue
                metres = self.distance(anchor.camera_id, candidate.camera_id)
                if metres is None or metres == 0.0:
                    continue
                gap = max(candidate.start - anchor.end, anchor.start - candidate.end, 0.0)
                needed = metres / self.max_speed
                if gap < needed:
                    result[i] = min(result[i], max(_FLOOR, (gap / needed) ** 2))
        return result

    def reachable(self, camera_id: str, elapsed_s: float, limit: int = 5) -> list[Reachable]:
        """Cameras nearest by walking time from `camera_id`, those she could have reached by now first."""
        options = []
        for other in self.camera_ids:
            metres = self.distance(camera_id, other)
            if other != camera_id and metres is not None:
                options.append(Reachable(other, round(metres / self.walking_speed, 1)))
        options.sort(key=lambda r: (r.walk_s > elapsed_s, r.walk_s))
        return options[:limit]
