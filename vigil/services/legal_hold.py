"""Legal holds: keep a case, or a span of cameras, out of retention until an admin releases it.

A hold on a **case** keeps its photos, the sightings operators decided for it, its case-match
alerts, and every camera's recording, sightings and alerts over its window (an open-ended
window is held up to the case's close, or to the moment the hold is placed). A hold on a
**span** keeps the named cameras' recording, sightings and alerts over ``[start, end)``; a span
with nothing recorded on one of its cameras is refused (`NothingRecorded` names the camera and
what it has), so a hold never silently protects nothing. Placing and releasing need a reason
and are audited (``legal_hold.place`` / ``legal_hold.release``) through `CaseStore.audit`; the
API lets only admins do either (`api.routers.holds`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from vigil.core.errors import ValidationError
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.holds import LegalHold, LegalHoldStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store

MIN_REASON_CHARS = 3
PLACE_ACTION = "legal_hold.place"
RELEASE_ACTION = "legal_hold.release"


class HoldNotFound(ValidationError):
    """No such hold, case or camera."""


class HoldConflict(ValidationError):
    """The hold (or the case's hold) is not in a state that allows this."""


class NothingRecorded(ValidationError):
    """A span hold names a camera with no recording in the span."""


class LegalHoldService:
    """Places, releases and lists legal holds (see the module docstring).

    Args:
        store: The site database.
        cameras: The site's camera ids (a span hold on any other is refused).
    """

    def __init__(self, store: Store, cameras: Sequence[str]) -> None:
        self._holds = LegalHoldStore.for_store(store)
        self._recordings = RecordingIndex.for_store(store)
        self._cases = CaseStore.for_store(store)
        self._cameras = set(cameras)

    @property
    def holds(self) -> LegalHoldStore:
        return self._holds

    def hold_case(self, case_id: str, *, user: str, reason: str, now: float | None = None) -> LegalHold:
        """Hold a case and its window on every camera.

        Raises:
            ValidationError: The reason is too short.
            HoldNotFound: No such case.
            HoldConflict: The case already has an active hold.
        """
        reason = _reason(reason)
        case = self._cases.get_case(case_id)
        if case is None:
            raise HoldNotFound(f"case {case_id!r} not found")
        active, _ = self._holds.list(active=True, case_id=case_id, limit=1)
        if active:
            raise HoldConflict(
                f"case {case_id!r} is already held (hold {active[0].id}, by {active[0].placed_by})"
            )
        now = time.time() if now is None else now
        end = case.window_end or case.closed_at or now  # an open-ended window: up to its close, or now
        end = max(end, case.window_start + 1.0)
        hold = LegalHold(case.window_start, end, reason, user, case_id=case_id, placed_at=now)
        self._holds.place(hold)
        self._audit(user, PLACE_ACTION, hold, reason)
        return hold

    def hold_span(
        self, cameras: Sequence[str], start: float, end: float, *, user: str, reason: str
    ) -> LegalHold:
        """Hold cameras' recording, sightings and alerts over ``[start, end)``.

        Raises:
            ValidationError: The reason is too short, no camera is named, or start is not before end.
            HoldNotFound: A camera is not one of the site's.
            NothingRecorded: A camera has no recording in the span (the message says what it has).
        """
        reason = _reason(reason)
        named = tuple(dict.fromkeys(cameras))
        if not named:
            raise ValidationError("cameras: expected at least one camera id, got none")
        if not end > start:
            raise ValidationError(f"span: expected start before end, got {start} .. {end}")
        unknown = [c for c in named if c not in self._cameras]
        if unknown:
            raise HoldNotFound(f"cameras: no camera {', '.join(map(repr, unknown))} on this site")
        for camera in named:
            # Whether it is recorded, not reading it: an edge node that is down must not block a
            # hold; central copies the held segments of edge nodes in the background (retention).
            if not self._recordings.segments(camera, start, end, fetch=False):
                raise NothingRecorded(_nothing_recorded(camera, start, end, self._recordings.extent(camera)))
        hold = LegalHold(start, end, reason, user, cameras=named)
        self._holds.place(hold)
        self._audit(user, PLACE_ACTION, hold, reason)
        return hold

    def release(self, hold_id: str, *, user: str, reason: str) -> LegalHold:
        """Release an active hold: what it held expires by policy again.

        Raises:
            ValidationError: The reason is too short.
            HoldNotFound: No such hold.
            HoldConflict: It was already released.
        """
        reason = _reason(reason)
        found = self._holds.get(hold_id)
        if found is None:
            raise HoldNotFound(f"hold {hold_id!r} not found")
        released = self._holds.release(hold_id, user=user, reason=reason, at=time.time())
        if released is None:
            found = self._holds.get(hold_id) or found
            raise HoldConflict(
                f"hold {hold_id!r} was already released by {found.released_by} at {found.released_at}"
            )
        self._audit(user, RELEASE_ACTION, released, reason)
        return released

    def get(self, hold_id: str) -> LegalHold:
        found = self._holds.get(hold_id)
        if found is None:
            raise HoldNotFound(f"hold {hold_id!r} not found")
        return found

    def _audit(self, user: str, action: str, hold: LegalHold, reason: str) -> None:
        detail: dict[str, object] = {
            "hold_id": hold.id,
            "cameras": None if hold.cameras is None else list(hold.cameras),
            "start": hold.start,
            "end": hold.end,
        }
        if hold.cameras is not None and len(hold.cameras) == 1:
            detail["camera_id"] = hold.cameras[0]  # `CaseStore.audit_page(camera_id=...)` finds it
        self._cases.audit(
            AuditRecord(
                at=time.time(), user=user, action=action, case_id=hold.case_id, reason=reason, detail=detail
            )
        )


def _reason(reason: str) -> str:
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise ValidationError(
            f"reason: a legal hold must say why (at least {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    return reason.strip()


def _nothing_recorded(camera: str, start: float, end: float, extent: tuple[float, float] | None) -> str:
    asked = f"camera {camera!r} has no recording in {start:.3f} .. {end:.3f}"
    if extent is None:
        return f"{asked}; it has no recording at all"
    return f"{asked}; recorded: {extent[0]:.3f} .. {extent[1]:.3f}"
