"""Schemas of ``/holds`` (legal holds) and ``/retention`` (retention runs)."""

from typing import Self

from pydantic import BaseModel, Field, model_validator

from vigil.infra.db.holds import LegalHold
from vigil.services.retention import RetentionPolicy, RetentionReport

_TIME = "Epoch seconds or ISO-8601 with a timezone, e.g. 1717236000 or 2024-06-01T10:00:00Z."


class HoldCreate(BaseModel):
    """A legal hold on a case (``case_id``) or on a span of cameras (``cameras``, ``start``, ``end``)."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=3, max_length=500, description="Why it is held (audited).")
    case_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Hold this case and its window, every camera.",
    )
    cameras: list[str] | None = Field(
        default=None, min_length=1, max_length=500, description="Hold these cameras over [start, end)."
    )
    start: str | None = Field(default=None, min_length=1, max_length=64, description=f"Span start. {_TIME}")
    end: str | None = Field(default=None, min_length=1, max_length=64, description=f"Span end. {_TIME}")

    @model_validator(mode="after")
    def _case_or_span(self) -> Self:
        span = (self.cameras, self.start, self.end)
        if self.case_id is not None and any(part is not None for part in span):
            raise ValueError("give either case_id or cameras + start + end, not both")
        if self.case_id is None and any(part is None for part in span):
            raise ValueError("give case_id, or cameras + start + end (all three)")
        if self.cameras is not None and any(not c or len(c) > 64 for c in self.cameras):
            raise ValueError("cameras: each camera id is 1 to 64 characters")
        return self


class HoldRelease(BaseModel):
    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=3, max_length=500, description="Why it is released (audited).")


class HoldPublic(BaseModel):
    id: str
    case_id: str | None = Field(description="The case held; null for a hold on a span.")
    cameras: list[str] | None = Field(description="The cameras held; null: every camera (a case hold).")
    start: float
    end: float
    reason: str
    placed_by: str
    placed_at: float
    active: bool
    released_at: float | None
    released_by: str | None
    release_reason: str | None

    @classmethod
    def of(cls, hold: LegalHold) -> "HoldPublic":
        return cls(
            id=hold.id,
            case_id=hold.case_id,
            cameras=None if hold.cameras is None else list(hold.cameras),
            start=hold.start,
            end=hold.end,
            reason=hold.reason,
            placed_by=hold.placed_by,
            placed_at=hold.placed_at,
            active=hold.active,
            released_at=hold.released_at,
            released_by=hold.released_by,
            release_reason=hold.release_reason,
        )


class HoldList(BaseModel):
    items: list[HoldPublic]
    count: int = Field(description="Holds matching the filters in all (not only this page).")


class RetentionRun(BaseModel):
    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=3, max_length=500, description="Why it runs now (audited).")


class ReportPublic(BaseModel):
    at: float
    seconds: float
    deleted: dict[str, int] = Field(
        description="Rows deleted per kind: segments, sightings, alerts, case_photos."
    )
    kept: dict[str, int] = Field(description="Rows past their age kept because protected, per kind.")
    files: int = Field(description="Files deleted (segments, crops).")
    bytes_freed: int = Field(description="Bytes of the segments deleted.")
    segments_between_runs: int = Field(description="Segments the minute checks deleted since the run before.")

    @classmethod
    def of(cls, report: RetentionReport) -> "ReportPublic":
        return cls(
            at=report.at,
            seconds=report.seconds,
            deleted=report.deleted,
            kept=report.kept,
            files=report.files,
            bytes_freed=report.bytes_freed,
            segments_between_runs=report.segments_between_runs,
        )


class CameraTiersPublic(BaseModel):
    continuous_days: float
    event_days: float


class RetentionPublic(BaseModel):
    """The policy in force and the latest run."""

    continuous_days: float
    event_days: float
    min_free_percent: float
    sightings_days: float
    alerts_days: float
    case_photos_days: float
    crossing_counts_days: float
    health_events_days: float
    cameras: dict[str, CameraTiersPublic] = Field(
        description="Cameras with recording retention of their own."
    )
    last_run: ReportPublic | None

    @classmethod
    def of(cls, policy: RetentionPolicy, last: RetentionReport | None) -> "RetentionPublic":
        return cls(
            continuous_days=policy.continuous_days,
            event_days=policy.event_days,
            min_free_percent=policy.min_free_percent,
            sightings_days=policy.sightings_days,
            alerts_days=policy.alerts_days,
            case_photos_days=policy.case_photos_days,
            crossing_counts_days=policy.crossing_counts_days,
            health_events_days=policy.health_events_days,
            cameras={
                c: CameraTiersPublic(continuous_days=t.continuous_days, event_days=t.event_days)
                for c, t in policy.cameras.items()
            },
            last_run=None if last is None else ReportPublic.of(last),
        )
