"""Vigil's rules on MOTChallenge sequences: events from the tracker and from the ground truth.

Each sequence's rules (line crossing, dwell, occupancy) are written in PIXELS of that
sequence in one RULES.yaml (format below), converted to the site config's normalised
models (`config.models.Line`, `Polygon`, `config.rules.RuleSpec`) and built by Vigil's own
`alerts.build_rule`: the rules measured here are the rules a site runs.

The same rules run twice per sequence, on fresh rule objects each time:

- on Vigil's tracker (`tracker.VigilTracker` at its defaults) fed the public detections
  (`vigil.evaluation.mot.read_detections`, scores normalised as for ``vigil eval track``);
- on the ground-truth tracks (`read_ground_truth`), whose ids are the true identities.

Frame ``f`` (1-based) is at ``(f - 1) / frameRate`` seconds.

Ground truth kept (MOTChallenge conventions, as TrackEval applies them):

- MOT16/17/20 rows ``frame,id,x,y,w,h,consider,class,visibility``: only ``consider == 1``
  and class 1 (pedestrian). Distractors (person on vehicle, static person, reflection, ...)
  and non-person classes are dropped. Visibility is NOT filtered (``min_visibility`` 0 by
  default): an occluded person who walks over a line did cross it, and the tracker is
  judged on what really happened, as MOTA/HOTA judge it on every such box.
- MOT15 rows ``frame,id,x,y,w,h,conf,...``: rows with ``conf == 0`` (marked not to be
  evaluated) are dropped; there are no classes.

RULES.yaml::

    sequences:
      PETS09-S2L1:                      # sequence folder name
        lines:                          # config.models.Line, points in pixels
          - {name: mid, points: [[450, 150], [450, 575]], in_side: left}
        zones:                          # config.models.Polygon, vertices in pixels
          - {name: square, polygon: [[480, 160], [690, 160], [690, 300], [480, 300]]}
        rules:                          # config.rules rule specs without `camera`
          - {type: line_crossing, name: mid-count, line: mid}
          - {type: dwell, name: square-dwell, zone: square, min_seconds: 5}
          - {type: occupancy, name: square-crowd, zone: square, max_people: 3, min_seconds: 1}

Line-crossing rules are run with ``alert_on: [in, out]`` and ``cooldown_s: 0`` whatever the
file says, so that every crossing the rule counts is an event to score.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from alerts import build_rule
from alerts.base import Rule
from config.loader import format_location
from config.models import CameraConfig, CameraRole, Line, Polygon
from config.rules import Rule as RuleField
from config.rules import RuleSpec
from tracker.base import Tracker
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.types import AlertKind, Detections, Direction
from vigil.evaluation.mot import SequenceInfo, read_detections

EventKind = Literal["crossing", "dwell", "occupancy"]
_KINDS: dict[AlertKind, EventKind] = {
    AlertKind.LINE_CROSSING: "crossing",
    AlertKind.DWELL: "dwell",
    AlertKind.OCCUPANCY: "occupancy",
}
_RULE_TYPES = ("line_crossing", "dwell", "occupancy")

PixelPoint = tuple[float, float]


@dataclass(frozen=True)
class RuleEvent:
    """One event a rule raised on one frame of a sequence.

    Attributes:
        seq: Sequence name.
        rule: Rule name.
        kind: 'crossing', 'dwell' or 'occupancy'.
        frame: MOTChallenge frame number (1-based).
        track: Track id (tracker id, or ground-truth id), None for occupancy.
        direction: 'in' / 'out' for crossings, else None.
        value: Dwell seconds (dwell), people in the zone (occupancy), None for crossings.
        phase: 'start' / 'end' for occupancy, else None.
    """

    seq: str
    rule: str
    kind: EventKind
    frame: int
    track: int | None = None
    direction: str | None = None
    value: float | None = None
    phase: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "rule": self.rule,
            "kind": self.kind,
            "frame": self.frame,
            "track": self.track,
            "direction": self.direction,
            "value": None if self.value is None else round(self.value, 3),
            "phase": self.phase,
        }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PixelLine(_Strict):
    """`config.models.Line` with its points in pixels of the sequence."""

    name: str = Field(description="Line name, referenced by line_crossing rules.")
    points: list[PixelPoint] = Field(description="Vertices [x, y] in pixels, at least 2.")
    in_side: Literal["left", "right"] = Field(
        default="left",
        description="Side of the line, walking it from its first point on screen, that is 'in'.",
    )


class PixelZone(_Strict):
    """`config.models.Polygon` with its vertices in pixels of the sequence."""

    name: str = Field(description="Zone name, referenced by dwell and occupancy rules.")
    polygon: list[PixelPoint] = Field(description="Vertices [x, y] in pixels, at least 3.")


class SequenceRules(_Strict):
    """Lines, zones and rules of one sequence."""

    lines: list[PixelLine] = Field(default_factory=list, description="Counting lines.")
    zones: list[PixelZone] = Field(default_factory=list, description="Zones for dwell and occupancy.")
    rules: list[dict[str, Any]] = Field(
        description="Rule specs as in the site config's `rules:` (line_crossing, dwell, occupancy), "
        "without `camera`."
    )


class RulesFile(_Strict):
    """A RULES.yaml: rules per MOTChallenge sequence."""

    sequences: dict[str, SequenceRules] = Field(description="Sequence folder name -> its rules.")


def load_rules_file(path: Path) -> RulesFile:
    """Read and validate a RULES.yaml (the rule specs are checked per sequence in `rule_specs`).

    Raises:
        ConfigError: The file is missing, is not YAML, or does not match the format.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: expected a readable YAML rules file: {error}") from error
    try:
        return RulesFile.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(f"{path}: {_problems(error)}") from None


def _problems(error: pydantic.ValidationError, prefix: str = "", tag: str | None = None) -> str:
    """One line per problem, ``prefix`` + YAML path: message (a union's ``tag`` left out)."""
    out = []
    for e in error.errors():
        location = tuple(e["loc"])
        if tag is not None and location[:1] == (tag,):
            location = location[1:]
        message = e["msg"].removeprefix("Value error, ")
        out.append(f"{prefix}{'.' if prefix and location else ''}{format_location(location)}: {message}")
    return "; ".join(out)


def camera_for(info: SequenceInfo, spec: SequenceRules) -> CameraConfig:
    """The sequence as an 'ai' camera with its lines and zones normalised to [0, 1].

    Raises:
        ConfigError: A point outside the image, or a line / zone the site config refuses; the
            message names its place in the file (``sequences.S.lines[0].points: ...``).
    """
    size = (info.width, info.height)
    where = f"sequences.{info.name}"
    lines = [_line(f"{where}.lines[{i}]", line, size) for i, line in enumerate(spec.lines)]
    zones = [_zone(f"{where}.zones[{i}]", zone, size) for i, zone in enumerate(spec.zones)]
    try:
        return CameraConfig(
            id=info.name, url=f"mot://{info.name}", role=CameraRole.AI, lines=lines, zones=zones
        )
    except pydantic.ValidationError as error:
        raise ConfigError(_problems(error, where)) from None


def _line(where: str, line: PixelLine, size: tuple[int, int]) -> Line:
    try:
        return Line(name=line.name, points=_normalise(where, line.points, size), in_side=line.in_side)
    except pydantic.ValidationError as error:
        raise ConfigError(_problems(error, where)) from None


def _zone(where: str, zone: PixelZone, size: tuple[int, int]) -> Polygon:
    try:
        return Polygon(name=zone.name, polygon=_normalise(where, zone.polygon, size))
    except pydantic.ValidationError as error:
        raise ConfigError(_problems(error, where)) from None


def _normalise(where: str, points: Sequence[PixelPoint], size: tuple[int, int]) -> list[tuple[float, float]]:
    width, height = size
    outside = [p for p in points if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if outside:
        raise ConfigError(f"{where}: points {outside} lie outside the {width}x{height} image")
    return [(x / width, y / height) for x, y in points]


def rule_specs(info: SequenceInfo, spec: SequenceRules) -> list[RuleSpec]:
    """The sequence's rules as validated config specs on camera ``info.name``.

    Raises:
        ConfigError: A rule of another type, a spec the config refuses, or a reference to a
            line / zone the sequence does not define.
    """
    adapter: pydantic.TypeAdapter[RuleSpec] = pydantic.TypeAdapter(RuleField)
    names = {line.name for line in spec.lines}, {zone.name for zone in spec.zones}
    specs = []
    for i, raw in enumerate(spec.rules):
        where = f"sequences.{info.name}.rules[{i}]"
        if raw.get("type") not in _RULE_TYPES:
            raise ConfigError(
                f"{where}.type: expected one of {', '.join(_RULE_TYPES)}, got {raw.get('type')!r}"
            )
        fields = {**raw, "camera": info.name}
        if raw["type"] == "line_crossing":
            fields |= {"alert_on": ["in", "out"], "cooldown_s": 0.0}
        try:
            rule = adapter.validate_python(fields)
        except pydantic.ValidationError as error:
            raise ConfigError(_problems(error, where, tag=raw["type"])) from None
        reference = getattr(rule, "line", None) or getattr(rule, "zone", None)
        known = names[0] if raw["type"] == "line_crossing" else names[1]
        if reference not in known:
            raise ConfigError(f"{where}: refers to {reference!r}, not among this sequence's {sorted(known)}")
        specs.append(rule)
    return specs


def build_sequence_rules(info: SequenceInfo, spec: SequenceRules) -> list[Rule]:
    """Fresh rule objects for one sequence, built by `alerts.build_rule`."""
    camera = camera_for(info, spec)
    return [build_rule(rule, camera) for rule in rule_specs(info, spec)]


def read_ground_truth(info: SequenceInfo, min_visibility: float = 0.0) -> list[Detections]:
    """Ground-truth boxes kept for rule evaluation (see the module docstring), one per frame.

    Args:
        info: The sequence.
        min_visibility: MOT16/17/20 only: also drop boxes less visible than this (0 keeps all).

    Returns:
        ``info.length`` `Detections` (index 0 is frame 1) with ``tracker_id`` = ground-truth id,
        confidence 1 and class 0 (Vigil's person class).
    """
    path = info.path / "gt" / "gt.txt"
    if not path.is_file():
        raise ValidationError(f"expected MOTChallenge ground truth {path}, found none")
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    if table.size and table.shape[1] < 7:
        raise ValidationError(f"{path}: expected at least 7 comma-separated columns, got {table.shape[1]}")
    if table.size == 0:
        table = np.zeros((0, 9))
    if info.benchmark == "MOT15":
        keep = table[:, 6] != 0
    else:
        if table.shape[1] < 9:
            raise ValidationError(
                f"{path}: expected 9 columns (consider, class, visibility), got {table.shape[1]}"
            )
        keep = (table[:, 6] == 1) & (table[:, 7] == 1) & (table[:, 8] >= min_visibility)
    table = table[keep]
    frames = table[:, 0].astype(np.int64)
    xyxy = np.concatenate([table[:, 2:4], table[:, 2:4] + table[:, 4:6]], axis=1)
    ids = table[:, 1].astype(np.int64)
    order = np.argsort(frames, kind="stable")
    frames, xyxy, ids = frames[order], xyxy[order], ids[order]
    bounds = np.searchsorted(frames, np.arange(1, info.length + 2))
    per_frame = []
    for frame in range(info.length):
        rows = slice(bounds[frame], bounds[frame + 1])
        n = bounds[frame + 1] - bounds[frame]
        per_frame.append(
            Detections(
                xyxy=xyxy[rows],
                confidence=np.ones(n, np.float32),
                class_id=np.zeros(n, np.int64),
                tracker_id=ids[rows],
            )
        )
    return per_frame


DetectionSource = Literal["public", "gt"]
"""What the tracker is fed: the sequence's public detections, or its ground-truth boxes
without their ids (an oracle detector: what the tracker and the rules lose on their own)."""


def detections_for(
    info: SequenceInfo, source: DetectionSource, min_visibility: float = 0.0
) -> list[Detections]:
    """The tracker's input per frame (index 0 is frame 1) for ``source``.

    ``gt``: the boxes `read_ground_truth` keeps, score 1, ``tracker_id`` None, so the tracker
    assigns its own ids as it does on a detector's output.
    """
    if source == "public":
        return read_detections(info)
    return [dataclasses.replace(d, tracker_id=None) for d in read_ground_truth(info, min_visibility)]


def track_sequence(
    info: SequenceInfo,
    factory: Callable[[float], Tracker],
    on_frame: Callable[[], None] | None = None,
    detections: Sequence[Detections] | None = None,
) -> tuple[list[Detections], float]:
    """A fresh tracker over the sequence's detections, as `mot.run_tracker` feeds it.

    Args:
        info: The sequence.
        factory: Builds the tracker for the sequence's frame rate.
        on_frame: Called after each frame (progress).
        detections: Per frame, index 0 is frame 1; None: the public detections.

    Returns:
        The tracked detections per frame (index 0 is frame 1), and the seconds spent in ``update``.
    """
    tracker = factory(info.frame_rate)
    tracked = []
    spent = 0.0
    for frame in read_detections(info) if detections is None else detections:
        start = time.perf_counter()
        tracked.append(tracker.update(frame))
        spent += time.perf_counter() - start
        if on_frame is not None:
            on_frame()
    return tracked, spent


def frame_time(info: SequenceInfo, frame: int) -> float:
    """Seconds of frame ``frame`` (1-based) from the start of the sequence."""
    return (frame - 1) / info.frame_rate


def run_rules(
    info: SequenceInfo,
    rules: Iterable[Rule],
    per_frame: Sequence[Detections],
    on_frame: Callable[[], None] | None = None,
) -> tuple[list[RuleEvent], float]:
    """Evaluate rules frame by frame and turn their alerts into events.

    Args:
        info: The sequence (frame size, frame rate).
        rules: Fresh rule objects (their state is this run's).
        per_frame: Tracked detections per frame, index 0 is frame 1.
        on_frame: Called after each frame (progress).

    Returns:
        The events in frame order, and the seconds spent in ``evaluate`` (all rules).
    """
    rules = list(rules)
    size = (info.width, info.height)
    events = []
    spent = 0.0
    for frame, tracked in enumerate(per_frame, start=1):
        start = time.perf_counter()
        alerts = [alert for rule in rules for alert in rule.evaluate(tracked, size, frame_time(info, frame))]
        spent += time.perf_counter() - start
        for alert in alerts:
            kind = _KINDS.get(alert.kind)
            if kind is None:
                continue
            events.append(
                RuleEvent(
                    seq=info.name,
                    rule=alert.rule,
                    kind=kind,
                    frame=frame,
                    track=alert.tracker_id if kind != "occupancy" else None,
                    direction=alert.direction.value if isinstance(alert.direction, Direction) else None,
                    value=alert.value if kind != "crossing" else None,
                    phase=alert.phase.value if alert.phase is not None else None,
                )
            )
        if on_frame is not None:
            on_frame()
    return events, spent
