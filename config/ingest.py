"""Recording and ingest settings: strict pydantic models, ready to hang off `VigilConfig`.

Hook them in `config/models.py` as ``recording: RecordingConfig = Field(default_factory=RecordingConfig)``
on `VigilConfig`, and ``recording: CameraRecording | None = None`` on `CameraConfig` for per-camera
overrides (merged with `RecordingConfig.for_camera`). Validation does no I/O.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraRecording(_Strict):
    """Per-camera recording overrides; unset fields take the site's `RecordingConfig` value."""

    enabled: bool | None = Field(default=None, description="Record this camera's main stream.")
    continuous_days: float | None = Field(
        default=None, gt=0, description="Keep continuous segments this long (days)."
    )
    event_days: float | None = Field(
        default=None, gt=0, description="Keep segments overlapping an event (alert, sighting) this long."
    )


class RecordingConfig(_Strict):
    """How main streams are recorded, indexed, snapshotted and expired."""

    enabled: bool = Field(default=True, description="Record every enabled camera's main stream.")
    directory: Path | None = Field(
        default=None, description="Where segments go; default ``<data_dir>/recordings``."
    )
    segment_seconds: float = Field(
        default=10.0,
        ge=2.0,
        le=300.0,
        description="Target segment length; segments are cut at the first keyframe after it. Raising it "
        "writes fewer files and index rows but makes clip export and disk-pressure deletion coarser.",
    )
    snapshot_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        description="Every camera decodes one main-stream keyframe this often (proof that the stream "
        "decodes, and a 480x270 snapshot JPEG). A 720p snapshot costs ~8 ms (decode without deblocking "
        "5.8 ms, scale + JPEG 2 ms): at 60 s ~0.013 % CPU per camera, 1.8 % for 141 cameras; lowering "
        "it to 2 s (every keyframe) costs ~0.4 % per camera.",
    )
    continuous_days: float = Field(default=7.0, gt=0, description="Continuous segments expire after this.")
    event_days: float = Field(
        default=30.0, gt=0, description="Segments overlapping an event are kept this long."
    )
    min_free_percent: float = Field(
        default=10.0,
        ge=0.0,
        le=90.0,
        description="Disk-pressure floor: below this much free space the oldest unprotected segments are "
        "deleted first. Segments held for a case or evidence are never deleted.",
    )
    min_free_mb: float = Field(
        default=256.0,
        ge=0.0,
        description="Recording pauses (camera degraded, 'recording paused: disk full') while the "
        "recording filesystem has less free space than this, and resumes by itself once it has more. "
        "Retention's min_free_percent normally frees space long before; raising this stops recording "
        "earlier but keeps room for the database and logs on a shared disk. 0 never pauses.",
    )
    shards: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes for record-only cameras; 0 picks one per ~36 cameras (141 -> 4). More "
        "processes avoid GIL contention between demux threads and cost ~25 MB of memory each.",
    )

    @model_validator(mode="after")
    def _event_outlives_continuous(self) -> RecordingConfig:
        if self.event_days < self.continuous_days:
            raise ValueError(
                f"event_days ({self.event_days:g}) must be >= continuous_days ({self.continuous_days:g})"
            )
        return self

    def for_camera(self, override: CameraRecording | None) -> RecordingConfig:
        """This config with a camera's overrides laid on top."""
        if override is None:
            return self
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.model_copy(update=changes)
