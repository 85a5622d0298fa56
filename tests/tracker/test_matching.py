"""Pairwise association costs in `tracker.matching`."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.matching import direction_consistency


@pytest.mark.parametrize(
    ("velocity", "detection", "expected"),
    [
        ((5.0, 0.0), (110.0, 50.0), 0.5),  # straight ahead of the motion
        ((5.0, 0.0), (90.0, 50.0), -0.5),  # straight behind
        ((5.0, 0.0), (100.0, 60.0), 0.0),  # sideways
        ((5.0, 5.0), (110.0, 60.0), 0.5),  # ahead on a diagonal
        ((0.1, 0.0), (110.0, 50.0), 0.0),  # a standing track has no direction
        ((5.0, 0.0), (100.5, 50.0), 0.0),  # a detection on the spot has no direction
    ],
)
def test_direction_consistency(
    velocity: tuple[float, float], detection: tuple[float, float], expected: float
) -> None:
    seen = np.array([[100.0, 50.0]])
    got = direction_consistency(np.array([velocity]), seen, np.array([detection]))
    assert got.shape == (1,)
    np.testing.assert_allclose(got[0], expected, atol=1e-9)


def test_direction_consistency_no_pairs() -> None:
    assert direction_consistency(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2))).shape == (0,)
