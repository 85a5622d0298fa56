"""`CaseStore`: cases, their photos, operator feedback and the audit log, in the store's database.

The tables come with migration ``0002``; like `vigil.infra.db.recordings` they are declared
here (``cases_metadata``) so this module lands without touching `vigil.infra.db.tables`.
Rows go in and out as the dataclasses below; no SQLAlchemy object leaves this module.
The audit log is append-only: nothing here updates or deletes an audit row, and every row is
appended through `vigil.infra.db.audit.append_audit` (the hash chain; the table is declared there
and re-exported here).
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from vigil.infra.db.audit import ChainHead, ChainReport, append_audit, audit_log, chain_head, verify_chain
from vigil.infra.db.store import _BEGIN_OPTION, Store, retry_locked

cases_metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    cases_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("description", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("window_end", sa.Float, nullable=True),
    sa.Column("last_seen_camera", sa.String(64), nullable=True),
    sa.Column("last_seen_at", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("closed_at", sa.Float, nullable=True),
    sa.Index("ix_cases_status", "status"),
)

case_photos = sa.Table(
    "case_photos",
    cases_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("descriptor", sa.JSON, nullable=False),
    sa.Column("crop_path", sa.String(512), nullable=True),
    sa.Column("added_by", sa.String(128), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.Index("ix_case_photos_case_id", "case_id"),
)

case_feedback = sa.Table(
    "case_feedback",
    cases_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("sighting_id", sa.String(64), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_case_feedback_case_id", "case_id"),
)


class CaseStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Verdict(enum.Enum):
    CONFIRM = "confirm"
    REJECT = "reject"


@dataclass(frozen=True)
class CaseRecord:
    """One case as stored. ``description`` holds ``upper`` / ``lower`` colour names and ``size``."""

    reason: str
    opened_by: str
    window_start: float
    upper: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    size: str | None = None
    window_end: float | None = None
    last_seen_camera: str | None = None
    last_seen_at: float | None = None
    threshold: float = 0.75
    status: CaseStatus = CaseStatus.OPEN
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class PhotoRecord:
    case_id: str
    descriptor: tuple[float, ...]
    added_by: str
    added_at: float
    crop_path: str | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    case_id: str
    sighting_id: str
    verdict: Verdict
    by: str
    at: float


@dataclass(frozen=True)
class AuditRecord:
    """Who did what, for which case, why, and when."""

    at: float
    user: str
    action: str
    case_id: str | None
    reason: str
    detail: dict[str, Any]


class CaseStore:
    """Case tables on the store's engine. Thread-safe like `Store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> CaseStore:
        """The case tables of an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    # -- cases -------------------------------------------------------------------------------

    def add_case(self, case: CaseRecord) -> None:
        with self._writer.begin() as conn:
            conn.execute(cases.insert().values(**_case_row(case)))

    def get_case(self, case_id: str) -> CaseRecord | None:
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().first()
        return None if row is None else _case_from_row(row)

    def list_cases(self, status: CaseStatus | None = None) -> list[CaseRecord]:
        """Cases newest first."""
        query = sa.select(cases).order_by(cases.c.opened_at.desc())
        if status is not None:
            query = query.where(cases.c.status == status.value)
        with self._engine.begin() as conn:
            return [_case_from_row(row) for row in conn.execute(query).mappings()]

    def close_case(self, case_id: str, at: float) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                cases.update()
                .where(cases.c.id == case_id)
                .values(status=CaseStatus.CLOSED.value, closed_at=at)
            )

    # -- photos and feedback -----------------------------------------------------------------

    def add_photo(self, photo: PhotoRecord) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                case_photos.insert().values(
                    case_id=photo.case_id,
                    descriptor=list(photo.descriptor),
                    crop_path=photo.crop_path,
                    added_by=photo.added_by,
                    added_at=photo.added_at,
                )
            )

    def photos(self, case_id: str) -> list[PhotoRecord]:
        query = sa.select(case_photos).where(case_photos.c.case_id == case_id).order_by(case_photos.c.id)
        with self._engine.begin() as conn:
            return [
                PhotoRecord(
                    case_id=row["case_id"],
                    descriptor=tuple(float(v) for v in row["descriptor"]),
                    added_by=row["added_by"],
                    added_at=float(row["added_at"]),
                    crop_path=row["crop_path"],
                )
                for row in conn.execute(query).mappings()
            ]

    def add_feedback(self, feedback: FeedbackRecord) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                case_feedback.insert().values(
                    case_id=feedback.case_id,
                    sighting_id=feedback.sighting_id,
                    verdict=feedback.verdict.value,
                    by=feedback.by,
                    at=feedback.at,
                )
            )

    def feedback(self, case_id: str) -> list[FeedbackRecord]:
        """Feedback of a case, oldest first; a later verdict on the same sighting overrides an earlier one."""
        query = (
            sa.select(case_feedback).where(case_feedback.c.case_id == case_id).order_by(case_feedback.c.id)
        )
        with self._engine.begin() as conn:
            return [
                FeedbackRecord(
                    case_id=row["case_id"],
                    sighting_id=row["sighting_id"],
                    verdict=Verdict(row["verdict"]),
                    by=row["by"],
                    at=float(row["at"]),
                )
                for row in conn.execute(query).mappings()
            ]

    # -- audit -------------------------------------------------------------------------------

    def audit(self, record: AuditRecord) -> ChainHead:
        """Append one audit row to the hash chain (one write transaction, retried while locked).

        Returns:
            The chain's new head (this row's id and hash).
        """

        def write() -> ChainHead:
            with self._writer.begin() as conn:
                return append_audit(
                    conn,
                    at=record.at,
                    user=record.user,
                    action=record.action,
                    case_id=record.case_id,
                    reason=record.reason,
                    detail=record.detail,
                )

        return retry_locked(write, "audit")

    def audit_head(self) -> ChainHead:
        """The audit chain's newest row (id and hash), e.g. to record in a signed manifest."""
        with self._engine.connect() as conn:
            return chain_head(conn)

    def verify_audit(self, expect_head: ChainHead | None = None) -> ChainReport:
        """Walk the audit hash chain (`vigil.infra.db.audit.verify_chain`)."""
        return verify_chain(self._engine, expect_head=expect_head)

    def audit_trail(self, case_id: str | None = None, limit: int = 500) -> list[AuditRecord]:
        """Audit rows newest first, optionally of one case."""
        query = sa.select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        if case_id is not None:
            query = query.where(audit_log.c.case_id == case_id)
        with self._engine.begin() as conn:
            return [_audit_from_row(row) for row in conn.execute(query).mappings()]

    def audit_excerpt(self, case_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """A case's audit rows oldest first, with their chain links (id, ``prev_hash``, ``row_hash``).

        What a case bundle carries: each row can be checked against the site's chain
        (`verify_audit`) by its id and hash.
        """
        query = (
            sa.select(audit_log).where(audit_log.c.case_id == case_id).order_by(audit_log.c.id).limit(limit)
        )
        with self._engine.begin() as conn:
            return [
                {**dict(row), "at": float(row["at"]), "detail": dict(row["detail"])}
                for row in conn.execute(query).mappings()
            ]

    def audit_page(
        self,
        action: str,
        *,
        user: str | None = None,
        case_id: str | None = None,
        camera_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cameras: Collection[str] | None = None,
    ) -> tuple[list[AuditRecord], int]:
        """Audit rows of one action newest first, filtered, one page, and how many match in all.

        Args:
            action: Only this action (e.g. ``export_clip``).
            user / case_id: Only rows of this user / case.
            camera_id: Only rows whose detail names this ``camera_id``.
            limit / offset: The page.
            cameras: Only rows whose detail's ``camera_id`` is one of these (a caller's camera
                scope, `api.scope`); None for every row.
        """
        where = [audit_log.c.action == action]
        if user is not None:
            where.append(audit_log.c.user == user)
        if case_id is not None:
            where.append(audit_log.c.case_id == case_id)
        if camera_id is not None:
            where.append(audit_log.c.detail["camera_id"].as_string() == camera_id)
        if cameras is not None:
            where.append(audit_log.c.detail["camera_id"].as_string().in_(sorted(cameras)))
        query = (
            sa.select(audit_log)
            .where(*where)
            .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._engine.begin() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where)).scalar_one()
            rows = conn.execute(query).mappings().all()
        return [_audit_from_row(row) for row in rows], int(total)


def _case_row(case: CaseRecord) -> dict[str, Any]:
    return {
        "id": case.id,
        "reason": case.reason,
        "description": {"upper": list(case.upper), "lower": list(case.lower), "size": case.size},
        "status": case.status.value,
        "opened_by": case.opened_by,
        "opened_at": case.opened_at,
        "window_start": case.window_start,
        "window_end": case.window_end,
        "last_seen_camera": case.last_seen_camera,
        "last_seen_at": case.last_seen_at,
        "threshold": case.threshold,
        "closed_at": case.closed_at,
    }


def _case_from_row(row: sa.RowMapping) -> CaseRecord:
    description = row["description"]
    return CaseRecord(
        id=row["id"],
        reason=row["reason"],
        upper=tuple(description.get("upper", ())),
        lower=tuple(description.get("lower", ())),
        size=description.get("size"),
        status=CaseStatus(row["status"]),
        opened_by=row["opened_by"],
        opened_at=float(row["opened_at"]),
        window_start=float(row["window_start"]),
        window_end=row["window_end"],
        last_seen_camera=row["last_seen_camera"],
        last_seen_at=row["last_seen_at"],
        threshold=float(row["threshold"]),
        closed_at=row["closed_at"],
    )


def _audit_from_row(row: sa.RowMapping) -> AuditRecord:
    return AuditRecord(
        at=float(row["at"]),
        user=row["user"],
        action=row["action"],
        case_id=row["case_id"],
        reason=row["reason"],
        detail=dict(row["detail"]),
    )
