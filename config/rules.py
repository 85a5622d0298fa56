"""Alert rule models, the ``rules:`` list of `config.models.VigilConfig`.

Every rule names the camera it watches and carries the same common settings
(`RuleBase`): a severity, an on/off switch, a schedule of active periods in the site's
time zone, object filters and a cooldown. The ``type`` key picks the model:

- ``zone_intrusion``: a person's foot point inside a zone.
- ``line_crossing``: foot points crossing a camera line, counted per direction per
  interval, alerting on chosen directions or on speed.
- ``dwell``: a person staying in a zone longer than ``min_seconds`` (loitering).
- ``occupancy``: too many (or too few) people in a zone for ``min_seconds``, or a crowd
  denser than a limit per square metre.
- ``person_down``: a person whose posture stays lying for ``min_seconds``.

Cross-references (the camera, its zones, lines and calibration) are checked by
`VigilConfig`; the models here check only their own fields. No I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigil.core.types import AlertSeverity, Direction

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def clock_minutes(value: str) -> int:
    """'HH:MM' -> minutes after midnight ('24:00' -> 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class ActivePeriod(_Strict):
    """When a rule is active: on these days, from ``start`` to ``end`` in the site's time zone.

    A period whose end is before its start wraps midnight and belongs to the day it starts
    on: ``{days: [fri], start: "20:00", end: "06:00"}`` runs from Friday 20:00 to Saturday
    06:00. ``end: "24:00"`` is the end of the day.
    """

    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        description="Days the period starts on (mon..sun); default every day.",
    )
    start: str = Field(description="Local start time 'HH:MM' (site time zone).")
    end: str = Field(description="Local end time 'HH:MM', or '24:00'; before `start` wraps past midnight.")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"expected a time 'HH:MM' from 00:00 to 24:00, got {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ActivePeriod:
        if self.start == "24:00":
            raise ValueError("start: '24:00' is the end of the day; start the period at '00:00'")
        if clock_minutes(self.start) == clock_minutes(self.end):
            raise ValueError(
                f"start and end are both {self.start}: the period is empty; "
                "for the whole day use start '00:00', end '24:00'"
            )
        return self


class RuleFilters(_Strict):
    """Which tracked objects a rule looks at; the others are invisible to it."""

    min_score: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Detection score below which an object is ignored. Raising it ignores weak, "
        "often false, boxes and misses people the detector is unsure of.",
    )
    min_height_px: float = Field(
        default=0.0,
        ge=0.0,
        description="Box height in pixels of the detection frame (the sub-stream where there is "
        "one) below which an object is ignored. Raising it ignores far-away people.",
    )
    classes: list[str] = Field(
        default_factory=list,
        description="Class names the rule looks at (e.g. ['person'] with a COCO detector); empty "
        "means every class the detector emits.",
    )


class RuleBase(_Strict):
    """Settings every rule has."""

    name: Identifier = Field(description="Rule name shown on alerts; the API's key (/rules/{name}).")
    camera: Identifier = Field(description="Camera id the rule watches (an 'ai' camera).")
    severity: AlertSeverity = Field(
        default=AlertSeverity.WARNING, description="How urgent its alerts are: info, warning, critical."
    )
    enabled: bool = Field(default=True, description="A disabled rule is kept in the config and not run.")
    schedule: list[ActivePeriod] = Field(
        default_factory=list,
        description="Periods when the rule is active, in the site's time zone; empty means always. "
        "Outside them it raises nothing, counts nothing and forgets its tracks.",
    )
    filters: RuleFilters = Field(default_factory=RuleFilters, description="Objects the rule looks at.")
    cooldown_s: float = Field(
        default=60.0,
        ge=0,
        description="Quiet time after an alert for the same person (or, for occupancy, the same "
        "zone). Raising it means fewer repeated alerts and a later second alert.",
    )


class ZoneIntrusionRule(RuleBase):
    """Alert when a person's foot point (bottom centre of the box) is inside a zone."""

    type: Literal["zone_intrusion"] = "zone_intrusion"
    zone: Identifier = Field(description="Zone name on that camera.")
    min_frames: int = Field(
        default=2,
        ge=1,
        description="Consecutive frames inside before alerting; raising it ignores passers-by.",
    )


class LineCrossingRule(RuleBase):
    """Count people crossing a line per direction; alert on chosen directions or on speed.

    A crossing is a foot point passing from one side of the camera's line to the other and
    moving at least `hysteresis` past it, so a person standing on the line counts once.
    """

    type: Literal["line_crossing"] = "line_crossing"
    line: Identifier = Field(description="Line name on that camera (`cameras[].lines`).")
    alert_on: list[Direction] = Field(
        default_factory=list,
        description="Directions ('in', 'out') whose crossings raise an alert; empty: only count.",
    )
    count_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="Crossings are counted per direction over intervals this long (aligned to "
        "epoch multiples). Raising it gives fewer, coarser count rows.",
    )
    hysteresis: float = Field(
        default=0.02,
        ge=0.0,
        le=0.5,
        description="How far past the line a foot point must get before a crossing counts, as a "
        "fraction of the frame height (0.02 = 22 px at 1080p). Raising it ignores more jitter on "
        "the line and misses people who only step over its end.",
    )
    max_speed_mps: float | None = Field(
        default=None,
        gt=0,
        description="Alert on a crossing faster than this, metres per second (running; needs the "
        "camera's calibration). Raising it alerts only on faster movers.",
    )


class DwellRule(RuleBase):
    """Alert once per stay when a person stays in a zone longer than `min_seconds`."""

    type: Literal["dwell"] = "dwell"
    zone: Identifier = Field(description="Zone name on that camera.")
    min_seconds: float = Field(
        default=60.0, gt=0, description="Time inside before alerting; raising it ignores shorter stays."
    )
    grace_s: float = Field(
        default=3.0,
        ge=0,
        description="A person out of sight (or out of the zone) for less than this keeps their "
        "clock. Raising it rides out longer occlusions and joins separate visits.",
    )
    max_speed_mps: float | None = Field(
        default=None,
        gt=0,
        description="Only time spent moving slower than this counts, metres per second (needs "
        "calibration); e.g. 0.5 ignores people walking through. Raising it counts more movement.",
    )


class OccupancyRule(RuleBase):
    """Alert when the people in a zone stay above (or below) a limit for `min_seconds`.

    Raises a START alert when the condition has held for `min_seconds` and an END alert when
    it clears; never one alert per frame.
    """

    type: Literal["occupancy"] = "occupancy"
    zone: Identifier = Field(description="Zone name on that camera.")
    max_people: int | None = Field(
        default=None, ge=0, description="Crowding: more people than this in the zone raises an alert."
    )
    min_people: int | None = Field(
        default=None,
        ge=1,
        description="A floor: fewer people than this (e.g. an unstaffed post) raises an alert.",
    )
    max_density_per_m2: float | None = Field(
        default=None,
        gt=0,
        description="Crowding by density: people per square metre of the zone's ground area above "
        "this raises an alert (needs calibration). 2 is a dense crowd, 4 is dangerous.",
    )
    min_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long the condition must hold before START (and be clear before END). "
        "Raising it ignores short peaks and reports later.",
    )
    hold_s: float = Field(
        default=1.0,
        ge=0.0,
        le=30.0,
        description="A person seen inside the zone less than this many seconds ago still counts "
        "(one seen walking out leaves at once). Raising it rides out longer detector misses and "
        "occlusions in a crowd, and keeps counting someone who vanished inside the zone (left "
        "through a door, hidden) for longer; lowering it to 0 counts only the boxes of each frame, "
        "so a flickering count keeps restarting the min_seconds wait.",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> OccupancyRule:
        if self.max_people is None and self.min_people is None and self.max_density_per_m2 is None:
            raise ValueError("give at least one of max_people, min_people, max_density_per_m2")
        if self.max_people is not None and self.min_people is not None and self.min_people > self.max_people:
            raise ValueError(
                f"min_people ({self.min_people}) is above max_people ({self.max_people}): "
                "the zone would always be in alert"
            )
        return self


class PersonDownRule(RuleBase):
    """Alert when a person's posture stays lying for `min_seconds`.

    The lying score comes from the posture stage (`tracked.data['lying']`); without it the
    rule raises nothing.
    """

    type: Literal["person_down"] = "person_down"
    enabled: bool = Field(
        default=False,
        description="Off unless set: the posture cue is unvalidated on real fallen people (no such "
        "footage was available; on 511 real upright people and 146 s of real footage it raised "
        "nothing) and neither SSDLite nor NanoDet (whole frame or 3x2 tiles) boxed any of 43 real "
        "people turned on their side at score 0.3. Switching it on runs MoveNet on the camera's "
        "tracked people (at most 4 crops a frame, ~8 ms each). Check it on your own cameras with "
        "`vigil backtest` first.",
    )
    zone: Identifier | None = Field(default=None, description="Zone name on that camera; none: anywhere.")
    min_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Seconds lying before alerting; raising it ignores people sitting down.",
    )
    min_lying_score: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Posture score (0..1) from which a person counts as lying. Raising it means "
        "fewer false alerts and more missed falls.",
    )
    grace_s: float = Field(
        default=3.0,
        ge=0,
        description="A person out of sight or briefly scored upright for less than this keeps their "
        "clock. Raising it rides out longer occlusions.",
    )


RuleSpec = ZoneIntrusionRule | LineCrossingRule | DwellRule | OccupancyRule | PersonDownRule
Rule = Annotated[RuleSpec, Field(discriminator="type")]
