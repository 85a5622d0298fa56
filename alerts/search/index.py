"""A flat in-memory index for ranking millions of stored sightings with NumPy.

Rows are kept in capacity-doubling matrices: appearance as int8 (values scaled by 127
after L2 normalisation; the dot product of two int8 rows over 127^2 is the cosine to
~1e-2), named colours as uint8 fractions x 255, plus float64 start times and int32
camera codes. A query first *prefilters* rows by time window and cameras (a boolean
mask over contiguous arrays), then scores only the survivors with one matrix-vector
product per cue and keeps the top K with ``argpartition``. Beyond `EXACT_ROWS` survivors
the appearance cue runs in two stages: a 64-d float32 random projection of every row
(Johnson-Lindenstrauss; 256 bytes a row) picks the best `SHORTLIST` rows, which are then
rescored exactly from the int8 rows. Rows are appended in time
order in a live system, so the time window is a contiguous slice found by binary search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.search.colours import COLOURS, named_vector

_INT8 = 127.0
COARSE_DIM = 64
EXACT_ROWS = 50_000
SHORTLIST = 5_000


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
        self._projection = np.random.default_rng(0).standard_normal((dim, COARSE_DIM)).astype(
            np.float32
        ) / np.sqrt(COARSE_DIM)
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
        self._coarse[rows] = appearance @ self._projection
        self._start[rows] = start
        self._camera[rows] = [self._camera_codes.setdefault(c, len(self._camera_codes)) for c in cameras]
        self.ids.extend(ids)
        self._n += m

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
    ) -> list[Hit]:
        """Top `k` rows for a photo vector and / or described colours, within a time window and cameras."""
        lo = 0 if start is None else int(np.searchsorted(self._start[: self._n], start, "left"))
        hi = self._n if end is None else int(np.searchsorted(self._start[: self._n], end, "right"))
        rows = np.arange(lo, hi)
        if cameras is not None:
            codes = [self._camera_codes[c] for c in cameras if c in self._camera_codes]
            rows = rows[np.isin(self._camera[lo:hi], codes)]
        if not len(rows):
            return []
        contiguous = cameras is None
        if appearance is not None and len(rows) > EXACT_ROWS:
            coarse = self._coarse[lo:hi] if contiguous else self._coarse[rows]
            approx = coarse @ (appearance.astype(np.float32) @ self._projection)
            rows = np.sort(rows[np.argpartition(-approx, SHORTLIST - 1)[:SHORTLIST]])
            contiguous = False
        total = np.zeros(len(rows), np.float32)
        weight = 0.0
        if appearance is not None:
            query = np.clip(np.rint(appearance * _INT8), -127, 127).astype(np.float32)
            block = self._appearance[lo:hi] if contiguous else self._appearance[rows]
            # int8 -> float32 matmul: BLAS has no int8 path in NumPy; converting per block is the cost.
            total += appearance_weight * (block.astype(np.float32) @ query) / (_INT8 * _INT8)
            weight += appearance_weight
        colour_parts = []
        for names, matrix in ((upper, self._upper), (lower, self._lower)):
            if names:
                colour_block = matrix[lo:hi] if contiguous else matrix[rows]
                share = colour_block.astype(np.float32) @ (named_vector(list(names)) * len(names) / 255.0)
                colour_parts.append(np.minimum(1.0, share / 0.5))
        if colour_parts:
            colour_weight = 1.0 - appearance_weight if appearance is not None else 1.0
            total += colour_weight * np.mean(colour_parts, axis=0)
            weight += colour_weight
        if weight:
            total /= weight
        top = min(k, len(rows))
        best = np.argpartition(-total, top - 1)[:top]
        best = best[np.argsort(-total[best])]
        return [Hit(int(rows[i]), float(total[i])) for i in best]

    def _grow(self) -> None:
        size = 2 * len(self._start)
        self._appearance = np.resize(self._appearance, (size, self.dim))
        self._upper = np.resize(self._upper, (size, len(COLOURS)))
        self._lower = np.resize(self._lower, (size, len(COLOURS)))
        self._start = np.resize(self._start, size)
        self._camera = np.resize(self._camera, size)
        self._coarse = np.resize(self._coarse, (size, COARSE_DIM))
