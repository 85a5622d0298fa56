"""Event envelopes as bytes: compact UTF-8 JSON, the same on both buses.

`vigil.core.events` defines the envelope, its JSON document and its schemas; this module
writes and reads the bytes with orjson, which is about ten times faster than `json`.
"""

from __future__ import annotations

import json

import orjson

from vigil.core.errors import ValidationError
from vigil.core.events import EventEnvelope, Topic, from_document, to_document


def encode(envelope: EventEnvelope) -> bytes:
    """The envelope as compact UTF-8 JSON, matching ``SCHEMAS[envelope.topic]``.

    Raises:
        ValueError: A number is NaN or infinite.
    """
    document = to_document(envelope)
    payload = document["payload"]
    # orjson writes the same bytes as json.dumps for these documents, but writes NaN and
    # infinities as null where json.dumps refuses them. Nulls only occur as top-level payload
    # values, so more nulls than those means a non-finite number (or a string containing
    # "null"): json.dumps then decides, and raises ValueError on NaN.
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
    return from_document(document, topic)
