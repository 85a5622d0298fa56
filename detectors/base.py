"""The detector contract: every backend turns BGR images into one `Detections` each.

`Detector` is what every backend offers. Optional features are protocols of their own,
declared by the backend and tested with ``isinstance``: `RegionDetector` looks only where
it is told (motion regions, and with `RegionDetector.packs_cells` small looks packed into
shared model inputs); a detector that is not one is shown whole frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy.typing as npt

from detectors.tiling import Cells
from vigil.core.types import Detections, Image


class Detector(Protocol):
    """Finds objects in BGR images.

    Backends live one per module and convert their output into `Detections`; nothing
    backend-specific leaks out.
    """

    @property
    def name(self) -> str:
        """Short backend name, e.g. ``"ssdlite"``."""
        ...

    @property
    def class_names(self) -> Sequence[str]:
        """Names of the class ids the detector emits, indexed by `class_id`."""
        ...

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect objects in each image.

        Args:
            images: BGR images, each (H, W, 3) uint8; sizes may differ.

        Returns:
            One `Detections` per image, boxes in that image's pixels.

        Raises:
            ValidationError: If an image is not (H, W, 3) uint8.
            ModelError: If the model fails to run.
        """
        ...


@runtime_checkable
class RegionDetector(Detector, Protocol):
    """A detector that looks only inside given regions of each image (e.g. `SsdliteDetector`).

    Motion gating (`detectors.gating.RegionPlanner`) plans regions for it; ``isinstance(
    detector, RegionDetector)`` tells a caller whether it can pass them.
    """

    @property
    def packs_cells(self) -> bool:
        """Whether ``cells`` are honoured: small regions packed several to a model input.

        A planner packs looks only for a detector that says True here.
        """
        ...

    def detect_many_regions(
        self,
        images: Sequence[Image],
        regions: Sequence[npt.ArrayLike | None],
        cells: Sequence[Cells | None] | None = None,
    ) -> list[Detections]:
        """Detect inside the regions (and packed cells) of many images in one batched run.

        Args:
            images: BGR images, each (H, W, 3) uint8.
            regions: Per image, (K, 4) xyxy regions in pixels, or None for the whole frame.
            cells: Per image, cells to pack, or None; None: no cells.

        Returns:
            One `Detections` per image, boxes in that image's pixels.

        Raises:
            ValidationError: If an image or a region is invalid, or the lengths differ.
            ModelError: If the model fails to run.
        """
        ...
