"""When a rule is active: its periods (days + 'HH:MM' start/end) in the site's time zone.

A period that ends before it starts wraps midnight and belongs to the day it starts on
("fri 20:00-06:00" is active from Friday 20:00 to Saturday 06:00). Local wall time is used,
so a period keeps its clock hours across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from config.rules import WEEKDAYS, ActivePeriod, clock_minutes

_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


@dataclass
class Schedule:
    """Active periods of one rule; no periods means always active.

    Args:
        periods: The rule's `schedule`.
        timezone: IANA time zone of the site (`VigilConfig.timezone`).
    """

    periods: list[ActivePeriod]
    timezone: str = "UTC"
    _spans: list[tuple[int, int]] = field(init=False, repr=False)
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False)
    _cached: tuple[int, bool] = field(default=(-1, True), init=False, repr=False)

    def __post_init__(self) -> None:
        self._zone = zoneinfo.ZoneInfo(self.timezone)
        # Each period as [start, end) minutes of the week (monday 00:00 = 0); wrapping ones
        # past sunday midnight are split in two.
        spans = []
        for period in self.periods:
            start, end = clock_minutes(period.start), clock_minutes(period.end)
            length = end - start if end > start else end + _DAY_MINUTES - start
            for day in period.days:
                begin = WEEKDAYS.index(day) * _DAY_MINUTES + start
                spans.append((begin, min(begin + length, _WEEK_MINUTES)))
                if begin + length > _WEEK_MINUTES:
                    spans.append((0, begin + length - _WEEK_MINUTES))
        self._spans = spans

    @property
    def always(self) -> bool:
        return not self.periods

    def active(self, timestamp: float) -> bool:
        """Whether the rule is active at `timestamp` (epoch seconds); cached per minute."""
        if not self._spans:
            return True
        minute = int(timestamp // 60)
        if self._cached[0] == minute:
            return self._cached[1]
        local = dt.datetime.fromtimestamp(minute * 60, self._zone)
        week_minute = local.weekday() * _DAY_MINUTES + local.hour * 60 + local.minute
        result = any(begin <= week_minute < end for begin, end in self._spans)
        self._cached = (minute, result)
        return result
