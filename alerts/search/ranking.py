"""Score parts and their fusion: how well each stored sighting fits a case's query.

Every candidate gets named parts in [0, 1] — ``appearance`` (stripe colour layout),
``colours`` (named upper / lower colours), ``size`` (child- vs adult-sized for its place
in the frame), ``embedding`` (learned model, when configured) — and a ``place_time``
plausibility from the camera graph. The total is the weighted mean of the parts the
query can speak to, times ``place_time``, minus a penalty for resembling a rejected
candidate more than the query. All of it is NumPy over matrices, one row per sighting.

Opt-in (``score(..., reranking=RERANKING)``): the appearance part of a candidate list
*re-ranked* with k-reciprocal neighbours (Zhong et al., CVPR 2017, `rerank`): a candidate
whose own nearest neighbours are the query's nearest neighbours moves up. It is off by
default because on the dev sets its effect flipped with the detector's boxes: +0.06 mAP
on one-by-one with one detector version, -0.03 with the next (galleries of 30-120 rows
are small for neighbourhood statistics); worth re-measuring on a real case-sized gallery.
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

Bools = npt.NDArray[np.bool_]

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
class ReRanking:
    """k-reciprocal re-ranking of the appearance part (`rerank`).

    Attributes:
        k1: Neighbours that must be mutual. Raising it lets larger groups of sightings of
            one person vouch for each other, and lets look-alikes in.
        k2: Neighbours averaged into each row's neighbour profile (local query expansion).
        lam: Share of the plain cosine in the re-ranked score; the rest is the neighbour
            (Jaccard) agreement. 1 turns re-ranking off.
        shortlist: Only the best rows by plain cosine are re-ranked (cost grows with its
            square); the others score ``lam * cosine`` and stay below them.
    """

    k1: int = 6
    k2: int = 3
    lam: float = 0.3
    shortlist: int = 200


RERANKING = ReRanking()


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


def rerank(cosine: Floats, appearance: Floats, settings: ReRanking = RERANKING) -> Floats:
    """k-reciprocal re-ranked appearance scores in [0, 1], same order of rows as ``cosine``.

    The query and the best `ReRanking.shortlist` rows form a neighbour graph; each node's
    neighbour profile is its k-reciprocal neighbours (expanded by theirs when they mostly
    agree), weighted by exp(-distance). A row's score is one minus a mix of the Jaccard
    distance between its profile and the query's and its plain cosine distance.

    Args:
        cosine: (N,) plain appearance cosine of each row with the query (best example).
        appearance: (N, D) the rows' appearance vectors (L2-normalised).
        settings: Parameters.

    Returns:
        (N,) float32; ``cosine`` unchanged when there are too few rows for neighbours.
    """
    n = len(cosine)
    if n < settings.k1 + 2 or settings.lam >= 1.0:
        return cosine
    top = np.argsort(-cosine, kind="stable")[: settings.shortlist]
    rows = appearance[top]
    similarity = np.empty((len(top) + 1, len(top) + 1), np.float32)
    similarity[0, 0] = 1.0
    similarity[0, 1:] = similarity[1:, 0] = cosine[top]
    similarity[1:, 1:] = rows @ rows.T
    distance = np.clip(1.0 - similarity, 0.0, None)
    order = np.argsort(distance, axis=1, kind="stable")
    mutual = _reciprocal(order, settings.k1)
    half = _reciprocal(order, max(1, round(settings.k1 / 2)))
    # Add a neighbour's own (smaller) reciprocal set when two thirds of it is already in ours.
    overlap = mutual.astype(np.float32) @ half.T.astype(np.float32)
    agrees = mutual & (overlap > (2.0 / 3.0) * half.sum(axis=1)[None, :])
    expanded = mutual | ((agrees.astype(np.float32) @ half.astype(np.float32)) > 0)
    profile = np.where(expanded, np.exp(-distance), 0.0)
    profile /= profile.sum(axis=1, keepdims=True)
    if settings.k2 > 1:
        profile = profile[order[:, : settings.k2]].mean(axis=1)
    shared = np.minimum(profile[0][None, :], profile).sum(axis=1)
    jaccard = 1.0 - shared / (2.0 - shared)
    mixed = 1.0 - ((1.0 - settings.lam) * jaccard + settings.lam * distance[0])
    out = (settings.lam * cosine).astype(np.float32)
    out[top] = np.clip(mixed[1:], 0.0, 1.0)
    return out


def _reciprocal(order: npt.NDArray[np.int64], k: int) -> Bools:
    """(n, n) True where j is among i's k + 1 nearest (i itself included) and i among j's."""
    near = np.zeros(order.shape, bool)
    np.put_along_axis(near, order[:, : k + 1], True, axis=1)
    return near & near.T


def score(
    query: Query,
    gallery: Gallery,
    weights: Weights = Weights(),  # noqa: B008 - frozen dataclass, safe as a default
    place_time: Floats | None = None,
    reranking: ReRanking | None = None,
) -> Scores:
    """Every part and the fused total for every gallery row.

    Args:
        query: The case's query.
        gallery: Candidate descriptors.
        weights: Fusion weights.
        place_time: Plausibility per row in [0, 1] from `alerts.search.graph`; None means all 1.
        reranking: k-reciprocal re-ranking of the appearance part (`rerank`; it leaves
            galleries of fewer than ``k1 + 2`` rows alone, e.g. one live sighting); None
            (the default) for the plain cosine.

    Returns:
        `Scores`; ``total`` (N,) orders the candidates, higher first.
    """
    n = len(gallery)
    cosine = (
        _best_cosine(gallery.appearance, [e.appearance for e in query.examples]) if query.examples else None
    )
    appearance = (
        cosine if cosine is None or reranking is None else rerank(cosine, gallery.appearance, reranking)
    )
    embedding = _embedding_match(query, gallery)
    parts = {
        "appearance": appearance,
        "colours": colour_match(query, gallery),
        "size": size_match(query, gallery),
        "embedding": embedding,
    }
    total = _fuse(parts, weights, n)
    penalty = _rejected_penalty(query, gallery, cosine, weights.negative, n)
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


def _embedding_match(query: Query, gallery: Gallery) -> Floats | None:
    """(N,) best learned-embedding cosine to the examples, or None when either side has none."""
    example_embeddings = [e.embedding for e in query.examples if e.embedding is not None]
    if gallery.embedding is None or not example_embeddings:
        return None
    return _best_cosine(gallery.embedding, example_embeddings)


def _fuse(parts: dict[str, Floats | None], weights: Weights, n: int) -> Floats:
    """(N,) weighted mean of the parts present, renormalised over their weights."""
    total = np.zeros(n, np.float32)
    weight_sum = 0.0
    for name, values in parts.items():
        w = float(getattr(weights, name))
        if values is not None and w > 0:
            total += w * values
            weight_sum += w
    fused: Floats = total / weight_sum if weight_sum else total
    return fused


def _rejected_penalty(
    query: Query, gallery: Gallery, cosine: Floats | None, negative: float, n: int
) -> Floats:
    """(N,) penalty for resembling a rejected candidate more than the query's examples."""
    if not query.rejected or cosine is None:
        return np.zeros(n, np.float32)
    rejected = _best_cosine(gallery.appearance, [r.appearance for r in query.rejected])
    # Only the excess over the query's own similarity counts: a true match that
    # happens to resemble a rejected person is not pushed below strangers.
    penalty: Floats = (negative * np.maximum(0.0, rejected - cosine)).astype(np.float32)
    return penalty
