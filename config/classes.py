"""Class names each built-in detector emits, so a config naming another class fails at load.

`filters.classes` (a camera's per-class limits) and a rule's ``filters.classes`` name classes;
for the built-in backends the names are fixed, and `class_name_errors` checks them without
loading a model (``vigil check-config`` included). Backends whose model brings its own names
(``onnx``, ``ultralytics``) are checked when the pipeline is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO detection classes in model order (NanoDet's class ids)."""

STREET_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")

DETECTOR_CLASSES: dict[str, tuple[str, ...]] = {
    "ssdlite": ("person",),
    "nanodet": COCO_CLASSES,
    "nanodet_3x2": COCO_CLASSES,
}
"""Class names by `DetectorConfig.type`; a type not listed brings its names with its model."""

_ADVICE = {"ssdlite": " (person-only: detector.type 'nanodet' also detects vehicles)"}


def class_name_errors(detector_type: str, names: Iterable[str], where: str) -> list[str]:
    """One message per name the built-in detector `detector_type` does not emit.

    Args:
        detector_type: `DetectorConfig.type`.
        names: Class names the config gives.
        where: The YAML path of `names`, e.g. ``cameras[2].filters.classes``.

    Returns:
        Messages that name the path, the class, the closest known names and what is known.
    """
    known = DETECTOR_CLASSES.get(detector_type)
    if known is None:
        return []
    errors = []
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=2)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        listed = (
            ", ".join(STREET_CLASSES) + ", ... (the 80 COCO names)"
            if known is COCO_CLASSES
            else ", ".join(known)
        )
        advice = _ADVICE.get(detector_type, "")
        errors.append(
            f"{where}: detector {detector_type!r} has no class {name!r}; {hint}it knows: {listed}{advice}"
        )
    return errors
