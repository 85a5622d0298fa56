"""Alert triage schemas: alerts with their triage state and history, triage bodies, feed messages.

Kept apart from `api.schemas` (one module per resource family being worked on at once);
`AlertTriagePublic` extends `api.schemas.AlertPublic`, so a field added to the alert record
reaches both.
"""

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import AlertPublic
from vigil.infra.db.alerts import MAX_NOTE_CHARS, HistoryEntry, TriageAction, TriagedAlert, TriageState
from vigil.services.alert_feed import FeedKind

_NOTE = "Why, or what was found (audited)."


class HistoryPublic(BaseModel):
    at: float = Field(description="Epoch seconds.")
    user: str = Field(description="Who did it.")
    action: TriageAction = Field(description="What was done.")
    note: str | None = Field(description="The note given with it, if any.")

    @classmethod
    def from_entry(cls, entry: HistoryEntry) -> "HistoryPublic":
        return cls(at=entry.at, user=entry.user, action=entry.action, note=entry.note)


class AlertTriagePublic(AlertPublic):
    """An alert and where its triage stands."""

    state: TriageState = Field(description="new until someone acknowledges or resolves it.")
    assignee: str | None = Field(description="User the alert is assigned to, if any.")
    updated_at: float | None = Field(description="Epoch seconds of the last triage action; null: none yet.")
    updated_by: str | None = Field(description="Who did the last triage action; null: none yet.")
    crop_url: str | None = Field(description="URL of the alert's crop (JPEG, operator), if one was saved.")
    group_size: int | None = Field(
        default=None,
        ge=1,
        description="GET /alerts?grouped=true: the alerts of this alert's group that match the filters; "
        "null elsewhere.",
    )

    @classmethod
    def from_triaged(
        cls, item: TriagedAlert, crop_url: str | None, group_size: int | None = None
    ) -> "AlertTriagePublic":
        triage = item.triage
        return cls(
            **AlertPublic.from_alert(item.alert).model_dump(),
            state=triage.state,
            assignee=triage.assignee,
            updated_at=triage.updated_at,
            updated_by=triage.updated_by,
            crop_url=crop_url,
            group_size=group_size,
        )


class AlertDetailPublic(AlertTriagePublic):
    """An alert, its triage state and every triage action on it."""

    history: list[HistoryPublic] = Field(description="Triage actions, oldest first.")


class AlertTriageList(BaseModel):
    items: list[AlertTriagePublic]
    count: int = Field(description="Alerts matching the filters, across all pages.")


class AcknowledgeBody(BaseModel):
    """Acknowledge an alert: someone is looking at it."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS, description=_NOTE)


class ResolveBody(BaseModel):
    """Resolve an alert; the note (what was found, what was done) is required."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS, pattern=r"\S", description=_NOTE)


class AssignBody(BaseModel):
    """Assign an alert to a user, or unassign it with ``null``."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(
        max_length=64, description="An enabled operator (or higher) by name; null unassigns."
    )


class ReopenBody(BaseModel):
    """Reopen a resolved alert (it becomes new again)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS, description=_NOTE)


class AlertFeedMessage(BaseModel):
    """One message of ``/alerts/live``."""

    type: FeedKind = Field(
        description="alert: a new alert was stored; triage: an alert's triage state changed."
    )
    alert: AlertTriagePublic
