"""Score parts and their fusion: how well each stored sighting fits a case's query.

Every candidate gets named parts in [0, 1] — ``appearance`` (stripe colour layout),
``colours`` (named upper / lower colours), ``size`` (child- vs adult-sized for its place
in the frame), ``embedding`` (learned model, when configured) — and a ``place_time``
plausibility from the camera graph. The total is the weighted mean of the parts the
query can speak to, times ``place_time``, minus a penalty for resembling a rejected
candidate more than the query. All of it is NumPy over matrices, one row per sighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from alerts.search.colours import named_vector
from alerts.search.descriptors import Descriptor

Floats = npt.NDArray[np.float32]
SizeClass = Literal["child", "adult"]

CHILD_RATIO = 0.78
"""A person shorter than this fraction of the usual height at their image row is child-sized."""
_SIZE_SOFTNESS = 0.07
_MIN_FIT_POINTS = 6


@dataclass(frozen=True)
class Weights:
    """How much each part counts in the fused score (renormalised over the parts present).

    Raising ``negative`` pushes candidates that look like rejected ones further down.
    """

    appearance: float = 0.5
    colours: float = 0.35
    size: float = 0.15
    embedding: float = 0.0
    negative: float = 0.5


@dataclass(frozen=True)
class Query:
    """What a case looks for.

    Attributes:
        examples: Descriptors of the person (uploaded photos, confirmed sightings).
        upper / lower: Described clothing colour names (palette of `alerts.search.colours`).
        size: Described size, or None.
        rejected: Descriptors of candidates an operator said are not her.
    """

    examples: tuple[Descriptor, ...] = ()
    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    size: SizeClass | None = None
    rejected: tuple[Descriptor, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.examples or self.upper or self.lower or self.size)


@dataclass(frozen=True)
class Gallery:
    """Descriptors of many sightings as matrices (row i is sighting i).

    Attributes:
        appearance: (N, D) float32. upper / lower: (N, C) float32.
        relative_size: (N,) height over the usual height at that image row on that camera (1 = typical).
        embedding: (N, E) float32 or None when not every row has one.
    """

    appearance: Floats
    upper: Floats
    lower: Floats
    relative_size: Floats
    embedding: Floats | None = None

    def __len__(self) -> int:
        return int(self.appearance.shape[0])

    @classmethod
    def build(cls, descriptors: Sequence[Descriptor], cameras: Sequence[str]) -> Gallery:
        """Stack descriptors; relative size is fitted per camera from these same rows (`SizeModel`)."""
        if not descriptors:
            zero = np.zeros((0, 0), np.float32)
            return cls(zero, zero, zero, np.zeros(0, np.float32))
        relative = np.ones(len(descriptors), np.float32)
        for camera in set(cameras):
            rows = [i for i, c in enumerate(cameras) if c == camera]
            model = SizeModel.fit([descriptors[i] for i in rows])
            relative[rows] = [model.relative(descriptors[i]) for i in rows]
        embeddings = [d.embedding for d in descriptors]
        return cls(
            appearance=np.stack([d.appearance for d in descriptors]).astype(np.float32),
            upper=np.stack([d.upper for d in descriptors]).astype(np.float32),
            lower=np.stack([d.lower for d in descriptors]).astype(np.float32),
            relative_size=relative,
            embedding=None
            if any(e is None for e in embeddings)
            else np.stack([e for e in embeddings if e is not None]).astype(np.float32),
        )


@dataclass(frozen=True)
class SizeModel:
    """Usual person height (pixels) as a line in the foot row, for one camera: ``a + b * foot_y``."""

    a: float
    b: float

    @classmethod
    def fit(cls, descriptors: Sequence[Descriptor]) -> SizeModel:
        """Least squares on the heights, refitted once without the worst third (children, cut boxes)."""
        y = np.array([d.foot_y for d in descriptors], np.float64)
        h = np.array([d.height_px for d in descriptors], np.float64)
        if len(h) < _MIN_FIT_POINTS or np.ptp(y) < 1.0:
            return cls(a=float(np.median(h)) if len(h) else 1.0, b=0.0)
        keep = np.ones(len(h), bool)
        for _ in range(2):
            b, a = np.polyfit(y[keep], h[keep], 1)
            residual = np.abs(h - (a + b * y))
            keep = residual <= np.quantile(residual, 0.67)
        return cls(a=float(a), b=float(b))

    def expected(self, foot_y: float) -> float:
        return max(1.0, self.a + self.b * foot_y)

    def relative(self, descriptor: Descriptor) -> float:
        return descriptor.height_px / self.expected(descriptor.foot_y)


def size_class(relative_size: float) -> SizeClass:
    return "child" if relative_size < CHILD_RATIO else "adult"


@dataclass
class Scores:
    """Score parts for every gallery row, each (N,) float32; None where the query cannot speak to it."""

    appearance: Floats | None
    colours: Floats | None
    size: Floats | None
    embedding: Floats | None
    place_time: Floats
    penalty: Floats
    total: Floats = field(default_factory=lambda: np.zeros(0, np.float32))


def colour_match(query: Query, gallery: Gallery) -> Floats | None:
    """Named-colour agreement in [0, 1]: with the described colours and with the example photos."""
    parts: list[Floats] = []
    for names, matrix in ((query.upper, gallery.upper), (query.lower, gallery.lower)):
        if names:
            # Share of the region in the described colour(s); half the region is a full match.
            share = matrix @ (named_vector(list(names)) * len(names))
            parts.append(np.minimum(1.0, share / 0.5).astype(np.float32))
    if query.examples:
        # Bhattacharyya coefficient of the colour fractions, best example.
        upper = np.sqrt(gallery.upper) @ np.sqrt(np.stack([e.upper for e in query.examples])).T
        lower = np.sqrt(gallery.lower) @ np.sqrt(np.stack([e.lower for e in query.examples])).T
        parts.append(((upper + lower) / 2).max(axis=1).astype(np.float32))
    return None if not parts else np.asarray(np.mean(parts, axis=0), np.float32)


def size_match(query: Query, gallery: Gallery) -> Floats | None:
    """How child- or adult-sized each row is, in [0, 1]; None without a described size."""
    if query.size is None:
        return None
    child = 1.0 / (1.0 + np.exp((gallery.relative_size - CHILD_RATIO) / _SIZE_SOFTNESS))
    return np.asarray(child if query.size == "child" else 1.0 - child, np.float32)


def _best_cosine(matrix: Floats, examples: Sequence[Floats]) -> Floats:
    return np.asarray(np.clip((matrix @ np.stack(examples).T).max(axis=1), 0.0, 1.0), np.float32)


def score(
    query: Query,
    gallery: Gallery,
    weights: Weights = Weights(),  # noqa: B008 - frozen dataclass, safe as a default
    place_time: Floats | None = None,
) -> Scores:
    """Every part and the fused total for every gallery row.

    Args:
        query: The case's query.
        gallery: Candidate descriptors.
        weights: Fusion weights.
        place_time: Plausibility per row in [0, 1] from `alerts.search.graph`; None means all 1.

    Returns:
        `Scores`; ``total`` (N,) orders the candidates, higher first.
    """
    n = len(gallery)
    appearance = (
        _best_cosine(gallery.appearance, [e.appearance for e in query.examples]) if query.examples else None
    )
    example_embeddings = [e.embedding for e in query.examples if e.embedding is not None]
    embedding = (
        _best_cosine(gallery.embedding, example_embeddings)
        if gallery.embedding is not None and example_embeddings
        else None
    )
    parts = {
        "appearance": appearance,
        "colours": colour_match(query, gallery),
        "size": size_match(query, gallery),
        "embedding": embedding,
    }
    total = np.zeros(n, np.float32)
    weight_sum = 0.0
    for name, values in parts.items():
        w = float(getattr(weights, name))
        if values is not None and w > 0:
            total += w * values
            weight_sum += w
    total = total / weight_sum if weight_sum else total
    penalty = np.zeros(n, np.float32)
    if query.rejected and appearance is not None:
        rejected = _best_cosine(gallery.appearance, [r.appearance for r in query.rejected])
        # Only the excess over the query's own similarity counts: a true match that
        # happens to resemble a rejected person is not pushed below strangers.
        penalty = (weights.negative * np.maximum(0.0, rejected - appearance)).astype(np.float32)
    plausibility = np.ones(n, np.float32) if place_time is None else place_time.astype(np.float32)
    return Scores(
        appearance=appearance,
        colours=parts["colours"],
        size=parts["size"],
        embedding=embedding,
        place_time=plausibility,
        penalty=penalty,
        total=(total * plausibility - penalty).astype(np.float32),
    )
