"""`CaseIndex`: every stored sighting in memory, so a case's candidates need not read them all.

``GET /cases/{id}/candidates`` ranks a case window that can hold 100,000 sightings; reading
and decoding every one of their JSON descriptors takes tens of seconds. This index keeps
what a first pass needs of each sighting in a `alerts.search.index.SightingIndex` (int8
appearance, uint8 colour shares, start time, camera) plus its end time and size cues, and
hands the case service a shortlist: the best `CANDIDATE_SHORTLIST` sightings of the window,
which the service then loads and ranks exactly (`vigil.services.cases.CaseService._rank`).

Size: the exact ranking fits each camera's size model on the window's own rows
(`alerts.search.ranking.Gallery.build`). Fitting it on the shortlist alone would change the
size part, so `CaseIndex.shortlist` fits the same `SizeModel` per camera on every window row
it holds (the same rows the exact path fits on: in the window, on the asked cameras, not yet
decided) and returns each shortlisted sighting's relative size from those models.

Filling: `add` takes each new sighting (the case service calls it from ``on_sighting``);
`sync` finds stored sightings the index lacks (written by another process, or before
start) and reads them from the search index's float16 vectors (`vigil.infra.db.search`,
no JSON), falling back to the sighting's JSON descriptor for one the search index has not
had in two syncs; `run` syncs at start and then every `SYNC_INTERVAL_S` in a background
thread. `current` says whether the index holds every stored sighting; until it does, the
case service ranks exactly, so nothing is missed silently.

Memory: about 1 KB a row of capacity in NumPy (int8 appearance, PCA projection, colour
shares and planes, times, camera; capacity grows by doubling, measured 31 MB for 18,000 rows
in 32,768 of capacity), plus ~200 B a row of Python objects (id, end, size cues): ~125-150 MB
at 100,000. Retention deletes drop out of results at once (the exact stage loads from the
store) and out of memory when deleted rows exceed a quarter of the index (a rebuild).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from alerts.search.colours import COLOURS
from alerts.search.descriptors import APPEARANCE_DIM, Descriptor
from alerts.search.graph import CameraGraph
from alerts.search.index import SightingIndex
from alerts.search.ranking import Gallery, Query, SizeModel, Weights, size_match
from vigil.core.errors import ValidationError
from vigil.core.types import Sighting
from vigil.infra.db import Store, tables
from vigil.infra.db.search import sighting_search, sighting_vectors

logger = logging.getLogger(__name__)

CANDIDATE_SHORTLIST = 400
"""Sightings the in-memory pass hands to the exact ranking per request.

Raising it brings the returned top closer to an exhaustive ranking (at 400 the top 60
matches it on the benchmark) and costs one more stored sighting to load and rank each
(~0.5 ms a row); lowering it below the asked ``limit`` returns fewer candidates.
"""
SHORTLIST_POOL = 4_000
"""Rows the first pass keeps per example before size and place / time plausibility reorder them."""
EXHAUSTIVE_ROWS = 300_000
"""Up to this many window rows the first pass scores each exactly (int8); beyond, PCA then int8."""
EXACT_WINDOW_ROWS = 5_000
"""Windows with fewer sightings than this are ranked exactly (loading them all is cheap)."""
SYNC_INTERVAL_S = 5.0
"""How often the background thread looks for stored sightings the index lacks."""
_SYNC_BATCH = 500
_INLINE_JSON_MAX = 500  # a request reads at most this many JSON descriptors to catch up, else ranks exactly
_REBUILD_DELETED_SHARE = 0.25
PENDING_GRACE_S = 60.0
"""A sighting `add` took from the bus may reach the store later: missing from the store for
this long it counts as deleted (before, it would look deleted and trigger rebuilds)."""
_NO_VECTOR = np.zeros(0, np.float32)


@dataclass(frozen=True)
class Shortlist:
    """What the first pass hands to the exact ranking.

    Attributes:
        ids: Shortlisted sighting ids, best first by the first pass.
        relative_size: Per shortlisted id, its height over the usual height at its image row,
            from the camera's size model fitted on every window row.
        window_rows: Sightings of the window the first pass looked at.
    """

    ids: list[str]
    relative_size: dict[str, float]
    window_rows: int


@dataclass(frozen=True)
class _Row:
    sighting_id: str
    camera_id: str
    start: float
    end: float
    appearance: npt.NDArray[np.float32]
    upper: npt.NDArray[np.float32]
    lower: npt.NDArray[np.float32]
    height_px: float
    foot_y: float


class CaseIndex:
    """Stored sightings in memory for a case's first pass (see the module docstring).

    Args:
        store: The site database.
        dim: Appearance vector length (rows of another length are left out).
    """

    def __init__(self, store: Store, dim: int = APPEARANCE_DIM) -> None:
        self._store = store
        self._engine: sa.Engine = store._engine  # noqa: SLF001 - the store owns the one engine
        self._dim = dim
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._reset()
        self._waiting: set[str] = set()  # not in the search index at the last sync

    def _reset(self) -> None:
        self._index = SightingIndex(self._dim)
        self._known: set[str] = set()  # every id counted in: indexed, or stored without a descriptor
        self._bare: set[str] = set()  # stored without a usable descriptor
        self._deleted: set[str] = set()
        self._pending: dict[str, float] = {}  # added from the bus, not yet seen stored: monotonic time
        self._end: list[float] = []
        self._cues: list[Descriptor] = []  # size cues only, for `SizeModel.fit`
        self._max_start = -np.inf
        self._disorder = 0.0  # how far before the latest start a row was appended
        self._longest = 0.0  # longest sighting (end - start)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def nbytes(self) -> int:
        """Bytes of the NumPy rows (the Python id and size-cue objects come on top, ~200 B a row)."""
        return self._index.nbytes

    # -- filling -------------------------------------------------------------------------------

    def add(self, sightings: Sequence[Sighting], *, pending: bool = False) -> int:
        """Index new sightings (known ids are skipped); returns how many went in.

        Args:
            sightings: The sightings.
            pending: They come from the bus and may not be stored yet: a sync does not count
                them deleted for `PENDING_GRACE_S`.
        """
        if pending:
            now = time.monotonic()
            with self._lock:
                self._pending.update((s.id, now) for s in sightings if s.id not in self._known)
        rows = []
        for sighting in sightings:
            if sighting.id in self._known:
                continue
            row = _from_sighting(sighting, self._dim)
            if row is None:
                with self._lock:
                    self._known.add(sighting.id)
                    self._bare.add(sighting.id)
            else:
                rows.append(row)
        return self._append(rows)

    def _append(self, rows: Sequence[_Row]) -> int:
        rows = sorted(rows, key=lambda r: r.start)
        with self._lock:
            rows = [r for r in rows if r.sighting_id not in self._known]
            if not rows:
                return 0
            n = len(COLOURS)
            self._index.add(
                [r.sighting_id for r in rows],
                np.stack([r.appearance for r in rows]),
                np.stack([r.upper for r in rows]).reshape(len(rows), n),
                np.stack([r.lower for r in rows]).reshape(len(rows), n),
                np.array([r.start for r in rows], np.float64),
                [r.camera_id for r in rows],
            )
            for r in rows:
                self._known.add(r.sighting_id)
                self._end.append(r.end)
                self._cues.append(_size_cue(r.height_px, r.foot_y))
                self._disorder = max(self._disorder, self._max_start - r.start)
                self._max_start = max(self._max_start, r.start)
                self._longest = max(self._longest, r.end - r.start)
        return len(rows)

    def sync(self, inline: bool = False) -> bool:
        """Index stored sightings the index lacks; forget deleted ones.

        Args:
            inline: A request waits: read JSON descriptors of sightings the search index lacks
                only when at most `_INLINE_JSON_MAX` are left (else ranking exactly is the
                quicker answer). Not inline, a sighting's JSON is read once the search index
                has lacked it for two syncs.

        Returns:
            True when the index holds every stored sighting afterwards.
        """
        with self._sync_lock:
            with self._engine.begin() as conn:
                stored = set(conn.execute(sa.select(tables.sightings.c.id)).scalars())
            with self._lock:
                self._deleted = self._known - stored - self._still_pending(stored)
                deleted, indexed = len(self._deleted), len(self._index)
            if indexed and deleted > _REBUILD_DELETED_SHARE * indexed:
                logger.info("case index: %d of %d rows deleted, rebuilding", deleted, indexed)
                with self._lock:
                    self._reset()
            missing = stored - self._known
            searched = self._from_vectors(sorted(missing))
            self._append(searched)
            missing -= {r.sighting_id for r in searched}
            # A sighting the search index did not have at the last sync either: read its JSON.
            if inline:
                late = sorted(missing) if len(missing) <= _INLINE_JSON_MAX else []
            else:
                late = sorted(missing & self._waiting)
            for lo in range(0, len(late), _SYNC_BATCH):
                self.add(self._store.get_sightings(late[lo : lo + _SYNC_BATCH]))
            self._waiting = missing - set(late)
            return not self._waiting

    def forget(self, sighting_ids: Sequence[str]) -> None:
        """Drop sightings retention just deleted from results now (memory at the next rebuild)."""
        with self._lock:
            gone = set(sighting_ids)
            self._deleted |= gone & self._known
            for sighting_id in gone:
                self._pending.pop(sighting_id, None)

    def _still_pending(self, stored: set[str]) -> set[str]:
        """Bus-added ids not stored yet but within their grace (drops the stored and the expired)."""
        cutoff = time.monotonic() - PENDING_GRACE_S
        self._pending = {i: t for i, t in self._pending.items() if i not in stored and t > cutoff}
        return set(self._pending)

    def current(self) -> bool:
        """True when the index holds every stored sighting (a cheap count; a short sync if not)."""
        if self._counted() == self._store.counts().sightings:
            return True
        try:
            self.sync(inline=True)
        except sa.exc.SQLAlchemyError:
            logger.exception("case index: sync failed")
            return False
        return self._counted() == self._store.counts().sightings

    def run(self, stop: threading.Event) -> None:
        """Sync now and then every `SYNC_INTERVAL_S` until `stop` is set (a background thread)."""
        while not stop.is_set():
            try:
                if self._counted() != self._store.counts().sightings or self._waiting:
                    self.sync()
            except sa.exc.SQLAlchemyError:
                logger.exception("case index: sync failed; retrying in %.0f s", SYNC_INTERVAL_S)
            stop.wait(SYNC_INTERVAL_S)

    def _counted(self) -> int:
        with self._lock:
            return len(self._known) - len(self._deleted) - len(self._pending.keys() & self._known)

    def _from_vectors(self, ids: Sequence[str]) -> list[_Row]:
        """Rows of these sightings from the search index's float16 vectors (no JSON decoding)."""
        table, vectors = sighting_search, sighting_vectors
        found: list[_Row] = []
        n = len(COLOURS)
        for lo in range(0, len(ids), _SYNC_BATCH):
            query = (
                sa.select(
                    table.c.sighting_id,
                    table.c.camera_id,
                    table.c.start,
                    table.c.end,
                    table.c.height_px,
                    table.c.foot_y,
                    vectors.c.appearance,
                    vectors.c.colours,
                )
                .join_from(table, vectors, vectors.c.sighting_id == table.c.sighting_id)
                .where(table.c.sighting_id.in_(list(ids[lo : lo + _SYNC_BATCH])))
            )
            with self._engine.begin() as conn:
                rows = conn.execute(query).all()
            for sid, camera, start, end, height, foot, appearance, colours in rows:
                if height is None or foot is None or len(appearance) != 2 * self._dim:
                    continue
                colour = np.frombuffer(colours, np.float16).astype(np.float32)
                if len(colour) != 2 * n:
                    continue
                found.append(
                    _Row(
                        sid,
                        camera,
                        float(start),
                        float(end),
                        np.frombuffer(appearance, np.float16).astype(np.float32),
                        colour[:n],
                        colour[n:],
                        float(height),
                        float(foot),
                    )
                )
        return found

    # -- the first pass ------------------------------------------------------------------------

    def shortlist(
        self,
        query: Query,
        start: float,
        end: float,
        cameras: Sequence[str] | None,
        exclude: set[str],
        weights: Weights,
        graph: CameraGraph,
        trail: Sequence[Sighting] = (),
        k: int = CANDIDATE_SHORTLIST,
    ) -> Shortlist | None:
        """The window's best `k` sightings by the first pass, or None where it cannot speak.

        None when the window holds fewer than `EXACT_WINDOW_ROWS` sightings here, or the
        query has neither example photos nor described colours (a size-only query).

        Args:
            query: The case's query (examples, colours, size).
            start / end: The case window; a sighting matches when its span overlaps it.
            cameras: Only these cameras; None for all.
            exclude: Decided sighting ids (confirmed or rejected), left out.
            weights: The case ranking's fusion weights.
            graph / trail: Place / time plausibility against the confirmed sightings, applied
                to the pooled rows as the exact ranking applies it.
            k: Shortlist length.
        """
        if not (query.examples or query.upper or query.lower):
            return None
        with self._lock:
            starts = self._index._start[: len(self._index)]  # noqa: SLF001 - read-only view
            lo, hi, ends, window, ids = self._window(starts, start, end, cameras, exclude)
            rows = int(window.sum())
            if rows < EXACT_WINDOW_ROWS:
                return None
            scores = self._first_pass(query, start, end, cameras, weights, lo, window)
            relative = self._relative_size(lo, hi, window)
            pool = np.flatnonzero(np.isfinite(scores))
            names = {code: name for name, code in self._index._camera_codes.items()}  # noqa: SLF001
            cameras_of = self._index._camera  # noqa: SLF001 - read-only view
            spans = [
                _Span(ids[i], names[int(cameras_of[lo + i])], float(starts[lo + i]), float(ends[i]))
                for i in pool
            ]
        if query.size is not None:
            blank = np.zeros((len(relative), 0), np.float32)
            sized = size_match(query, Gallery(blank, blank, blank, relative))
            assert sized is not None  # noqa: S101 - query.size is set
            scores += weights.size * sized
        if trail and len(pool):
            # A row too far to have walked from her last confirmed place in time sinks, as in the exact pass.
            scores[pool] *= graph.plausibility(cast("list[Sighting]", spans), trail)
        top = np.argsort(-scores, kind="stable")[:k]
        top = top[np.isfinite(scores[top])]
        return Shortlist(
            ids=[ids[i] for i in top],
            relative_size={ids[i]: float(relative[i]) for i in top},
            window_rows=rows,
        )

    def _window(
        self,
        starts: npt.NDArray[np.float64],
        start: float,
        end: float,
        cameras: Sequence[str] | None,
        exclude: set[str],
    ) -> tuple[int, int, npt.NDArray[np.float64], npt.NDArray[np.bool_], list[str]]:
        """Rows ``lo:hi`` that may overlap the window, their ends, which do (mask), their ids.

        Call with the lock held. Rows are in start order; `_longest` (the longest span seen) and
        `_disorder` (how far out of order rows arrived) bound where overlapping rows can start.
        """
        lo = int(np.searchsorted(starts, start - self._longest - self._disorder, "left"))
        hi = int(np.searchsorted(starts, end + self._disorder, "right"))
        ends = np.asarray(self._end[lo:hi], np.float64)
        window = (ends >= start) & (starts[lo:hi] <= end)
        ids = self._index.ids[lo:hi]
        if cameras is not None:
            codes = [self._index._camera_codes[c] for c in cameras if c in self._index._camera_codes]  # noqa: SLF001
            window &= np.isin(self._index._camera[lo:hi], codes)  # noqa: SLF001 - read-only view
        gone = exclude | self._deleted
        if gone:
            window &= np.fromiter((i not in gone for i in ids), bool, len(ids))
        return lo, hi, ends, window, ids

    def _first_pass(
        self,
        query: Query,
        start: float,
        end: float,
        cameras: Sequence[str] | None,
        weights: Weights,
        lo: int,
        window: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """(hi - lo,) fused appearance + colour score of the pooled rows, -inf for the others."""
        scores = np.full(len(window), -np.inf)
        shared = weights.appearance + weights.colours
        # The hit score is normalised over the cues it used; weigh it back as the exact fusion does.
        part = shared if query.examples else weights.colours
        vectors: list[npt.NDArray[np.float32] | None] = [e.appearance for e in query.examples] or [None]
        for vector in vectors:
            hits = self._index.search(
                vector,
                upper=query.upper,
                lower=query.lower,
                start=start - self._longest - self._disorder,
                end=end + self._disorder,
                cameras=cameras,
                k=SHORTLIST_POOL + int((~window).sum()),
                appearance_weight=weights.appearance / shared if shared else 0.65,
                # The PCA pass cannot tell apart near-alike rows well enough for a top 60 of one
                # person's many sightings (82 % overlap at 100k); exact int8 costs ~0.1 s per 100k.
                exhaustive=len(window) <= EXHAUSTIVE_ROWS,
            )
            for hit in hits:
                at = hit.row - lo
                if 0 <= at < len(window) and window[at]:
                    scores[at] = max(scores[at], part * hit.score)
        return scores

    def _relative_size(self, lo: int, hi: int, window: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """(hi - lo,) height over the camera's usual height, models fitted on the window's rows."""
        relative = np.ones(hi - lo, np.float32)
        cameras = self._index._camera[lo:hi]  # noqa: SLF001 - read-only view
        heights = np.array([c.height_px for c in self._cues[lo:hi]], np.float64)
        feet = np.array([c.foot_y for c in self._cues[lo:hi]], np.float64)
        for code in np.unique(cameras[window]):
            rows = np.flatnonzero(window & (cameras == code))
            model = SizeModel.fit([self._cues[lo + i] for i in rows])
            # `SizeModel.relative` for every row at once: height / max(1, a + b * foot_y).
            relative[rows] = heights[rows] / np.maximum(1.0, model.a + model.b * feet[rows])
        return relative


@dataclass(frozen=True)
class _Span:
    """What `CameraGraph.plausibility` reads of a sighting."""

    id: str
    camera_id: str
    start: float
    end: float


def _from_sighting(sighting: Sighting, dim: int) -> _Row | None:
    if sighting.descriptor is None:
        return None
    try:
        d = Descriptor.from_vector(sighting.descriptor)
    except ValidationError:
        return None
    if len(d.appearance) != dim:
        return None
    return _Row(
        sighting.id,
        sighting.camera_id,
        sighting.start,
        sighting.end,
        d.appearance,
        d.upper,
        d.lower,
        d.height_px,
        d.foot_y,
    )


def _size_cue(height_px: float, foot_y: float) -> Descriptor:
    """A descriptor carrying only size cues, for `SizeModel` (which reads nothing else)."""
    return Descriptor(
        _NO_VECTOR, _NO_VECTOR, _NO_VECTOR, height_px=height_px, foot_y=foot_y, image_height=0.0
    )
