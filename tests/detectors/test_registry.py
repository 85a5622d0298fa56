"""`LazyDetector`: the configured detector, built on first use and only once."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from config.models import DetectorConfig
from detectors import registry
from detectors.base import Detector
from detectors.registry import LazyDetector
from tests.factories import make_detections
from vigil.core.types import Detections, Image


class Fake:
    name = "fake"
    class_names: Sequence[str] = ("person",)

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        return [make_detections() for _ in images]


def test_lazy_detector_builds_the_configured_backend_once_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[DetectorConfig] = []

    def build(config: DetectorConfig) -> Detector:
        built.append(config)
        return Fake()

    monkeypatch.setitem(registry.BACKENDS, "ssdlite", build)
    lazy = LazyDetector(DetectorConfig())
    assert lazy.name == "ssdlite" and built == []  # the name is known without the model
    threads = [threading.Thread(target=lazy.get) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and isinstance(lazy.get(), Fake)
    assert list(lazy.class_names) == ["person"] and len(lazy.detect([])) == 0


def test_lazy_detector_hands_out_a_given_detector() -> None:
    fake = Fake()
    assert LazyDetector(DetectorConfig(), fake).get() is fake
