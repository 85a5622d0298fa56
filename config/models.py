"""Vigil's configuration: one YAML file, validated once into strict pydantic models.

Every model forbids unknown keys, so a typo fails at load with the path of the
offending key. Values under ``defaults:`` are merged beneath each camera's own
settings (the camera wins). Validation does no I/O; secrets such as camera
passwords are never written in the YAML but named by environment variable
(``password_env``) and resolved when a stream is opened.
"""

from __future__ import annotations

import enum
import math
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.classes import class_name_errors
from config.detection import FilterSettings, MotionSettings
from config.ingest import CameraRecording, RecordingConfig
from config.notify import AlertsConfig, NotificationsConfig

# The rule models live in config/rules.py; re-exported so `config.models` stays the one import.
from config.rules import DwellRule as DwellRule
from config.rules import LineCrossingRule as LineCrossingRule
from config.rules import OccupancyRule as OccupancyRule
from config.rules import PersonDownRule as PersonDownRule
from config.rules import Rule as Rule
from config.rules import RuleSpec as RuleSpec
from config.rules import ZoneIntrusionRule as ZoneIntrusionRule

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraRole(enum.Enum):
    AI = "ai"
    """Decoded, detected and tracked: feeds sightings, searches and rules."""
    RECORD = "record"
    """Recorded and health-checked only: never fully decoded."""


class Polygon(Strict):
    """A named area of the image, in coordinates normalised to [0, 1] (x right, y down)."""

    name: Identifier = Field(description="Name used by rules and shown to operators.")
    polygon: list[Point] = Field(
        description="Vertices as [x, y] pairs normalised to the frame size, so one polygon fits "
        "both the main and the sub-stream."
    )

    @field_validator("polygon")
    @classmethod
    def _enough_points(cls, value: list[Point]) -> list[Point]:
        if len(value) < 3:
            raise ValueError(f"needs at least 3 points, got {len(value)}")
        crossing = _first_crossing(value)
        if crossing is not None:
            i, j = crossing
            raise ValueError(
                f"edges {i + 1} and {j + 1} cross: a self-intersecting polygon has no clear inside; "
                "order the points around the area"
            )
        return value


def _first_crossing(points: list[Point]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges that properly cross (edge k joins point k to k+1)."""
    n = len(points)
    edges = [(points[k], points[(k + 1) % n]) for k in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # the first and last edges share a point
            if _segments_cross(*edges[i], *edges[j]):
                return i, j
    return None


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


class Line(Strict):
    """A named line (polyline) across the image for counting, normalised to [0, 1] (x right, y down).

    Direction: walk the line from its first point to its last as drawn on the screen; the
    side on your left hand is ``left``, on your right hand ``right``. For a line drawn left to
    right across the picture, ``left`` is the upper part of the image (further away on most
    cameras) and ``right`` the lower part. A person moving onto the ``in_side`` crosses 'in'.
    """

    name: Identifier = Field(description="Name used by line_crossing rules and shown to operators.")
    points: list[Point] = Field(
        description="Points as [x, y] pairs normalised to the frame size, at least 2; consecutive "
        "points must differ."
    )
    in_side: Literal["left", "right"] = Field(
        default="left",
        description="Which side of the line, walking it from its first point on the screen, is "
        "'in': crossing onto it counts 'in', off it 'out'.",
    )
    in_label: str = Field(
        default="", max_length=80, description="Operator words for 'in', e.g. 'into the old town'."
    )
    out_label: str = Field(
        default="", max_length=80, description="Operator words for 'out', e.g. 'towards the harbour'."
    )

    @field_validator("points")
    @classmethod
    def _a_real_line(cls, value: list[Point]) -> list[Point]:
        if len(value) < 2:
            raise ValueError(f"needs at least 2 points, got {len(value)}")
        for k in range(len(value) - 1):
            if value[k] == value[k + 1]:
                raise ValueError(
                    f"segment {k + 1} has zero length: points {k + 1} and {k + 2} are both {list(value[k])}"
                )
        return value


class Calibration(Strict):
    """A camera's ground plane: 4 image points paired with where they lie on the ground, in metres.

    Pick 4 marks on flat ground (paving corners, a bench's feet) spread over the area people
    walk, no 3 in a row; give each one's place in the image and its ground coordinates
    (metres in any right-angled frame, e.g. from a site plan). A homography through the 4
    pairs turns a foot point into metres, for speeds and densities.
    """

    image: list[Point] = Field(description="4 image points [x, y], normalised to the frame size.")
    ground: list[tuple[float, float]] = Field(
        description="The same 4 points on the ground [x, y], metres, in the same order."
    )

    @field_validator("image", "ground")
    @classmethod
    def _four_in_general_position(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(value) != 4:
            raise ValueError(f"needs exactly 4 points, got {len(value)}")
        for i in range(4):
            for j in range(i + 1, 4):
                if value[i] == value[j]:
                    raise ValueError(f"points {i + 1} and {j + 1} are the same point {list(value[i])}")
        for triple in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
            if _collinear(*(value[k] for k in triple)):
                named = ", ".join(str(k + 1) for k in triple)
                raise ValueError(
                    f"points {named} lie on one line (within 1 %): a homography needs 4 points with "
                    "no 3 in a row"
                )
        return value

    @model_validator(mode="after")
    def _same_order(self) -> Calibration:
        # Under a plane-to-plane mapping every triangle of the 4 points keeps (or, for a mirrored
        # ground frame, every one flips) its orientation; a mix means the pairs are out of order.
        triples = ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))
        signs = {
            (_orientation(*(self.image[k] for k in t)) > 0)
            == (_orientation(*(self.ground[k] for k in t)) > 0)
            for t in triples
        }
        if len(signs) > 1:
            raise ValueError(
                "ground: the points are not in the same order as the image points (their shapes "
                "are crossed): list both in the same order around the area"
            )
        return self


def _orientation(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    """Twice the signed area of triangle abc (positive: counter-clockwise with y up)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _collinear(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    """Whether one point lies within 1 % of the triangle's longest side from the line of the others."""
    longest = max(math.dist(a, b), math.dist(b, c), math.dist(a, c))
    return abs(_orientation(a, b, c)) / longest < 0.01 * longest


class Credentials(Strict):
    """Where the camera's login comes from: environment variables, never the YAML itself."""

    username_env: str = Field(description="Environment variable holding the RTSP user name.")
    password_env: str = Field(description="Environment variable holding the RTSP password.")


class Position(Strict):
    """Where the camera stands on the site map, in metres from the site origin."""

    x: float = Field(description="Metres east of the site origin.")
    y: float = Field(description="Metres north of the site origin.")


class CameraConfig(Strict):
    """One camera. Unset fields take the value under ``defaults:``."""

    id: Identifier = Field(description="Stable id used in events, the API and the database.")
    name: str = Field(default="", description="Human name, e.g. 'Water street, bridge north'.")
    url: str = Field(min_length=1, description="Stream URL (rtsp://, http(s)://, file path or device).")
    detect_url: str | None = Field(
        default=None,
        description="Optional low-resolution sub-stream used for detection; the main stream is recorded.",
    )
    role: CameraRole = Field(default=CameraRole.RECORD, description="'ai' cameras are detected and tracked.")
    ptz: bool = Field(default=False, description="A moving (eagle-eye PTZ) camera: the view changes.")
    enabled: bool = Field(default=True, description="Disabled cameras are neither read nor recorded.")
    credentials: Credentials | None = Field(default=None, description="Login taken from the environment.")
    detect_fps: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Frames per second handed to detection. Raising it tracks fast movers better and "
        "costs detector time linearly.",
    )
    stall_timeout_s: float = Field(
        default=10.0, gt=0, description="No frame for this long means the stream is stalled and is restarted."
    )
    position: Position | None = Field(default=None, description="Place on the site map (for search).")
    group: str = Field(
        default="",
        max_length=64,
        description="Area of the site the camera belongs to, e.g. 'Water street'; the camera wall "
        "filters by it.",
    )
    zones: list[Polygon] = Field(default_factory=list, description="Named detection zones used by rules.")
    lines: list[Line] = Field(
        default_factory=list, description="Named counting lines used by line_crossing rules."
    )
    calibration: Calibration | None = Field(
        default=None,
        description="Ground-plane calibration (4 image-ground point pairs) for speeds in m/s and "
        "densities per m²; without it rules can only use pixels.",
    )
    privacy_masks: list[Polygon] = Field(
        default_factory=list, description="Areas blacked out before analysis and export."
    )
    motion: MotionSettings = Field(
        default_factory=MotionSettings,
        description="Motion gating: detect only where something moves (and around live tracks).",
    )
    filters: FilterSettings = Field(
        default_factory=FilterSettings, description="Detection filters: score, size, shape, object masks."
    )
    recording: CameraRecording | None = Field(
        default=None, description="Per-camera recording overrides of the site's `recording:`."
    )

    @model_validator(mode="after")
    def _unique_zone_names(self) -> CameraConfig:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"zone names must be unique per camera, repeated: {', '.join(duplicates)}")
        lines = [line.name for line in self.lines]
        duplicates = sorted({name for name in lines if lines.count(name) > 1})
        if duplicates:
            raise ValueError(f"line names must be unique per camera, repeated: {', '.join(duplicates)}")
        clashes = sorted(set(lines) & set(names))
        if clashes:
            raise ValueError(
                f"names used by both a zone and a line: {', '.join(clashes)}; alerts name either, so "
                "give them different names"
            )
        return self


class DetectorConfig(Strict):
    """The person detector shared by all AI cameras."""

    type: Literal["ssdlite", "nanodet", "nanodet_3x2", "onnx", "ultralytics"] = Field(
        default="ssdlite",
        description="Backend: 'ssdlite' is the embedded one-class pedestrian model; 'nanodet' is NanoDet-g "
        "(COCO 80 classes: person, bicycle, car, motorcycle, bus, truck...) on the whole frame, "
        "'nanodet_3x2' the same on 3x2 overlapping tiles (smaller people, ~6x the cost).",
    )
    model_path: Path | None = Field(default=None, description="Model file for 'onnx' / 'ultralytics'.")
    score_threshold: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Raising it cuts false positives and loses small people."
    )
    threads: int = Field(default=2, ge=1, le=64, description="Inference threads.")
    classes: list[str] | None = Field(
        default=None,
        description="'nanodet' types: the COCO class names reported, the rest never reach the tracker; "
        "default: the street classes (person, bicycle, car, motorcycle, bus, truck). Naming more "
        "classes tracks more kinds of objects, and more look-alikes (a kite on wet asphalt). "
        "'ssdlite' is person-only; 'onnx' / 'ultralytics' report every class of their model.",
    )
    input_px: int | None = Field(
        default=None,
        ge=128,
        le=2560,
        description="'nanodet' types: long side of the model input per region; default 416x416 as "
        "trained. Raising it finds smaller people, at a cost that grows with the square (measured "
        "on one thread: a 1080p frame whole at 1280 gives AP50 0.80 on MOT17-02 in ~230 ms, 3x2 "
        "tiles at 416 give 0.64 in ~280 ms; benchmarks/detect_coco.py).",
    )
    precision: Literal["int8", "fp32"] = Field(
        default="int8",
        description="'ssdlite' only. int8: the model quantized once on the bundled samples (AP50 0.60 "
        "at ~46 ms per 1080p frame on mot17_frames); fp32: the original weights, about 1.8x slower "
        "at the same input size, a few AP points more.",
    )


class TrackerConfig(Strict):
    """Per-camera tracking and sighting settings."""

    track_buffer_s: float = Field(
        default=2.0,
        gt=0,
        description="How long a lost track is kept for re-association. Raising it gives fewer id "
        "switches after occlusions and more ghost tracks.",
    )
    min_sighting_frames: int = Field(
        default=3, ge=1, description="Tracks with fewer matched frames are stored but marked short."
    )


class ApiConfig(Strict):
    host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of the API (0 = any free port).")
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body but a photo (JSON, the login form), bytes; larger is a 413 "
        "before it is read. Raising it admits bigger bodies and lets each request hold more memory.",
    )
    max_photo_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest photo upload (POST /cases/{id}/photos), bytes; larger is a 413. Raising it "
        "admits less compressed phone photos and lets each upload hold more memory.",
    )
    max_photo_pixels: int = Field(
        default=50_000_000,
        ge=1,
        description="Largest photo, width x height as its header declares, checked before decoding "
        "(a decompression bomb declares billions); larger is a 413. Raising it admits bigger photos "
        "and lets one decode take 3 bytes a pixel.",
    )
    candidates_per_minute: float = Field(
        default=30,
        gt=0,
        description="Candidate searches (GET /cases/{id}/candidates) per user per minute, after the "
        "burst; more is a 429 with Retry-After. Raising it lets one user load the CPU more.",
    )
    exports_per_minute: float = Field(
        default=10,
        gt=0,
        description="Clip exports (clip.mp4 and clip.json together) per user per minute, after the "
        "burst. Raising it lets one user load the disks more.",
    )
    backscans_per_minute: float = Field(
        default=6,
        gt=0,
        description="Back-scan starts (POST /cases/{id}/backscan) per user per minute, after the burst. "
        "Raising it lets one user queue more decoding work.",
    )
    backtests_per_minute: float = Field(
        default=6,
        gt=0,
        description="Rule backtest starts (POST /rules/{name}/backtest, /rules/backtest) per user per "
        "minute, after the burst. Raising it lets one admin start more decoding work.",
    )
    rate_burst: int = Field(
        default=5,
        ge=1,
        description="Requests a user may make at once on each rate-limited route before its "
        "per-minute rate applies (token bucket size). Raising it allows longer bursts.",
    )


class BusSpoolConfig(Strict):
    """The edge node's on-disk buffer in front of Kafka (roles edge and all, type: kafka)."""

    enabled: bool = Field(
        default=True,
        description="Write every event to the buffer first, so a broker outage loses none; off sends "
        "straight to the producer, which gives up on an event after two minutes.",
    )
    path: Path | None = Field(
        default=None,
        description="Folder of the buffer (relative to data_dir), one process at a time; default "
        "<data_dir>/bus-spool.",
    )
    max_bytes: int = Field(
        default=1024**3,
        ge=1024 * 1024,
        description="Events waiting for the brokers, at most; past it new events are refused (counted as "
        "dropped). Raising it rides out longer outages at the cost of that much disk (a sighting takes "
        "0.4 to 4 KiB with its descriptor and foot path: 1 GiB holds 1.5 to 15 h at 50 a second).",
    )
    fsync_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="The buffer is fsynced at most this often; 0 after every event. Raising it costs "
        "fewer disk flushes; a power cut loses up to that many seconds of events.",
    )


class SegmentServerConfig(Strict):
    """How an edge node serves its recorded segments to central (role edge, type: kafka).

    Requests carry the node token from the ``VIGIL_NODE_TOKEN`` environment variable (the same
    on central and every edge node); without it the node serves nothing and central says so
    when a clip needs one of its segments.
    """

    host: str = Field(default="0.0.0.0", description="Address the segment server listens on.")
    port: int = Field(
        default=8765, ge=0, le=65535, description="Its port (0: any free port, announced with each segment)."
    )
    advertise: str | None = Field(
        default=None,
        description="Host name or address central reaches this node by; default the machine's host name. "
        "Set it where central resolves the edge under another name.",
    )


class BusConfig(Strict):
    type: Literal["memory", "kafka"] = Field(default="memory", description="Event bus between stages.")
    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka brokers (type: kafka).")
    spool: BusSpoolConfig = Field(default_factory=BusSpoolConfig)
    segments: SegmentServerConfig = Field(default_factory=SegmentServerConfig)
    node: Identifier | None = Field(
        default=None,
        description="This node's name on the bus (default: the host name). Central keeps each edge "
        "node's recordings under its name, so two edge nodes on one host need names of their own.",
    )


class RetentionConfig(Strict):
    """How long stored records are kept; recordings have their own under `recording:`.

    Nothing expires while attached to an open case, a legal hold or an evidence export.
    """

    sightings_days: float = Field(
        default=30,
        gt=0,
        description="Sightings (and their crops) not attached to an open case, a legal hold or an export "
        "are deleted this many days after they end. Raising it lets searches and cases reach further "
        "back and keeps more images of people.",
    )
    alerts_days: float = Field(
        default=90,
        gt=0,
        description="Alerts (with their crops, triage state and history) are deleted this many days after "
        "they fire, unless held. Raising it keeps a longer incident history.",
    )
    case_photos_days: float = Field(
        default=30,
        gt=0,
        description="Photos uploaded to a case are deleted this many days after the case is closed, unless "
        "it is under a legal hold. Raising it keeps a closed case reopenable with its photos for longer.",
    )
    crossing_counts_days: float = Field(
        default=365,
        gt=0,
        description="A line rule's per-interval crossing counts (numbers only, no images) are deleted this "
        "many days after their interval ends. Raising it keeps longer footfall history for planning.",
    )
    health_events_days: float = Field(
        default=90,
        gt=0,
        description="Camera health events (online / degraded / offline changes) are deleted this many days "
        "after they happen; each camera's current state is kept. Raising it keeps a longer outage history.",
    )


class CameraLink(Strict):
    """A walking link between two cameras: the time it takes, overriding the straight-line estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: Identifier = Field(alias="from", description="Camera id at one end (links go both ways).")
    to: Identifier = Field(description="Camera id at the other end.")
    walk_s: float = Field(
        gt=0,
        description="Walking seconds between the two (stairs, bridges, fences the map does not show). "
        "Raising it makes search suggest the far camera later and find fast trips less plausible.",
    )


class VigilConfig(Strict):
    """The whole site: cameras, detector, tracker, rules, storage and API."""

    version: Literal[1] = Field(default=1, description="Config schema version.")
    site: str = Field(default="vigil", description="Site name shown in the API and the UI.")
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of the site, e.g. 'Europe/Amsterdam'; the console shows times in it.",
    )
    data_dir: Path = Field(
        default=Path("vigil-data"), description="Database, crops and recordings; relative to the YAML file."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in data_dir."
    )
    api: ApiConfig = Field(default_factory=ApiConfig)
    bus: BusConfig = Field(default_factory=BusConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    recording: RecordingConfig = Field(
        default_factory=RecordingConfig,
        description="Main-stream recording into ~10 s MP4 segments (no re-encode), retention, disk pressure.",
    )
    cameras: list[CameraConfig] = Field(min_length=1, description="Every camera of the site.")
    rules: list[Rule] = Field(default_factory=list, description="Alert rules.")
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="How stored alerts are grouped into incidents."
    )
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig, description="Where new alerts are pushed (webhooks, MQTT)."
    )
    links: list[CameraLink] = Field(
        default_factory=list,
        description="Walking times between cameras where the straight line misleads (search and the "
        "site map).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)  # reads only the tz database
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, too long
            raise ValueError(f"unknown IANA time zone {value!r}, e.g. 'UTC' or 'Europe/Amsterdam'") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _merge_camera_defaults(cls, data: Any) -> Any:
        """Lay ``defaults:`` beneath each camera; the camera's own keys win."""
        if not isinstance(data, dict) or "defaults" not in data:
            return data
        data = dict(data)
        defaults = data.pop("defaults") or {}
        if not isinstance(defaults, dict):
            raise ValueError("defaults: expected a mapping of camera settings")
        cameras = data.get("cameras")
        if isinstance(cameras, list):
            data["cameras"] = [{**defaults, **cam} if isinstance(cam, dict) else cam for cam in cameras]
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> VigilConfig:
        errors: list[str] = []
        seen: set[str] = set()
        for i, camera in enumerate(self.cameras):
            if camera.id in seen:
                errors.append(f"cameras[{i}].id: duplicate camera id {camera.id!r}")
            seen.add(camera.id)
        cameras = {camera.id: camera for camera in self.cameras}
        errors.extend(_rule_errors(self.rules, cameras))
        errors.extend(_class_errors(self))
        errors.extend(_link_errors(self.links, seen))
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def summary(self) -> str:
        """One line such as '141 cameras (23 AI, 5 PTZ), 13 zones, 1 lines, 7 rules'."""
        ai = sum(camera.role is CameraRole.AI for camera in self.cameras)
        ptz = sum(camera.ptz for camera in self.cameras)
        zones = sum(len(camera.zones) for camera in self.cameras)
        lines = sum(len(camera.lines) for camera in self.cameras)
        return (
            f"{len(self.cameras)} cameras ({ai} AI, {ptz} PTZ), {zones} zones, {lines} lines, "
            f"{len(self.rules)} rules"
        )


def _class_errors(config: VigilConfig) -> list[str]:
    """Class names in cameras' and rules' filters that the configured built-in detector never emits."""
    kind = config.detector.type
    errors = class_name_errors(kind, config.detector.classes or (), "detector.classes")
    for i, camera in enumerate(config.cameras):
        errors.extend(class_name_errors(kind, camera.filters.classes, f"cameras[{i}].filters.classes"))
    for i, rule in enumerate(config.rules):
        errors.extend(class_name_errors(kind, rule.filters.classes, f"rules[{i}].filters.classes"))
    return errors


CALIBRATED_FIELDS = ("max_speed_mps", "max_density_per_m2")
"""Rule fields in metres: they need the camera's ground-plane calibration."""


def _rule_errors(rules: list[RuleSpec], cameras: dict[str, CameraConfig]) -> list[str]:
    """Rules naming unknown cameras, zones or lines, record-only cameras, metres without
    calibration, or a name given twice (a rule name is its API key)."""
    errors: list[str] = []
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.name in first:
            errors.append(
                f"rules[{i}].name: duplicate rule name {rule.name!r} (first at rules[{first[rule.name]}])"
            )
        first.setdefault(rule.name, i)
        problem = _rule_camera_error(rule, cameras.get(rule.camera))
        if problem is not None:
            errors.append(f"rules[{i}].{problem}")
    return errors


def _rule_camera_error(rule: RuleSpec, watched: CameraConfig | None) -> str | None:
    """The first problem of a rule with its camera, as 'key: message', or None."""
    if watched is None:
        return f"camera: unknown camera {rule.camera!r}"
    if isinstance(rule, LineCrossingRule):
        if rule.line not in {line.name for line in watched.lines}:
            return f"line: camera {rule.camera!r} has no line {rule.line!r}"
    elif rule.zone is not None and rule.zone not in {zone.name for zone in watched.zones}:
        return f"zone: camera {rule.camera!r} has no zone {rule.zone!r}"
    if watched.role is not CameraRole.AI:
        return f"camera: {rule.camera!r} is record-only; rules need role 'ai'"
    for key in CALIBRATED_FIELDS:
        if watched.calibration is None and getattr(rule, key, None) is not None:
            return (
                f"{key}: camera {rule.camera!r} has no calibration; metres need "
                "cameras[].calibration (4 image-ground point pairs)"
            )
    return None


def _link_errors(links: list[CameraLink], cameras: set[str]) -> list[str]:
    """Links naming unknown cameras, linking a camera to itself, or given twice (either direction)."""
    errors: list[str] = []
    first: dict[frozenset[str], int] = {}
    for i, link in enumerate(links):
        for key, camera_id in (("from", link.from_), ("to", link.to)):
            if camera_id not in cameras:
                errors.append(f"links[{i}].{key}: unknown camera {camera_id!r}")
        if link.from_ == link.to:
            errors.append(f"links[{i}].to: a link joins two different cameras, got {link.to!r} twice")
        pair = frozenset((link.from_, link.to))
        if pair in first:
            errors.append(f"links[{i}]: {link.from_!r}-{link.to!r} is already linked at links[{first[pair]}]")
        first.setdefault(pair, i)
    return errors
