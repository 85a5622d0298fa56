"""Bystander redaction: every person in a case's evidence is hidden except the case's subject.

A mediator's bundle shows the person the case is about; the neighbours, passers-by and children
who walked through the same clip are not part of the dispute. `BystanderRedactor` is the
`ingest.burn_in.Redactor` of one clip: on every sample frame the detector finds the people
(person boxes only: nothing here looks at faces or tells who anyone is), each box is described
by what it looks like (`alerts.search.descriptors.describe_crop`: clothing colours, appearance
stripes) and scored against the subject's examples (the case's photos and confirmed sightings)
with the search's own scoring (`alerts.search.ranking.score`). At most one box per frame is kept
visible: the best one, and only if its score reaches `match_threshold`. Every other box is hidden.

It fails safe: with no example of the subject, a subject that does not match well enough, or two
look-alikes (the runner-up within `AMBIGUITY_MARGIN` of the best), everyone is hidden, and the
report in the manifest says how often the subject was kept, so a mediator who finds the subject
blurred knows why. A person the detector misses is not hidden: the manifest says the redaction is
detector-based, with the detector's name, and the unredacted footage stays in the recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alerts.search.descriptors import Descriptor, describe_crop
from alerts.search.ranking import Gallery, Query, score
from detectors.base import Detector
from ingest.burn_in import BoxPx
from vigil.core.types import Image

SAMPLE_EVERY_S = 0.5
"""Seconds of clip time between two detector runs (frames between them hide both answers' boxes)."""
MATCH_THRESHOLD = 0.9
"""Fused score (0..1) a box needs to be shown as the subject. Measured on the bundled footage:
the same person 0.92..1.0 across a walk, other people 0.64..0.86; lowering it shows look-alikes."""
AMBIGUITY_MARGIN = 0.03
"""Two boxes scoring within this of each other are both hidden (which one is she is not clear)."""
PAD = 0.15
"""Each box grows by this fraction of its width and height on every side (detector jitter)."""
PERSON = "person"


class BystanderRedactor:
    """Hides every detected person except the best match of the subject (`ingest.burn_in.Redactor`).

    Args:
        detector: Finds the people; only its ``person`` class is used.
        subject: Descriptors of the case's subject; empty hides everyone.
        match_threshold / sample_every_s: See the module constants.
    """

    def __init__(
        self,
        detector: Detector,
        subject: Sequence[Descriptor],
        *,
        match_threshold: float = MATCH_THRESHOLD,
        sample_every_s: float = SAMPLE_EVERY_S,
    ) -> None:
        if not 0.0 < match_threshold <= 1.0:
            raise ValueError(f"match_threshold: expected 0 < t <= 1, got {match_threshold}")
        if sample_every_s <= 0:
            raise ValueError(f"sample_every_s: expected > 0 seconds, got {sample_every_s}")
        self.detector, self.subject = detector, tuple(subject)
        self.match_threshold, self.sample_every_s = match_threshold, sample_every_s
        names = list(detector.class_names)
        self._person = names.index(PERSON) if PERSON in names else 0
        self.samples = self.people = self.hidden = self.kept = 0

    def hide(self, image: Image) -> list[BoxPx]:
        """Every person box of the frame but the subject's, padded, in the frame's pixels."""
        detections = self.detector.detect([image])[0]
        people = detections.xyxy[detections.class_id == self._person]
        keep = self._subject_box(image, [_clip(box, image.shape[1], image.shape[0], 0.0) for box in people])
        boxes = [_clip(box, image.shape[1], image.shape[0], PAD) for box in people]
        self.samples += 1
        self.people += len(boxes)
        self.kept += keep is not None
        hidden = [box for i, box in enumerate(boxes) if i != keep]
        self.hidden += len(hidden)
        return hidden

    def _subject_box(self, image: Image, boxes: Sequence[BoxPx]) -> int | None:
        """Index of the box shown as the subject, or None (hide them all)."""
        if not self.subject or not boxes:
            return None
        crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes]
        described = [
            describe_crop(crop, box, float(image.shape[0]))
            for crop, box in zip(crops, boxes, strict=True)
            if crop.size
        ]
        if len(described) != len(boxes):
            return None
        totals = score(
            Query(examples=self.subject), Gallery.build(described, ["clip"] * len(described))
        ).total
        order = np.argsort(-totals)
        best = int(order[0])
        if float(totals[best]) < self.match_threshold:
            return None
        if len(order) > 1 and float(totals[best] - totals[int(order[1])]) < AMBIGUITY_MARGIN:
            return None
        return best

    def report(self) -> dict[str, Any]:
        """For the manifest: how redaction was done and what it hid."""
        return {
            "method": "person boxes from the detector, pixelated then blurred; subject kept by appearance",
            "detector": self.detector.name,
            "subject_examples": len(self.subject),
            "match_threshold": self.match_threshold,
            "sample_every_s": self.sample_every_s,
            "samples": self.samples,
            "people_seen": self.people,
            "people_hidden": self.hidden,
            "subject_shown": self.kept,
        }


def _clip(box: Any, width: int, height: int, pad: float) -> BoxPx:
    """The box grown by `pad` of its size on every side, in whole pixels inside the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    return (
        max(0, int(x1 - dx)),
        max(0, int(y1 - dy)),
        min(width, int(np.ceil(x2 + dx))),
        min(height, int(np.ceil(y2 + dy))),
    )
