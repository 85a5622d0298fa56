"""Request and response models of camera administration (``/cameras`` writes, ``/config``) and ``/users``."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import CameraPublic
from config.models import Calibration, CameraConfig, Line, Polygon
from vigil.core.types import CameraHealth
from vigil.infra.db.users import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, NAME_PATTERN, Role, UserRecord

MAX_POLYGONS = 64


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(Strict):
    """Why an administrative change is made (audited)."""

    reason: str = Field(min_length=3, max_length=2000, description="Why this change is made (audited).")


class CameraWrite(Strict):
    """A camera to add or the full new settings of one; unset fields take ``defaults:`` of the YAML."""

    camera: CameraConfig = Field(description="The camera, with the fields of the site YAML's `cameras:`.")
    reason: str = Field(min_length=3, max_length=2000, description="Why this change is made (audited).")


class ZonesUpdate(Strict):
    """A camera's zones and privacy masks (and counting lines, when given), replacing the ones it has."""

    zones: list[Polygon] = Field(
        max_length=MAX_POLYGONS, description="Named detection zones, vertices normalised to [0, 1]."
    )
    privacy_masks: list[Polygon] = Field(
        default_factory=list,
        max_length=MAX_POLYGONS,
        description="Areas blacked out before analysis, on snapshots and in exports.",
    )
    lines: list[Line] | None = Field(
        default=None,
        max_length=MAX_POLYGONS,
        description="Named counting lines (points normalised to [0, 1], the 'in' side); omitted: the "
        "camera keeps its lines.",
    )
    reason: str = Field(min_length=3, max_length=2000, description="Why this change is made (audited).")


class ZonesPublic(BaseModel):
    zones: list[Polygon] = Field(description="Named detection zones, vertices normalised to [0, 1].")
    privacy_masks: list[Polygon] = Field(description="Areas blacked out before analysis and export.")
    lines: list[Line] = Field(
        default_factory=list, description="Named counting lines of line_crossing rules."
    )


class CameraAdminPublic(CameraPublic):
    """A camera as an admin sees it after a change: the public view (URL shown) and its detect settings."""

    detect_url: str | None = Field(description="Low-resolution sub-stream used for detection, if any.")
    detect_fps: float = Field(description="Frames per second handed to detection.")
    calibration: Calibration | None = Field(
        default=None, description="Ground-plane calibration (4 image-ground point pairs); null: none."
    )

    @classmethod
    def from_camera(cls, camera: CameraConfig, health: CameraHealth | None) -> "CameraAdminPublic":
        public = CameraPublic.from_config(camera, health, show_url=True)
        return cls(
            **dict(public),
            detect_url=camera.detect_url,
            detect_fps=camera.detect_fps,
            calibration=camera.calibration,
        )


class ReloadPublic(BaseModel):
    """What a reload of the YAML file changed on the running site."""

    added: list[str] = Field(description="Cameras added (started if enabled).")
    removed: list[str] = Field(description="Cameras removed (stopped; their recordings stay).")
    changed: list[str] = Field(
        description="Cameras whose settings changed (restarted, or re-zoned in place)."
    )
    unchanged: int = Field(description="Cameras left running untouched.")
    zones_only: list[str] = Field(
        description="Of `changed`, the cameras where only zones, privacy masks or rules changed: "
        "updated in place, not restarted."
    )
    not_applied: list[str] = Field(
        description="Top-level settings that changed but take effect only at the next start "
        "(e.g. 'detector')."
    )


# -- users ------------------------------------------------------------------------------------


class UserPublic(BaseModel):
    name: str
    role: Role
    enabled: bool
    created_at: float = Field(description="Epoch seconds.")
    last_login_at: float | None = Field(description="Epoch seconds of the last login; null: never.")
    camera_groups: list[str] | None = Field(
        default=None, description="Camera groups the user is limited to; null: every camera."
    )

    @classmethod
    def from_record(cls, user: UserRecord) -> "UserPublic":
        return cls(
            name=user.name,
            role=user.role,
            enabled=not user.disabled,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            camera_groups=None if user.camera_groups is None else list(user.camera_groups),
        )


class UserList(BaseModel):
    items: list[UserPublic]
    count: int


class UserCreate(Strict):
    name: str = Field(
        pattern=f"^{NAME_PATTERN.pattern}$",
        description="1-64 letters, digits or . _ @ -, starting with a letter or digit.",
    )
    role: Role
    password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)
    reason: str = Field(
        default="added in the console", max_length=2000, description="Why (audited); optional."
    )
    camera_groups: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=256,
        description="Limit the user to the cameras of these groups (admins never are); null: every camera.",
    )


class CameraGroupsUpdate(Strict):
    camera_groups: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        max_length=256, description="The camera groups the user is limited to; null: every camera."
    )
    reason: str = Field(min_length=3, max_length=2000, description="Why (audited).")


class PasswordReset(Strict):
    password: str = Field(
        min_length=MIN_PASSWORD_CHARS,
        max_length=MAX_PASSWORD_CHARS,
        description="The new password; the user's earlier tokens stop working.",
    )


class AssignablePublic(BaseModel):
    """Someone an alert can be assigned to."""

    name: str
    role: Role
