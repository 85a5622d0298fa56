"""Rule schedules: local wall time in the site's zone, periods wrapping midnight and the week."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from alerts.schedule import Schedule
from config.rules import ActivePeriod

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


def local(day: int, hour: int, minute: int = 0, month: int = 12) -> float:
    """Epoch seconds of a local Amsterdam time in December 2026 (the 4th is a Friday)."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=AMSTERDAM).timestamp()


# The water's edge at night, Friday and Saturday nights only.
WEEKEND_NIGHTS = [ActivePeriod(days=["fri", "sat"], start="20:00", end="06:00")]
# Sunday evening to Monday morning: the period wraps the end of the week.
SUNDAY_NIGHT = [ActivePeriod(days=["sun"], start="22:00", end="02:00")]


@pytest.mark.parametrize(
    ("periods", "timestamp", "expected"),
    [
        (WEEKEND_NIGHTS, local(4, 19, 59), False),  # Friday, a minute before
        (WEEKEND_NIGHTS, local(4, 20, 0), True),  # Friday 20:00 local (19:00 UTC)
        (WEEKEND_NIGHTS, local(5, 5, 59), True),  # Saturday morning: still Friday's night
        (WEEKEND_NIGHTS, local(5, 6, 0), False),  # the end is exclusive
        (WEEKEND_NIGHTS, local(5, 23, 0), True),  # Saturday night
        (WEEKEND_NIGHTS, local(6, 3, 0), True),  # Sunday 03:00: Saturday's night
        (WEEKEND_NIGHTS, local(6, 21, 0), False),  # Sunday evening is not a listed start day
        (WEEKEND_NIGHTS, local(3, 23, 0), False),  # Thursday night
        (SUNDAY_NIGHT, local(6, 23, 30), True),  # Sunday 23:30
        (SUNDAY_NIGHT, local(7, 1, 59), True),  # Monday 01:59: wrapped past the week's end
        (SUNDAY_NIGHT, local(7, 2, 0), False),
        (SUNDAY_NIGHT, local(7, 23, 0), False),  # Monday night
        ([], local(4, 12, 0), True),  # no periods: always
        # summer time: 20:00 local is 18:00 UTC in July (Friday 3 July 2026)
        (WEEKEND_NIGHTS, local(3, 20, 0, month=7), True),
        (WEEKEND_NIGHTS, local(3, 19, 30, month=7), False),
    ],
)
def test_active(periods: list[ActivePeriod], timestamp: float, expected: bool) -> None:
    assert Schedule(periods, "Europe/Amsterdam").active(timestamp) is expected


def test_the_same_instant_in_utc_is_another_hour() -> None:
    # Friday 20:30 in Amsterdam is 19:30 UTC: inactive for a UTC site with the same periods.
    assert Schedule(WEEKEND_NIGHTS, "Europe/Amsterdam").active(local(4, 20, 30))
    assert not Schedule(WEEKEND_NIGHTS, "UTC").active(local(4, 20, 30))


def test_whole_day_until_24() -> None:
    schedule = Schedule([ActivePeriod(days=["sun"], start="00:00", end="24:00")], "Europe/Amsterdam")
    assert schedule.active(local(6, 23, 59)) and schedule.active(local(6, 0, 0))
    assert not schedule.active(local(7, 0, 0))
