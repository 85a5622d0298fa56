"""Response models: one Public model per resource and a list-with-count for each list.

Models are built from `vigil.types` dataclasses and the config with ``from_*``
constructors; the database never reaches a response directly.
"""

from typing import Literal

from pydantic import BaseModel, Field

from config.models import CameraConfig, CameraRole
from vigil.types import Alert, AlertKind, CameraHealth, HealthState, Sighting

Box = tuple[float, float, float, float]


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="'degraded' when the database does not answer.")
    version: str
    db: bool = Field(description="The database answers.")
    cameras_online: int = Field(description="Enabled cameras currently online.")
    cameras_total: int = Field(description="Enabled cameras.")


class CameraHealthPublic(BaseModel):
    state: HealthState
    reason: str
    since: float = Field(description="Epoch seconds the camera entered this state.")
    last_frame_at: float | None = Field(description="Epoch seconds of the last frame read.")
    frames: int
    reconnects: int

    @classmethod
    def from_health(cls, health: CameraHealth) -> "CameraHealthPublic":
        return cls(
            state=health.state,
            reason=health.reason,
            since=health.since,
            last_frame_at=health.last_frame_at,
            frames=health.frames,
            reconnects=health.reconnects,
        )


class CameraPublic(BaseModel):
    id: str
    name: str
    role: CameraRole
    ptz: bool
    enabled: bool
    url: str | None = Field(description="Stream URL; only shown to admins.")
    health: CameraHealthPublic | None = Field(description="None until the camera has been opened once.")

    @classmethod
    def from_config(
        cls, camera: CameraConfig, health: CameraHealth | None, *, show_url: bool
    ) -> "CameraPublic":
        return cls(
            id=camera.id,
            name=camera.name,
            role=camera.role,
            ptz=camera.ptz,
            enabled=camera.enabled,
            url=camera.url if show_url else None,
            health=None if health is None else CameraHealthPublic.from_health(health),
        )


class CameraList(BaseModel):
    items: list[CameraPublic]
    count: int


class PathPointPublic(BaseModel):
    timestamp: float
    x: float
    y: float


class SightingPublic(BaseModel):
    id: str
    camera_id: str
    tracker_id: int
    start: float = Field(description="Epoch seconds first seen.")
    end: float = Field(description="Epoch seconds last seen.")
    best_box: Box = Field(description="Box of the best crop, pixels (x1, y1, x2, y2).")
    crop_url: str | None = Field(description="URL of the best crop (JPEG), if one was saved.")
    path: list[PathPointPublic] = Field(description="Foot points over the track, in time order.")
    confidence: float
    frames: int
    short: bool = Field(description="Too short a track to trust.")

    @classmethod
    def from_sighting(cls, sighting: Sighting) -> "SightingPublic":
        return cls(
            id=sighting.id,
            camera_id=sighting.camera_id,
            tracker_id=sighting.tracker_id,
            start=sighting.start,
            end=sighting.end,
            best_box=sighting.best_box,
            crop_url=None if sighting.crop_path is None else f"/sightings/{sighting.id}/crop.jpg",
            path=[PathPointPublic(timestamp=p.timestamp, x=p.x, y=p.y) for p in sighting.path],
            confidence=sighting.confidence,
            frames=sighting.frames,
            short=sighting.short,
        )


class SightingList(BaseModel):
    items: list[SightingPublic]
    count: int = Field(description="Sightings matching the filters, across all pages.")


class AlertPublic(BaseModel):
    id: str
    kind: AlertKind
    rule: str
    camera_id: str
    timestamp: float = Field(description="Epoch seconds.")
    message: str
    tracker_id: int | None
    zone: str | None
    box: Box | None

    @classmethod
    def from_alert(cls, alert: Alert) -> "AlertPublic":
        return cls(
            id=alert.id,
            kind=alert.kind,
            rule=alert.rule,
            camera_id=alert.camera_id,
            timestamp=alert.timestamp,
            message=alert.message,
            tracker_id=alert.tracker_id,
            zone=alert.zone,
            box=alert.box,
        )


class AlertList(BaseModel):
    items: list[AlertPublic]
    count: int = Field(description="Alerts matching the filters, across all pages.")
