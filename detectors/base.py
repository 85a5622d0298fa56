"""The detector contract: every backend turns BGR images into one `Detections` each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
