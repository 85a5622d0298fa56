"""Person detectors: the `Detector` contract and its backends (one per module)."""

from detectors.base import Detector
from detectors.ssdlite import SsdliteDetector

__all__ = ["Detector", "SsdliteDetector"]
