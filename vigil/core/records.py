"""The one definition of each record: its dataclass fields, read once for every consumer.

A record (`Sighting`, `Alert`, `CameraHealth`, the event contract's `Command`) is a frozen
dataclass. Its fields, their type hints and their defaults are the only place its shape is
written down: the event codec, its JSON Schema and the store's row mapping are derived from
`record_fields`, and the API's Public models are checked against it by the test suite. So
adding a field is one edit here plus, if it is stored, a table column and a migration.

A field's type must be one these consumers know how to carry, optionally ``| None``:

- ``str``, ``int``, ``float``, ``bool``;
- an `enum.Enum`, carried by its value;
- ``tuple[float, ...]`` or a fixed ``tuple[float, float, ...]`` (boxes), carried as a list;
- ``tuple[P, ...]`` where ``P`` is a dataclass of floats (`PathPoint`), carried as a list of
  positional lists (``[[timestamp, x, y], ...]``).

Anything special about one field goes in its metadata, written with `spec`::

    descriptor: tuple[float, ...] | None = field(default=None, metadata=spec(public=False))
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_META_KEY = "vigil"


class Shape(enum.Enum):
    """How a field's value is carried (see the module doc)."""

    SCALAR = "scalar"
    CHOICE = "choice"
    NUMBERS = "numbers"
    POINTS = "points"


_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class FieldSpec:
    """What a field's metadata says beyond its type; written with `spec`.

    Attributes:
        stored: The store keeps it in a column of the record's table.
        public: The API's Public model shows it.
        schema: Extra JSON Schema keywords for its payload property (``minimum``, ``description``).
    """

    stored: bool = True
    public: bool = True
    schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def spec(
    *, stored: bool = True, public: bool = True, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Field metadata for `dataclasses.field(metadata=...)`; see `FieldSpec` for the arguments."""
    return {_META_KEY: FieldSpec(stored=stored, public=public, schema=dict(schema or {}))}


@dataclass(frozen=True)
class RecordField:
    """One field of a record, resolved from its dataclass field and type hint.

    Attributes:
        name: Attribute name; also its name in the event payload, the table and the API.
        shape: How its value is carried.
        type: The scalar type (SCALAR), the enum class (CHOICE), ``float`` (NUMBERS) or the
            point dataclass (POINTS).
        optional: None is a valid value.
        default: The field's default, or `dataclasses.MISSING`.
        length: NUMBERS of fixed length (a box's 4), else None.
        spec: Its metadata.
        has_factory: The default comes from a default factory (a record's ``id``).
    """

    name: str
    shape: Shape
    type: Any
    optional: bool
    default: Any
    length: int | None
    spec: FieldSpec
    has_factory: bool = False

    @property
    def required(self) -> bool:
        """The field has no default: a reader must find it."""
        return self.default is dataclasses.MISSING and not self.has_factory

    @property
    def item_fields(self) -> tuple[str, ...]:
        """The point dataclass's field names, in order (POINTS only)."""
        return tuple(f.name for f in dataclasses.fields(self.type))


def record_fields(record: type) -> tuple[RecordField, ...]:
    """The fields of a record dataclass, in declaration order (resolved once per record).

    Raises:
        TypeError: `record` is not a dataclass, or a field's type is not one of those in the
            module doc.
    """
    if record not in _RESOLVED:
        if not dataclasses.is_dataclass(record):
            raise TypeError(f"record: expected a dataclass, got {record!r}")
        hints = typing.get_type_hints(record)
        _RESOLVED[record] = tuple(_resolve(record, f, hints[f.name]) for f in dataclasses.fields(record))
    return _RESOLVED[record]


_RESOLVED: dict[type, tuple[RecordField, ...]] = {}


def public_values(record: object) -> dict[str, Any]:
    """The record's public fields by name, as the API's Public models take them."""
    return {f.name: getattr(record, f.name) for f in record_fields(type(record)) if f.spec.public}


def _resolve(record: type, field: dataclasses.Field[Any], hint: Any) -> RecordField:
    where = f"{record.__name__}.{field.name}"
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    optional = type(None) in members
    kinds = [m for m in members if m is not type(None)]
    if len(kinds) != 1:
        raise TypeError(f"{where}: expected one type, optionally | None, got {hint!r}")
    shape, base, length = _shape(where, kinds[0])
    meta = field.metadata.get(_META_KEY, FieldSpec())
    return RecordField(
        name=field.name,
        shape=shape,
        type=base,
        optional=optional,
        default=field.default,
        length=length,
        spec=meta,
        has_factory=field.default_factory is not dataclasses.MISSING,
    )


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _shape(where: str, kind: Any) -> tuple[Shape, type, int | None]:
    if kind in _SCALARS:
        return Shape.SCALAR, kind, None
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return Shape.CHOICE, kind, None
    args = typing.get_args(kind)
    if typing.get_origin(kind) is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            if item is float:
                return Shape.NUMBERS, float, None
            if isinstance(item, type) and dataclasses.is_dataclass(item) and _is_point(item):
                return Shape.POINTS, item, None
        elif all(arg is float for arg in args):
            return Shape.NUMBERS, float, len(args)
    raise TypeError(
        f"{where}: expected str, int, float, bool, an Enum, a tuple of floats or a tuple of a "
        f"dataclass of floats, got {kind!r}"
    )


def _is_point(item: type) -> bool:
    """A dataclass of two or more floats (`PathPoint`)."""
    hints = typing.get_type_hints(item)
    fields = dataclasses.fields(item)
    return len(fields) >= 2 and all(hints[f.name] is float for f in fields)
