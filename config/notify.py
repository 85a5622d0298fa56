"""Alert grouping (``alerts:``) and where new alerts are pushed (``notifications:``).

Both hang off `VigilConfig`. Validation does no I/O; secrets (the HMAC key, the MQTT user and
password) are named by environment variable, never written in the YAML::

    alerts:
      group_window_s: 60
    notifications:
      webhooks:
        - url: https://hooks.example.org/vigil
          secret_env: VIGIL_WEBHOOK_SECRET
          min_severity: warning
      mqtt:
        host: broker.local
        username_env: VIGIL_MQTT_USER
        password_env: VIGIL_MQTT_PASSWORD
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["info", "warning", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertsConfig(_Strict):
    """How stored alerts are grouped: one inbox row and one notification per incident.

    An alert joins the group of an earlier alert of the same rule and camera when it is the same
    track within `group_track_window_s`, or follows the group's last alert within
    `group_window_s`; an occupancy or person-down *end* joins its start's group. No group spans
    more than `group_max_span_s` from its first alert.
    """

    group_window_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="Seconds after a group's last alert in which another alert of the same rule and camera "
        "joins it. Raising it folds more alerts into one group (a quieter inbox, fewer notifications) at "
        "the risk of hiding a second incident in the first; 0 groups only by track.",
    )
    group_track_window_s: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description="Seconds after a track's last alert in which the same track joins that group again (a "
        "person crossing back and forth). Raising it risks joining a different person once a camera "
        "restart reuses track ids; 0 turns the track rule off.",
    )
    group_max_span_s: float = Field(
        default=1_800.0,
        gt=0,
        le=7 * 86_400,
        description="A group never spans longer than this from its first alert: a rule that keeps firing "
        "opens a new group (and notifies again) this often. Raising it means fewer repeat notifications "
        "for a long incident.",
    )


class _Destination(_Strict):
    min_severity: Severity = Field(default="warning", description="Alerts below it are not sent.")
    group_updates: bool = Field(
        default=False,
        description="Also send the alerts that join an existing group (the same person crossing again, an "
        "occupancy end). Off: one message per group, for its first alert.",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Tries per alert, with exponential backoff; raising it rides out longer outages and "
        "keeps failed alerts queued longer.",
    )
    backoff_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Wait before the first retry; it doubles on each retry (with random jitter, at most "
        "60 s). Raising it spares a struggling receiver, and delays delivery once it is back.",
    )
    queue_size: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Alerts waiting for this destination; when full the oldest is dropped (counted). "
        "Raising it keeps more alerts through an outage, in memory.",
    )


class WebhookConfig(_Destination):
    """One HTTP endpoint that receives every new alert at or above a severity (JSON POST)."""

    url: str = Field(
        pattern=r"^https?://", max_length=2048, description="http(s) URL the alert is POSTed to."
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Name in logs and metrics; default webhook-<n> (1-based position in the list).",
    )
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC-SHA256 key that signs each body; unset sends "
        "unsigned.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-attempt timeout.")


class MqttConfig(_Destination):
    """An MQTT broker that receives every new alert at or above a severity (Frigate-style topics).

    Alerts are published on ``<topic_prefix>/alerts/<camera>/<kind>``; ``<topic_prefix>/available``
    holds ``online`` (retained) while Vigil is connected, ``offline`` once it is gone.
    """

    host: str = Field(min_length=1, description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    topic_prefix: str = Field(
        default="vigil",
        min_length=1,
        max_length=128,
        pattern=r"^[^#+]+$",
        description="Topics are <prefix>/alerts/...; no MQTT wildcards.",
    )
    username_env: str | None = Field(default=None, description="Environment variable with the user name.")
    password_env: str | None = Field(default=None, description="Environment variable with the password.")
    qos: Literal[0, 1, 2] = Field(default=1, description="MQTT quality of service of each publish.")
    timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="How long one publish waits for the broker's acknowledgement."
    )
    keepalive_s: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="MQTT keepalive; raising it notices a dead broker later, with less idle traffic.",
    )


class NotificationsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Webhook endpoints.")
    mqtt: MqttConfig | None = Field(default=None, description="MQTT broker; none by default.")

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationsConfig:
        names = [hook.name or f"webhook-{i}" for i, hook in enumerate(self.webhooks, start=1)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"webhooks: names must be unique, repeated: {', '.join(repeated)}")
        return self

    def webhook_names(self) -> list[str]:
        """Each webhook's name in logs and metrics, in list order."""
        return [hook.name or f"webhook-{i}" for i, hook in enumerate(self.webhooks, start=1)]
