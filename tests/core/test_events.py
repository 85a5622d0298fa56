"""The event contract: every event survives the JSON round trip; bad input names its field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vigil.core.errors import ValidationError
from vigil.core.events import SCHEMA_VERSION, SCHEMAS, Command, CommandAction, Topic, wrap
from vigil.core.types import Alert, AlertKind, CameraHealth, HealthState, PathPoint, Sighting
from vigil.infra.codec import decode, encode

SIGHTING = Sighting(
    camera_id="cam1",
    tracker_id=7,
    start=100.0,
    end=102.5,
    best_box=(1.0, 2.0, 30.0, 80.0),
    crop_path="crops/cam1/7.jpg",
    path=(PathPoint(100.0, 15.5, 80.0), PathPoint(102.5, 18.0, 81.0)),
    confidence=0.81,
    frames=12,
    short=False,
    descriptor=(0.25, 0.5),
)


@pytest.mark.parametrize(
    ("topic", "event"),
    [
        (Topic.SIGHTINGS, SIGHTING),  # every field set
        (Topic.SIGHTINGS, Sighting("cam1", 1, 5.0, 5.0, (0, 0, 1, 1), None, (), 0.5, 1)),  # optionals empty
        # a live track's provisional sighting keeps the id its finished sighting will have
        (Topic.SIGHTING_UPDATES, Sighting("cam2", 3, 1.0, 2.0, (1, 2, 3, 4), None, (), 0.6, 5, id="abc123")),
        (
            Topic.ALERTS,
            Alert(AlertKind.ZONE_INTRUSION, "gate", "cam1", 9.0, "in gate", 7, "gate", (1, 2, 3, 4)),
        ),
        (
            Topic.ALERTS,
            Alert(AlertKind.CASE_MATCH, "case-12", "cam1", 9.0, "possible match"),
        ),  # no track/zone
        (Topic.CAMERA_HEALTH, CameraHealth("cam3", HealthState.OFFLINE, "refused", 4.0, None, 0, 3)),
        (Topic.COMMANDS, Command("cam4", CommandAction.RESTART_STREAM, 11.0)),
    ],
)
def test_round_trip(topic: Topic, event: object) -> None:
    envelope = wrap(topic, event, produced_at=50.0)  # type: ignore[arg-type]
    decoded = decode(encode(envelope), topic)
    assert decoded == envelope
    assert decoded.event == event
    document = json.loads(encode(envelope))
    assert set(SCHEMAS[topic]["required"]) <= set(document)
    assert set(SCHEMAS[topic]["properties"]["payload"]["required"]) <= set(document["payload"])
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["camera_id"] == event.camera_id


def test_event_ids_are_stable_across_redelivery() -> None:
    health = CameraHealth("cam3", HealthState.ONLINE, "ok", 4.0)
    # Own ids travel unchanged; content ids repeat for the same content.
    assert wrap(Topic.SIGHTINGS, SIGHTING).event_id == SIGHTING.id
    assert wrap(Topic.CAMERA_HEALTH, health).event_id == wrap(Topic.CAMERA_HEALTH, health).event_id


def _tampered(**changes: object) -> bytes:
    document = json.loads(encode(wrap(Topic.SIGHTINGS, SIGHTING)))
    for dotted, value in changes.items():
        target = document
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "topic", "message"),
    [
        (b"\xff not json", None, "expected UTF-8 JSON"),  # garbage on the topic
        (_tampered(schema_version=2), None, "event.schema_version: expected 1, got 2"),  # a newer writer
        (_tampered(payload__start="soon"), None, "event.payload.start: expected a number"),  # wrong type
        (_tampered(payload__frames=None), None, "event.payload.frames: required field is missing"),
        (_tampered(payload__path=[[1.0, 2.0]]), None, "event.payload.path[0]: expected [timestamp, x, y]"),
        (_tampered(topic="parking"), None, "topic: expected one of"),  # unknown topic
        (encode(wrap(Topic.SIGHTINGS, SIGHTING)), Topic.ALERTS, "read from 'alerts'"),  # misrouted
    ],
)
def test_decode_rejects_bad_input(data: bytes, topic: Topic | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode(data, topic)


def test_wrap_rejects_an_event_on_the_wrong_topic() -> None:
    with pytest.raises(ValidationError, match="alerts: expected Alert, got Sighting"):
        wrap(Topic.ALERTS, SIGHTING)


def test_encode_matches_json_and_refuses_non_finite_numbers() -> None:
    envelope = wrap(Topic.SIGHTINGS, SIGHTING, produced_at=5.0)
    document = json.loads(encode(envelope))
    assert encode(envelope) == json.dumps(document, separators=(",", ":")).encode()
    named_null = dataclasses.replace(SIGHTING, crop_path="null.jpg")  # "null" inside a string
    assert decode(encode(wrap(Topic.SIGHTINGS, named_null))).event == named_null
    with pytest.raises(ValueError):
        encode(wrap(Topic.SIGHTINGS, dataclasses.replace(SIGHTING, confidence=float("nan"))))


def test_decode_accepts_integers_where_numbers_are_expected() -> None:
    data = _tampered(payload__path=[[100, 15, 80]], payload__best_box=[1, 2, 30, 80])
    sighting = decode(data, Topic.SIGHTINGS).event
    assert isinstance(sighting, Sighting)
    assert sighting.path == (PathPoint(100.0, 15.0, 80.0),)
    assert sighting.best_box == (1.0, 2.0, 30.0, 80.0)
    assert all(type(v) is float for point in sighting.path for v in vars(point).values())
