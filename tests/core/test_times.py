import pytest

from vigil.core.errors import ValidationError
from vigil.core.times import parse_epoch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1717236000", 1717236000.0),  # epoch seconds
        (" 1717236000.5 ", 1717236000.5),  # surrounding blanks
        ("2024-06-01T10:00:00Z", 1717236000.0),  # ISO-8601, UTC
        ("2024-06-01T18:00:00+08:00", 1717236000.0),  # ISO-8601, the control room's zone
    ],
)
def test_accepted_times(text: str, expected: float) -> None:
    assert parse_epoch(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "expected epoch seconds or an ISO-8601 time"),  # not a time
        ("2024-06-01T10:00:00", "needs a timezone"),  # naive: ambiguous across zones
        ("nan", "expected a finite time"),  # hostile float
        ("inf", "expected a finite time"),
    ],
)
def test_rejected_times(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_epoch(text)
