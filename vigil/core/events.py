"""The event contract shared by both buses: topics, envelope, versioned JSON schemas.

Every event on the bus travels in one envelope, the same on the in-process bus and
on Kafka::

    {"schema_version": 1, "event_id": "9f3c...", "topic": "sightings", "camera_id": "cam07",
     "produced_at": 1718000000.25, "occurred_at": 1718000000.0, "payload": {...}}

- ``event_id`` is unique per event and stable across redelivery: it is the sighting's,
  alert's, crossing count's or command's own id, and for live tracks, camera health, recorded
  segments and gaps a UUID derived from the content, so a replayed event deduplicates to the same id.
- ``camera_id`` is also the message key: one camera's events land on one partition and
  keep their order there.
- ``produced_at`` is when the event was published, ``occurred_at`` when it happened
  (sighting end, alert time, health change, track's last frame, command issue), both
  epoch seconds.
- ``schema_version`` counts incompatible changes. A reader refuses a version it does not
  know rather than misread it; adding an optional payload field does not bump it and
  readers ignore fields they do not know.

The payload is derived from the event's dataclass (`vigil.core.records`): every field but
``camera_id`` and ``id``, which the envelope carries as ``camera_id`` and ``event_id``, in
declaration order; enums as their values, boxes and descriptors as lists, paths as
``[[timestamp, x, y], ...]``. A field without a default is required; a missing or null
optional one reads as its default.

`SCHEMAS` holds the JSON Schema (draft 2020-12) of every topic's envelope; the README
lists the topics. `to_document` / `from_document` convert between an `EventEnvelope` and its
JSON document (dicts, lists, strings, numbers) and reject malformed input with a message
naming the field; `vigil.infra.codec` turns documents into UTF-8 bytes and back.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, starmap
from operator import attrgetter
from typing import Any, Generic, TypeVar

from vigil.core.errors import ValidationError
from vigil.core.records import RecordField, Shape, record_fields
from vigil.core.types import Alert, CameraHealth, CrossingCount, RecordedGap, RecordedSegment, Sighting

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
    CROSSING_COUNTS = "crossing-counts"
    """People across a line rule's line per direction, one closed counting interval each
    (`CrossingCount`); the interval still open when a camera stops is sent as it stands."""
    SEGMENTS = "segments"
    """Recording segments an edge node closed (`RecordedSegment`): central indexes them and
    fetches the files from the node when a clip or a back-scan needs them."""
    RECORDING_GAPS = "recording-gaps"
    """Spans an edge node did not record, with the reason (`RecordedGap`): central's clips state them."""


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


Event = Sighting | Alert | CameraHealth | Command | CrossingCount | RecordedSegment | RecordedGap
E = TypeVar("E", Sighting, Alert, CameraHealth, Command, CrossingCount, RecordedSegment, RecordedGap)
R = TypeVar("R")


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


# -- reading JSON ---------------------------------------------------------------------------


class _Fields:
    """Typed access to one JSON object; errors name the field's path."""

    def __init__(self, where: str, value: object) -> None:
        if not isinstance(value, dict):
            raise ValidationError(f"{where}: expected a JSON object, got {type(value).__name__}")
        self._where = where
        self._data: dict[str, object] = value

    def _get(self, name: str) -> object:
        if name not in self._data:
            raise ValidationError(f"{self._where}.{name}: required field is missing")
        return self._data[name]

    def _fail(self, name: str, expected: str, value: object) -> ValidationError:
        return ValidationError(f"{self._where}.{name}: expected {expected}, got {value!r}")

    def raw(self, name: str) -> object:
        """The value as parsed, None where it is missing."""
        return self._data.get(name)

    def get(self, name: str, read: _Reader, default: object) -> Any:
        """``read(self, name)``, or `default` where the field is missing or null (unless `_REQUIRED`)."""
        if default is not _REQUIRED and self._data.get(name) is None:
            return default
        return read(self, name)

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def integer(self, name: str) -> int:
        value = self._get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "an integer", value)
        return value

    def number(self, name: str) -> float:
        value = self._get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(name, "a number", value)
        return float(value)

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def choice(self, name: str, kind: type[enum.Enum]) -> Any:
        value = self._get(name)
        try:
            return kind(value)
        except ValueError:
            raise self._fail(name, f"one of {[member.value for member in kind]}", value) from None

    def numbers(self, name: str, length: int | None) -> tuple[float, ...]:
        value = self._get(name)
        if type(value) is list and (length is None or len(value) == length) and _all_floats(value):
            return tuple(value)  # what `to_document` writes: no conversion needed
        if (
            not isinstance(value, list)
            or (length is not None and len(value) != length)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            expected = f"a list of {length} numbers" if length is not None else "a list of numbers"
            raise self._fail(name, expected, value)
        return tuple(float(v) for v in value)

    def points(self, name: str, point: Callable[..., object], names: tuple[str, ...]) -> tuple[Any, ...]:
        """A list of positional lists, each one `point` (a dataclass of floats with fields `names`)."""
        value = self._get(name)
        if type(value) is list:
            # Fast path for what `to_document` writes, lists of floats; anything else (ints,
            # wrong shapes, wrong types) takes the checking path below.
            try:
                points = tuple(starmap(point, value))  # TypeError unless every item has the arity
            except (TypeError, ValueError):
                pass
            else:
                if all(type(item) is list for item in value) and _all_floats(chain.from_iterable(value)):
                    return points
        shape = f"[{', '.join(names)}]"
        if not isinstance(value, list):
            raise self._fail(name, f"a list of {shape}", value)
        checked = []
        for i, item in enumerate(value):
            if (
                not isinstance(item, list)
                or len(item) != len(names)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
            ):
                raise self._fail(f"{name}[{i}]", shape, item)
            checked.append(point(*map(float, item)))
        return tuple(checked)


_Reader = Callable[[_Fields, str], Any]
_REQUIRED = object()
_FLOAT = {float}


def _all_floats(values: Iterable[object]) -> bool:
    """Whether every value is a float (not an int or bool), at C speed."""
    return set(map(type, values)) <= _FLOAT


# -- payloads, derived from the records' fields ---------------------------------------------

_IN_ENVELOPE = frozenset({"camera_id", "id"})
"""Record fields the envelope carries (as ``camera_id`` and ``event_id``) instead of the payload."""

_SCALAR_READERS: dict[type, _Reader] = {
    str: _Fields.text,
    int: _Fields.integer,
    float: _Fields.number,
    bool: _Fields.flag,
}
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_NUMBER: dict[str, Any] = {"type": "number"}
_STRING: dict[str, Any] = {"type": "string"}


class Payload(Generic[R]):
    """How one record travels as an event payload, derived from its dataclass fields.

    Args:
        record: The record dataclass (`Sighting`, `Alert`, `CameraHealth`, `Command`).

    Raises:
        TypeError: A payload field has a type `vigil.core.records` does not know, or a
            default factory (a reader could not tell what a missing value means).
    """

    def __init__(self, record: type[R]) -> None:
        every = record_fields(record)
        self.record = record
        self.fields = tuple(f for f in every if f.name not in _IN_ENVELOPE)
        """The payload's fields, in payload order."""
        self._make: Callable[..., R] = record
        self._has_id = any(f.name == "id" for f in every)
        for f in self.fields:
            if f.has_factory:
                raise TypeError(f"{record.__name__}.{f.name}: a payload field cannot have a default factory")
        self._writers = [(f.name, _writer(f)) for f in self.fields]
        self._readers = [(f.name, _reader(f), _read_default(f)) for f in self.fields]

    def to_payload(self, event: R) -> dict[str, Any]:
        """The payload object of `event`."""
        payload: dict[str, Any] = {}
        for name, convert in self._writers:
            value = getattr(event, name)
            payload[name] = value if convert is None or value is None else convert(value)
        return payload

    def from_payload(self, camera_id: str, payload: object, record_id: str) -> R:
        """The record read from a payload object; `record_id` becomes its ``id`` if it has one.

        Raises:
            ValidationError: A field is missing or mistyped; the message names it.
        """
        fields = _Fields("event.payload", payload)
        values = {name: fields.get(name, read, default) for name, read, default in self._readers}
        if self._has_id:
            values["id"] = record_id
        return self._make(camera_id=camera_id, **values)

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the payload object."""
        return {
            "type": "object",
            "required": [f.name for f in self.fields if f.required],
            "properties": {f.name: _field_schema(f) for f in self.fields},
        }


def _writer(field: RecordField) -> Callable[[Any], Any] | None:
    """Converts a (non-null) value to JSON; None where the value is JSON as it is."""
    if field.shape is Shape.CHOICE:
        return attrgetter("value")
    if field.shape is Shape.NUMBERS:
        return list
    if field.shape is Shape.POINTS:
        point = attrgetter(*field.item_fields)
        return lambda points: [list(point(p)) for p in points]
    return None


def _reader(field: RecordField) -> _Reader:
    if field.shape is Shape.SCALAR:
        return _SCALAR_READERS[field.type]
    if field.shape is Shape.CHOICE:
        kind = field.type
        return lambda fields, name: fields.choice(name, kind)
    if field.shape is Shape.NUMBERS:
        length = field.length
        return lambda fields, name: fields.numbers(name, length)
    point, names = field.type, field.item_fields
    return lambda fields, name: fields.points(name, point, names)


def _read_default(field: RecordField) -> object:
    """What a missing or null value reads as: the default, None for an optional, else `_REQUIRED`."""
    if not field.required:
        return field.default
    return None if field.optional else _REQUIRED


def _field_schema(field: RecordField) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.shape is Shape.CHOICE:
        values = [member.value for member in field.type]
        schema = {"enum": [*values, None] if field.optional else values}
    else:
        if field.shape is Shape.SCALAR:
            schema = {"type": _JSON_TYPES[field.type]}
        elif field.shape is Shape.NUMBERS:
            schema = {"type": "array", "items": _NUMBER}
            if field.length is not None:
                schema |= {"minItems": field.length, "maxItems": field.length}
        else:
            n = len(field.item_fields)
            point = {"type": "array", "items": _NUMBER, "minItems": n, "maxItems": n}
            schema = {"type": "array", "items": point}
        if field.optional:
            schema["type"] = [schema["type"], "null"]
    return {**schema, **field.spec.schema}


# -- codecs, one per topic ------------------------------------------------------------------


@dataclass(frozen=True)
class _Codec(Generic[E]):
    event_type: type[E]
    event_id: Callable[[E], str]
    occurred_at: Callable[[E], float]
    to_payload: Callable[[E], dict[str, Any]]
    from_payload: Callable[[str, object, str], E]
    """(camera id, payload object, event id) -> event; events with an id of their own take the event id."""
    schema: dict[str, Any]
    """JSON Schema of the payload."""


def _content_id(topic: Topic, camera_id: str, *parts: object) -> str:
    """A UUID derived from the content: the same state published twice has the same id."""
    return uuid.uuid5(_ID_NAMESPACE, "|".join(map(repr, (topic.value, camera_id, *parts)))).hex


def _codec(payload: Payload[E], event_id: Callable[[E], str], occurred_at: Callable[[E], float]) -> _Codec[E]:
    return _Codec(
        payload.record, event_id, occurred_at, payload.to_payload, payload.from_payload, payload.schema()
    )


def _sighting_update(sightings: Payload[Sighting]) -> _Codec[Sighting]:
    """A live track's provisional sighting: the sightings payload plus the id its finished
    sighting will carry (the event id is content-derived)."""
    schema = sightings.schema()
    return _Codec(
        Sighting,
        lambda s: _content_id(Topic.SIGHTING_UPDATES, s.camera_id, s.id, s.end, s.frames),
        lambda s: s.end,
        lambda s: {"sighting_id": s.id, **sightings.to_payload(s)},
        lambda camera_id, payload, _event_id: sightings.from_payload(
            camera_id, payload, _Fields("event.payload", payload).text("sighting_id")
        ),
        {
            "type": "object",
            "description": "a provisional sighting of a track still in view; sighting_id is the id the "
            "finished sighting will carry",
            "required": ["sighting_id", *schema["required"]],
            "properties": {"sighting_id": _STRING, **schema["properties"]},
        },
    )


_SIGHTINGS = Payload(Sighting)

# Sightings, alerts, crossing counts and commands carry their own id as event id, so a sighting keeps its id
# across the bus; live tracks and health have content-derived ids (see the module doc).
_CODECS: dict[Topic, _Codec[Any]] = {
    Topic.SIGHTINGS: _codec(_SIGHTINGS, lambda s: s.id, lambda s: s.end),
    Topic.SIGHTING_UPDATES: _sighting_update(_SIGHTINGS),
    Topic.ALERTS: _codec(Payload(Alert), lambda a: a.id, lambda a: a.timestamp),
    Topic.CAMERA_HEALTH: _codec(
        Payload(CameraHealth),
        lambda h: _content_id(
            Topic.CAMERA_HEALTH, h.camera_id, h.state.value, h.since, h.frames, h.reconnects
        ),
        lambda h: h.since,
    ),
    Topic.COMMANDS: _codec(Payload(Command), lambda c: c.id, lambda c: c.issued_at),
    Topic.CROSSING_COUNTS: _codec(Payload(CrossingCount), lambda c: c.id, lambda c: c.end),
    Topic.SEGMENTS: _codec(
        Payload(RecordedSegment),
        lambda s: _content_id(Topic.SEGMENTS, s.camera_id, s.node, s.path),
        lambda s: s.end,
    ),
    Topic.RECORDING_GAPS: _codec(
        Payload(RecordedGap),
        lambda g: _content_id(Topic.RECORDING_GAPS, g.camera_id, g.node, g.start, g.end),
        lambda g: g.end,
    ),
}


# -- JSON Schemas ---------------------------------------------------------------------------


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
            "payload": _CODECS[topic].schema,
        },
    }


SCHEMAS: Mapping[Topic, Mapping[str, Any]] = {topic: _envelope_schema(topic) for topic in Topic}
"""JSON Schema of every topic's envelope, for documentation and for non-Python consumers."""


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


def to_document(envelope: EventEnvelope) -> dict[str, Any]:
    """The envelope as its JSON document, matching ``SCHEMAS[envelope.topic]``."""
    return {
        "schema_version": envelope.schema_version,
        "event_id": envelope.event_id,
        "topic": envelope.topic.value,
        "camera_id": envelope.camera_id,
        "produced_at": envelope.produced_at,
        "occurred_at": envelope.occurred_at,
        "payload": _CODECS[envelope.topic].to_payload(envelope.event),
    }


def from_document(document: object, topic: Topic | str | None = None) -> EventEnvelope:
    """Read one envelope's JSON document (as parsed from its bytes) back into its dataclass.

    Args:
        document: The parsed JSON, as written by `to_document`.
        topic: Topic it was read from; when given, the envelope must name the same one.

    Raises:
        ValidationError: An unknown schema version, a missing or mistyped field; the message
            names the field.
    """
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
    event = _CODECS[named].from_payload(camera_id, envelope.raw("payload"), event_id)
    return EventEnvelope(
        topic=named,
        event_id=event_id,
        camera_id=camera_id,
        produced_at=envelope.number("produced_at"),
        occurred_at=envelope.number("occurred_at"),
        event=event,
        schema_version=version,
    )
