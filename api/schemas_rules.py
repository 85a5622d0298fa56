"""Request and response models of ``/rules``: rules as configured, their changes, and line counts."""

from pydantic import BaseModel, ConfigDict, Field

from config.models import Rule, RuleSpec
from config.rules import ActivePeriod
from vigil.core.types import AlertSeverity


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleWrite(Strict):
    """A rule to add, or the full new settings of one (fields as in the site YAML's ``rules:``)."""

    rule: Rule = Field(description="The rule; `type` picks its kind and its fields.")
    reason: str = Field(min_length=3, max_length=2000, description="Why this change is made (audited).")


class RulePublic(BaseModel):
    """A configured rule: its summary, whether it runs now, and every setting."""

    name: str = Field(description="The rule's name, its key in /rules/{name}.")
    type: str = Field(description="zone_intrusion, line_crossing, dwell, occupancy or person_down.")
    camera: str = Field(description="Camera id the rule watches.")
    enabled: bool = Field(description="A disabled rule is kept in the config and not run.")
    severity: AlertSeverity = Field(description="How urgent its alerts are.")
    schedule: list[ActivePeriod] = Field(description="Active periods in the site's time zone; empty: always.")
    active_now: bool = Field(description="Enabled and inside its schedule at the time of the request.")
    target: str | None = Field(description="The zone or line it watches (none: the whole picture).")
    rule: Rule = Field(description="Every setting, as in the site YAML.")

    @classmethod
    def from_rule(cls, rule: RuleSpec, active_now: bool) -> "RulePublic":
        target = getattr(rule, "line", None) or getattr(rule, "zone", None)
        return cls(
            name=rule.name,
            type=rule.type,
            camera=rule.camera,
            enabled=rule.enabled,
            severity=rule.severity,
            schedule=list(rule.schedule),
            active_now=active_now,
            target=target,
            rule=rule,
        )


class RuleList(BaseModel):
    items: list[RulePublic]
    count: int


class CountBucket(BaseModel):
    """People across the line in one requested interval, per direction."""

    start: float = Field(description="Epoch seconds, inclusive.")
    end: float = Field(description="Epoch seconds, exclusive.")
    count_in: int = Field(description="Crossings in the line's 'in' direction.")
    count_out: int = Field(description="Crossings the other way.")


class CountsPublic(BaseModel):
    """A line rule's counts summed into the requested intervals.

    Each stored row (one per counting interval of the rule, ``count_interval_s``) is added to
    the requested interval its start falls in; an interval the rule had not closed yet (it
    is still running) is not in the store and so not in the sums.
    """

    rule: str
    camera_id: str
    line: str
    in_label: str = Field(description="Operator words for 'in' (the line's), may be empty.")
    out_label: str = Field(description="Operator words for 'out', may be empty.")
    since: float = Field(description="Epoch seconds: start of the first interval.")
    until: float = Field(description="Epoch seconds: end of the last interval.")
    interval_s: float = Field(description="Length of each interval, seconds.")
    buckets: list[CountBucket] = Field(description="One per interval, oldest first, empty ones included.")
    total_in: int
    total_out: int
