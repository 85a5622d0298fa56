"""Response models: one Public model per resource and a list-with-count for each list.

Models are built from `vigil.core.types` dataclasses and the config with ``from_*``
constructors; the database never reaches a response directly.

The Public models of records (`SightingPublic`, `AlertPublic`, `CameraHealthPublic`) list
the record's public fields (`vigil.core.records`) with the same names, plus what the API adds
(a sighting's ``crop_url``); their ``from_*`` constructors copy every public field by name,
and tests/core/test_records.py fails when a model and its record drift apart.
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas_cameras import CameraState, PolygonPublic, PositionPublic
from config.models import CameraConfig, CameraRole, Line
from vigil.core.records import public_values
from vigil.core.types import (
    Alert,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    CameraHealth,
    Direction,
    HealthState,
    Sighting,
)
from vigil.infra.spool import SpoolStats

Box = tuple[float, float, float, float]


class BusBufferPublic(BaseModel):
    """The on-disk buffer in front of Kafka: events wait here while the brokers are away."""

    records: int = Field(description="Events waiting for the brokers.")
    bytes: int = Field(description="Their size on disk.")
    max_bytes: int = Field(description="Past this, new events are refused (dropped).")
    fill: float = Field(description="bytes / max_bytes, 0 to 1.")
    spooled: int = Field(description="Events written to the buffer since start.")
    replayed: int = Field(description="Events the brokers acknowledged out of the buffer since start.")
    dropped: int = Field(description="Events refused because the buffer was full, since start.")

    @classmethod
    def from_stats(cls, stats: SpoolStats) -> "BusBufferPublic":
        return cls.model_validate(stats, from_attributes=True)


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="'degraded' when the database does not answer.")
    version: str
    db: bool = Field(description="The database answers.")
    cameras_online: int = Field(description="Enabled cameras currently online.")
    cameras_total: int = Field(description="Enabled cameras.")
    bus_buffer: BusBufferPublic | None = Field(
        default=None,
        description="The Kafka bus's on-disk buffer; null without one (memory bus, central role).",
    )


class CameraHealthPublic(BaseModel):
    state: HealthState
    reason: str
    since: float = Field(description="Epoch seconds the camera entered this state.")
    last_frame_at: float | None = Field(description="Epoch seconds of the last frame read.")
    frames: int
    reconnects: int

    @classmethod
    def from_health(cls, health: CameraHealth) -> "CameraHealthPublic":
        return cls.model_validate(public_values(health))


class CameraPublic(BaseModel):
    id: str
    name: str
    role: CameraRole
    ptz: bool
    enabled: bool
    url: str | None = Field(description="Stream URL; only shown to admins.")
    health: CameraHealthPublic | None = Field(description="None until the camera has been opened once.")
    state: CameraState = Field(
        description="The health state, 'unknown' until the camera has been opened once."
    )
    group: str = Field(description="Area of the site (camera wall filter); '' when not set.")
    position: PositionPublic | None = Field(description="Place on the site map, metres; null when not set.")
    snapshot_url: str = Field(description="Latest snapshot, JPEG with privacy masks blacked out.")
    live_url: str | None = Field(description="Latest analysed frame and its boxes (AI cameras); else null.")
    picture_at: float | None = Field(
        default=None,
        description="When the picture at snapshot_url was taken, epoch seconds; null: none yet (a 404).",
    )
    live_at: float | None = Field(
        default=None,
        description="Capture time of the frame at live_url; null: no analysed frame yet.",
    )
    zones: list[PolygonPublic] = Field(description="Named detection zones, normalised polygons.")
    privacy_masks: list[PolygonPublic] = Field(description="Areas blacked out, normalised polygons.")
    lines: list[Line] = Field(
        default_factory=list, description="Named counting lines (line_crossing rules), normalised points."
    )

    @classmethod
    def from_config(
        cls,
        camera: CameraConfig,
        health: CameraHealth | None,
        *,
        show_url: bool,
        picture_at: float | None = None,
        live_at: float | None = None,
    ) -> "CameraPublic":
        return cls(
            id=camera.id,
            name=camera.name,
            role=camera.role,
            ptz=camera.ptz,
            enabled=camera.enabled,
            url=camera.url if show_url else None,
            health=None if health is None else CameraHealthPublic.from_health(health),
            state=CameraState.UNKNOWN if health is None else CameraState(health.state.value),
            group=camera.group,
            position=PositionPublic.from_position(camera.position),
            snapshot_url=f"/cameras/{camera.id}/snapshot.jpg",
            live_url=f"/cameras/{camera.id}/live" if camera.role is CameraRole.AI else None,
            picture_at=picture_at,
            live_at=live_at,
            zones=[PolygonPublic.from_polygon(zone) for zone in camera.zones],
            privacy_masks=[PolygonPublic.from_polygon(mask) for mask in camera.privacy_masks],
            lines=list(camera.lines),
        )


class CameraList(BaseModel):
    items: list[CameraPublic]
    count: int
    groups: list[str] = Field(
        default_factory=list, description="Every group of the site, unfiltered, sorted."
    )


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
        crop_url = None if sighting.crop_path is None else f"/sightings/{sighting.id}/crop.jpg"
        # from_attributes: the path's `PathPoint`s become `PathPointPublic`s.
        values: dict[str, Any] = {**public_values(sighting), "crop_url": crop_url}
        return cls.model_validate(values, from_attributes=True)


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
    zone: str | None = Field(description="Zone, or for a line crossing the line, the rule watches.")
    box: Box | None
    severity: AlertSeverity
    direction: Direction | None = Field(description="Line crossings: which way the person crossed.")
    value: float | None = Field(
        description="dwell: seconds in the zone; occupancy: people in it; person_down: seconds lying; "
        "line_crossing: speed in m/s when the rule has max_speed."
    )
    phase: AlertPhase | None = Field(description="occupancy / person_down: the condition began or ended.")
    group_id: str | None = Field(description="First alert of the group this one joins; None for a first.")

    @classmethod
    def from_alert(cls, alert: Alert) -> "AlertPublic":
        return cls.model_validate(public_values(alert))


class AlertList(BaseModel):
    items: list[AlertPublic]
    count: int = Field(description="Alerts matching the filters, across all pages.")


# -- cases -----------------------------------------------------------------------------------

Colour = Literal[
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown"
]


class CaseCreate(BaseModel):
    """Open a case: why, what she looks like, where and when she was last seen."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=3, max_length=2000, description="Why this search is made (audited).")
    upper: list[Colour] = Field(
        default_factory=list, max_length=3, description="Upper-body clothing colours."
    )
    lower: list[Colour] = Field(
        default_factory=list, max_length=3, description="Lower-body clothing colours."
    )
    size: Literal["child", "adult"] | None = Field(default=None, description="Size relative to other people.")
    sighting_id: str | None = Field(
        default=None, description="A sighting known to be her (confirmed at once)."
    )
    last_seen_camera: str | None = Field(default=None, max_length=64)
    last_seen_at: float | None = Field(default=None, description="Epoch seconds.")
    window_start: float | None = Field(
        default=None, description="Search from; default last_seen_at - 15 min."
    )
    window_end: float | None = Field(default=None, description="Search until; default open (now).")
    threshold: float = Field(
        default=0.75, ge=0, le=1, description="Live alert threshold. Raising it: fewer alerts."
    )


class CasePublic(BaseModel):
    id: str
    reason: str
    status: str
    upper: list[str]
    lower: list[str]
    size: str | None
    opened_by: str
    opened_at: float
    window_start: float
    window_end: float | None
    threshold: float
    photos: int
    trail: list[SightingPublic] = Field(description="Confirmed sightings in time order.")
    last_confirmed_camera: str | None
    last_confirmed_at: float | None


class CaseList(BaseModel):
    items: list[CasePublic]
    count: int


class CandidatePublic(BaseModel):
    sighting: SightingPublic
    score: float = Field(description="Fused score; higher first.")
    appearance: float | None = Field(description="Colour-layout similarity to photos / confirmed crops.")
    colours: float | None = Field(description="Named clothing-colour agreement.")
    size: float | None = Field(description="Fit to the described size (child / adult).")
    place_time: float = Field(description="Plausibility given confirmed sightings and walking times.")
    penalty: float = Field(description="Subtracted for resembling rejected candidates.")
    upper_colours: list[str]
    lower_colours: list[str]


class CandidateList(BaseModel):
    items: list[CandidatePublic]
    count: int


class FeedbackCreate(BaseModel):
    model_config = {"extra": "forbid"}

    sighting_id: str = Field(max_length=64)
    verdict: Literal["confirm", "reject"]
    override: bool = Field(
        default=False,
        description="Replace another operator's opposite verdict on this sighting (else a 409 says whose).",
    )


class PhotoPublic(BaseModel):
    upper_colours: list[str]
    lower_colours: list[str]


class ReachablePublic(BaseModel):
    camera_id: str
    walk_s: float = Field(description="Walking seconds from her last confirmed place.")


class AuditPublic(BaseModel):
    at: float
    user: str
    action: str
    case_id: str | None
    reason: str
