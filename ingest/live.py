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

import time
from collections.abc import Iterable, Iterator
from typing import Any

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


class LiveClock:
    """One stream session's packets against its live edge: the twin of every burst reader.

    Wrap the demuxer with `read`; after each packet it yields, `media_time` is the packet's time
    on the arrival axis (decode order: dts, else pts; None without timestamps), `caught_up` says
    whether its read waited for the network near the live edge, and `capture_time` maps media
    times (of packets, or of frames via `media_time_of`) to when they were sent.

    Args:
        time_base: Seconds per timestamp tick of the stream.
    """

    def __init__(self, time_base: float) -> None:
        self.time_base = time_base
        self.edge = LiveEdge()
        self.media_time: float | None = None
        self.caught_up = False
        self._first: int | None = None

    def read(self, packets: Iterable[Any]) -> Iterator[Any]:
        """Yield `packets`, timing each read and placing each packet against the live edge."""
        source = iter(packets)
        while True:
            started = time.monotonic()
            try:
                packet = next(source)
            except StopIteration:
                return
            waited = time.monotonic() - started > WAITED_S
            # Decode order (dts) is arrival order; pts runs ahead of it around B-frames.
            arrival = packet.dts if packet.dts is not None else packet.pts
            if arrival is None:
                self.media_time, self.caught_up = None, False
            else:
                self._first = arrival if self._first is None else self._first
                self.media_time = (arrival - self._first) * self.time_base
                lag = self.edge.lag(time.time(), self.media_time, waited=waited)
                self.caught_up = waited and lag < LIVE_LAG_S
            yield packet

    def media_time_of(self, pts: int | None) -> float | None:
        """A frame's pts on the same axis as `media_time` (None before the first packet)."""
        return None if pts is None or self._first is None else (pts - self._first) * self.time_base

    def capture_time(self, media_time: float | None, wall: float) -> float:
        """When `media_time` was live; `wall` (the read time) while that is unknown."""
        return wall if media_time is None else self.edge.capture_time(media_time, wall)
