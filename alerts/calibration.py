"""A camera's ground plane: foot points in pixels to metres, through a homography.

`GroundPlane.from_config` solves the 3x3 homography through the camera's 4 image-ground
point pairs (`config.models.Calibration`, image points normalised to the frame). Foot
points (bottom centre of a box) stand on the ground, so the mapping gives where a person
stands in metres: distances, speeds and the ground area of a zone follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from config.models import Calibration
from vigil.core.errors import ValidationError


@dataclass(frozen=True)
class GroundPlane:
    """Image (normalised [0, 1]) to ground (metres) homography of one camera.

    Attributes:
        matrix: (3, 3) homography taking [x, y, 1] in normalised image coordinates to
            homogeneous ground coordinates.
        w_sign: Sign of the homogeneous w at the calibration marks: image points where w
            has the other sign lie beyond the horizon.
    """

    matrix: npt.NDArray[np.float64]
    w_sign: float = 1.0

    @classmethod
    def from_config(cls, calibration: Calibration) -> GroundPlane:
        """Solve the homography through the 4 pairs (validated non-degenerate by the config)."""
        image = np.array(calibration.image, dtype=np.float32)
        ground = np.array(calibration.ground, dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(image, ground).astype(np.float64)
        if not np.all(np.isfinite(matrix)):
            raise ValidationError("GroundPlane: the calibration points give no homography (degenerate)")
        w = image.astype(np.float64) @ matrix[2, :2] + matrix[2, 2]
        return cls(matrix, float(np.sign(w[0])))

    def to_ground(
        self, points_px: npt.NDArray[np.floating], frame_size: tuple[int, int]
    ) -> npt.NDArray[np.float64]:
        """Ground positions of image points.

        Args:
            points_px: (N, 2) x, y in pixels of a frame of `frame_size` (width, height).
            frame_size: (width, height) of that frame.

        Returns:
            (N, 2) metres; NaN for points at or beyond the horizon (no ground there).
        """
        width, height = frame_size
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2) / (width, height)
        return self._map(points)

    def _map(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        homogeneous = points @ self.matrix[:, :2].T + self.matrix[:, 2]
        w = homogeneous[:, 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            ground = homogeneous[:, :2] / w
        # Points the other side of the horizon from the calibration marks map "behind" the camera.
        ground[(w[:, 0] * self.w_sign) <= 1e-12] = np.nan
        return ground

    def area_m2(self, polygon: npt.ArrayLike) -> float:
        """Ground area of a polygon given in normalised image coordinates, square metres.

        Raises:
            ValidationError: a vertex lies at or beyond the horizon (the zone reaches the sky).
        """
        ground = self._map(np.asarray(polygon, dtype=np.float64).reshape(-1, 2))
        if np.isnan(ground).any():
            raise ValidationError("GroundPlane.area_m2: the zone reaches above the calibrated horizon")
        x, y = ground[:, 0], ground[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
