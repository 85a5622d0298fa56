"""A flat in-memory index for ranking millions of stored sightings with NumPy.

Rows are kept in capacity-doubling matrices: appearance as int8 (values scaled by 127
after L2 normalisation; the dot product of two int8 rows over 127^2 is the cosine to
~1e-2), named colours as uint8 fractions x 255, plus float64 start times and int32
camera codes. A query first *prefilters* rows by time window and cameras (a boolean
mask over contiguous arrays), then scores only the survivors with one matrix-vector
product per cue and keeps the top K with ``argpartition``. Beyond `EXACT_ROWS` survivors
the search runs in two stages: a first pass scores every survivor with the same fusion
but the appearance cosine approximated from a `COARSE_DIM`-d float32 PCA projection
(128 bytes a row; the basis is fitted once on the first `FIT_ROWS` rows — stripe
histograms are far from isotropic, so PCA keeps much more of the cosine than a random
projection) and the colour shares read from column-major uint8 colour planes; the best
`SHORTLIST` rows are then rescored exactly from the int8 rows. Rows are appended in time
order in a live system, so the time window is a contiguous slice found by binary search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.search.colours import COLOURS, colour_index

_INT8 = 127.0
COARSE_DIM = 32
EXACT_ROWS = 50_000
SHORTLIST = 5_000
FIT_ROWS = 20_000


@dataclass(frozen=True)
class Hit:
    row: int
    score: float


class SightingIndex:
    """Appearance, colours, time and camera of every stored sighting.

    Args:
        dim: Appearance vector length.
        capacity: Initial rows; grows by doubling.
    """

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._n = 0
        self._appearance = np.zeros((capacity, dim), np.int8)
        self._upper = np.zeros((capacity, len(COLOURS)), np.uint8)
        self._lower = np.zeros((capacity, len(COLOURS)), np.uint8)
        self._start = np.zeros(capacity, np.float64)
        self._camera = np.zeros(capacity, np.int32)
        self._camera_codes: dict[str, int] = {}
        self._colour_planes = np.zeros((2, len(COLOURS), capacity), np.uint8)  # upper / lower, column-major
        self._mean = np.zeros(dim, np.float32)
        self._basis: npt.NDArray[np.float32] | None = None  # (dim, COARSE_DIM), fitted at FIT_ROWS rows
        self._coarse = np.zeros((capacity, COARSE_DIM), np.float32)
        self.ids: list[str] = []

    def __len__(self) -> int:
        return self._n

    def add(
        self,
        ids: Sequence[str],
        appearance: npt.NDArray[np.float32],
        upper: npt.NDArray[np.float32],
        lower: npt.NDArray[np.float32],
        start: npt.NDArray[np.float64],
        cameras: Sequence[str],
    ) -> None:
        """Append rows (in start-time order, as sightings arrive). Shapes: (M, dim), (M, C), (M, C), (M,)."""
        m = len(ids)
        while self._n + m > len(self._start):
            self._grow()
        rows = slice(self._n, self._n + m)
        self._appearance[rows] = np.clip(np.rint(appearance * _INT8), -127, 127).astype(np.int8)
        self._upper[rows] = np.rint(upper * 255).astype(np.uint8)
        self._lower[rows] = np.rint(lower * 255).astype(np.uint8)
        self._colour_planes[0, :, rows] = self._upper[rows].T
        self._colour_planes[1, :, rows] = self._lower[rows].T
        self._start[rows] = start
        self._camera[rows] = [self._camera_codes.setdefault(c, len(self._camera_codes)) for c in cameras]
        self.ids.extend(ids)
        self._n += m
        if self._basis is not None:
            self._coarse[rows] = (appearance - self._mean) @ self._basis
        elif self._n >= FIT_ROWS:
            self._fit_coarse()

    def _fit_coarse(self) -> None:
        """PCA basis of the stored appearance rows; projects every row stored so far."""
        sample = self._appearance[: min(self._n, FIT_ROWS)].astype(np.float32) / _INT8
        self._mean = sample.mean(axis=0)
        _, _, vt = np.linalg.svd(sample - self._mean, full_matrices=False)
        self._basis = np.ascontiguousarray(vt[:COARSE_DIM].T, np.float32)
        for lo in range(0, self._n, 100_000):
            block = self._appearance[lo : min(self._n, lo + 100_000)].astype(np.float32) / _INT8
            self._coarse[lo : lo + len(block)] = (block - self._mean) @ self._basis

    def search(
        self,
        appearance: npt.NDArray[np.float32] | None,
        upper: Sequence[str] = (),
        lower: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        cameras: Sequence[str] | None = None,
        k: int = 50,
        appearance_weight: float = 0.65,
        exhaustive: bool = False,
    ) -> list[Hit]:
        """Top `k` rows for a photo vector and / or described colours, within a time window and cameras.

        ``exhaustive`` skips the first pass and scores every row exactly (to measure its recall).
        """
        lo = 0 if start is None else int(np.searchsorted(self._start[: self._n], start, "left"))
        hi = self._n if end is None else int(np.searchsorted(self._start[: self._n], end, "right"))
        rows = np.arange(lo, hi)
        if cameras is not None:
            codes = [self._camera_codes[c] for c in cameras if c in self._camera_codes]
            rows = rows[np.isin(self._camera[lo:hi], codes)]
        if not len(rows):
            return []
        contiguous = cameras is None
        colour_query = [(plane, names) for plane, names in enumerate((upper, lower)) if names]
        appearance_part = appearance_weight if appearance is not None else 0.0
        colour_part = (1.0 - appearance_weight if appearance is not None else 1.0) if colour_query else 0.0
        if not exhaustive and appearance is not None and self._basis is not None and len(rows) > EXACT_ROWS:
            # First pass: the same fusion with the appearance cosine from the PCA projection.
            query = appearance.astype(np.float32)
            coarse = self._coarse[lo:hi] if contiguous else self._coarse[rows]
            approx = appearance_part * (coarse @ (self._basis.T @ (query - self._mean)))
            if colour_part:
                window = slice(lo, hi) if contiguous else rows
                approx += colour_part * self._colour_score(colour_query, window)
            keep = min(SHORTLIST, len(rows))
            rows = np.sort(rows[np.argpartition(-approx, keep - 1)[:keep]])
            contiguous = False
        selection: slice | npt.NDArray[np.int64] = slice(lo, hi) if contiguous else rows
        total = np.zeros(len(rows), np.float32)
        if appearance is not None:
            query = np.clip(np.rint(appearance * _INT8), -127, 127).astype(np.float32)
            # int8 -> float32 matmul: BLAS has no int8 path in NumPy; converting per block is the cost.
            block = self._appearance[selection].astype(np.float32)
            total += appearance_part * (block @ query) / (_INT8 * _INT8)
        if colour_part:
            total += colour_part * self._colour_score(colour_query, selection)
        weight = appearance_part + colour_part
        if weight:
            total /= weight
        top = min(k, len(rows))
        best = np.argpartition(-total, top - 1)[:top]
        best = best[np.argsort(-total[best])]
        return [Hit(int(rows[i]), float(total[i])) for i in best]

    @property
    def nbytes(self) -> int:
        """Bytes held by the row arrays (capacity, not only the rows used)."""
        arrays = (self._appearance, self._upper, self._lower, self._colour_planes, self._start, self._camera)
        return sum(a.nbytes for a in arrays) + self._coarse.nbytes

    def _colour_score(
        self, colour_query: list[tuple[int, Sequence[str]]], selection: slice | npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Mean over described body halves of min(1, share in the named colours / 0.5), as in ranking."""
        parts = []
        for plane, names in colour_query:
            # Share of the region in any of the named colours; contiguous uint8 planes cost a byte a row.
            share = self._colour_planes[plane, colour_index(names[0]), selection].astype(np.float32)
            for name in names[1:]:
                share += self._colour_planes[plane, colour_index(name), selection]
            share /= 255.0
            parts.append(np.minimum(1.0, share / 0.5))
        return np.asarray(np.mean(parts, axis=0), np.float32)

    def _grow(self) -> None:
        size = 2 * len(self._start)
        self._appearance = np.resize(self._appearance, (size, self.dim))
        self._upper = np.resize(self._upper, (size, len(COLOURS)))
        self._lower = np.resize(self._lower, (size, len(COLOURS)))
        self._start = np.resize(self._start, size)
        self._camera = np.resize(self._camera, size)
        self._coarse = np.resize(self._coarse, (size, COARSE_DIM))
        planes = np.zeros((2, len(COLOURS), size), np.uint8)
        planes[:, :, : self._colour_planes.shape[2]] = self._colour_planes
        self._colour_planes = planes
