"""Response models of the operator console's searches and the evidence export list.

`SightingFound` is `SightingPublic` (the record's public fields, checked by
tests/core/test_records.py) plus what the search index knows of the sighting.
"""

from typing import Any, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field

from api.schemas import SightingPublic
from vigil.infra.db.cases import AuditRecord
from vigil.services.sighting_search import Described, Similar


class SightingFound(SightingPublic):
    """A sighting with its named clothing colours and size class."""

    upper_colours: list[str] = Field(
        description="Top named torso colours, strongest first (empty without a descriptor)."
    )
    lower_colours: list[str] = Field(
        description="Top named leg colours, strongest first (empty without a descriptor)."
    )
    size: Literal["child", "adult"] | None = Field(
        description="Child- or adult-sized for its place in the frame (never an age); "
        "null without a descriptor or before the camera has 20 sightings to compare with."
    )

    @classmethod
    def from_described(cls, described: Described) -> "SightingFound":
        public = SightingPublic.from_sighting(described.sighting)
        return cls(
            **public.model_dump(),
            upper_colours=list(described.upper_colours),
            lower_colours=list(described.lower_colours),
            size=described.size,
        )


class SightingSearchList(BaseModel):
    items: list[SightingFound]
    count: int = Field(description="Sightings matching the filters, across all pages.")
    unindexed: int = Field(
        default=0,
        description="Stored sightings a colour or size search could not look at yet "
        "(being indexed; 0 when every sighting is searchable).",
    )


class SimilarPublic(BaseModel):
    sighting: SightingFound
    score: float = Field(description="Fused appearance and colour similarity, higher first.")
    appearance: float = Field(description="Colour-layout similarity, 0 to 1.")
    colours: float | None = Field(description="Named clothing-colour agreement, 0 to 1.")

    @classmethod
    def from_similar(cls, similar: Similar) -> "SimilarPublic":
        return cls(
            sighting=SightingFound.from_described(similar.found),
            score=similar.score,
            appearance=similar.appearance,
            colours=similar.colours,
        )


class SimilarList(BaseModel):
    items: list[SimilarPublic]
    count: int = Field(description="Items returned.")
    compared: int = Field(description="Sightings compared (the newest matching the filters, capped).")


class ExportPublic(BaseModel):
    """One clip export, as the audit log holds it (the chain of custody)."""

    at: float = Field(description="Epoch seconds of the export.")
    user: str = Field(description="Who exported it.")
    camera_id: str | None
    case_id: str | None
    reason: str = Field(description="Why it was exported.")
    start: float | None = Field(description="Start of the recording the clip covers, epoch seconds.")
    end: float | None = Field(description="End of the recording the clip covers, epoch seconds.")
    requested_start: float | None = Field(description="Start asked for, epoch seconds.")
    requested_end: float | None = Field(description="End asked for, epoch seconds.")
    sha256: str | None = Field(description="SHA-256 of the exported MP4.")
    gaps: int | None = Field(description="Gaps in the recording within the span.")
    clip_url: str | None = Field(
        description="Cuts the same span again (a new, audited export: add ?reason=); "
        "the span is held against retention."
    )

    @classmethod
    def from_audit(cls, record: AuditRecord) -> "ExportPublic":
        detail = record.detail
        covered = _span(detail.get("covered"))
        requested = _span(detail.get("requested"))
        start, end = covered or requested or (None, None)
        camera = detail.get("camera_id")
        camera_id = camera if isinstance(camera, str) else None
        sha = detail.get("sha256")
        gaps = detail.get("gaps")
        clip_url = None
        if camera_id is not None and start is not None and end is not None:
            params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
            if record.case_id:
                params["case"] = record.case_id
            clip_url = f"/cameras/{quote(camera_id, safe='')}/clip.mp4?{urlencode(params)}"
        return cls(
            at=record.at,
            user=record.user,
            camera_id=camera_id,
            case_id=record.case_id,
            reason=record.reason,
            start=start,
            end=end,
            requested_start=None if requested is None else requested[0],
            requested_end=None if requested is None else requested[1],
            sha256=sha if isinstance(sha, str) else None,
            gaps=gaps if isinstance(gaps, int) else None,
            clip_url=clip_url,
        )


class ExportList(BaseModel):
    items: list[ExportPublic]
    count: int = Field(description="Exports matching the filters, across all pages.")


def _span(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    return None
