"""Search stored sightings by named clothing colour, size and appearance (no case needed).

The case service ranks a case's window against photos and a description; this service
answers the operator's quick questions over everything stored: "red top, child-sized, on
the gate camera since noon" (`SightingSearch.search`) and "who else looks like this one"
(`SightingSearch.similar`). Both read the search index (`vigil.infra.db.search`), which
this service fills from each sighting's descriptor (`index`, subscribed to the sightings
topic; `catch_up` indexes what arrived another way or before the index existed).

Colours are the descriptor's top named colours (`alerts.search.colours.top_colours`);
size is the case service's size model (`alerts.search.ranking.SizeModel`) fitted per camera
on its newest indexed sightings; similarity is the case ranking's fused appearance and
colour score (`alerts.search.ranking.score`) with the sighting as the one example.
Nothing here identifies anyone: colours and a relative size, never a face.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.search.colours import COLOURS
from alerts.search.descriptors import Descriptor
from alerts.search.ranking import CHILD_RATIO, Gallery, Query, Scores, SizeClass, SizeModel, score, size_class
from vigil.core.errors import ValidationError
from vigil.core.types import Sighting
from vigil.infra.db import Store
from vigil.infra.db.search import HeightLine, SearchIndex, SearchRow, SizeFilter, VectorBlock

logger = logging.getLogger(__name__)

SIZE_SAMPLE = 300
"""Newest sized sightings per camera its size model is fitted on (as the case service's live model)."""
SIZE_MODEL_TTL_S = 60.0
"""A camera's fitted size model is reused this long; raising it saves reads, lags new sightings."""
MIN_SIZE_SAMPLE = 20
"""A camera with fewer indexed sightings has no size model: its sightings' size is unknown."""
MAX_SIMILAR_GALLERY = 20_000
"""`similar` compares with at most this many sightings, the newest matching the filters."""
CATCH_UP_BATCH = 500

_NO_VECTOR = np.zeros(0, np.float32)
_SHARED: weakref.WeakKeyDictionary[Store, SightingSearch] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class SightingNotFound(ValidationError):
    """No stored sighting has this id."""


class NoDescriptor(ValidationError):
    """The sighting has no appearance descriptor to compare with."""


@dataclass(frozen=True)
class SightingFilter:
    """What a search asks for; empty colour lists and None do not filter.

    Attributes:
        camera_id: Only this camera.
        start / end: Epoch seconds; a sighting matches when its span overlaps the range.
        upper / lower: At least one of the sighting's top torso (legs) colours is one of these.
        size: Child- or adult-sized for its place in the frame.
        cameras: Only these cameras (the caller's camera scope, `api.scope`); None for all.
    """

    camera_id: str | None = None
    start: float | None = None
    end: float | None = None
    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    size: SizeClass | None = None
    cameras: frozenset[str] | None = None

    @property
    def searching(self) -> bool:
        """True when it filters on what a person looks like (an audited search)."""
        return bool(self.upper or self.lower or self.size)


@dataclass(frozen=True)
class Described:
    """A sighting with what the search knows of it (empty / None without a descriptor)."""

    sighting: Sighting
    upper_colours: tuple[str, ...]
    lower_colours: tuple[str, ...]
    size: SizeClass | None


@dataclass(frozen=True)
class Similar:
    """One sighting like the asked one, and why (parts in [0, 1] as in the case ranking)."""

    found: Described
    score: float
    appearance: float
    colours: float | None


def search_row(sighting: Sighting) -> SearchRow:
    """The search index row of a sighting: its descriptor's top colours, size cues and vectors."""
    bare = SearchRow(sighting.id, sighting.camera_id, sighting.start, sighting.end)
    if sighting.descriptor is None:
        return bare
    try:
        descriptor = Descriptor.from_vector(sighting.descriptor)
    except ValidationError as error:
        logger.warning("sighting %s: descriptor not indexed: %s", sighting.id, error)
        return bare
    return SearchRow(
        sighting_id=sighting.id,
        camera_id=sighting.camera_id,
        start=sighting.start,
        end=sighting.end,
        upper=tuple(c.name for c in descriptor.upper_colours),
        lower=tuple(c.name for c in descriptor.lower_colours),
        height_px=descriptor.height_px,
        foot_y=descriptor.foot_y,
        appearance=descriptor.appearance,
        colours=np.concatenate([descriptor.upper, descriptor.lower]).astype(np.float32),
    )


class SightingSearch:
    """Colour, size and similarity searches over the store's sightings.

    Args:
        store: The site database (sightings and the search index).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._index = SearchIndex.for_store(store)
        self._lock = threading.Lock()
        self._models: dict[str, tuple[float, SizeModel | None]] = {}

    @classmethod
    def for_store(cls, store: Store) -> SightingSearch:
        """The one search service of an open store (its size models are shared by requests)."""
        with _SHARED_LOCK:
            search = _SHARED.get(store)
            if search is None:
                search = _SHARED[store] = cls(store)
        return search

    # -- indexing ------------------------------------------------------------------------------

    def index(self, sightings: Sequence[Sighting]) -> int:
        """Index sightings (already indexed ones are skipped); returns how many went in.

        Subscribe it to the sightings topic (``bus.subscribe_batch``).
        """
        return self._index.add([search_row(s) for s in sightings])

    def catch_up(self, limit: int | None = None, stop: threading.Event | None = None) -> int:
        """Index stored sightings that have no index row yet.

        Args:
            limit: At most about this many (whole batches of `CATCH_UP_BATCH`); None for all.
            stop: Checked between batches; set, it ends the catch-up early.

        Returns:
            How many were indexed.
        """
        done = 0
        while (limit is None or done < limit) and not (stop is not None and stop.is_set()):
            batch = self._index.unindexed(CATCH_UP_BATCH)
            if not batch:
                break
            self._index.add([search_row(s) for s in batch])
            done += len(batch)
        return done

    def behind(self) -> bool:
        """True when some stored sightings may not be indexed yet (two cheap counts)."""
        return self._index.behind()

    def unindexed(self) -> int:
        """Stored sightings searches do not see yet."""
        return self._index.count_unindexed()

    # -- searches ------------------------------------------------------------------------------

    def search(self, filters: SightingFilter, limit: int, offset: int) -> tuple[list[Described], int]:
        """Sightings newest first matching every filter, and how many match in all.

        Raises:
            ValidationError: A colour is not in the palette.
        """
        _check_colours(filters.upper + filters.lower)
        size = None
        if filters.size is not None:
            cameras = self._index.cameras() if filters.camera_id is None else [filters.camera_id]
            if filters.cameras is not None:
                cameras = [c for c in cameras if c in filters.cameras]
            models = self._size_models(cameras)
            lines = tuple(HeightLine(camera, model.a, model.b) for camera, model in models.items())
            size = SizeFilter(lines, CHILD_RATIO, below=filters.size == "child")
        f = filters
        rows = self._index.find(
            f.camera_id,
            f.start,
            f.end,
            f.upper,
            f.lower,
            size=size,
            limit=limit,
            offset=offset,
            cameras=f.cameras,
        )
        total = self._index.count(f.camera_id, f.start, f.end, f.upper, f.lower, size=size, cameras=f.cameras)
        sightings = self._store.get_sightings([r.sighting_id for r in rows])
        models = self._size_models(sorted({s.camera_id for s in sightings}))
        return self._described(sightings, {r.sighting_id: r for r in rows}, models), total

    def describe(self, sightings: Sequence[Sighting]) -> list[Described]:
        """The sightings with their indexed colours and size (a page of a plain listing)."""
        rows = self._index.get([s.id for s in sightings])
        missing = [s for s in sightings if s.id not in rows]
        if missing:
            self.index(missing)
            rows.update({r.sighting_id: r for r in map(search_row, missing)})
        models = self._size_models(sorted({s.camera_id for s in sightings}))
        return self._described(sightings, rows, models)

    def similar(
        self,
        sighting_id: str,
        limit: int,
        camera_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        cameras: frozenset[str] | None = None,
    ) -> tuple[list[Similar], int]:
        """Stored sightings ranked by appearance and colour similarity to one of them.

        Args:
            sighting_id: The sighting to compare with (left out of the results).
            limit: How many to return, best first.
            camera_id / start / end: Only these sightings (a span overlapping the range).
            cameras: The caller's camera scope (`api.scope`), None for every camera: the
                sighting compared with must be of one of them (else it is not found), and so
                must every result; the gallery is cut to these cameras before it is ranked.

        Returns:
            The best `limit` and how many sightings were compared (at most `MAX_SIMILAR_GALLERY`).

        Raises:
            SightingNotFound: No sighting has this id.
            NoDescriptor: It has no descriptor.
        """
        example = self._example(sighting_id, cameras)
        block = self._index.vectors(
            len(example.appearance),
            camera_id,
            start,
            end,
            exclude=sighting_id,
            limit=MAX_SIMILAR_GALLERY,
            cameras=cameras,
        )
        if not len(block):
            return [], 0
        n = len(COLOURS)
        gallery = Gallery(
            appearance=block.appearance,
            upper=block.colours[:, :n],
            lower=block.colours[:, n:],
            relative_size=np.ones(len(block), np.float32),  # the query says nothing of size
        )
        parts = score(Query(examples=(example,)), gallery)
        order = [int(i) for i in np.argsort(-parts.total, kind="stable")[:limit]]
        return self._ranked(block, parts, order), len(block)

    def _example(self, sighting_id: str, cameras: frozenset[str] | None) -> Descriptor:
        """The descriptor of the sighting `similar` compares with, if the caller may see it."""
        sighting = self._store.get_sighting(sighting_id)
        if sighting is None or (cameras is not None and sighting.camera_id not in cameras):
            raise SightingNotFound(f"sighting {sighting_id!r} not found")
        if sighting.descriptor is None:
            raise NoDescriptor(f"sighting {sighting_id!r} has no appearance descriptor to compare with")
        return Descriptor.from_vector(sighting.descriptor)

    def _ranked(self, block: VectorBlock, parts: Scores, order: list[int]) -> list[Similar]:
        """The gallery rows at `order` (best first) as results; rows deleted meanwhile are left out."""
        ids = [block.sighting_ids[i] for i in order]
        sightings = {s.id: s for s in self._store.get_sightings(ids)}
        rows = self._index.get(ids)
        models = self._size_models(sorted({block.camera_ids[i] for i in order}))
        results = []
        for i, sighting_id in zip(order, ids, strict=True):
            if sighting_id not in sightings:
                continue  # deleted between the two reads
            described = self._described([sightings[sighting_id]], rows, models)[0]
            results.append(
                Similar(
                    found=described,
                    score=round(float(parts.total[i]), 4),
                    appearance=_part(parts.appearance, i) or 0.0,
                    colours=_part(parts.colours, i),
                )
            )
        return results

    # -- internals -----------------------------------------------------------------------------

    def _size_models(self, camera_ids: Sequence[str]) -> dict[str, SizeModel]:
        """Each camera's size model, None-free: cameras with too few sightings are left out."""
        now = time.monotonic()
        with self._lock:
            fresh = {c: self._models[c] for c in camera_ids if c in self._models}
        stale = [c for c in camera_ids if c not in fresh or now - fresh[c][0] > SIZE_MODEL_TTL_S]
        if stale:
            samples = self._index.size_samples(stale, SIZE_SAMPLE)
            for camera in stale:
                rows = samples.get(camera, [])
                model = None
                if len(rows) >= MIN_SIZE_SAMPLE:
                    model = SizeModel.fit([_size_cue(r.height_px, r.foot_y) for r in rows])
                fresh[camera] = (now, model)
            with self._lock:
                self._models.update({c: fresh[c] for c in stale})
        return {camera: model for camera, (_, model) in fresh.items() if model is not None}

    def _described(
        self, sightings: Sequence[Sighting], rows: dict[str, SearchRow], models: dict[str, SizeModel]
    ) -> list[Described]:
        described = []
        for sighting in sightings:
            row = rows.get(sighting.id)
            model = models.get(sighting.camera_id)
            size: SizeClass | None = None
            if row is not None and model is not None and row.height_px is not None and row.foot_y is not None:
                size = size_class(model.relative(_size_cue(row.height_px, row.foot_y)))
            described.append(
                Described(
                    sighting=sighting,
                    upper_colours=() if row is None else row.upper,
                    lower_colours=() if row is None else row.lower,
                    size=size,
                )
            )
        return described


def _part(values: npt.NDArray[np.float32] | None, i: int) -> float | None:
    return None if values is None else round(float(values[i]), 4)


def _size_cue(height_px: float, foot_y: float) -> Descriptor:
    """A descriptor carrying only size cues, for `SizeModel` (which reads nothing else)."""
    return Descriptor(
        _NO_VECTOR, _NO_VECTOR, _NO_VECTOR, height_px=height_px, foot_y=foot_y, image_height=0.0
    )


def _check_colours(names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in COLOURS]
    if unknown:
        raise ValidationError(f"colour: expected names from {', '.join(COLOURS)}, got {unknown}")
