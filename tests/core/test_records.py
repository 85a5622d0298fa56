"""One definition per record: the codec, the table and the API schema follow the dataclass.

`Sighting`, `Alert`, `CameraHealth` (and the event contract's `Command`) are defined once,
as dataclasses. The event payload and its JSON Schema and the store's rows are derived from
their fields; the SQLAlchemy tables and the API's Public models are written out and checked
here. Adding a field and forgetting its column or its Public field fails these tests; the
last tests prove it with a Sighting that has one field more.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Iterable
from typing import Any, get_args

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from api.schemas import AlertPublic, CameraHealthPublic, PathPointPublic, SightingPublic
from vigil.core.events import SCHEMAS, Command, Payload, Topic
from vigil.core.records import RecordField, Shape, record_fields, spec
from vigil.core.types import Alert, CameraHealth, CrossingCount, PathPoint, Sighting
from vigil.infra.db import Store, tables
from vigil.infra.db.store import RECORD_ROWS

# -- drift checks: each returns what is out of step, as readable lines ------------------------

_COLUMN_TYPES: dict[Shape, type[sa.types.TypeEngine[Any]]] = {
    Shape.CHOICE: sa.String,  # the enum's value
    Shape.NUMBERS: sa.JSON,
    Shape.POINTS: sa.JSON,
}
_SCALAR_COLUMN_TYPES: dict[type, type[sa.types.TypeEngine[Any]]] = {
    str: sa.String,  # Text is a String
    int: sa.Integer,
    float: sa.Float,
    bool: sa.Boolean,
}


def table_drift(record: type, table: sa.Table, extra: Iterable[str]) -> list[str]:
    """How `table` differs from the record's stored fields plus the store's `extra` columns."""
    stored = {f.name: f for f in record_fields(record) if f.spec.stored}
    problems = [
        f"{record.__name__}.{name}: no column in table {table.name!r} (add one and a migration, "
        "or mark the field spec(stored=False))"
        for name in stored.keys() - table.columns.keys()
    ]
    problems += [
        f"{table.name}.{name}: column is neither a stored field of {record.__name__} nor filled by the store"
        for name in table.columns.keys() - stored.keys() - set(extra)
    ]
    for name in stored.keys() & table.columns.keys():
        field, column = stored[name], table.columns[name]
        expected = (
            _SCALAR_COLUMN_TYPES[field.type] if field.shape is Shape.SCALAR else _COLUMN_TYPES[field.shape]
        )
        if not isinstance(column.type, expected):
            problems.append(
                f"{table.name}.{name}: expected a {expected.__name__} column, got {column.type!r}"
            )
        if bool(column.nullable) != field.optional:
            problems.append(
                f"{table.name}.{name}: nullable={column.nullable}, the field's optional={field.optional}"
            )
        if field.optional and isinstance(column.type, sa.JSON) and not column.type.none_as_null:
            problems.append(f"{table.name}.{name}: an optional JSON column needs none_as_null=True")
    problems += [
        f"{record.__name__}.{f.name}: not stored, so it needs a default to read back"
        for f in record_fields(record)
        if not f.spec.stored and f.required
    ]
    return sorted(problems)


def api_drift(record: type, model: type[BaseModel], added: Iterable[str]) -> list[str]:
    """How `model`'s fields differ from the record's public fields plus what the API `added`."""
    public = {f.name: f for f in record_fields(record) if f.spec.public}
    shown = model.model_fields
    problems = [
        f"{record.__name__}.{name}: missing from {model.__name__} (add it, or mark the field "
        "spec(public=False))"
        for name in public.keys() - shown.keys()
    ]
    problems += [
        f"{model.__name__}.{name}: not a public field of {record.__name__} nor one the API adds"
        for name in shown.keys() - public.keys() - set(added)
    ]
    for name in public.keys() & shown.keys():
        accepts_none, optional = _accepts_none(shown[name].annotation), public[name].optional
        if accepts_none != optional:
            problems.append(
                f"{model.__name__}.{name}: accepts None={accepts_none}, the field's optional={optional}"
            )
    return sorted(problems)


def _accepts_none(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


# -- example records: every field set, none left at its default -------------------------------


def sample(record: type, **overrides: Any) -> Any:
    """An instance of `record` whose every field differs from its default (ids excepted)."""
    values = {f.name: _sample_value(f) for f in record_fields(record) if not f.has_factory}
    return record(**values | overrides)


def _sample_value(field: RecordField) -> Any:
    if field.shape is Shape.CHOICE:
        return list(field.type)[-1]
    if field.shape is Shape.NUMBERS:
        return tuple(0.5 + i for i in range(field.length or 3))
    if field.shape is Shape.POINTS:
        width = len(field.item_fields)
        return tuple(field.type(*(0.25 + i + j for j in range(width))) for i in range(2))
    if field.type is bool:
        return not field.default if isinstance(field.default, bool) else True
    return {str: f"{field.name}-1", int: 3, float: 2.5}[field.type]


def plain(value: Any) -> Any:
    """A record value as JSON would show it: enums by value, tuples and points as lists / dicts."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def _round_trip_payload(payload: Payload[Any], event: Any) -> Any:
    document = json.loads(json.dumps(payload.to_payload(event)))
    return payload.from_payload(event.camera_id, document, getattr(event, "id", ""))


# -- the real records are in step ------------------------------------------------------------

PUBLIC_MODELS: list[tuple[type, type[BaseModel], set[str]]] = [
    (Sighting, SightingPublic, {"crop_url"}),  # the API serves the crop, not its path
    (Alert, AlertPublic, set()),
    (CameraHealth, CameraHealthPublic, set()),
]
EVENT_TOPICS = [
    (Sighting, Topic.SIGHTINGS),
    (Alert, Topic.ALERTS),
    (CameraHealth, Topic.CAMERA_HEALTH),
    (Command, Topic.COMMANDS),
    (CrossingCount, Topic.CROSSING_COUNTS),
]


@pytest.mark.parametrize("record", [Sighting, Alert, CameraHealth, CrossingCount])
def test_tables_hold_every_stored_field(record: type) -> None:
    rows = RECORD_ROWS[record]
    assert table_drift(record, rows.table, rows.extra()) == []


@pytest.mark.parametrize(("record", "model", "added"), PUBLIC_MODELS)
def test_public_models_show_every_public_field(record: type, model: type[BaseModel], added: set[str]) -> None:
    assert api_drift(record, model, added) == []


def test_path_point_public_matches_path_point() -> None:
    assert list(PathPointPublic.model_fields) == [f.name for f in dataclasses.fields(PathPoint)]


@pytest.mark.parametrize(
    ("record", "convert"),
    [
        (Sighting, SightingPublic.from_sighting),
        (Alert, AlertPublic.from_alert),
        (CameraHealth, CameraHealthPublic.from_health),
    ],
)
def test_public_models_copy_every_public_value(record: type, convert: Callable[[Any], BaseModel]) -> None:
    event = sample(record)
    shown = convert(event).model_dump(mode="json")
    public = [f.name for f in record_fields(record) if f.spec.public]
    assert {name: shown[name] for name in public} == {name: plain(getattr(event, name)) for name in public}


@pytest.mark.parametrize(("record", "topic"), EVENT_TOPICS)
def test_payload_and_schema_follow_the_fields(record: type, topic: Topic) -> None:
    payload = Payload(record)
    event = sample(record)
    assert _round_trip_payload(payload, event) == event
    fields = [f for f in record_fields(record) if f.name not in ("camera_id", "id")]
    schema = SCHEMAS[topic]["properties"]["payload"]
    assert list(payload.to_payload(event)) == [f.name for f in fields]  # declaration order on the wire
    assert list(schema["properties"]) == [f.name for f in fields]
    assert schema["required"] == [f.name for f in fields if f.required]


@pytest.mark.parametrize(
    ("record", "write", "read"),
    [
        (Sighting, Store.add_sighting, lambda store, s: store.get_sighting(s.id)),
        (Alert, Store.add_alert, lambda store, a: store.list_alerts()[0][0]),
        (CameraHealth, Store.upsert_health, lambda store, h: store.list_health()[0]),
    ],
)
def test_store_round_trips_every_field(
    record: type, write: Callable[[Store, Any], object], read: Callable[[Store, Any], Any]
) -> None:
    event = sample(record)
    with Store.open("sqlite://") as store:
        write(store, event)
        assert read(store, event) == event


# -- a field added to the dataclass alone is caught ------------------------------------------


def sighting_with(name: str, kind: Any, **field_options: Any) -> type:
    """`Sighting` with one more field, as if someone had added it to vigil/core/types.py."""
    return dataclasses.make_dataclass(
        "Sighting",
        [(name, kind, dataclasses.field(default=None, **field_options))],
        bases=(Sighting,),
        frozen=True,
    )


def test_a_new_field_flows_through_the_codec_but_the_table_and_api_must_follow() -> None:
    extended = sighting_with("colour", str | None)
    rows = RECORD_ROWS[Sighting]
    # The codec needs no edit: the payload, its schema and its reader pick the field up.
    payload = Payload(extended)
    event = sample(extended)
    assert _round_trip_payload(payload, event) == event
    assert payload.schema()["properties"]["colour"] == {"type": ["string", "null"]}
    # The table and the Public model were not touched: both checks name the field.
    assert table_drift(extended, rows.table, rows.extra()) == [
        "Sighting.colour: no column in table 'sightings' (add one and a migration, "
        "or mark the field spec(stored=False))"
    ]
    assert api_drift(extended, SightingPublic, {"crop_url"}) == [
        "Sighting.colour: missing from SightingPublic (add it, or mark the field spec(public=False))"
    ]


def test_a_new_field_marked_internal_needs_no_column_or_public_field() -> None:
    extended = sighting_with("colour", str | None, metadata=spec(stored=False, public=False))
    rows = RECORD_ROWS[Sighting]
    assert table_drift(extended, rows.table, rows.extra()) == []
    assert api_drift(extended, SightingPublic, {"crop_url"}) == []


def test_drift_checks_catch_mismatched_columns_and_schemas() -> None:
    # A column that lost its nullability and one the record does not know.
    table = sa.Table(
        "sightings",
        sa.MetaData(),
        *(
            sa.Column(c.name, c.type, nullable=c.nullable)
            for c in tables.sightings.columns
            if c.name != "crop_path"
        ),
        sa.Column("crop_path", sa.String(512), nullable=False),
        sa.Column("colour", sa.String(16)),
    )
    assert table_drift(Sighting, table, ["created_at"]) == [
        "sightings.colour: column is neither a stored field of Sighting nor filled by the store",
        "sightings.crop_path: nullable=False, the field's optional=True",
    ]

    class Shown(BaseModel):  # AlertPublic with a zone that cannot be None and an unknown field
        id: str
        kind: str
        rule: str
        camera_id: str
        timestamp: float
        message: str
        tracker_id: int | None
        zone: str
        box: tuple[float, float, float, float] | None
        severity: str
        direction: str | None
        value: float | None
        phase: str | None
        group_id: str | None
        colour: str

    assert api_drift(Alert, Shown, set()) == [
        "Shown.colour: not a public field of Alert nor one the API adds",
        "Shown.zone: accepts None=False, the field's optional=True",
    ]


def test_a_field_of_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"Sighting\.tags: expected str, int, float, bool"):
        record_fields(sighting_with("tags", dict[str, str] | None))
