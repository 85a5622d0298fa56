"""Reading live streams in bursts: where the live edge is, and when a reader has caught up.

A reader thread that wakes for every packet a camera sends pays for the wake-up, the poll and
a cold cache each time. Once it has caught up with the camera it can instead sleep a little and
then read what arrived in one go (the socket buffers it): the same bytes, far fewer wake-ups,
and a decoder's reference frames still in cache. Measured on the 2-core box against `vigil sim`:

- record shards, 141 cameras (demux + remux): 72 -> 42 % CPU with 0.5 s bursts;
- 23 AI sub-streams decoded in one process: 65 -> 58 % CPU with 0.2 s bursts.

A reader has caught up when its read had to wait for the network (`WAITED_S`): nothing was
buffered. A read can also look slow because the thread was preempted on a busy machine, so the
packet must also be near the live edge (`LIVE_LAG_S`): the smallest ``wall - media_time`` among
packets that came live, drifting later at `EDGE_LEAK` so early outliers (a server's start-up
burst) are forgotten. A reader that is behind reads from its buffer without waiting and never
sleeps. The same edge turns media time into capture time, so frames and segments read late in a
burst keep (to within the edge's drift) the time they were sent.
"""

from __future__ import annotations

LIVE_LAG_S = 0.5
"""A read that waited counts as caught up only if its packet is less than this behind the edge."""

MAX_DRIFT_S = 2.0
"""Past this drift between media time and the wall clock (a camera clock running fast or slow,
a server that stalled, a reader left far behind) the live edge is re-anchored."""


WAITED_S = 0.002
"""A read that took longer than this waited for the network: its packet was live."""

EDGE_LEAK = 0.02
"""Seconds per second the edge moves later on its own: an early outlier (a start-up burst, the
first packet of a B-frame stream) is forgotten in seconds, and a camera clock up to 2 % slow
stays on the edge (larger drifts re-anchor after `MAX_DRIFT_S`)."""


class LiveEdge:
    """Maps a stream's media time to wall-clock capture time, from the packets that arrived live.

    Example:
        >>> edge = LiveEdge()
        >>> edge.lag(100.0, 0.0, waited=True), round(edge.lag(100.3, 0.2, waited=False), 3)
        (0.0, 0.094)
        >>> round(edge.capture_time(0.2, 100.3), 3)
        100.206
    """

    def __init__(self) -> None:
        self.anchor: float | None = None  # wall time of media time 0, None until a live packet
        self._wall = 0.0  # wall time of the last update

    def lag(self, wall: float, media_time: float, *, waited: bool) -> float:
        """Seconds behind the live edge `media_time` is read at `wall` (inf before the edge is known).

        Args:
            wall: Wall time the packet was read.
            media_time: Its media time (seconds from the session's first packet).
            waited: Its read waited for the network (see `WAITED_S`).
        """
        edge = wall - media_time
        if self.anchor is not None:
            self.anchor += EDGE_LEAK * max(0.0, wall - self._wall)
        self._wall = wall
        if waited and (self.anchor is None or edge < self.anchor or edge - self.anchor > MAX_DRIFT_S):
            self.anchor = edge
        return float("inf") if self.anchor is None else edge - self.anchor

    def capture_time(self, media_time: float, wall: float) -> float:
        """Wall time at which `media_time` was live (`wall`, the read time, before the edge is known)."""
        return wall if self.anchor is None else min(wall, self.anchor + media_time)
