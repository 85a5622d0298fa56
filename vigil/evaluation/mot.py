"""MOTChallenge files in and out, and HOTA / CLEAR / Identity metrics via TrackEval.

A MOT directory holds one folder per sequence with ``seqinfo.ini``, ``det/det.txt``
(public detections) and ``gt/gt.txt``; images (``img1/``) are optional.

Score normalisation (one rule, the same for every tracker): MOT15's public ACF
detections carry raw detector margins (about -0.8 to 139), not probabilities. When a
sequence's scores leave [0, 1] they are divided by 100 and clipped to [0, 1]
(`normalise_scores`): a fixed, per-detection rule, so a live camera could apply it too,
unlike a min-max over the whole sequence. MOT17 scores are already in [0, 1] and are
kept.

Metrics use TrackEval's own code (HOTA, CLEAR, Identity) with the MOTChallenge
conventions as published: MOT15 sequences are scored on every ground-truth box not
marked zero; MOT16/17/20 sequences (named so) get TrackEval's preprocessing
(pedestrian class only, boxes matched to distractor classes removed). The combined
row is TrackEval's combination over all sequences given.
"""

from __future__ import annotations

import configparser
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker.base import Tracker
from vigil.core.errors import DependencyError, ValidationError
from vigil.core.types import Detections

COMBINED = "COMBINED"
METRIC_NAMES = ("HOTA", "DetA", "AssA", "MOTA", "IDF1")


@dataclass(frozen=True)
class SequenceInfo:
    """What ``seqinfo.ini`` says about a sequence.

    Attributes:
        name: Sequence folder name.
        path: Sequence folder.
        frame_rate: Frames per second.
        length: Number of frames.
        width / height: Image size in pixels.
    """

    name: str
    path: Path
    frame_rate: float
    length: int
    width: int
    height: int

    @property
    def benchmark(self) -> str:
        """MOTChallenge benchmark whose conventions apply: by name prefix, else MOT15."""
        for prefix in ("MOT16", "MOT17", "MOT20"):
            if self.name.startswith(prefix):
                return prefix
        return "MOT15"


@dataclass(frozen=True)
class Scores:
    """TrackEval metrics of one sequence or a combination, in percent."""

    HOTA: float
    DetA: float
    AssA: float
    MOTA: float
    IDF1: float

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in METRIC_NAMES}


def read_sequence_info(path: Path) -> SequenceInfo:
    """Read ``path/seqinfo.ini``.

    Raises:
        ValidationError: If the file is missing or lacks a field.
    """
    parser = configparser.ConfigParser()
    if not parser.read(path / "seqinfo.ini"):
        raise ValidationError(f"{path}: expected a seqinfo.ini, found none")
    try:
        section = parser["Sequence"]
        return SequenceInfo(
            name=path.name,
            path=path,
            frame_rate=float(section["frameRate"]),
            length=int(section["seqLength"]),
            width=int(section["imWidth"]),
            height=int(section["imHeight"]),
        )
    except KeyError as exc:
        raise ValidationError(f"{path / 'seqinfo.ini'}: missing {exc}") from exc


def list_sequences(mot_dir: Path) -> list[SequenceInfo]:
    """Every sequence folder under ``mot_dir`` (sorted by name) that has a seqinfo.ini."""
    folders = sorted(p for p in Path(mot_dir).iterdir() if (p / "seqinfo.ini").is_file())
    if not folders:
        raise ValidationError(
            f"{mot_dir}: expected MOTChallenge sequence folders with seqinfo.ini, found none"
        )
    return [read_sequence_info(p) for p in folders]


def normalise_scores(scores: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Map a sequence's detection scores into [0, 1]; see the module docstring."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
        scores = np.clip(scores / 100.0, 0.0, 1.0)
    return scores.astype(np.float32)


def read_detections(info: SequenceInfo) -> list[Detections]:
    """Public detections of a sequence, one `Detections` per frame (index 0 is frame 1).

    Rows are ``frame, -1, x, y, w, h, score, ...``; scores go through `normalise_scores`
    once for the whole sequence.
    """
    table = _read_table(info.path / "det" / "det.txt")
    frames = table[:, 0].astype(np.int64)
    xyxy = np.concatenate([table[:, 2:4], table[:, 2:4] + table[:, 4:6]], axis=1)
    scores = normalise_scores(table[:, 6])
    per_frame = []
    for frame in range(1, info.length + 1):
        rows = frames == frame
        per_frame.append(Detections(xyxy=xyxy[rows], confidence=scores[rows], class_id=np.zeros(rows.sum())))
    return per_frame


def write_tracks(path: Path, tracked: Sequence[Detections]) -> None:
    """Write per-frame tracker output as MOTChallenge rows ``frame,id,x,y,w,h,score,-1,-1,-1``."""
    lines = []
    for frame, dets in enumerate(tracked, start=1):
        if dets.tracker_id is None:
            raise ValidationError(f"frame {frame}: expected tracked detections with tracker_id, got None")
        for box, track_id, score in zip(dets.xyxy, dets.tracker_id, dets.confidence, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            box_text = f"{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f}"
            lines.append(f"{frame},{int(track_id)},{box_text},{float(score):.4f},-1,-1,-1\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def _read_table(path: Path) -> npt.NDArray[np.float64]:
    if not path.is_file():
        raise ValidationError(f"expected MOTChallenge file {path}, found none")
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    if table.size == 0:
        return np.zeros((0, 10))
    if table.shape[1] < 7:
        raise ValidationError(f"{path}: expected at least 7 comma-separated columns, got {table.shape[1]}")
    return table


def evaluate(sequences: Iterable[SequenceInfo], results_dir: Path) -> dict[str, Scores]:
    """Score tracker output ``results_dir/<seq>.txt`` against each sequence's ground truth.

    Returns:
        Scores per sequence name, plus `COMBINED` over all of them.

    Raises:
        DependencyError: If TrackEval is not installed (``pip install vigil[eval]``).
    """
    try:
        import trackeval
    except ImportError as exc:
        raise DependencyError("evaluation needs TrackEval: pip install 'vigil[eval]'") from exc
    quiet = {"PRINT_CONFIG": False}
    metrics = [
        trackeval.metrics.HOTA(quiet),
        trackeval.metrics.CLEAR(quiet),
        trackeval.metrics.Identity(quiet),
    ]
    per_sequence: dict[str, dict[str, Any]] = {}
    by_benchmark: dict[str, list[SequenceInfo]] = {}
    for info in sequences:
        by_benchmark.setdefault(info.benchmark, []).append(info)
    for benchmark, infos in by_benchmark.items():
        dataset = _dataset(trackeval, benchmark, infos, results_dir)
        tracker = dataset.tracker_list[0]
        for info in infos:
            raw = dataset.get_raw_seq_data(tracker, info.name)
            data = dataset.get_preprocessed_seq_data(raw, "pedestrian")
            per_sequence[info.name] = {m.get_name(): m.eval_sequence(data) for m in metrics}
    combined = {
        m.get_name(): m.combine_sequences({seq: result[m.get_name()] for seq, result in per_sequence.items()})
        for m in metrics
    }
    scores = {name: _scores(result) for name, result in per_sequence.items()}
    scores[COMBINED] = _scores(combined)
    return scores


def _dataset(trackeval: Any, benchmark: str, infos: list[SequenceInfo], results_dir: Path) -> Any:
    """A TrackEval MOTChallenge dataset reading ground truth in place and our output folder."""
    gt_root = {info.path.parent for info in infos}
    if len(gt_root) != 1:
        raise ValidationError(f"expected all sequences in one folder, got {sorted(map(str, gt_root))}")
    results_dir = Path(results_dir).resolve()
    config = {
        "GT_FOLDER": str(gt_root.pop()),
        "TRACKERS_FOLDER": str(results_dir.parent),
        "TRACKERS_TO_EVAL": [results_dir.name],
        "TRACKER_SUB_FOLDER": "",
        "OUTPUT_FOLDER": tempfile.gettempdir(),
        "BENCHMARK": benchmark,
        "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": {info.name: info.length for info in infos},
        "PRINT_CONFIG": False,
    }
    return trackeval.datasets.MotChallenge2DBox(config)


def _scores(result: dict[str, Any]) -> Scores:
    hota = result["HOTA"]
    return Scores(
        HOTA=100 * float(np.mean(hota["HOTA"])),
        DetA=100 * float(np.mean(hota["DetA"])),
        AssA=100 * float(np.mean(hota["AssA"])),
        MOTA=100 * float(result["CLEAR"]["MOTA"]),
        IDF1=100 * float(result["Identity"]["IDF1"]),
    )


def results_path(out_dir: Path, sequence: str) -> Path:
    return Path(os.fspath(out_dir)) / f"{sequence}.txt"


@dataclass(frozen=True)
class TrackingRun:
    """Result of running one tracker over sequences.

    Attributes:
        update_seconds: Wall time of every ``update`` call, in frame order over all sequences.
        detections_per_frame: Input detections of every frame, same order.
    """

    update_seconds: list[float]
    detections_per_frame: list[int]


def run_tracker(
    factory: Callable[[float], Tracker], sequences: Iterable[SequenceInfo], out_dir: Path
) -> TrackingRun:
    """Run a fresh tracker per sequence on its public detections; write ``out_dir/<seq>.txt``.

    Args:
        factory: Builds a tracker for a frame rate (see `vigil.evaluation.baselines.TRACKERS`).
        sequences: Sequences to run.
        out_dir: Where MOTChallenge result files go (created).
    """
    seconds: list[float] = []
    counts: list[int] = []
    for info in sequences:
        tracker = factory(info.frame_rate)
        tracked = []
        for detections in read_detections(info):
            start = time.perf_counter()
            tracked.append(tracker.update(detections))
            seconds.append(time.perf_counter() - start)
            counts.append(len(detections))
        write_tracks(results_path(out_dir, info.name), tracked)
    return TrackingRun(seconds, counts)
