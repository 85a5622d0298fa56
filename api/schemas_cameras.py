"""Schemas of the camera wall and the site map: positions, polygons, live boxes, links.

`CameraPublic` itself stays in `api.schemas` (other routers use it) and takes its position
and polygons from here.
"""

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.models import CameraConfig, CameraLink, CameraRole, Polygon, Position
from vigil.infra.live_view import LiveFrame


class CameraState(enum.Enum):
    """A camera's state on the wall: its health state, or 'unknown' before it was ever opened."""

    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class PositionPublic(BaseModel):
    x: float = Field(description="Metres east of the site origin.")
    y: float = Field(description="Metres north of the site origin.")

    @classmethod
    def from_position(cls, position: Position | None) -> "PositionPublic | None":
        return None if position is None else cls(x=position.x, y=position.y)


class PolygonPublic(BaseModel):
    name: str = Field(description="Zone or mask name.")
    polygon: list[tuple[float, float]] = Field(
        description="Vertices as [x, y], normalised to [0, 1] of the image (x right, y down)."
    )

    @classmethod
    def from_polygon(cls, polygon: Polygon) -> "PolygonPublic":
        return cls(name=polygon.name, polygon=[(x, y) for x, y in polygon.polygon])


class LiveBoxPublic(BaseModel):
    box: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in pixels of the image at image_url."
    )
    tracker_id: int | None = Field(description="Track id on this camera; null before tracking.")
    confidence: float = Field(description="Detector score of the track's last detection, 0 to 1.")
    coasted: bool = Field(
        default=False, description="The box is the tracker's prediction (not detected in this frame)."
    )


class LiveViewPublic(BaseModel):
    """An AI camera's latest analysed frame: its time, size and tracked boxes."""

    camera_id: str
    timestamp: float = Field(description="Capture time of the frame, epoch seconds.")
    width: int = Field(description="Width of the image at image_url, pixels.")
    height: int = Field(description="Height of the image at image_url, pixels.")
    boxes: list[LiveBoxPublic] = Field(description="Tracked people in the frame.")
    image_url: str = Field(description="The frame as JPEG (privacy masks blacked out).")

    @classmethod
    def from_live(cls, live: LiveFrame) -> "LiveViewPublic":
        width, height = live.size
        return cls(
            camera_id=live.camera_id,
            timestamp=live.timestamp,
            width=width,
            height=height,
            boxes=[LiveBoxPublic.model_validate(box, from_attributes=True) for box in live.boxes()],
            image_url=f"/cameras/{live.camera_id}/live.jpg?t={live.timestamp!r}",
        )


class SiteCameraPublic(BaseModel):
    id: str
    name: str
    role: CameraRole
    group: str = Field(description="Area of the site; '' when not set.")
    x: float = Field(description="Metres east of the site origin.")
    y: float = Field(description="Metres north of the site origin.")

    @classmethod
    def from_config(cls, camera: CameraConfig) -> "SiteCameraPublic":
        assert camera.position is not None, "only placed cameras are on the map"
        return cls(
            id=camera.id,
            name=camera.name,
            role=camera.role,
            group=camera.group,
            x=camera.position.x,
            y=camera.position.y,
        )


class SiteLinkPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="Camera id at one end (links go both ways).")
    to: str = Field(description="Camera id at the other end.")
    walk_s: float = Field(description="Walking seconds between the two.")

    @classmethod
    def from_link(cls, link: CameraLink) -> "SiteLinkPublic":
        return cls.model_validate({"from": link.from_, "to": link.to, "walk_s": link.walk_s})


class BoundsPublic(BaseModel):
    min_x: float
    min_y: float
    max_x: float
    max_y: float


class SiteMapPublic(BaseModel):
    """Where the cameras stand and how long the walks between them take."""

    site: str = Field(description="Site name.")
    timezone: str = Field(description="IANA time zone the console shows times in.")
    cameras: list[SiteCameraPublic] = Field(description="Cameras with a position, in config order.")
    links: list[SiteLinkPublic] = Field(description="Walking times that override the straight line.")
    bounds: BoundsPublic = Field(
        description="Smallest rectangle holding every placed camera, metres; all 0 when none is placed."
    )
    unplaced: list[str] = Field(description="Ids of cameras without a position (not on the map).")
    units: Literal["m"] = Field(default="m", description="Unit of x, y and bounds.")
