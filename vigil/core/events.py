"""The event contract shared by both buses: topics, envelope, versioned JSON schemas.

Every event on the bus travels in one envelope, the same on the in-process bus and
on Kafka::

    {"schema_version": 1, "event_id": "9f3c...", "topic": "sightings", "camera_id": "cam07",
     "produced_at": 1718000000.25, "occurred_at": 1718000000.0, "payload": {...}}

- ``event_id`` is unique per event and stable across redelivery: it is the sighting's,
  alert's or command's own id, and for live tracks and camera health a UUID derived from
  the content, so a replayed event deduplicates to the same id.
- ``camera_id`` is also the message key: one camera's events land on one partition and
  keep their order there.
- ``produced_at`` is when the event was published, ``occurred_at`` when it happened
  (sighting end, alert time, health change, track's last frame, command issue), both
  epoch seconds.
- ``schema_version`` counts incompatible changes. A reader refuses a version it does not
  know rather than misread it; adding an optional payload field does not bump it and
  readers ignore fields they do not know.

`SCHEMAS` holds the JSON Schema (draft 2020-12) of every topic's envelope; the README
lists the topics. `encode` / `decode` convert between the `vigil.core.types` dataclasses and
UTF-8 JSON bytes and reject malformed input with a message naming the field.
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, starmap
from typing import Any, Generic, TypeVar

import orjson

from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, CameraHealth, HealthState, PathPoint, Sighting

SCHEMA_VERSION = 1
"""Version of the envelope and payload schemas this code writes and reads."""

_ID_NAMESPACE = uuid.UUID("5c1e8f4e-6a55-4d8b-9b0e-7669676c0001")


class Topic(enum.StrEnum):
    """The bus topics. Every message is keyed by camera id."""

    SIGHTINGS = "sightings"
    """Finished tracks (`Sighting`): what search and evidence work on."""
    SIGHTING_UPDATES = "sighting-updates"
    """Provisional `Sighting`s of tracks still in view (refreshed while the track lives), with
    the id their finished sighting will carry: live case matching works on them."""
    ALERTS = "alerts"
    """Rule hits (`Alert`)."""
    CAMERA_HEALTH = "camera-health"
    """Stream state changes (`CameraHealth`)."""
    COMMANDS = "commands"
    """Operator commands for the node that owns a camera (`Command`)."""


class CommandAction(enum.Enum):
    RESTART_STREAM = "restart_stream"
    """Drop and reopen the camera's stream."""
    RESET_TRACKER = "reset_tracker"
    """Forget the camera's tracks (after the camera was moved or re-aimed)."""
    PTZ_PRESET = "ptz_preset"
    """Move a PTZ camera to the preset named in ``argument``."""


@dataclass(frozen=True)
class Command:
    """An operator's instruction for one camera, carried out by the edge node that owns it.

    Attributes:
        camera_id: Camera the command is for.
        action: What to do.
        issued_at: Epoch seconds.
        argument: Action-specific value (the preset name for PTZ_PRESET), or None.
        issued_by: User who issued it, for the audit trail.
        id: Unique id (UUID4 hex).
    """

    camera_id: str
    action: CommandAction
    issued_at: float
    argument: str | None = None
    issued_by: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


Event = Sighting | Alert | CameraHealth | Command
E = TypeVar("E", Sighting, Alert, CameraHealth, Command)


@dataclass(frozen=True)
class EventEnvelope:
    """One event with its metadata, as carried by the bus.

    Attributes:
        topic: Topic it travels on.
        event_id: Unique, redelivery-stable id.
        camera_id: Camera it concerns; also the message key.
        produced_at: When it was published, epoch seconds.
        occurred_at: When it happened, epoch seconds.
        event: The event itself.
        schema_version: Schema version it was written with.
    """

    topic: Topic
    event_id: str
    camera_id: str
    produced_at: float
    occurred_at: float
    event: Event
    schema_version: int = SCHEMA_VERSION


# -- JSON Schemas ---------------------------------------------------------------------------

_NUMBER: dict[str, Any] = {"type": "number"}
_STRING: dict[str, Any] = {"type": "string"}
_BOX: dict[str, Any] = {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4}

_PAYLOAD_SCHEMAS: dict[Topic, dict[str, Any]] = {
    Topic.SIGHTINGS: {
        "type": "object",
        "required": ["tracker_id", "start", "end", "best_box", "crop_path", "path", "confidence", "frames"],
        "properties": {
            "tracker_id": {"type": "integer"},
            "start": _NUMBER,
            "end": _NUMBER,
            "best_box": _BOX,
            "crop_path": {"type": ["string", "null"]},
            "path": {
                "type": "array",
                "description": "foot points [timestamp, x, y] in time order",
                "items": {"type": "array", "items": _NUMBER, "minItems": 3, "maxItems": 3},
            },
            "confidence": _NUMBER,
            "frames": {"type": "integer", "minimum": 1},
            "short": {"type": "boolean"},
            "descriptor": {"type": ["array", "null"], "items": _NUMBER},
        },
    },
    Topic.SIGHTING_UPDATES: {
        "type": "object",
        "description": "a provisional sighting of a track still in view; sighting_id is the id the "
        "finished sighting will carry",
        "required": [
            "sighting_id",
            "tracker_id",
            "start",
            "end",
            "best_box",
            "crop_path",
            "path",
            "confidence",
            "frames",
        ],
        "properties": {},  # the sightings payload's, plus sighting_id: filled in below
    },
    Topic.ALERTS: {
        "type": "object",
        "required": ["kind", "rule", "timestamp", "message"],
        "properties": {
            "kind": {"enum": [kind.value for kind in AlertKind]},
            "rule": _STRING,
            "timestamp": _NUMBER,
            "message": _STRING,
            "tracker_id": {"type": ["integer", "null"]},
            "zone": {"type": ["string", "null"]},
            "box": {"type": ["array", "null"], "items": _NUMBER, "minItems": 4, "maxItems": 4},
        },
    },
    Topic.CAMERA_HEALTH: {
        "type": "object",
        "required": ["state", "reason", "since"],
        "properties": {
            "state": {"enum": [state.value for state in HealthState]},
            "reason": _STRING,
            "since": _NUMBER,
            "last_frame_at": {"type": ["number", "null"]},
            "frames": {"type": "integer"},
            "reconnects": {"type": "integer"},
        },
    },
    Topic.COMMANDS: {
        "type": "object",
        "required": ["action", "issued_at"],
        "properties": {
            "action": {"enum": [action.value for action in CommandAction]},
            "issued_at": _NUMBER,
            "argument": {"type": ["string", "null"]},
            "issued_by": {"type": ["string", "null"]},
        },
    },
}


def _envelope_schema(topic: Topic) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://vigil.invalid/schemas/{topic.value}/v{SCHEMA_VERSION}.json",
        "title": f"Vigil {topic.value} event, schema version {SCHEMA_VERSION}",
        "type": "object",
        "required": [
            "schema_version",
            "event_id",
            "topic",
            "camera_id",
            "produced_at",
            "occurred_at",
            "payload",
        ],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "event_id": {"type": "string", "minLength": 1},
            "topic": {"const": topic.value},
            "camera_id": {"type": "string", "minLength": 1, "description": "also the message key"},
            "produced_at": {"type": "number", "description": "publish time, epoch seconds"},
            "occurred_at": {"type": "number", "description": "event time, epoch seconds"},
            "payload": _PAYLOAD_SCHEMAS[topic],
        },
    }


_PAYLOAD_SCHEMAS[Topic.SIGHTING_UPDATES]["properties"] = {
    "sighting_id": _STRING,
    **_PAYLOAD_SCHEMAS[Topic.SIGHTINGS]["properties"],
}

SCHEMAS: Mapping[Topic, Mapping[str, Any]] = {topic: _envelope_schema(topic) for topic in Topic}
"""JSON Schema of every topic's envelope, for documentation and for non-Python consumers."""


# -- payload readers ------------------------------------------------------------------------


class _Fields:
    """Typed access to one JSON object; errors name the field's path."""

    def __init__(self, where: str, value: object) -> None:
        if not isinstance(value, dict):
            raise ValidationError(f"{where}: expected a JSON object, got {type(value).__name__}")
        self._where = where
        self._data: dict[str, object] = value

    def _get(self, name: str, optional: bool) -> object:
        if name not in self._data:
            if optional:
                return None
            raise ValidationError(f"{self._where}.{name}: required field is missing")
        return self._data[name]

    def _fail(self, name: str, expected: str, value: object) -> ValidationError:
        return ValidationError(f"{self._where}.{name}: expected {expected}, got {value!r}")

    def text(self, name: str) -> str:
        value = self._get(name, optional=False)
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def opt_text(self, name: str) -> str | None:
        value = self._get(name, optional=True)
        return None if value is None else self.text(name)

    def integer(self, name: str, default: int | None = None) -> int:
        value = self._get(name, optional=default is not None)
        if value is None and default is not None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "an integer", value)
        return value

    def opt_integer(self, name: str) -> int | None:
        value = self._get(name, optional=True)
        return None if value is None else self.integer(name)

    def number(self, name: str) -> float:
        value = self._get(name, optional=False)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(name, "a number", value)
        return float(value)

    def opt_number(self, name: str) -> float | None:
        value = self._get(name, optional=True)
        return None if value is None else self.number(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self._get(name, optional=True)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def numbers(
        self, name: str, length: int | None = None, optional: bool = False
    ) -> tuple[float, ...] | None:
        value = self._get(name, optional)
        if value is None and optional:
            return None
        if type(value) is list and (length is None or len(value) == length) and _all_floats(value):
            return tuple(value)  # what `encode` writes: no conversion needed
        if (
            not isinstance(value, list)
            or (length is not None and len(value) != length)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            expected = f"a list of {length} numbers" if length is not None else "a list of numbers"
            raise self._fail(name, expected, value)
        return tuple(float(v) for v in value)

    def box(self, name: str) -> tuple[float, float, float, float]:
        values = self.numbers(name, 4)
        assert values is not None
        return (values[0], values[1], values[2], values[3])

    def opt_box(self, name: str) -> tuple[float, float, float, float] | None:
        return None if self._get(name, optional=True) is None else self.box(name)

    def choice(self, name: str, kind: type[enum.Enum]) -> Any:
        value = self._get(name, optional=False)
        try:
            return kind(value)
        except ValueError:
            raise self._fail(name, f"one of {[member.value for member in kind]}", value) from None

    def path(self, name: str) -> tuple[PathPoint, ...]:
        value = self._get(name, optional=False)
        if type(value) is list:
            # Fast path for what `encode` writes, [float, float, float] points; anything else
            # (ints, wrong shapes, wrong types) takes the checking path below.
            try:
                points = tuple(starmap(PathPoint, value))  # TypeError unless every point has 3 items
            except TypeError:
                pass
            else:
                if all(type(point) is list for point in value) and _all_floats(chain.from_iterable(value)):
                    return points
        if not isinstance(value, list):
            raise self._fail(name, "a list of [timestamp, x, y]", value)
        checked = []
        for i, point in enumerate(value):
            if (
                not isinstance(point, list)
                or len(point) != 3
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
            ):
                raise self._fail(f"{name}[{i}]", "[timestamp, x, y]", point)
            checked.append(PathPoint(float(point[0]), float(point[1]), float(point[2])))
        return tuple(checked)


def _all_floats(values: Iterable[object]) -> bool:
    """Whether every value is a float (not an int or bool), at C speed."""
    return set(map(type, values)) <= _FLOAT


_FLOAT = {float}


# -- codecs, one per topic ------------------------------------------------------------------


@dataclass(frozen=True)
class _Codec(Generic[E]):
    event_type: type[E]
    event_id: Callable[[E], str]
    occurred_at: Callable[[E], float]
    to_payload: Callable[[E], dict[str, Any]]
    from_payload: Callable[[str, _Fields, str], E]
    """(camera id, payload, event id) -> event; events with an id of their own take the event id."""


def _content_id(topic: Topic, camera_id: str, *parts: object) -> str:
    """A UUID derived from the content: the same state published twice has the same id."""
    return uuid.uuid5(_ID_NAMESPACE, "|".join(map(repr, (topic.value, camera_id, *parts)))).hex


def _sighting_payload(s: Sighting) -> dict[str, Any]:
    return {
        "tracker_id": s.tracker_id,
        "start": s.start,
        "end": s.end,
        "best_box": list(s.best_box),
        "crop_path": s.crop_path,
        "path": [[p.timestamp, p.x, p.y] for p in s.path],
        "confidence": s.confidence,
        "frames": s.frames,
        "short": s.short,
        "descriptor": None if s.descriptor is None else list(s.descriptor),
    }


def _sighting(camera_id: str, f: _Fields, event_id: str) -> Sighting:
    return Sighting(
        camera_id=camera_id,
        tracker_id=f.integer("tracker_id"),
        start=f.number("start"),
        end=f.number("end"),
        best_box=f.box("best_box"),
        crop_path=f.opt_text("crop_path"),
        path=f.path("path"),
        confidence=f.number("confidence"),
        frames=f.integer("frames"),
        short=f.flag("short", default=False),
        descriptor=f.numbers("descriptor", optional=True),
        id=event_id,
    )


def _alert_payload(a: Alert) -> dict[str, Any]:
    return {
        "kind": a.kind.value,
        "rule": a.rule,
        "timestamp": a.timestamp,
        "message": a.message,
        "tracker_id": a.tracker_id,
        "zone": a.zone,
        "box": None if a.box is None else list(a.box),
    }


def _alert(camera_id: str, f: _Fields, event_id: str) -> Alert:
    return Alert(
        kind=f.choice("kind", AlertKind),
        rule=f.text("rule"),
        camera_id=camera_id,
        timestamp=f.number("timestamp"),
        message=f.text("message"),
        tracker_id=f.opt_integer("tracker_id"),
        zone=f.opt_text("zone"),
        box=f.opt_box("box"),
        id=event_id,
    )


def _health_payload(h: CameraHealth) -> dict[str, Any]:
    return {
        "state": h.state.value,
        "reason": h.reason,
        "since": h.since,
        "last_frame_at": h.last_frame_at,
        "frames": h.frames,
        "reconnects": h.reconnects,
    }


def _health(camera_id: str, f: _Fields, _event_id: str) -> CameraHealth:
    return CameraHealth(
        camera_id=camera_id,
        state=f.choice("state", HealthState),
        reason=f.text("reason"),
        since=f.number("since"),
        last_frame_at=f.opt_number("last_frame_at"),
        frames=f.integer("frames", default=0),
        reconnects=f.integer("reconnects", default=0),
    )


def _command_payload(c: Command) -> dict[str, Any]:
    return {
        "action": c.action.value,
        "issued_at": c.issued_at,
        "argument": c.argument,
        "issued_by": c.issued_by,
    }


def _command(camera_id: str, f: _Fields, event_id: str) -> Command:
    return Command(
        camera_id=camera_id,
        action=f.choice("action", CommandAction),
        issued_at=f.number("issued_at"),
        argument=f.opt_text("argument"),
        issued_by=f.opt_text("issued_by"),
        id=event_id,
    )


# Sightings, alerts and commands carry their own id as event id, so a sighting keeps its id
# across the bus; live tracks and health have content-derived ids (see the module doc).
_CODECS: dict[Topic, _Codec[Any]] = {
    Topic.SIGHTINGS: _Codec(Sighting, lambda s: s.id, lambda s: s.end, _sighting_payload, _sighting),
    Topic.SIGHTING_UPDATES: _Codec(
        Sighting,
        lambda s: _content_id(Topic.SIGHTING_UPDATES, s.camera_id, s.id, s.end, s.frames),
        lambda s: s.end,
        lambda s: {"sighting_id": s.id, **_sighting_payload(s)},
        lambda camera_id, f, _event_id: _sighting(camera_id, f, f.text("sighting_id")),
    ),
    Topic.ALERTS: _Codec(Alert, lambda a: a.id, lambda a: a.timestamp, _alert_payload, _alert),
    Topic.CAMERA_HEALTH: _Codec(
        CameraHealth,
        lambda h: _content_id(
            Topic.CAMERA_HEALTH, h.camera_id, h.state.value, h.since, h.frames, h.reconnects
        ),
        lambda h: h.since,
        _health_payload,
        _health,
    ),
    Topic.COMMANDS: _Codec(Command, lambda c: c.id, lambda c: c.issued_at, _command_payload, _command),
}


# -- public API -----------------------------------------------------------------------------


def topic_of(name: str) -> Topic:
    """The `Topic` named `name`, or ValidationError listing the known ones."""
    try:
        return Topic(name)
    except ValueError:
        raise ValidationError(f"topic: expected one of {[t.value for t in Topic]}, got {name!r}") from None


def wrap(topic: Topic | str, event: Event, produced_at: float | None = None) -> EventEnvelope:
    """Put an event in its envelope.

    Args:
        topic: Topic it will travel on.
        event: The event; its type must be the topic's (`Sighting` on ``sightings``...).
        produced_at: Publish time, epoch seconds; default now.

    Raises:
        ValidationError: The event's type does not belong on the topic.
    """
    topic = topic_of(topic)
    codec = _CODECS[topic]
    if not isinstance(event, codec.event_type):
        raise ValidationError(
            f"{topic.value}: expected {codec.event_type.__name__}, got {type(event).__name__}"
        )
    return EventEnvelope(
        topic=topic,
        event_id=codec.event_id(event),
        camera_id=event.camera_id,
        produced_at=time.time() if produced_at is None else produced_at,
        occurred_at=codec.occurred_at(event),
        event=event,
    )


def encode(envelope: EventEnvelope) -> bytes:
    """The envelope as compact UTF-8 JSON, matching ``SCHEMAS[envelope.topic]``."""
    document = {
        "schema_version": envelope.schema_version,
        "event_id": envelope.event_id,
        "topic": envelope.topic.value,
        "camera_id": envelope.camera_id,
        "produced_at": envelope.produced_at,
        "occurred_at": envelope.occurred_at,
        "payload": (payload := _CODECS[envelope.topic].to_payload(envelope.event)),
    }
    # orjson writes the same bytes as json.dumps for these documents, ten times faster, but
    # writes NaN and infinities as null where json.dumps refuses them. Nulls only occur as
    # top-level payload values, so more nulls than those means a non-finite number (or a
    # string containing "null"): json.dumps then decides, and raises ValueError on NaN.
    try:
        data = orjson.dumps(document)
    except orjson.JSONEncodeError:
        data = b""  # e.g. an integer beyond 64 bits: json.dumps takes it
    if not data or data.count(b"null") != sum(value is None for value in payload.values()):
        data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    return data


def decode(data: bytes, topic: Topic | str | None = None) -> EventEnvelope:
    """Parse one encoded envelope back into its dataclass.

    Args:
        data: UTF-8 JSON as written by `encode`.
        topic: Topic it was read from; when given, the envelope must name the same one.

    Raises:
        ValidationError: Not JSON, an unknown schema version, a missing or mistyped field;
            the message names the field.
    """
    try:
        document = orjson.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationError(f"event: expected UTF-8 JSON, got {bytes(data[:40])!r}...: {error}") from None
    envelope = _Fields("event", document)
    version = envelope.integer("schema_version")
    if version != SCHEMA_VERSION:
        raise ValidationError(f"event.schema_version: expected {SCHEMA_VERSION}, got {version}")
    named = topic_of(envelope.text("topic"))
    if topic is not None and named is not topic_of(topic):
        read_from = topic_of(topic).value
        raise ValidationError(f"event.topic: read from {read_from!r}, but it says {named.value!r}")
    event_id = envelope.text("event_id")
    camera_id = envelope.text("camera_id")
    payload = _Fields("event.payload", document.get("payload"))
    event = _CODECS[named].from_payload(camera_id, payload, event_id)
    return EventEnvelope(
        topic=named,
        event_id=event_id,
        camera_id=camera_id,
        produced_at=envelope.number("produced_at"),
        occurred_at=envelope.number("occurred_at"),
        event=event,
        schema_version=version,
    )
