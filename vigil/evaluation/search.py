"""Search quality: rank every person in a folder of frames against a query photo / description.

A gallery is a folder of frames named ``<camera>_<name>.jpg``. Every frame goes through
the person detector once; every box is described (`alerts.search.descriptors`). A query
is a photo (the person is detected in it and cropped; the whole photo is used when no
one is found) and/or a description (``upper=red lower=blue size=child``). Results are
ranked by one *method*:

- ``vigil``: fused score (`alerts.search.ranking.score`), all cues;
- ``appearance`` / ``colours`` / ``size``: one cue alone;
- ``hsv``: the classic baseline, correlation of whole-crop H-S histograms.

A dev set (built by ``benchmarks/search_devsets.py``) adds ``truth.json``: for each query
the boxes of the same person in the gallery. `evaluate_devset` reports mAP and rank-1 per
method, and the detector's recall on those boxes. AP is computed over the detected
targets (a result counts when it overlaps a not-yet-matched target box with IoU >= 0.5);
targets the detector missed are reported as recall, not folded into AP, and a query
with no detected target is left out of mAP (``queries`` counts those scored). So a missed
target caps neither method: AP is over the detected targets, and every method ranks the
same detections. A truth entry may list ``ignore`` boxes (same person, but not a target:
see `score_ranking`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from alerts.search.colours import colour_index
from alerts.search.descriptors import Descriptor, Embedder, describe_crop, hsv_baseline
from alerts.search.photo import person_in_photo
from alerts.search.ranking import Gallery, Query, SizeClass, Weights, score
from detectors.base import Detector
from tracker.sighting import crop
from vigil.core.errors import ValidationError
from vigil.core.types import Image

Method = Literal["vigil", "appearance", "colours", "size", "embedding", "hsv"]
METHODS: tuple[Method, ...] = ("vigil", "appearance", "colours", "size", "embedding", "hsv")
Box = tuple[float, float, float, float]
IOU_MATCH = 0.5


@dataclass(frozen=True)
class GalleryPerson:
    """One detected person in one gallery frame."""

    frame: str
    camera: str
    box: Box
    descriptor: Descriptor
    baseline: np.ndarray


@dataclass(frozen=True)
class Result:
    frame: str
    box: Box
    score: float


@dataclass(frozen=True)
class Description:
    """A spoken description: clothing colour names and size."""

    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    size: SizeClass | None = None


def parse_description(text: str) -> Description:
    """``"upper=red lower=blue,black size=child"`` -> `Description`.

    Raises:
        ValidationError: Unknown key, colour or size.
    """
    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    size: SizeClass | None = None
    for token in text.split():
        key, _, value = token.partition("=")
        names = tuple(v.strip().lower() for v in value.split(",") if v.strip())
        if key == "upper":
            upper = tuple(n for n in names if colour_index(n) >= 0)
        elif key == "lower":
            lower = tuple(n for n in names if colour_index(n) >= 0)
        elif key == "size" and value in ("child", "adult"):
            size = "child" if value == "child" else "adult"
        else:
            raise ValidationError(
                f"describe: expected upper=COLOUR lower=COLOUR size=child|adult, got {token!r}"
            )
    return Description(upper=upper, lower=lower, size=size)


def read_image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValidationError(f"{path}: expected a readable image file")
    return np.asarray(image, np.uint8)


def describe_gallery(
    folder: Path, detector: Detector, embedder: Embedder | None = None
) -> tuple[list[GalleryPerson], float]:
    """Detect and describe every person in ``folder/<camera>_<name>.jpg``.

    Returns:
        The people found and the mean detector milliseconds per frame.

    Raises:
        ValidationError: The folder holds no ``.jpg`` frames.
    """
    frames = sorted(folder.glob("*.jpg"))
    if not frames:
        raise ValidationError(f"{folder}: expected frames named <camera>_<name>.jpg, found none")
    people: list[GalleryPerson] = []
    spent = 0.0
    for path in frames:
        image = read_image(path)
        started = time.perf_counter()
        detections = detector.detect([image])[0]
        spent += time.perf_counter() - started
        camera = path.stem.split("_", 1)[0]
        for xyxy in detections.xyxy:
            pixels = crop(image, xyxy)
            if pixels.shape[0] < 8 or pixels.shape[1] < 4:
                continue
            box: Box = (float(xyxy[0]), float(xyxy[1]), float(xyxy[2]), float(xyxy[3]))
            people.append(
                GalleryPerson(
                    frame=path.name,
                    camera=camera,
                    box=box,
                    descriptor=describe_crop(pixels, box, image.shape[0], embedder),
                    baseline=hsv_baseline(pixels),
                )
            )
    return people, 1000.0 * spent / len(frames)


def rank(
    people: Sequence[GalleryPerson],
    method: Method,
    photo_crop: Image | None = None,
    description: Description | None = None,
    embedder: Embedder | None = None,
    weights: Weights = Weights(),  # noqa: B008 - frozen dataclass
) -> list[Result]:
    """Gallery people ordered by one method, best first.

    Raises:
        ValidationError: Neither photo nor description, or ``hsv`` without a photo.
    """
    if photo_crop is None and description is None:
        raise ValidationError("search: expected a query photo, a description, or both")
    if not people:
        return []
    if method == "hsv":
        if photo_crop is None:
            raise ValidationError("search: the hsv baseline needs a query photo")
        scores = np.stack([p.baseline for p in people]) @ hsv_baseline(photo_crop)
    else:
        description = description or Description()
        examples = () if photo_crop is None else (describe_crop(photo_crop, embedder=embedder),)
        query = Query(
            examples=examples, upper=description.upper, lower=description.lower, size=description.size
        )
        gallery = Gallery.build([p.descriptor for p in people], [p.camera for p in people])
        parts = score(query, gallery, _weights_for(method, weights))
        scores = parts.total
    order = np.argsort(-scores, kind="stable")
    return [Result(frame=people[i].frame, box=people[i].box, score=round(float(scores[i]), 5)) for i in order]


def _weights_for(method: Method, weights: Weights) -> Weights:
    if method == "vigil":
        return weights
    single = {"appearance": 0.0, "colours": 0.0, "size": 0.0, "embedding": 0.0}
    single[method] = 1.0
    return Weights(**single, negative=weights.negative)


def iou(a: Box, b: Box) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class QueryScore:
    ap: float
    rank1: bool
    targets: int
    detected: int


def score_ranking(
    results: Sequence[Result],
    targets: Sequence[tuple[str, Box]],
    ignore: Sequence[tuple[str, Box]] = (),
) -> QueryScore:
    """AP and rank-1 of one ranked list against the target boxes of the query's person.

    Args:
        results: The ranking, best first.
        targets: (frame, box) of the query's person in the gallery.
        ignore: (frame, box) whose identity the dev set cannot tell (a duplicate box or a
            fragment of the query's own track, a track that crossed it): a result on one of
            them that matches no target is dropped from the list, neither hit nor miss (the
            "junk" images of Market-1501's protocol).
    """
    unmatched = list(targets)
    hits: list[bool] = []
    for result in results:
        match = next(
            (t for t in unmatched if t[0] == result.frame and iou(result.box, t[1]) >= IOU_MATCH), None
        )
        if match is not None:
            unmatched.remove(match)
        elif any(j[0] == result.frame and iou(result.box, j[1]) >= IOU_MATCH for j in ignore):
            continue
        hits.append(match is not None)
    detected = sum(hits)
    precisions = [sum(hits[: i + 1]) / (i + 1) for i, hit in enumerate(hits) if hit]
    ap = float(np.mean(precisions)) if precisions else 0.0
    return QueryScore(ap=ap, rank1=bool(hits and hits[0]), targets=len(targets), detected=detected)


def _frame_box(entry: dict[str, Any]) -> tuple[str, Box]:
    x1, y1, x2, y2 = (float(v) for v in entry["box"])
    return str(entry["frame"]), (x1, y1, x2, y2)


@dataclass(frozen=True)
class MethodScore:
    method: str
    map: float
    rank1: float
    queries: int


@dataclass(frozen=True)
class DevsetReport:
    name: str
    queries: int
    gallery_frames: int
    gallery_people: int
    detector_recall: float
    detector_ms_per_frame: float
    methods: list[MethodScore]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate_devset(
    folder: Path,
    detector: Detector,
    methods: Sequence[Method] = ("vigil", "appearance", "colours", "hsv"),
    embedder: Embedder | None = None,
    weights: Weights = Weights(),  # noqa: B008
) -> DevsetReport:
    """mAP / rank-1 of each method on a dev set folder (``gallery/``, ``queries/``, ``truth.json``).

    Raises:
        ValidationError: The folder is not a dev set.
    """
    truth_path = folder / "truth.json"
    if not truth_path.is_file():
        raise ValidationError(f"{folder}: expected a dev set with truth.json (benchmarks/search_devsets.py)")
    truth = json.loads(truth_path.read_text())
    people, ms = describe_gallery(folder / "gallery", detector, embedder)
    per_method: dict[str, list[QueryScore]] = {m: [] for m in methods}
    targets_total = detected_total = 0
    for entry in truth["queries"]:
        photo = person_in_photo(read_image(folder / entry["photo"]), detector) if entry.get("photo") else None
        description = parse_description(entry["describe"]) if entry.get("describe") else None
        targets = [_frame_box(t) for t in entry["targets"]]
        ignore = [_frame_box(t) for t in entry.get("ignore", [])]
        for method in methods:
            if method == "hsv" and photo is None:
                continue
            results = rank(people, method, photo, description, embedder, weights)
            per_method[method].append(score_ranking(results, targets, ignore))
        any_scores = next(iter(per_method.values()))
        if any_scores:
            targets_total += any_scores[-1].targets
            detected_total += any_scores[-1].detected
    summaries = [
        MethodScore(
            method=m,
            map=round(float(np.mean([s.ap for s in scores])), 4) if scores else 0.0,
            rank1=round(float(np.mean([s.rank1 for s in scores])), 4) if scores else 0.0,
            queries=len(scores),
        )
        # A query none of whose targets was detected measures the detector, not the ranking.
        for m, scores in ((m, [s for s in all_scores if s.detected]) for m, all_scores in per_method.items())
    ]
    return DevsetReport(
        name=folder.name,
        queries=len(truth["queries"]),
        gallery_frames=len(list((folder / "gallery").glob("*.jpg"))),
        gallery_people=len(people),
        detector_recall=round(detected_total / targets_total, 4) if targets_total else 0.0,
        detector_ms_per_frame=round(ms, 1),
        methods=summaries,
    )
