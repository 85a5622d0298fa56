"""Why `vigil eval rules` misses crossings: each ground-truth crossing, and what the detector and
the tracker did around it.

    .venv/bin/python benchmarks/rules/diagnose.py [--mot ../shared/data/mot_public_det]
        [--rules benchmarks/rules/mot_public_det.yaml]

Prints, per sequence:

- the recall of the public detections on the ground-truth boxes of the people who cross a
  line, within 1 s of their crossing (a box is found by a detection at IoU >= 0.5, one to one),
  at any score and at the tracker's thresholds (0.1 low, 0.3 high, 0.35 to start a track),
  beside the same recall over every ground-truth box of the sequence;
- every ground-truth crossing that Vigil's crossing events do not match, with its cause as
  the tracker's output shows it within 1 s: not tracked at all, tracked only before / only
  after the crossing (lost on the way, or picked up past the line), a different track id on
  each side (id switch at the line), or the same id on both sides with no event in time;
- the count of each cause.

Run ``vigil eval rules ... --detections gt`` beside it: the same rules with the tracker fed
the ground-truth boxes, i.e. what the tracker and the rules lose when detection is perfect.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from vigil.core.types import Detections
from vigil.evaluation.baselines import TRACKERS
from vigil.evaluation.mot import SequenceInfo, list_sequences, read_detections
from vigil.evaluation.rule_scores import MATCH_IOU, _iou, match_times
from vigil.evaluation.rules import (
    RuleEvent,
    SequenceRules,
    build_sequence_rules,
    load_rules_file,
    read_ground_truth,
    run_rules,
    track_sequence,
)

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.0, 0.1, 0.3, 0.35)


def pairs(truth: Detections, other: Detections) -> dict[int, int]:
    """Ground-truth id -> row of ``other`` paired with it (IoU assignment, pairs >= MATCH_IOU)."""
    if not len(truth) or not len(other) or truth.tracker_id is None:
        return {}
    iou = _iou(truth.xyxy.astype(np.float64), other.xyxy.astype(np.float64))
    rows, cols = linear_sum_assignment(-iou)
    return {
        int(truth.tracker_id[r]): int(c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= MATCH_IOU
    }


def recall(
    truth: list[Detections], detections: list[Detections], keep: set[tuple[int, int]] | None
) -> tuple[int, list[float]]:
    """Boxes considered, and the share found at each of `THRESHOLDS` (``keep``: (frame index, id))."""
    scores = []
    for k, (gt, det) in enumerate(zip(truth, detections, strict=True)):
        paired = pairs(gt, det)
        for gid in [] if gt.tracker_id is None else gt.tracker_id.tolist():
            if keep is None or (k, gid) in keep:
                scores.append(float(det.confidence[paired[gid]]) if gid in paired else -1.0)
    found = np.asarray(scores)
    return len(found), [float(np.mean(found >= t)) if len(found) else 0.0 for t in THRESHOLDS]


def matched_truth(found: list[RuleEvent], truth: list[RuleEvent], fps: float) -> set[int]:
    """Indices into ``truth`` (crossings) that a crossing of ``found`` matches (same direction, 1 s)."""
    matched = set()
    for direction in ("in", "out"):
        gi = [i for i, e in enumerate(truth) if e.direction == direction]
        pi = [e.frame / fps for e in found if e.direction == direction]
        matched |= {gi[j] for _, j in match_times(pi, [truth[i].frame / fps for i in gi], 1.0)}
    return matched


def cause(event: RuleEvent, truth: list[Detections], tracked: list[Detections], window: int) -> str:
    """Why a ground-truth crossing was missed, from the tracks paired with that person around it."""
    crossed = event.frame - 1
    before: set[int] = set()
    after: set[int] = set()
    for k in range(max(0, crossed - window), min(len(truth), crossed + window + 1)):
        ids = tracked[k].tracker_id
        track = pairs(truth[k], tracked[k]).get(int(event.track or 0))
        if track is not None and ids is not None:
            (before if k < crossed else after).add(int(ids[track]))
    if not before and not after:
        return "not tracked within 1 s"
    if not before:
        return "tracked only after (picked up past the line)"
    if not after:
        return "tracked only before (lost on the way)"
    if before.isdisjoint(after):
        return "id switch at the line"
    return "same id on both sides, no event within 1 s"


def diagnose(info: SequenceInfo, spec: SequenceRules, causes: Counter[str]) -> None:
    truth, detections = read_ground_truth(info), read_detections(info)
    tracked, _ = track_sequence(info, TRACKERS["vigil"])
    found, _ = run_rules(info, build_sequence_rules(info, spec), tracked)
    true_events, _ = run_rules(info, build_sequence_rules(info, spec), truth)
    window = int(round(info.frame_rate))
    near = {
        (k, int(e.track or 0))
        for e in true_events
        if e.kind == "crossing"
        for k in range(max(0, e.frame - 1 - window), min(info.length, e.frame + window))
    }
    n_near, at_line = recall(truth, detections, near)
    n_all, overall = recall(truth, detections, None)
    shares = " ".join(f"{r:5.2f}" for r in at_line)
    print(f"{info.name:16}{n_near:6} {shares}   | {n_all:6} {overall[0]:5.2f} {overall[-1]:5.2f}")
    for rule in {e.rule for e in true_events if e.kind == "crossing"}:
        gt = [e for e in true_events if e.rule == rule and e.kind == "crossing"]
        ours = [e for e in found if e.rule == rule and e.kind == "crossing"]
        hit = matched_truth(ours, gt, info.frame_rate)
        for i, event in enumerate(gt):
            why = "matched" if i in hit else cause(event, truth, tracked, window)
            causes[f"{info.name} {why}"] += 1
            if i not in hit:
                print(f"    missed {rule} {event.direction} frame {event.frame} gt id {event.track}: {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mot", type=Path, default=REPO.parent / "shared" / "data" / "mot_public_det")
    parser.add_argument("--rules", type=Path, default=REPO / "benchmarks" / "rules" / "mot_public_det.yaml")
    args = parser.parse_args()
    rules_file = load_rules_file(args.rules)
    print("recall of the public detections on crossing people within 1 s of the line, by score")
    header = f"{'sequence':16}{'boxes':>6} {'any':>5} {'>=0.1':>5} {'>=0.3':>5} {'>=.35':>5}"
    print(f"{header}   | all boxes: any >=.35")
    causes: Counter[str] = Counter()
    for info in list_sequences(args.mot):
        if info.name in rules_file.sequences:
            diagnose(info, rules_file.sequences[info.name], causes)
    print()
    for key, count in sorted(causes.items()):
        print(f"{key}: {count}")


if __name__ == "__main__":
    main()
