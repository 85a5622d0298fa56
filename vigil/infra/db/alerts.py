"""`AlertTriageStore`: who acknowledged, resolved or took which alert, and the history of it.

The tables (``alert_triage``, ``alert_history``) come with migration ``0005`` and are declared
in `vigil.infra.db.tables` next to ``alerts``. An alert without a triage row is ``new``.

One triage action is one transaction: the alert's triage row, one history row and one audit
row (`vigil.infra.db.audit.audit_log`, action ``alert.<action>``, reason the note, the alert
id in ``detail``) are written together or not at all, so the history and the audit log never
disagree. History and audit rows are only ever appended.

States and the actions that move between them::

    new ──acknowledge──▶ acknowledged ──resolve──▶ resolved ──reopen──▶ new
     └──────────────────────resolve───────────────────▲

``acknowledge`` again on an acknowledged alert is recorded (a second operator saw it);
``assign`` / ``unassign`` work in every state and leave it as it is. Refused, with
`TriageConflict`: acknowledging or resolving a resolved alert, reopening one that is not
resolved.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vigil.core.errors import ValidationError
from vigil.core.types import Alert, AlertKind, AlertSeverity
from vigil.infra.db.audit import append_audit
from vigil.infra.db.store import _BEGIN_OPTION, RECORD_ROWS, Store, _check_page, retry_locked
from vigil.infra.db.tables import alert_history, alert_triage, alerts

MAX_NOTE_CHARS = 2000


class TriageState(enum.Enum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class TriageAction(enum.Enum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    REOPEN = "reopen"


class AlertNotFound(ValidationError):
    """No alert has this id."""


class TriageConflict(ValidationError):
    """The action does not apply to the alert's current state (e.g. acknowledging a resolved one)."""


@dataclass(frozen=True)
class Triage:
    """An alert's triage state; ``updated_at`` / ``updated_by`` are None while nobody touched it."""

    state: TriageState = TriageState.NEW
    assignee: str | None = None
    updated_at: float | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class TriagedAlert:
    alert: Alert
    triage: Triage


@dataclass(frozen=True)
class GroupedAlert:
    """One row of the collapsed inbox: a group's newest alert (matching the filters) and its size."""

    item: TriagedAlert
    size: int
    """The group's alerts that match the filters."""

    @property
    def group_id(self) -> str:
        """The group's id: its first alert's id."""
        return self.item.alert.group_id or self.item.alert.id


@dataclass(frozen=True)
class GroupAnchor:
    """A stored alert a new alert may join, and the group it belongs to.

    Attributes:
        alert_id: The stored alert.
        timestamp: Its timestamp, epoch seconds.
        tracker_id: Its track, if any.
        group_id: Its group's id (the group's first alert; the alert's own id when it is a first).
        group_start: Timestamp of the group's first alert (its own when that alert expired).
    """

    alert_id: str
    timestamp: float
    tracker_id: int | None
    group_id: str
    group_start: float


@dataclass(frozen=True)
class HistoryEntry:
    """One triage action on one alert."""

    alert_id: str
    at: float
    user: str
    action: TriageAction
    note: str | None


# Where each action may start from, and where it leaves the alert (None: where it was).
_MOVES: dict[TriageAction, tuple[frozenset[TriageState], TriageState | None]] = {
    TriageAction.ACKNOWLEDGE: (
        frozenset({TriageState.NEW, TriageState.ACKNOWLEDGED}),
        TriageState.ACKNOWLEDGED,
    ),
    TriageAction.RESOLVE: (frozenset({TriageState.NEW, TriageState.ACKNOWLEDGED}), TriageState.RESOLVED),
    TriageAction.REOPEN: (frozenset({TriageState.RESOLVED}), TriageState.NEW),
    TriageAction.ASSIGN: (frozenset(TriageState), None),
    TriageAction.UNASSIGN: (frozenset(TriageState), None),
}

_ALERT_ROWS = RECORD_ROWS[Alert]
_STATE = sa.func.coalesce(alert_triage.c.state, TriageState.NEW.value)
_GROUP_KEY = sa.func.coalesce(alerts.c.group_id, alerts.c.id)
"""An alert's group: ``group_id``, or its own id for a group's first alert."""


class AlertTriageStore:
    """Alert triage on the store's engine. Thread-safe like `Store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> AlertTriageStore:
        """The triage tables of an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    # -- reads -------------------------------------------------------------------------------

    def get(self, alert_id: str) -> TriagedAlert | None:
        """The alert with its triage state, or None when no alert has this id."""
        with self._engine.begin() as conn:
            row = conn.execute(_joined().where(alerts.c.id == alert_id)).mappings().first()
        return None if row is None else _triaged(row)

    def list_alerts(
        self,
        *,
        camera_id: str | None = None,
        kind: AlertKind | None = None,
        severity: AlertSeverity | None = None,
        rule: str | None = None,
        states: Collection[TriageState] = (),
        assignee: str | None = None,
        start: float | None = None,
        end: float | None = None,
        group_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cameras: Collection[str] | None = None,
    ) -> tuple[list[TriagedAlert], int]:
        """Alerts with their triage state, newest first.

        Args:
            camera_id: Only this camera.
            kind: Only this kind of alert.
            severity: Only alerts of this severity.
            rule: Only alerts of this rule (its configured name).
            states: Only alerts in one of these states; empty: any.
            assignee: Only alerts assigned to this user.
            start / end: Epoch seconds, inclusive bounds on the alert's timestamp.
            group_id: Only the alerts of this group (its first alert's id): the first and those
                that joined it.
            limit / offset: Page of the ordered result.
            cameras: Only alerts of these cameras (the caller's camera scope, `api.scope`);
                None for every camera. In SQL, so pages stay full and the total is theirs.

        Returns:
            The page and the total number of alerts matching the filters.

        Raises:
            ValidationError: `limit` or `offset` is negative.
        """
        _check_page(limit, offset)
        where = _filters(camera_id, kind, rule, states, assignee, start, end, group_id, severity, cameras)
        joined = alerts.outerjoin(alert_triage, alert_triage.c.alert_id == alerts.c.id)
        count = sa.select(sa.func.count()).select_from(joined).where(*where)
        page = (
            _joined()
            .where(*where)
            .order_by(alerts.c.timestamp.desc(), alerts.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self._engine.begin() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(page).mappings().all()
        return [_triaged(row) for row in rows], total

    def list_groups(
        self,
        *,
        camera_id: str | None = None,
        kind: AlertKind | None = None,
        severity: AlertSeverity | None = None,
        rule: str | None = None,
        states: Collection[TriageState] = (),
        assignee: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 50,
        offset: int = 0,
        cameras: Collection[str] | None = None,
    ) -> tuple[list[GroupedAlert], int]:
        """The collapsed inbox: per group, its newest alert matching the filters, newest first.

        The filters select alerts first (as in `list_alerts`); the alerts selected are then
        collapsed by group, so ``size`` counts the group's alerts that match them. `cameras`
        is as in `list_alerts`.

        Returns:
            The page and the number of groups with at least one matching alert.

        Raises:
            ValidationError: `limit` or `offset` is negative.
        """
        _check_page(limit, offset)
        where = _filters(camera_id, kind, rule, states, assignee, start, end, None, severity, cameras)
        key = _GROUP_KEY
        newest_first = (alerts.c.timestamp.desc(), alerts.c.id.desc())
        ranked = (
            sa.select(
                alerts.c.id.label("ranked_id"),
                sa.func.row_number().over(partition_by=key, order_by=newest_first).label("rank"),
                sa.func.count().over(partition_by=key).label("group_size"),
            )
            .select_from(alerts.outerjoin(alert_triage, alert_triage.c.alert_id == alerts.c.id))
            .where(*where)
            .subquery("ranked")
        )
        count = sa.select(sa.func.count()).select_from(ranked).where(ranked.c.rank == 1)
        page = (
            _joined(ranked, ranked.c.ranked_id == alerts.c.id)
            .add_columns(ranked.c.group_size)
            .where(ranked.c.rank == 1)
            .order_by(alerts.c.timestamp.desc(), alerts.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self._engine.begin() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(page).mappings().all()
        return [GroupedAlert(_triaged(row), int(row["group_size"])) for row in rows], total

    def history(self, alert_id: str) -> list[HistoryEntry]:
        """Triage actions on one alert, oldest first."""
        query = (
            sa.select(alert_history)
            .where(alert_history.c.alert_id == alert_id)
            .order_by(alert_history.c.at, alert_history.c.id)
        )
        with self._engine.begin() as conn:
            return [
                HistoryEntry(
                    alert_id=row["alert_id"],
                    at=float(row["at"]),
                    user=row["user"],
                    action=TriageAction(row["action"]),
                    note=row["note"],
                )
                for row in conn.execute(query).mappings()
            ]

    # -- the one write -----------------------------------------------------------------------

    def apply(
        self,
        alert_id: str,
        action: TriageAction,
        user: str,
        *,
        note: str | None = None,
        assignee: str | None = None,
        at: float | None = None,
    ) -> TriagedAlert:
        """Apply one triage action: state, history row and audit row in one transaction.

        Args:
            alert_id: The alert.
            action: What is done; ``assign`` needs `assignee`, the others ignore it.
            user: Who does it (goes into the history, ``updated_by`` and the audit log).
            note: Why, or what was found; the audit row's reason.
            assignee: The user the alert is assigned to (``assign`` only; checked by the caller).
            at: When, epoch seconds; default now.

        Returns:
            The alert with its new triage state.

        Raises:
            AlertNotFound: No alert has this id.
            TriageConflict: The action does not apply to the alert's current state.
            ValidationError: ``assign`` without an assignee, or a note over `MAX_NOTE_CHARS`.
        """
        if action is TriageAction.ASSIGN and not assignee:
            raise ValidationError("assign: expected the user to assign the alert to, got none")
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise ValidationError(f"note: expected at most {MAX_NOTE_CHARS} characters, got {len(note)}")
        when = time.time() if at is None else at

        def write() -> TriagedAlert:
            with self._writer.begin() as conn:
                row = conn.execute(_joined().where(alerts.c.id == alert_id)).mappings().first()
                if row is None:
                    raise AlertNotFound(f"alert {alert_id!r} not found")
                current = _triaged(row)
                triage = _next(current.triage, action, user, assignee, when)
                _write(conn, alert_id, current.triage, triage)
                conn.execute(
                    alert_history.insert().values(
                        alert_id=alert_id, at=when, user=user, action=action.value, note=note
                    )
                )
                append_audit(
                    conn,
                    at=when,
                    user=user,
                    action=f"alert.{action.value}",
                    case_id=None,
                    reason=note or "",
                    detail=_audit_detail(current, triage),
                )
            return TriagedAlert(current.alert, triage)

        return retry_locked(write, "alert triage")


def _next(triage: Triage, action: TriageAction, user: str, assignee: str | None, at: float) -> Triage:
    allowed, state = _MOVES[action]
    if triage.state not in allowed:
        by = f" by {triage.updated_by}" if triage.updated_by else ""
        hint = "reopen it first" if triage.state is TriageState.RESOLVED else "only a resolved alert reopens"
        raise TriageConflict(f"cannot {action.value}: the alert is {triage.state.value}{by}; {hint}")
    if action is TriageAction.ASSIGN:
        new_assignee: str | None = assignee
    elif action is TriageAction.UNASSIGN:
        new_assignee = None
    else:
        new_assignee = triage.assignee
    return Triage(state=state or triage.state, assignee=new_assignee, updated_at=at, updated_by=user)


def _write(conn: sa.Connection, alert_id: str, before: Triage, after: Triage) -> None:
    values = {
        "state": after.state.value,
        "assignee": after.assignee,
        "updated_at": after.updated_at,
        "updated_by": after.updated_by,
    }
    if before.updated_at is None:  # never touched: no row yet
        conn.execute(alert_triage.insert().values(alert_id=alert_id, **values))
    else:
        conn.execute(alert_triage.update().where(alert_triage.c.alert_id == alert_id).values(**values))
    # The alerts table's own flag predates triage; kept in step so it never says the opposite.
    acknowledged = after.state is not TriageState.NEW
    if acknowledged != (before.state is not TriageState.NEW):
        conn.execute(alerts.update().where(alerts.c.id == alert_id).values(acknowledged=acknowledged))


def _audit_detail(current: TriagedAlert, after: Triage) -> dict[str, Any]:
    return {
        "alert_id": current.alert.id,
        "camera_id": current.alert.camera_id,
        "rule": current.alert.rule,
        "state": after.state.value,
        "previous_state": current.triage.state.value,
        "assignee": after.assignee,
    }


def _filters(
    camera_id: str | None,
    kind: AlertKind | None,
    rule: str | None,
    states: Collection[TriageState],
    assignee: str | None,
    start: float | None,
    end: float | None,
    group_id: str | None,
    severity: AlertSeverity | None = None,
    cameras: Collection[str] | None = None,
) -> list[sa.ColumnElement[bool]]:
    equal = {
        alerts.c.camera_id: camera_id,
        alerts.c.kind: None if kind is None else kind.value,
        alerts.c.severity: None if severity is None else severity.value,
        alerts.c.rule: rule,
        alert_triage.c.assignee: assignee,
    }
    where: list[sa.ColumnElement[bool]] = [
        column == value for column, value in equal.items() if value is not None
    ]
    if cameras is not None:
        where.append(alerts.c.camera_id.in_(sorted(cameras)))
    if states:
        where.append(_STATE.in_(sorted(state.value for state in states)))
    if start is not None:
        where.append(alerts.c.timestamp >= start)
    if end is not None:
        where.append(alerts.c.timestamp <= end)
    if group_id is not None:
        where.append(sa.or_(alerts.c.group_id == group_id, alerts.c.id == group_id))
    return where


def _joined(extra: sa.FromClause | None = None, on: sa.ColumnElement[bool] | None = None) -> sa.Select[Any]:
    """Every alert column, and its triage row's under ``triage_*`` labels (NULL when untouched).

    `extra` is inner-joined on `on` (the grouped view's ranking).
    """
    source = alerts.outerjoin(alert_triage, alert_triage.c.alert_id == alerts.c.id)
    if extra is not None and on is not None:
        source = source.join(extra, on)
    return sa.select(
        alerts,
        alert_triage.c.state.label("triage_state"),
        alert_triage.c.assignee.label("triage_assignee"),
        alert_triage.c.updated_at.label("triage_updated_at"),
        alert_triage.c.updated_by.label("triage_updated_by"),
    ).select_from(source)


def _triaged(row: sa.RowMapping) -> TriagedAlert:
    alert: Alert = _ALERT_ROWS.from_row(row)
    if row["triage_state"] is None:
        return TriagedAlert(alert, Triage())
    return TriagedAlert(
        alert,
        Triage(
            state=TriageState(row["triage_state"]),
            assignee=row["triage_assignee"],
            updated_at=float(row["triage_updated_at"]),
            updated_by=row["triage_updated_by"],
        ),
    )


class AlertGroupLookup:
    """What alert grouping reads: which alerts are stored, and the open group to join.

    Reads only; the grouping decision is `vigil.services.alert_groups`. Thread-safe like `Store`.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store(cls, store: Store) -> AlertGroupLookup:
        """Alert groups of an open store's database (same engine, same pool)."""
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    def stored_ids(self, ids: Collection[str]) -> set[str]:
        """Those of `ids` the database already holds (a replay)."""
        if not ids:
            return set()
        query = sa.select(alerts.c.id).where(alerts.c.id.in_(sorted(set(ids))))
        with self._engine.begin() as conn:
            return set(conn.execute(query).scalars())

    def latest(
        self,
        rule: str,
        camera_id: str,
        *,
        since: float,
        until: float,
        tracker_id: int | None = None,
    ) -> GroupAnchor | None:
        """The latest stored alert of a rule and camera in [since, until], with its group.

        Args:
            rule: The rule's name.
            camera_id: The camera.
            since / until: Epoch seconds, inclusive bounds on its timestamp.
            tracker_id: Only an alert of this track; None: any alert.
        """
        first = alerts.alias("first")
        query = (
            sa.select(
                alerts.c.id,
                alerts.c.timestamp,
                alerts.c.tracker_id,
                _GROUP_KEY.label("key"),
                sa.func.coalesce(first.c.timestamp, alerts.c.timestamp).label("group_start"),
            )
            .select_from(alerts.outerjoin(first, first.c.id == alerts.c.group_id))
            .where(
                alerts.c.rule == rule,
                alerts.c.camera_id == camera_id,
                alerts.c.timestamp >= since,
                alerts.c.timestamp <= until,
            )
            .order_by(alerts.c.timestamp.desc(), alerts.c.id.desc())
            .limit(1)
        )
        if tracker_id is not None:
            query = query.where(alerts.c.tracker_id == tracker_id)
        with self._engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return GroupAnchor(
            alert_id=row["id"],
            timestamp=float(row["timestamp"]),
            tracker_id=row["tracker_id"],
            group_id=row["key"],
            group_start=float(row["group_start"]),
        )
