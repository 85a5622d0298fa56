"""Scores of rule events against the events of the same rules on ground-truth tracks.

- Line crossings, per sequence, rule and direction: the count error, and event matching: a
  crossing matches a ground-truth crossing of the same direction at most ``tolerance_s``
  (1 s) apart, one to one. The matching is `scipy.optimize.linear_sum_assignment` on the
  time gaps with every gap over the tolerance priced out of reach, which finds the most
  matches possible and, among those, the smallest total gap. Crossings are matched by
  time only, not by identity (the tracker's ids are its own).
- Dwell, per sequence and rule: a dwell event is tied to a person through its track.
  Ground-truth and tracker tracks overlap on the frames where their boxes are paired
  (IoU >= 0.5, one to one per frame by the same assignment, as CLEAR-MOT pairs them); a
  dwell event matches a ground-truth dwell event whose track overlaps its track most
  (assignment on the overlap, ties by time), never one whose track it does not overlap.
  Vigil's dwell rule alerts once per stay when the stay reaches ``min_seconds``, carrying
  the dwell so far (about ``min_seconds``), so comparing the values alone says little.
  The dwell-time error of a matched pair is what Vigil reports minus the true dwell at the
  same moment: at its alert time ``t`` Vigil says ``v``; the truth then is the ground-truth
  value ``v_gt`` plus the time since the ground-truth alert, ``t - t_gt`` (the stay goes
  on). Error = ``v - (v_gt + t - t_gt)``, in seconds; its median absolute value is reported.
  An id switch inside a stay restarts the clock: it shows as a late alert (a large error)
  or a missed one.
- Occupancy, per sequence and rule: START and END events each matched to ground-truth ones
  within the tolerance (as crossings), and the agreement of the alert periods: frames in
  alert in both / frames in alert in either (a START without END lasts to the last frame).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.base import Tracker
from vigil.core.errors import ConfigError
from vigil.core.types import Detections
from vigil.evaluation.mot import SequenceInfo
from vigil.evaluation.rules import (
    DetectionSource,
    RuleEvent,
    RulesFile,
    build_sequence_rules,
    detections_for,
    read_ground_truth,
    run_rules,
    track_sequence,
)

_UNREACHABLE = 1e9
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Matched:
    """How many events of each side, and how many matched."""

    predicted: int
    truth: int
    matched: int

    @property
    def precision(self) -> float | None:
        return self.matched / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.truth if self.truth else None

    @property
    def f1(self) -> float | None:
        total = self.predicted + self.truth
        return 2 * self.matched / total if total else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def match_times(
    predicted: Sequence[float], truth: Sequence[float], tolerance: float
) -> list[tuple[int, int]]:
    """One-to-one pairs (predicted index, truth index) at most ``tolerance`` apart.

    The most pairs possible; among those, the smallest total gap.
    """
    if not predicted or not truth:
        return []
    gaps = np.abs(np.subtract.outer(np.asarray(predicted, float), np.asarray(truth, float)))
    cost = np.where(gaps <= tolerance, gaps, _UNREACHABLE)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _UNREACHABLE]


@dataclass(frozen=True)
class CrossingScore:
    """One line rule, one direction, one sequence."""

    seq: str
    rule: str
    direction: str
    events: Matched

    @property
    def count_error(self) -> int:
        return self.events.predicted - self.events.truth

    @property
    def relative_error(self) -> float | None:
        return self.count_error / self.events.truth if self.events.truth else None

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "rule": self.rule,
            "direction": self.direction,
            "count": self.events.predicted,
            "gt_count": self.events.truth,
            "count_error": self.count_error,
            "relative_error": self.relative_error,
            **{k: v for k, v in self.events.as_dict().items() if k not in ("predicted", "truth")},
        }


def score_crossings(
    predicted: Iterable[RuleEvent],
    truth: Iterable[RuleEvent],
    frame_rates: Mapping[str, float],
    tolerance_s: float = 1.0,
) -> list[CrossingScore]:
    """Count error and event matching per (sequence, rule, direction); see the module docstring.

    Args:
        predicted: Events from the tracker (other kinds are ignored).
        truth: Events from the ground truth.
        frame_rates: Frames per second of each sequence.
        tolerance_s: Largest time gap of a match.
    """
    groups: dict[tuple[str, str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for side, events in enumerate((predicted, truth)):
        for event in events:
            if event.kind == "crossing" and event.direction is not None:
                key = (event.seq, event.rule, event.direction)
                groups[key][side].append(event.frame / frame_rates[event.seq])
    for seq, rule, _ in list(groups):
        for direction in ("in", "out"):
            groups[(seq, rule, direction)]  # noqa: B018 - a direction nobody crossed still scores
    scores = []
    for (seq, rule, direction), (pred, gt) in sorted(groups.items()):
        matched = len(match_times(pred, gt, tolerance_s))
        scores.append(CrossingScore(seq, rule, direction, Matched(len(pred), len(gt), matched)))
    return scores


def track_overlap(
    truth: Sequence[Detections], predicted: Sequence[Detections], min_iou: float = MATCH_IOU
) -> Counter[tuple[int, int]]:
    """Frames on which each (truth id, predicted id) pair of boxes is paired.

    Per frame, boxes are paired one to one by IoU (assignment), pairs under ``min_iou`` dropped.
    """
    overlap: Counter[tuple[int, int]] = Counter()
    for gt, pred in zip(truth, predicted, strict=True):
        if not len(gt) or not len(pred) or gt.tracker_id is None or pred.tracker_id is None:
            continue
        iou = _iou(gt.xyxy.astype(np.float64), pred.xyxy.astype(np.float64))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= min_iou:
                overlap[(int(gt.tracker_id[r]), int(pred.tracker_id[c]))] += 1
    return overlap


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) intersection over union."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class DwellScore:
    """One dwell rule on one sequence: matched events and their dwell-time errors (seconds)."""

    seq: str
    rule: str
    events: Matched
    errors: tuple[float, ...] = field(default=())

    @property
    def median_abs_error(self) -> float | None:
        return float(np.median(np.abs(self.errors))) if self.errors else None

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "rule": self.rule,
            **self.events.as_dict(),
            "errors_s": [round(e, 3) for e in self.errors],
            "median_abs_error_s": self.median_abs_error,
        }


def score_dwell(
    predicted: Iterable[RuleEvent],
    truth: Iterable[RuleEvent],
    overlaps: Mapping[str, Counter[tuple[int, int]]],
    frame_rates: Mapping[str, float],
) -> list[DwellScore]:
    """Dwell events matched through track overlap, and their dwell-time errors.

    Args:
        predicted: Events from the tracker (other kinds are ignored).
        truth: Events from the ground truth.
        overlaps: Per sequence, `track_overlap` of its ground truth and tracker output.
        frame_rates: Frames per second of each sequence.
    """
    groups: dict[tuple[str, str], tuple[list[RuleEvent], list[RuleEvent]]] = defaultdict(lambda: ([], []))
    for side, events in enumerate((predicted, truth)):
        for event in events:
            if event.kind == "dwell":
                groups[(event.seq, event.rule)][side].append(event)
    scores = []
    for (seq, rule), (pred, gt) in sorted(groups.items()):
        errors = dwell_errors(pred, gt, overlaps.get(seq, Counter()), frame_rates[seq])
        scores.append(DwellScore(seq, rule, Matched(len(pred), len(gt), len(errors)), tuple(errors)))
    return scores


def dwell_errors(
    pred: Sequence[RuleEvent], gt: Sequence[RuleEvent], overlap: Counter[tuple[int, int]], fps: float
) -> list[float]:
    """Dwell-time errors (seconds) of the matched pairs of one rule on one sequence.

    A pair's tracks must overlap (``overlap[(gt id, predicted id)] > 0``); more shared frames
    win, the time gap breaks ties. See the module docstring for the error's definition.
    """
    if not pred or not gt:
        return []
    cost = np.full((len(pred), len(gt)), _UNREACHABLE)
    for i, p in enumerate(pred):
        for j, g in enumerate(gt):
            frames = overlap.get((int(g.track or 0), int(p.track or 0)), 0)
            if frames > 0:
                cost[i, j] = -frames + abs(p.frame - g.frame) / (fps * 1e4)
    errors = []
    for i, j in zip(*linear_sum_assignment(cost), strict=True):
        if cost[i, j] < _UNREACHABLE:
            p, g = pred[i], gt[j]
            truth_then = (g.value or 0.0) + (p.frame - g.frame) / fps
            errors.append((p.value or 0.0) - truth_then)
    return errors


@dataclass(frozen=True)
class OccupancyScore:
    """One occupancy rule on one sequence: START and END matching and period agreement."""

    seq: str
    rule: str
    starts: Matched
    ends: Matched
    frames_in_alert: int
    gt_frames_in_alert: int
    agreement: float | None  # frames in alert in both / in either; None: neither ever in alert

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "rule": self.rule,
            "starts": self.starts.as_dict(),
            "ends": self.ends.as_dict(),
            "frames_in_alert": self.frames_in_alert,
            "gt_frames_in_alert": self.gt_frames_in_alert,
            "agreement": self.agreement,
        }


def alert_frames(events: Iterable[RuleEvent], length: int) -> np.ndarray:
    """(length,) bool: frames inside a START..END period (START without END: to the end)."""
    active = np.zeros(length + 1, bool)
    start: int | None = None
    for event in sorted(events, key=lambda e: (e.frame, e.phase != "end")):
        if event.phase == "start":
            start = event.frame
        elif event.phase == "end" and start is not None:
            active[start : event.frame] = True
            start = None
    if start is not None:
        active[start:] = True
    return active[1:]


def score_occupancy(
    predicted: Iterable[RuleEvent],
    truth: Iterable[RuleEvent],
    frame_rates: Mapping[str, float],
    lengths: Mapping[str, int],
    tolerance_s: float = 1.0,
) -> list[OccupancyScore]:
    """START / END matching within the tolerance and alert-period agreement per (sequence, rule)."""
    groups: dict[tuple[str, str], tuple[list[RuleEvent], list[RuleEvent]]] = defaultdict(lambda: ([], []))
    for side, events in enumerate((predicted, truth)):
        for event in events:
            if event.kind == "occupancy":
                groups[(event.seq, event.rule)][side].append(event)
    scores = []
    for (seq, rule), (pred, gt) in sorted(groups.items()):
        fps = frame_rates[seq]
        phases = []
        for phase in ("start", "end"):
            p = [e.frame / fps for e in pred if e.phase == phase]
            g = [e.frame / fps for e in gt if e.phase == phase]
            phases.append(Matched(len(p), len(g), len(match_times(p, g, tolerance_s))))
        ours, theirs = alert_frames(pred, lengths[seq]), alert_frames(gt, lengths[seq])
        either = int(np.count_nonzero(ours | theirs))
        both = int(np.count_nonzero(ours & theirs))
        scores.append(
            OccupancyScore(
                seq,
                rule,
                starts=phases[0],
                ends=phases[1],
                frames_in_alert=int(ours.sum()),
                gt_frames_in_alert=int(theirs.sum()),
                agreement=both / either if either else None,
            )
        )
    return scores


def _relative(predicted: int, truth: int) -> float | None:
    return (predicted - truth) / truth if truth else None


def pooled(parts: Iterable[Matched]) -> Matched:
    """The sum of several matchings (pooled precision, recall, F1)."""
    parts = list(parts)
    return Matched(
        sum(p.predicted for p in parts), sum(p.truth for p in parts), sum(p.matched for p in parts)
    )


@dataclass(frozen=True)
class RulesReport:
    """Everything ``vigil eval rules`` measured.

    Attributes:
        sequences: Sequences evaluated.
        skipped: Sequences of the MOT folder that the rules file has no rules for.
        events: Events of the rules on Vigil's tracker output.
        gt_events: Events of the same rules on the ground-truth tracks.
        crossings / dwell / occupancy: Scores per sequence and rule.
        frames: Frames evaluated (all sequences).
        rules: Rule objects run per pass (all sequences).
        tracker_s / rules_s: Seconds in the tracker's ``update`` / the rules' ``evaluate``
            (tracker pass only).
        detections: What the tracker was fed (``public`` or ``gt``).
    """

    sequences: list[str]
    skipped: list[str]
    events: list[RuleEvent]
    gt_events: list[RuleEvent]
    crossings: list[CrossingScore]
    dwell: list[DwellScore]
    occupancy: list[OccupancyScore]
    frames: int
    rules: int
    tracker_s: float
    rules_s: float
    detections: DetectionSource = "public"

    def dwell_median_abs_error(self) -> float | None:
        """Median |dwell-time error| over every matched dwell event of every rule, seconds."""
        errors = [e for d in self.dwell for e in d.errors]
        return float(np.median(np.abs(errors))) if errors else None

    def summary(self) -> dict[str, object]:
        """Pooled scores and the issue's targets (see `TARGETS`)."""
        by_direction = {}
        direction_errors = []
        for direction in ("in", "out"):
            rows = [c for c in self.crossings if c.direction == direction]
            pred, gt = sum(c.events.predicted for c in rows), sum(c.events.truth for c in rows)
            by_direction[direction] = {
                "count": pred,
                "gt_count": gt,
                "relative_error": _relative(pred, gt),
            }
            direction_errors.append(_relative(pred, gt))
        rows_scored = [c for c in self.crossings if c.events.truth]
        worst = max((abs(c.relative_error or 0.0) for c in rows_scored), default=None)
        within = sum(
            1 for c in rows_scored if abs(c.relative_error or 0.0) <= TARGETS["count_relative_error"]
        )
        crossing = pooled(c.events for c in self.crossings)
        dwell_median = self.dwell_median_abs_error()
        return {
            "crossing_counts": by_direction,
            "crossing_rows_within_10pct": f"{within}/{len(rows_scored)}",
            "crossing_worst_relative_error": worst,
            "crossing_events": crossing.as_dict(),
            "dwell_events": pooled(d.events for d in self.dwell).as_dict(),
            "dwell_median_abs_error_s": dwell_median,
            "occupancy_starts": pooled(o.starts for o in self.occupancy).as_dict(),
            "occupancy_ends": pooled(o.ends for o in self.occupancy).as_dict(),
            "targets": {
                "counts_within_10pct_per_direction": all(
                    e is not None and abs(e) <= TARGETS["count_relative_error"] for e in direction_errors
                ),
                "counts_within_10pct_every_line_direction": bool(rows_scored) and within == len(rows_scored),
                "crossing_f1": crossing.f1 is not None and crossing.f1 >= TARGETS["crossing_f1"],
                "dwell_median_error": dwell_median is not None
                and dwell_median <= TARGETS["dwell_median_abs_error_s"],
            },
            "rule_ms_per_frame_per_rule": 1000 * self.rules_s / max(1, self.frames) / max(1, self.rules),
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "sequences": self.sequences,
            "detections": self.detections,
            "skipped": self.skipped,
            "events": [e.as_dict() for e in self.events],
            "counts": counts(self.events),
            "gt_events": [e.as_dict() for e in self.gt_events],
            "gt_counts": counts(self.gt_events),
            "scores": {
                "crossings": [c.as_dict() for c in self.crossings],
                "dwell": [d.as_dict() for d in self.dwell],
                "occupancy": [o.as_dict() for o in self.occupancy],
                "summary": self.summary(),
            },
        }


TARGETS = {"count_relative_error": 0.10, "crossing_f1": 0.85, "dwell_median_abs_error_s": 1.0}
"""Issue #15's targets for rule quality on mot_public_det."""


def counts(events: Iterable[RuleEvent]) -> dict[str, dict[str, dict[str, int | str]]]:
    """Per sequence and rule: crossings per direction, dwell events, occupancy starts / ends."""
    out: dict[str, dict[str, dict[str, int | str]]] = {}
    for event in events:
        empty: dict[str, int | str] = {"kind": event.kind}
        if event.kind == "crossing":
            empty |= {"in": 0, "out": 0}
        row = out.setdefault(event.seq, {}).setdefault(event.rule, empty)
        key = {"crossing": event.direction, "dwell": "events", "occupancy": event.phase}[event.kind] or "?"
        row[key] = int(row.get(key, 0)) + 1
    return out


def evaluate_rules(
    sequences: Sequence[SequenceInfo],
    rules_file: RulesFile,
    factory: Callable[[float], Tracker],
    on_frame: Callable[[], None] | None = None,
    tolerance_s: float = 1.0,
    min_visibility: float = 0.0,
    detections: DetectionSource = "public",
) -> RulesReport:
    """Run the rules on the tracker's output and on the ground truth of each sequence, and score.

    Args:
        sequences: The MOT folder's sequences; those without rules in ``rules_file`` are skipped.
        rules_file: Rules per sequence.
        factory: Builds the tracker for a frame rate.
        on_frame: Called once per tracked frame (progress).
        tolerance_s: Largest time gap of a crossing / occupancy match.
        min_visibility: See `read_ground_truth`.
        detections: What the tracker is fed: ``public`` detections, or ``gt`` boxes (an oracle
            detector, see `detections_for`).

    Raises:
        ConfigError: The rules name a sequence that is not among ``sequences``, or a sequence's
            rules are invalid.
    """
    chosen = _chosen(sequences, rules_file)
    events: list[RuleEvent] = []
    gt_events: list[RuleEvent] = []
    overlaps = {}
    tracker_s = rules_s = 0.0
    for info in chosen:
        spec = rules_file.sequences[info.name]
        build_sequence_rules(info, spec)  # fail on a bad spec before spending time tracking
        fed = detections_for(info, detections, min_visibility)
        tracked, seconds = track_sequence(info, factory, on_frame, fed)
        tracker_s += seconds
        rules = build_sequence_rules(info, spec)
        found, seconds = run_rules(info, rules, tracked)
        rules_s += seconds
        truth = read_ground_truth(info, min_visibility)
        true_events, _ = run_rules(info, build_sequence_rules(info, spec), truth)
        events += found
        gt_events += true_events
        overlaps[info.name] = track_overlap(truth, tracked)
    rates = {info.name: info.frame_rate for info in chosen}
    lengths = {info.name: info.length for info in chosen}
    return RulesReport(
        sequences=[info.name for info in chosen],
        skipped=[info.name for info in sequences if info.name not in rules_file.sequences],
        events=events,
        gt_events=gt_events,
        crossings=score_crossings(events, gt_events, rates, tolerance_s),
        dwell=score_dwell(events, gt_events, overlaps, rates),
        occupancy=score_occupancy(events, gt_events, rates, lengths, tolerance_s),
        frames=sum(lengths.values()),
        rules=sum(len(rules_file.sequences[info.name].rules) for info in chosen) // max(1, len(chosen)),
        tracker_s=tracker_s,
        rules_s=rules_s,
        detections=detections,
    )


def _chosen(sequences: Sequence[SequenceInfo], rules_file: RulesFile) -> list[SequenceInfo]:
    """The sequences the rules file has rules for; every one it names must be there."""
    names = {info.name for info in sequences}
    unknown = sorted(set(rules_file.sequences) - names)
    if unknown:  # a misspelt sequence name must not silently drop its rules from the score
        raise ConfigError(
            f"sequences.{unknown[0]}: no such sequence in the MOT folder (rules for {unknown}; "
            f"sequences found: {sorted(names)})"
        )
    chosen = [info for info in sequences if info.name in rules_file.sequences]
    if not chosen:
        raise ConfigError("sequences: expected rules for at least one sequence, got none")
    return chosen
