"""The shared currency between Vigil's stages.

Every stage speaks these types and nothing else: ingest yields `Frame`s, detectors
return `Detections`, trackers return `Detections` with `tracker_id` filled in, the
sighting builder turns finished tracks into `Sighting`s and rules raise `Alert`s.

`Detections` is column-wise (one NumPy array per field), in the manner of
roboflow/supervision: masks select rows, `merge` concatenates, and the constructor
rejects wrong shapes with a message that names what was expected and what arrived.
Arrays are made read-only on construction, so a stage cannot write into its caller's
input; stages build new objects (`dataclasses.replace`) instead.

`Sighting`, `Alert` and `CameraHealth` are records: their fields are the one definition the
event codec, the store and the API derive from (`vigil.core.records`); field metadata written
with `spec` says where a field is special.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import ValidationError
from vigil.core.records import spec

# Stored as float32 / int64; any float / integer array is accepted and converted.
FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.integer[Any]]
Image = npt.NDArray[np.uint8]


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


def _column(name: str, value: Any, dtype: type, n: int | None, width: int | None = None) -> npt.NDArray[Any]:
    """Convert `value` to a read-only array of shape (n,) or (n, width), or raise."""
    array: npt.NDArray[Any] = np.array(value, dtype=dtype)  # always a copy: the caller keeps its own array
    if width is not None and array.size == 0:
        array = array.reshape(0, width)
    expected = f"({'N' if n is None else n},{'' if width is None else f' {width}'})"
    if width is None and array.ndim != 1:
        raise ValidationError(f"Detections.{name}: expected shape {expected}, got {array.shape}")
    if width is not None and (array.ndim != 2 or array.shape[1] != width):
        raise ValidationError(f"Detections.{name}: expected shape {expected}, got {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValidationError(f"Detections.{name}: expected {n} rows like xyxy, got {array.shape[0]}")
    return _frozen(array)


@dataclass(frozen=True)
class Frame:
    """One decoded image from one camera.

    Attributes:
        camera_id: Configured camera id.
        index: Frame number within the current stream session (restarts at 0 after a reconnect).
        timestamp: Capture time, seconds since the Unix epoch.
        image: BGR image, shape (H, W, 3), uint8.
    """

    camera_id: str
    index: int
    timestamp: float
    image: Image

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValidationError(
                f"Frame.image: expected (H, W, 3) uint8 BGR, got {self.image.shape} {self.image.dtype}"
            )
        if self.index < 0:
            raise ValidationError(f"Frame.index: expected >= 0, got {self.index}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame, column-wise.

    Attributes:
        xyxy: Boxes in pixels, shape (N, 4), float32, as x1, y1, x2, y2.
        confidence: Scores, shape (N,), float32.
        class_id: Class ids of the detector's class map, shape (N,), int64.
        tracker_id: Track ids, shape (N,), int64, or None before tracking.
        data: Extra per-row columns, each an array whose first axis has length N
            (e.g. ``embedding`` of shape (N, D)).
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray | None = None
    data: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _column("xyxy", self.xyxy, np.float32, None, width=4)
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", _column("confidence", self.confidence, np.float32, n))
        object.__setattr__(self, "class_id", _column("class_id", self.class_id, np.int64, n))
        if self.tracker_id is not None:
            object.__setattr__(self, "tracker_id", _column("tracker_id", self.tracker_id, np.int64, n))
        data: dict[str, npt.NDArray[Any]] = {}
        for key, value in self.data.items():
            array = np.array(value)
            if array.ndim == 0 or array.shape[0] != n:
                raise ValidationError(f"Detections.data[{key!r}]: expected first axis {n}, got {array.shape}")
            data[key] = _frozen(array)
        object.__setattr__(self, "data", data)

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4)), confidence=np.zeros(0), class_id=np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(
        self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice | Sequence[int]
    ) -> Detections:
        """Select rows by boolean mask, integer indices or slice."""
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise ValidationError(f"Detections mask: expected shape ({len(self)},), got {index.shape}")
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={key: value[index] for key, value in self.data.items()},
        )

    @property
    def area(self) -> FloatArray:
        """Box areas in square pixels, shape (N,)."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    @property
    def bottom_center(self) -> FloatArray:
        """Foot points (x centre, bottom y), shape (N, 2): where a person stands."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def with_tracker_id(self, tracker_id: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, tracker_id=np.asarray(tracker_id, dtype=np.int64))

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections; all parts must carry the same columns."""
        parts = [p for p in parts if len(p)] or list(parts[:1])
        if not parts:
            return cls.empty()
        has_ids = {p.tracker_id is not None for p in parts}
        keys = {frozenset(p.data) for p in parts}
        if len(has_ids) > 1 or len(keys) > 1:
            raise ValidationError("Detections.merge: parts differ in tracker_id or data columns")
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=None
            if parts[0].tracker_id is None
            else np.concatenate([p.tracker_id for p in parts if p.tracker_id is not None]),
            data={key: np.concatenate([p.data[key] for p in parts]) for key in parts[0].data},
        )


@dataclass(frozen=True)
class PathPoint:
    """Where a tracked person stood at one moment: the box's bottom centre in pixels."""

    timestamp: float
    x: float
    y: float


@dataclass(frozen=True)
class Sighting:
    """One person seen by one camera during one track: what search and evidence work on.

    Attributes:
        id: Unique id (UUID4 hex).
        camera_id: Camera that saw the person.
        tracker_id: Track id within that camera's tracker session.
        start / end: First and last seen, epoch seconds.
        best_box: Box of the best crop, pixels (x1, y1, x2, y2).
        crop_path: JPEG of the best crop, relative to the data directory; None if not saved.
        path: Bottom-centre points over the track, in time order.
        confidence: Mean detection confidence.
        frames: Frames with a matched detection.
        short: True when the track is too short to trust.
        descriptor: Appearance descriptor (filled by the search stage), or None.
    """

    camera_id: str
    tracker_id: int
    start: float
    end: float
    best_box: tuple[float, float, float, float]
    # The API shows a crop URL instead of the data directory's path.
    crop_path: str | None = field(metadata=spec(public=False))
    path: tuple[PathPoint, ...] = field(
        metadata=spec(schema={"description": "foot points [timestamp, x, y] in time order"})
    )
    confidence: float
    frames: int = field(metadata=spec(schema={"minimum": 1}))
    short: bool = False
    # Search's working data, not something an operator reads.
    descriptor: tuple[float, ...] | None = field(default=None, metadata=spec(public=False))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(f"Sighting: end {self.end} is before start {self.start}")
        if self.frames < 1:
            raise ValidationError(f"Sighting.frames: expected >= 1, got {self.frames}")


class AlertKind(enum.Enum):
    ZONE_INTRUSION = "zone_intrusion"
    LINE_CROSSING = "line_crossing"
    DWELL = "dwell"
    OCCUPANCY = "occupancy"
    PERSON_DOWN = "person_down"
    CASE_MATCH = "case_match"


class AlertSeverity(enum.Enum):
    """How urgently an operator should look; set per rule."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Direction(enum.Enum):
    """Which way a track crossed a line; the line's config names which side is 'in'."""

    IN = "in"
    OUT = "out"


class AlertPhase(enum.Enum):
    """For a condition that lasts (crowding, a person down): it began, or it is over."""

    START = "start"
    END = "end"


@dataclass(frozen=True)
class Alert:
    """Something an operator should look at.

    Attributes:
        kind: What raised it.
        rule: Name of the configured rule.
        camera_id: Camera where it happened.
        timestamp: Epoch seconds.
        tracker_id: Track that triggered it, if any.
        zone: Zone (or, for a line crossing, line) name, if the rule has one.
        message: One human-readable line.
        box: Box of the triggering object, pixels, if any.
        severity: The rule's severity.
        direction: Line crossings: which way.
        value: The measured quantity, by kind: dwell seconds (dwell), people in the zone
            (occupancy), seconds lying (person_down), speed in m/s (a line crossing over
            `max_speed`); None where the kind has none.
        phase: Conditions that last (occupancy, person_down): START when it begins, END when
            it is over; None for one-off events.
        group_id: Id of the first alert of its group (same rule and camera, same track or close
            in time), set by the alert service when it is stored; None for the first itself.
    """

    kind: AlertKind
    rule: str
    camera_id: str
    timestamp: float
    message: str
    tracker_id: int | None = None
    zone: str | None = None
    box: tuple[float, float, float, float] | None = None
    severity: AlertSeverity = AlertSeverity.WARNING
    direction: Direction | None = None
    value: float | None = None
    phase: AlertPhase | None = None
    group_id: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class RecordedSegment:
    """A closed recording segment on an edge node, announced so central can index and fetch it.

    Attributes:
        camera_id: Camera it belongs to.
        node: The edge node that recorded it and holds the file.
        path: The file, relative to that node's recording root (``<camera>/<date>/<hour>/<name>.mp4``).
        start: Wall time of its first frame, epoch seconds.
        end: Wall time where its last frame ends, epoch seconds.
        size: File size in bytes (central checks a fetched copy against it).
        packets: Video packets in it.
        url: Where central fetches it (the node's segment server); None when the node serves none.
    """

    camera_id: str
    node: str
    path: str
    start: float
    end: float
    size: int
    packets: int
    url: str | None = None


@dataclass(frozen=True)
class RecordedGap:
    """A span an edge node did not record a camera, and why, announced so central's clips say so.

    Attributes:
        camera_id: Camera it concerns.
        node: The edge node that noticed it.
        start / end: The span, epoch seconds.
        reason: Why (``stream lost``, ``recording paused: disk full``...).
    """

    camera_id: str
    node: str
    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class CrossingCount:
    """People who crossed one line rule's line, per direction, over one counting interval.

    Attributes:
        rule: Name of the line-crossing rule.
        camera_id: Camera the line is on.
        line: Line name on that camera.
        start: Interval start, epoch seconds (a multiple of the rule's interval).
        end: Interval end, epoch seconds.
        count_in: Crossings in the line's 'in' direction.
        count_out: Crossings the other way.
    """

    rule: str
    camera_id: str
    line: str
    start: float
    end: float
    count_in: int = field(default=0, metadata=spec(schema={"minimum": 0}))
    count_out: int = field(default=0, metadata=spec(schema={"minimum": 0}))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(f"CrossingCount: end {self.end} is before start {self.start}")


class HealthState(enum.Enum):
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"


@dataclass(frozen=True)
class CameraHealth:
    """Live state of one camera's stream."""

    # The API shows health inside its camera, which carries the id.
    camera_id: str = field(metadata=spec(public=False))
    state: HealthState
    reason: str
    since: float
    last_frame_at: float | None = None
    frames: int = 0
    reconnects: int = 0
