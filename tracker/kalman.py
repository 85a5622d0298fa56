"""Constant-velocity Kalman filter over boxes, batched over all tracks of a camera.

State per track is ``(cx, cy, w, h, vcx, vcy, vw, vh)``: box centre and size in pixels
and their velocities in pixels per frame. Filtering width and height directly (rather
than ByteTrack's aspect ratio) follows BoT-SORT: boxes fit better when people turn.
Process and measurement noise scale with the box size, so a near, large person may
move more pixels per frame than a far, small one.

Every function works on a whole batch at once (``mean (N, 8)``, ``covariance
(N, 8, 8)``) and returns new arrays: the per-frame cost stays a few NumPy calls
whatever the number of tracks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

_NDIM = 4
_TRANSITION = np.eye(2 * _NDIM)
_TRANSITION[:_NDIM, _NDIM:] = np.eye(_NDIM)


class KalmanFilter:
    """Batched constant-velocity filter over ``(cx, cy, w, h)`` boxes.

    Args:
        std_position: Position noise as a fraction of box size. Raising it trusts
            detections more than the motion model.
        std_velocity: Velocity noise as a fraction of box size. Raising it lets
            tracks change speed faster, at the cost of noisier predictions.
    """

    def __init__(self, std_position: float = 1.0 / 20, std_velocity: float = 1.0 / 160) -> None:
        self.std_position = std_position
        self.std_velocity = std_velocity

    def _size(self, mean: Array) -> Array:
        """Per-track (w, h, w, h) scale of the noise, shape (N, 4)."""
        return np.tile(mean[:, 2:4], 2)

    def initiate(self, boxes: Array) -> tuple[Array, Array]:
        """Start tracks at measured boxes ``(cx, cy, w, h)``, shape (N, 4).

        Returns:
            mean (N, 8) with zero velocity, covariance (N, 8, 8).
        """
        mean = np.concatenate([boxes, np.zeros_like(boxes)], axis=1)
        size = self._size(mean)
        std = np.concatenate([2 * self.std_position * size, 10 * self.std_velocity * size], axis=1)
        return mean, _diag(std**2)

    def predict(self, mean: Array, covariance: Array) -> tuple[Array, Array]:
        """Advance every track by one frame."""
        size = self._size(mean)
        std = np.concatenate([self.std_position * size, self.std_velocity * size], axis=1)
        mean = mean @ _TRANSITION.T
        covariance = _TRANSITION @ covariance @ _TRANSITION.T + _diag(std**2)
        return mean, covariance

    def project(self, mean: Array, covariance: Array, confidence: Array | None = None) -> tuple[Array, Array]:
        """Measurement-space mean (N, 4) and innovation covariance (N, 4, 4).

        With ``confidence`` (N,), a weak detection counts as a noisier measurement
        (NSA Kalman, StrongSORT): a blurred half-visible box moves the track less.
        """
        std = self.std_position * self._size(mean)
        if confidence is not None:
            std = std * np.sqrt(np.clip(1.0 - confidence, 0.05, 1.0) * 2.0)[:, None]
        return mean[:, :_NDIM], covariance[:, :_NDIM, :_NDIM] + _diag(std**2)

    def update(
        self, mean: Array, covariance: Array, boxes: Array, confidence: Array | None = None
    ) -> tuple[Array, Array]:
        """Correct tracks with their matched boxes ``(cx, cy, w, h)``, shape (N, 4)."""
        projected, innovation_cov = self.project(mean, covariance, confidence)
        # K^T = S^-1 (H P): H selects the first four rows, S is symmetric.
        gain = np.linalg.solve(innovation_cov, covariance[:, :_NDIM, :]).transpose(0, 2, 1)
        innovation = boxes - projected
        mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        covariance = covariance - gain @ covariance[:, :_NDIM, :]
        return mean, covariance

    def gating_distance(self, mean: Array, covariance: Array, boxes: Array) -> Array:
        """Squared Mahalanobis distance of every box to every track on ``(cx, cy)``.

        Returns:
            Distances, shape (N tracks, M boxes); chi-square with 2 degrees of freedom.
        """
        projected, innovation_cov = self.project(mean, covariance)
        inverse = np.linalg.inv(innovation_cov[:, :2, :2])
        delta = boxes[None, :, :2] - projected[:, None, :2]
        distance: Array = np.einsum("nmi,nij,nmj->nm", delta, inverse, delta)
        return distance


def _diag(values: Array) -> Array:
    """Stack of diagonal matrices from rows of ``values`` (N, D) -> (N, D, D)."""
    n, d = values.shape
    out = np.zeros((n, d, d))
    out[:, np.arange(d), np.arange(d)] = values
    return out


def xyxy_to_cxcywh(xyxy: npt.NDArray[np.floating]) -> Array:
    """Corner boxes (N, 4) to centre-size boxes (N, 4)."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(boxes: Array) -> Array:
    """Centre-size boxes (N, 4) to corner boxes (N, 4)."""
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
