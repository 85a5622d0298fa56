"""Where new alerts are pushed: webhooks (signed JSON POSTs) and an MQTT broker.

Hung off `VigilConfig` as ``notifications:``. Validation does no I/O; secrets (the HMAC key,
the MQTT password) are named by environment variable, never written in the YAML.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookConfig(_Strict):
    """One HTTP endpoint that receives every new alert at or above a severity."""

    url: str = Field(
        pattern=r"^https?://", max_length=2048, description="http(s) URL the alert is POSTed to."
    )
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC-SHA256 key that signs each body; unset sends "
        "unsigned.",
    )
    min_severity: Severity = Field(default="warning", description="Alerts below it are not sent.")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-attempt timeout.")
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Tries per alert, with exponential backoff; raising it rides out longer outages and "
        "keeps failed alerts queued longer.",
    )


class MqttConfig(_Strict):
    """An MQTT broker that receives every new alert at or above a severity (Frigate-style topics)."""

    host: str = Field(min_length=1, description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    topic_prefix: str = Field(default="vigil", min_length=1, description="Topics are <prefix>/alerts/...")
    username_env: str | None = Field(default=None, description="Environment variable with the user name.")
    password_env: str | None = Field(default=None, description="Environment variable with the password.")
    min_severity: Severity = Field(default="warning", description="Alerts below it are not published.")
    qos: Literal[0, 1, 2] = Field(default=1, description="MQTT quality of service of each publish.")


class NotificationsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Webhook endpoints.")
    mqtt: MqttConfig | None = Field(default=None, description="MQTT broker; none by default.")
