"""The case service: open a case, add photos, rank candidates, take feedback, watch live.

One `CaseService` per site. It speaks `vigil.core.types` and the case store; the API router
and the CLI are thin shells over it. Every search, photo upload and verdict is written
to the audit log with the user, the case and its reason before the result is returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from alerts.search.descriptors import Descriptor, Embedder, describe_crop
from alerts.search.graph import CameraGraph, Reachable
from alerts.search.photo import person_in_photo
from alerts.search.ranking import Gallery, Query, SizeModel, Weights, score
from detectors.base import Detector
from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, Image, Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import (
    AuditRecord,
    CaseRecord,
    CaseStatus,
    CaseStore,
    FeedbackRecord,
    PhotoRecord,
    Verdict,
)
from vigil.services.case_index import CaseIndex

logger = logging.getLogger(__name__)

_EXACT_PAGE = 5_000  # the exact path reads a large window in pages of this many sightings
_SIZE_HISTORY = 300  # recent descriptors per camera for the live size model


class VerdictConflict(ValidationError):
    """Another operator's latest verdict on this sighting says the opposite."""

    def __init__(self, latest: FeedbackRecord) -> None:
        when = time.strftime("%H:%M:%S", time.gmtime(latest.at))
        super().__init__(
            f"{latest.by} {latest.verdict.value}ed this sighting at {when} UTC; reload the case to see "
            "it, or send the verdict again with override to replace theirs"
        )
        self.latest = latest


class CaseNotFound(ValidationError):
    """No case has this id."""


@dataclass(frozen=True)
class Candidate:
    """One ranked sighting and why it ranks there (parts in [0, 1]; None where the query is silent)."""

    sighting: Sighting
    score: float
    appearance: float | None
    colours: float | None
    size: float | None
    place_time: float
    penalty: float


@dataclass(frozen=True)
class CaseView:
    """A case with its trail (confirmed sightings in time order) and last confirmed place."""

    case: CaseRecord
    photos: int
    trail: list[Sighting]
    rejected: list[str]

    @property
    def last_confirmed(self) -> Sighting | None:
        return self.trail[-1] if self.trail else None


AlertListener = Callable[[Alert], None]


class CaseService:
    """Cases over the store.

    Args:
        store: Sightings.
        cases: Case tables on the same database.
        graph: Camera positions for place / time plausibility and suggestions.
        detector: Finds the person in uploaded photos; None refuses photo uploads.
        embedder: Optional learned appearance model (must match the one describing sightings).
        weights: Score fusion weights.

    Candidates are ranked in two stages over a large window: `CaseIndex` (``self.index``,
    filled by `on_sighting` and by `CaseIndex.run` in a thread the runtime starts) shortlists
    `vigil.services.case_index.CANDIDATE_SHORTLIST` sightings in memory, and only those are
    loaded and ranked exactly, with the size part from each camera's size model fitted on
    every window row (as the exact ranking fits it). Small windows, a configured embedder
    (the index holds no learned embeddings) and an index that has not caught up with the
    store take the exact path over every window row.
    """

    def __init__(
        self,
        store: Store,
        cases: CaseStore,
        graph: CameraGraph,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        weights: Weights = Weights(),  # noqa: B008 - frozen dataclass
    ) -> None:
        self._store = store
        self._cases = cases
        self._graph = graph
        self._detector = detector
        self._embedder = embedder
        self._weights = weights
        self._alerted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._feedback_lock = threading.Lock()
        self._recent: dict[str, deque[Descriptor]] = {}
        self._listeners: dict[str, list[AlertListener]] = {}
        self.index = CaseIndex(store)
        """Every stored sighting in memory for the candidates' first pass."""

    # -- commands (all audited) ----------------------------------------------------------------

    def open_case(self, case: CaseRecord) -> CaseRecord:
        """Store a new case; the reason is required."""
        if len(case.reason.strip()) < 3:
            raise ValidationError(
                f"case reason: expected a reason of at least 3 characters, got {case.reason!r}"
            )
        self._cases.add_case(case)
        self._audit(
            case.opened_by, "open_case", case, {"upper": case.upper, "lower": case.lower, "size": case.size}
        )
        return case

    def add_photo(self, case_id: str, photo: Image, user: str) -> Descriptor:
        """Detect the person in an uploaded photo, describe the crop and add it to the query."""
        case = self._case(case_id)
        if self._detector is None:
            raise ValidationError("photo upload: no detector configured")
        descriptor = describe_crop(person_in_photo(photo, self._detector), embedder=self._embedder)
        self._cases.add_photo(PhotoRecord(case_id, descriptor.to_vector(), user, time.time()))
        self._audit(user, "upload_photo", case, {"photo_shape": list(photo.shape)})
        return descriptor

    def feedback(
        self, case_id: str, sighting_id: str, verdict: Verdict, user: str, *, override: bool = False
    ) -> None:
        """Confirm or reject a candidate.

        Two operators on one case may decide the same candidate at once. A verdict that
        contradicts another user's latest one is refused (`VerdictConflict`) unless `override`:
        the second operator sees who decided what, and only a deliberate override replaces it.

        Raises:
            VerdictConflict: Another user's latest verdict on this sighting differs.
        """
        with self._feedback_lock:  # check and write as one step: two requests at once cannot both pass
            case = self._case(case_id)
            if self._store.get_sighting(sighting_id) is None:
                raise ValidationError(f"feedback: sighting {sighting_id!r} not found")
            latest = None
            for record in self._cases.feedback(case_id):
                if record.sighting_id == sighting_id:
                    latest = record
            if latest is not None and latest.by != user and latest.verdict is not verdict and not override:
                raise VerdictConflict(latest)
            self._cases.add_feedback(FeedbackRecord(case_id, sighting_id, verdict, user, time.time()))
        details: dict[str, object] = {"sighting_id": sighting_id}
        if latest is not None and latest.by != user and latest.verdict is not verdict:
            details["overrides"] = {"by": latest.by, "verdict": latest.verdict.value, "at": latest.at}
        self._audit(user, verdict.value, case, details)

    def close_case(self, case_id: str, user: str) -> None:
        case = self._case(case_id)
        self._cases.close_case(case_id, time.time())
        self._audit(user, "close_case", case, {})

    def candidates(
        self, case_id: str, user: str, limit: int = 50, cameras: Sequence[str] | None = None
    ) -> list[Candidate]:
        """Sightings in the case window across all cameras, best first, with their score parts."""
        case = self._case(case_id)
        end = case.window_end if case.window_end is not None else time.time()
        view = self.view(case_id)
        decided = {s.id for s in view.trail} | set(view.rejected)
        query = self._query(case, view)
        shortlist = None
        if not query.empty and self._embedder is None and self.index.current():
            shortlist = self.index.shortlist(
                query,
                case.window_start,
                end,
                list(cameras) if cameras else None,
                decided,
                self._weights,
                self._graph,
                view.trail,
            )
        if shortlist is not None:
            sightings = self._store.get_sightings(shortlist.ids)
            relative = shortlist.relative_size
        else:
            sightings = self._window(case.window_start, end)
            relative = None
        if cameras:
            sightings = [s for s in sightings if s.camera_id in set(cameras)]
        ranked = self._rank(
            case,
            [s for s in sightings if s.descriptor is not None and s.id not in decided],
            view,
            query=query,
            relative_size=relative,
        )
        ranked = ranked[:limit]
        self._audit(user, "search", case, {"returned": len(ranked), "cameras": list(cameras or [])})
        return ranked

    # -- reads -------------------------------------------------------------------------------

    def view(self, case_id: str) -> CaseView:
        case = self._case(case_id)
        latest: dict[str, Verdict] = {}
        for record in self._cases.feedback(case_id):
            latest[record.sighting_id] = record.verdict
        confirmed = [self._store.get_sighting(i) for i, v in latest.items() if v is Verdict.CONFIRM]
        trail = sorted((s for s in confirmed if s is not None), key=lambda s: s.start)
        rejected = [i for i, v in latest.items() if v is Verdict.REJECT]
        return CaseView(case=case, photos=len(self._cases.photos(case_id)), trail=trail, rejected=rejected)

    def list_views(self) -> list[CaseView]:
        """Every case, newest first."""
        return [self.view(c.id) for c in self._cases.list_cases()]

    def suggestions(self, case_id: str, now: float | None = None) -> list[Reachable]:
        """Cameras she could reach next from her last confirmed (or last-seen) place."""
        view = self.view(case_id)
        last = view.last_confirmed
        camera = last.camera_id if last else view.case.last_seen_camera
        since = last.end if last else (view.case.last_seen_at or view.case.window_start)
        if camera is None:
            return []
        return self._graph.reachable(camera, (now or time.time()) - since)

    def audit_trail(self, case_id: str) -> list[AuditRecord]:
        self._case(case_id)
        return self._cases.audit_trail(case_id)

    # -- live watch ----------------------------------------------------------------------------

    def subscribe(self, case_id: str, listener: AlertListener) -> Callable[[], None]:
        """Call `listener` with every case alert of this case; returns the unsubscribe function."""
        with self._lock:
            self._listeners.setdefault(case_id, []).append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(case_id, []):
                    self._listeners[case_id].remove(listener)

        return unsubscribe

    def on_sighting(self, sighting: Sighting) -> list[Alert]:
        """Score a new sighting against every open case; a case alert per case whose threshold it passes.

        Subscribe this to the ``sightings`` topic; publish the returned alerts on ``alerts``.
        """
        self.index.add([sighting], pending=True)  # the store may write it after this
        if sighting.descriptor is None:
            return []
        descriptor = Descriptor.from_vector(sighting.descriptor)
        with self._lock:
            recent = self._recent.setdefault(sighting.camera_id, deque(maxlen=_SIZE_HISTORY))
            recent.append(descriptor)
        alerts = []
        for case in self._cases.list_cases(CaseStatus.OPEN):
            if case.window_end is not None and sighting.start > case.window_end:
                continue
            view = self.view(case.id)
            if sighting.id in view.rejected:
                continue
            if (case.id, sighting.id) in self._alerted:
                continue  # one alert per person per case: live updates share the final sighting's id
            ranked = self._rank(case, [sighting], view)
            if ranked and ranked[0].score >= case.threshold:
                self._alerted.add((case.id, sighting.id))
                alert = Alert(
                    kind=AlertKind.CASE_MATCH,
                    rule=f"case:{case.id}",
                    camera_id=sighting.camera_id,
                    timestamp=sighting.end,
                    message=f"possible match for case {case.id[:8]} (score {ranked[0].score:.2f})",
                    tracker_id=sighting.tracker_id,
                    box=sighting.best_box,
                )
                alerts.append(alert)
                for listener in list(self._listeners.get(case.id, [])):
                    try:
                        listener(alert)
                    except Exception:  # a broken WebSocket must not stop the sighting stream
                        logger.exception("case %s: alert listener failed", case.id)
        return alerts

    # -- internals -----------------------------------------------------------------------------

    def _case(self, case_id: str) -> CaseRecord:
        case = self._cases.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id!r} not found")
        return case

    def _audit(self, user: str, action: str, case: CaseRecord, detail: dict[str, object]) -> None:
        self._cases.audit(AuditRecord(time.time(), user, action, case.id, case.reason, dict(detail)))

    def _window(self, start: float, end: float) -> list[Sighting]:
        """Every sighting overlapping [start, end], read in pages (none skipped for its age)."""
        sightings, total = self._store.list_sightings(start=start, end=end, limit=_EXACT_PAGE)
        seen = {s.id for s in sightings}
        offset = len(sightings)
        while offset < total:
            page, total = self._store.list_sightings(start=start, end=end, limit=_EXACT_PAGE, offset=offset)
            if not page:
                break
            # A sighting stored meanwhile shifts the pages by one: skip what was read already.
            sightings += [s for s in page if s.id not in seen]
            seen.update(s.id for s in page)
            offset += len(page)
        return sightings

    def _query(self, case: CaseRecord, view: CaseView) -> Query:
        examples = [Descriptor.from_vector(p.descriptor) for p in self._cases.photos(case.id)]
        examples += [Descriptor.from_vector(s.descriptor) for s in view.trail if s.descriptor is not None]
        rejected = []
        for sighting_id in view.rejected:
            sighting = self._store.get_sighting(sighting_id)
            if sighting is not None and sighting.descriptor is not None:
                rejected.append(Descriptor.from_vector(sighting.descriptor))
        size = case.size if case.size in ("child", "adult") else None
        return Query(
            examples=tuple(examples),
            upper=case.upper,
            lower=case.lower,
            size=size,  # type: ignore[arg-type]
            rejected=tuple(rejected),
        )

    def _rank(
        self,
        case: CaseRecord,
        sightings: list[Sighting],
        view: CaseView,
        query: Query | None = None,
        relative_size: dict[str, float] | None = None,
    ) -> list[Candidate]:
        """Rank sightings exactly with every score part.

        Args:
            case / sightings / view: What to rank for whom.
            query: The case's query, when the caller built it already.
            relative_size: Per sighting id, its relative size from size models fitted on a
                larger set than ``sightings`` (a shortlist of a window); None fits them here.
        """
        if not sightings:
            return []
        query = query or self._query(case, view)
        if query.empty:
            return []
        descriptors = [Descriptor.from_vector(s.descriptor or ()) for s in sightings]
        gallery = Gallery.build(descriptors, [s.camera_id for s in sightings])
        if relative_size is not None:
            relative = np.array([relative_size.get(s.id, 1.0) for s in sightings], np.float32)
            gallery = Gallery(gallery.appearance, gallery.upper, gallery.lower, relative, gallery.embedding)
        elif len(sightings) < 20:
            # Too few rows to fit a camera's size model: use the live history of that camera.
            with self._lock:
                models = {
                    c: SizeModel.fit(list(self._recent.get(c, ()))) for c in {s.camera_id for s in sightings}
                }
            relative = np.array(
                [models[s.camera_id].relative(d) for s, d in zip(sightings, descriptors, strict=True)],
                np.float32,
            )
            gallery = Gallery(gallery.appearance, gallery.upper, gallery.lower, relative, gallery.embedding)
        place_time = self._graph.plausibility(sightings, view.trail)
        parts = score(query, gallery, self._weights, place_time)
        order = np.argsort(-parts.total, kind="stable")

        def part(values: np.ndarray | None, i: int) -> float | None:
            return None if values is None else round(float(values[i]), 4)

        return [
            Candidate(
                sighting=sightings[i],
                score=round(float(parts.total[i]), 4),
                appearance=part(parts.appearance, i),
                colours=part(parts.colours, i),
                size=part(parts.size, i),
                place_time=round(float(parts.place_time[i]), 4),
                penalty=round(float(parts.penalty[i]), 4),
            )
            for i in order
        ]
