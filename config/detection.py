"""Config blocks of the detector stage, used by ``CameraConfig`` in `config.models`.

- ``motion: MotionSettings``: where to detect (motion gating).
- ``filters: FilterSettings``: which detections to keep.

Each model is strict (``extra="forbid"``) like the rest of the config.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MotionSettings(_Strict):
    """Per-camera motion gating (`detectors.motion` + `detectors.gating`)."""

    enabled: bool = Field(
        default=True,
        description="Detect only where something moves (and around tracks; coasted tracks follow the "
        "image's optical flow; small looks share packed model inputs). On overhead_crowd it needs 3.07x "
        "fewer model inputs than tiled every-frame detection at 96 % of its recall, on a quiet camera "
        "12.75x at 100 % (`python benchmarks/detection.py --only gating`). Off: every detect frame is "
        "seen whole, which costs more and finds the few people motion gating misses.",
    )
    threshold: float = Field(
        default=20.0,
        gt=0,
        lt=255,
        description="Grey-level change that counts as "
        "motion; raising it ignores noise and misses low-contrast people.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Background learning rate per frame; raising it absorbs parked objects sooner.",
    )
    region_px: tuple[int, int] = Field(
        default=(384, 288),
        description="Region (width, height) in frame "
        "pixels resized to the model input; raising it saves inferences and "
        "shows people smaller.",
    )
    recheck_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="Standing tracks are re-detected this often; keep below tracker.track_buffer_s.",
    )
    masks: list[list[Point]] = Field(default_factory=list, description="Polygons where motion is ignored.")

    @model_validator(mode="after")
    def _sane(self) -> MotionSettings:
        if min(self.region_px) < 32:
            raise ValueError(f"region_px: expected both sides >= 32, got {self.region_px}")
        if any(len(mask) < 3 for mask in self.masks):
            raise ValueError("masks: every polygon needs at least 3 points")
        return self


class ClassFilterSettings(_Strict):
    """Limits for one class; area in frame pixels, ratio = width / height."""

    min_score: float = Field(default=0.0, ge=0, le=1, description="Raising it drops weak boxes.")
    min_area: float = Field(default=0.0, ge=0, description="Raising it ignores far-away (small) objects.")
    max_area: float | None = Field(default=None, gt=0, description="Ignores boxes bigger than this.")
    min_ratio: float = Field(default=0.0, ge=0, description="Ignores boxes narrower than this.")
    max_ratio: float | None = Field(default=None, gt=0, description="Ignores boxes wider than this.")


class FilterSettings(_Strict):
    """Per-camera detection filters (`detectors.filters`)."""

    classes: dict[str, ClassFilterSettings] = Field(default_factory=dict, description="Limits by class name.")
    score_median: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Minimum median score over a track's "
        "last frames; raising it suppresses one-frame false positives.",
    )
    object_masks: list[list[Point]] = Field(
        default_factory=list, description="Polygons where a detection whose foot point is inside is ignored."
    )
