"""Parsing of the times operators type: epoch seconds or ISO-8601 with a timezone."""

from __future__ import annotations

import math
from datetime import datetime

from vigil.core.errors import ValidationError


def parse_epoch(text: str) -> float:
    """Epoch seconds from epoch seconds or ISO-8601 with a timezone.

    Raises:
        ValidationError: The message says the problem only ("expected ..."); callers add
            which parameter it was and what arrived.
    """
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("expected epoch seconds or an ISO-8601 time") from None
        if moment.tzinfo is None:
            # A naive time is ambiguous across the control room's and the server's zones.
            raise ValidationError("ISO-8601 time needs a timezone (Z or +hh:mm)") from None
        seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise ValidationError("expected a finite time")
    return seconds
