"""`LegalHoldStore`: legal holds on a case or a span of cameras, in the store's database.

The ``legal_holds`` table comes with migration ``0010`` and is declared in
`vigil.infra.db.recordings` (with the segments it protects). A hold is one ``legal_holds`` row
plus one ``recording_holds`` row per camera it covers, reference ``legal:<id>`` (a case hold:
one row on `ALL_CAMERAS`), written in one transaction, so retention and disk pressure never
delete what it holds. Releasing marks the row released (who, why, when) and drops its
``recording_holds`` rows, again in one transaction; a legal hold row is never deleted.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from vigil.infra.db.recordings import ALL_CAMERAS, legal_holds, recording_holds
from vigil.infra.db.store import _BEGIN_OPTION, Store, retry_locked


@dataclass(frozen=True)
class LegalHold:
    """One legal hold.

    Attributes:
        case_id: The case it holds (its photos, decided sightings and case alerts, and every
            camera's recording over its window); None for a hold on a span.
        cameras: The cameras held; None: every camera (a case hold).
        start / end: The span held (epoch seconds).
        reason / placed_by / placed_at: Why, by whom and when it was placed.
        released_at / released_by / release_reason: Set once released.
    """

    start: float
    end: float
    reason: str
    placed_by: str
    case_id: str | None = None
    cameras: tuple[str, ...] | None = None
    placed_at: float = field(default_factory=time.time)
    released_at: float | None = None
    released_by: str | None = None
    release_reason: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def reference(self) -> str:
        """The ``recording_holds`` reference of this hold's rows."""
        return f"legal:{self.id}"


class LegalHoldStore:
    """Legal holds on the store's engine. Thread-safe like `Store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> LegalHoldStore:
        """The holds of an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    def place(self, hold: LegalHold) -> None:
        """Store a hold and protect its cameras' recording over its span (one transaction)."""
        if hold.end <= hold.start:
            raise ValueError(f"legal hold: expected start < end, got {hold.start} .. {hold.end}")
        cameras = hold.cameras if hold.cameras is not None else (ALL_CAMERAS,)
        rows = [
            {"camera_id": camera, "start": hold.start, "end": hold.end, "reference": hold.reference,
             "created_at": hold.placed_at}
            for camera in cameras
        ]  # fmt: skip

        def write() -> None:
            with self._writer.begin() as conn:
                conn.execute(legal_holds.insert().values(**_row(hold)))
                conn.execute(recording_holds.insert(), rows)

        retry_locked(write, "legal hold")

    def release(self, hold_id: str, *, user: str, reason: str, at: float) -> LegalHold | None:
        """Mark an active hold released and drop its protection; None if no active hold has this id."""
        t = legal_holds.c

        def write() -> bool:
            with self._writer.begin() as conn:
                done = conn.execute(
                    legal_holds.update()
                    .where(t.id == hold_id, t.released_at.is_(None))
                    .values(released_at=at, released_by=user, release_reason=reason)
                ).rowcount
                if done:
                    reference = recording_holds.c.reference == f"legal:{hold_id}"
                    conn.execute(recording_holds.delete().where(reference))
                return bool(done)

        return self.get(hold_id) if retry_locked(write, "legal hold release") else None

    def get(self, hold_id: str) -> LegalHold | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(legal_holds).where(legal_holds.c.id == hold_id)).mappings().first()
        return None if row is None else _from_row(row)

    def list(
        self, *, active: bool | None = None, case_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[LegalHold], int]:
        """Holds newest first, one page, and how many match in all.

        Args:
            active: Only active (True) or released (False) holds; None: both.
            case_id: Only holds of this case.
            limit / offset: The page.
        """
        t = legal_holds.c
        where: list[sa.ColumnElement[bool]] = []
        if active is not None:
            where.append(t.released_at.is_(None) if active else t.released_at.is_not(None))
        if case_id is not None:
            where.append(t.case_id == case_id)
        query = sa.select(legal_holds).where(*where).order_by(t.placed_at.desc(), t.id)
        with self._engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(legal_holds).where(*where)
            ).scalar_one()
            rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return [_from_row(row) for row in rows], int(total)


def held_case_ids() -> sa.Select[tuple[str]]:
    """The ids of cases under an active legal hold, as a subquery for retention's filters."""
    t = legal_holds.c
    return sa.select(t.case_id).where(t.case_id.is_not(None), t.released_at.is_(None))


def _row(hold: LegalHold) -> dict[str, object]:
    return {
        "id": hold.id, "case_id": hold.case_id,
        "cameras": None if hold.cameras is None else list(hold.cameras),
        "start": hold.start, "end": hold.end, "reason": hold.reason, "placed_by": hold.placed_by,
        "placed_at": hold.placed_at, "released_at": hold.released_at, "released_by": hold.released_by,
        "release_reason": hold.release_reason,
    }  # fmt: skip


def _from_row(row: sa.RowMapping) -> LegalHold:
    cameras = row["cameras"]
    return LegalHold(
        id=row["id"], case_id=row["case_id"], cameras=None if cameras is None else tuple(cameras),
        start=float(row["start"]), end=float(row["end"]), reason=row["reason"], placed_by=row["placed_by"],
        placed_at=float(row["placed_at"]), released_at=row["released_at"], released_by=row["released_by"],
        release_reason=row["release_reason"],
    )  # fmt: skip
