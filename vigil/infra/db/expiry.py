"""`RecordExpiry`: which stored records retention may delete, and deleting them.

Sightings, alerts and case photos carry people's images and are protected as below. Line
crossing counts (numbers only) and camera health events are deleted by age alone, except that
each camera's latest health event stays: it is the camera's current state.

What is protected (never a candidate, whatever its age):

- a sighting an operator decided for a case (``case_feedback``) that is open or under a legal
  hold; a sighting in the window of an open case (a candidate it may still be matched to);
- a case-match alert (rule ``case:<id>``) of a case that is open or under a legal hold;
- a sighting or alert overlapping a recording hold of its camera or of every camera: an
  evidence export, a back-scan or backtest in progress, a legal hold on a span or a case;
- the photos of an open case, or of a closed case under a legal hold.

Deleting a sighting deletes its search rows (``sighting_search``, ``sighting_vectors``) in the
same transaction; deleting an alert deletes its triage row and history first (their foreign
keys). Files (crops) are the caller's: this module hands back their stored paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from vigil.infra.db import tables
from vigil.infra.db.cases import case_feedback, case_photos, cases
from vigil.infra.db.holds import held_case_ids
from vigil.infra.db.recordings import ALL_CAMERAS, Span, recording_holds
from vigil.infra.db.search import sighting_search, sighting_vectors
from vigil.infra.db.store import _BEGIN_OPTION, Store, retry_locked

_OPEN = "open"
_CLOSED = "closed"


@dataclass(frozen=True)
class Expired:
    """A row retention deletes, the file that goes with it (a crop path as stored) if any, and its time."""

    id: str
    camera_id: str
    file: str | None
    at: float = 0.0


class RecordExpiry:
    """Expiry queries and deletes on the store's engine. Thread-safe like `Store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    @classmethod
    def for_store(cls, store: Store) -> RecordExpiry:
        return cls(store._engine)  # noqa: SLF001 - the store owns the one engine per database

    def _delete(
        self, key: sa.Column[str], children: Sequence[sa.Column[str]], ids: Sequence[str], what: str
    ) -> int:
        """Delete the rows of `key`'s table whose key is in `ids`, their `children` rows first (foreign
        keys), in one write transaction retried while locked; returns how many parent rows went."""
        chosen = list(ids)

        def write() -> int:
            with self._writer.begin() as conn:
                for child in children:
                    conn.execute(child.table.delete().where(child.in_(chosen)))
                return int(conn.execute(key.table.delete().where(key.in_(chosen))).rowcount or 0)

        return retry_locked(write, what) if chosen else 0

    # -- sightings -----------------------------------------------------------------------------

    def sightings(
        self,
        limit: int,
        *,
        before: float,
        since: float | None = None,
        cameras: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Expired]:
        """The oldest unprotected sightings that ended before `before`.

        Args:
            limit: At most this many.
            before: Ended before this time.
            since: Started at or after this time: the last batch's latest start, so protected
                rows ahead of it are not read again batch after batch.
            cameras: Only these cameras (None: any).
            exclude: Not these cameras (their retention is their own).
        """
        s = tables.sightings.c
        query = (
            sa.select(s.id, s.camera_id, s.crop_path, s.start)
            .where(*_aged(s.start, s.end, s.camera_id, before, cameras, exclude))
            .where(*_since(s.start, since))
            .where(
                ~_held(s.camera_id, s.start, s.end), ~self._decided(s.id), ~_in_open_window(s.start, s.end)
            )
            .order_by(s.start)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [Expired(row.id, row.camera_id, row.crop_path, row.start) for row in conn.execute(query)]

    @staticmethod
    def _decided(sighting_id: sa.ColumnElement[str]) -> sa.Exists:
        f, c = case_feedback.c, cases.c
        kept = sa.or_(c.status == _OPEN, c.id.in_(held_case_ids()))
        return sa.exists().where(f.sighting_id == sighting_id, f.case_id == c.id, kept)

    def delete_sightings(self, ids: Sequence[str]) -> int:
        """Delete sightings and their search rows (one transaction). Returns how many sightings went."""
        children = [sighting_vectors.c.sighting_id, sighting_search.c.sighting_id]
        return self._delete(tables.sightings.c.id, children, ids, "sighting expiry")

    def count_sightings(
        self, *, before: float, cameras: Sequence[str] | None = None, exclude: Sequence[str] = ()
    ) -> int:
        """Sightings that ended before `before`, protected or not."""
        s = tables.sightings.c
        return self._count(tables.sightings, _aged(s.start, s.end, s.camera_id, before, cameras, exclude))

    # -- alerts --------------------------------------------------------------------------------

    def alerts(
        self,
        limit: int,
        *,
        before: float,
        since: float | None = None,
        cameras: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Expired]:
        """The oldest unprotected alerts raised before `before` (same arguments as `sightings`).

        ``file`` is None: an alert's crop path follows from its id (`vigil.pipeline.alert_crop_path`).
        """
        a, c = tables.alerts.c, cases.c
        of_kept_case = sa.exists().where(
            a.rule == sa.literal("case:") + c.id, sa.or_(c.status == _OPEN, c.id.in_(held_case_ids()))
        )
        query = (
            sa.select(a.id, a.camera_id, a.timestamp)
            .where(*_aged(a.timestamp, a.timestamp, a.camera_id, before, cameras, exclude))
            .where(*_since(a.timestamp, since))
            .where(~_held(a.camera_id, a.timestamp, a.timestamp), ~of_kept_case)
            .order_by(a.timestamp)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [Expired(row.id, row.camera_id, None, row.timestamp) for row in conn.execute(query)]

    def delete_alerts(self, ids: Sequence[str]) -> int:
        """Delete alerts with their triage rows and history (one transaction); returns how many went."""
        children = [tables.alert_history.c.alert_id, tables.alert_triage.c.alert_id]
        return self._delete(tables.alerts.c.id, children, ids, "alert expiry")

    def count_alerts(
        self, *, before: float, cameras: Sequence[str] | None = None, exclude: Sequence[str] = ()
    ) -> int:
        """Alerts raised before `before`, protected or not."""
        a = tables.alerts.c
        return self._count(
            tables.alerts, _aged(a.timestamp, a.timestamp, a.camera_id, before, cameras, exclude)
        )

    # -- case photos ---------------------------------------------------------------------------

    def case_photos(self, limit: int, *, closed_before: float) -> list[Expired]:
        """Photos of cases closed before `closed_before` and not under a legal hold (``camera_id`` "")."""
        p, c = case_photos.c, cases.c
        query = (
            sa.select(p.id, p.crop_path)
            .join_from(case_photos, cases, p.case_id == c.id)
            .where(*self._closed(closed_before), c.id.not_in(held_case_ids()))
            .order_by(p.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [Expired(str(row.id), "", row.crop_path) for row in conn.execute(query)]

    @staticmethod
    def _closed(before: float) -> list[sa.ColumnElement[bool]]:
        c = cases.c
        return [c.status == _CLOSED, c.closed_at.is_not(None), c.closed_at < before]

    def delete_case_photos(self, ids: Sequence[str]) -> int:
        chosen = [int(i) for i in ids]
        query = case_photos.delete().where(case_photos.c.id.in_(chosen))

        def write() -> int:
            with self._writer.begin() as conn:
                return int(conn.execute(query).rowcount or 0)

        return retry_locked(write, "case photo expiry") if chosen else 0

    def count_case_photos(self, *, closed_before: float) -> int:
        """Photos of cases closed before `closed_before`, held or not."""
        p, c = case_photos.c, cases.c
        query = (
            sa.select(sa.func.count())
            .select_from(case_photos.join(cases, p.case_id == c.id))
            .where(*self._closed(closed_before))
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- numbers only: crossing counts and health events ---------------------------------------

    def delete_crossing_counts(self, *, before: float) -> int:
        """Delete crossing counts whose interval ended before `before`. Returns how many went."""
        c = tables.crossing_counts.c
        aged = [c.start < before, c.end < before]
        return self._delete_where(tables.crossing_counts, aged, "crossing expiry")

    def count_crossing_counts(self, *, before: float) -> int:
        c = tables.crossing_counts.c
        return self._count(tables.crossing_counts, [c.start < before, c.end < before])

    def delete_health_events(self, *, before: float) -> int:
        """Delete health events older than `before` except each camera's latest. Returns how many went."""
        return self._delete_where(tables.camera_health_events, self._old_health(before), "health expiry")

    def count_health_events(self, *, before: float) -> int:
        """Health events older than `before`, each camera's latest (kept) included."""
        h = tables.camera_health_events.c
        return self._count(tables.camera_health_events, [h.at < before])

    @staticmethod
    def _old_health(before: float) -> list[sa.ColumnElement[bool]]:
        h = tables.camera_health_events.c
        latest = sa.select(sa.func.max(h.id)).group_by(h.camera_id)
        return [h.at < before, h.id.not_in(latest.scalar_subquery())]

    def _delete_where(self, table: sa.Table, where: Sequence[sa.ColumnElement[bool]], what: str) -> int:
        query = table.delete().where(*where)

        def write() -> int:
            with self._writer.begin() as conn:
                return int(conn.execute(query).rowcount or 0)

        return retry_locked(write, what)

    # -- open cases ----------------------------------------------------------------------------

    def open_case_windows(self, now: float) -> list[Span]:
        """The windows of open cases; an open-ended window runs to `now`."""
        c = cases.c
        query = sa.select(c.window_start, c.window_end).where(c.status == _OPEN)
        with self._engine.connect() as conn:
            return [(float(start), now if end is None else float(end)) for start, end in conn.execute(query)]

    def _count(self, table: sa.Table, where: Sequence[sa.ColumnElement[bool]]) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def _aged(
    start: sa.ColumnElement[float],
    end: sa.ColumnElement[float],
    camera: sa.ColumnElement[str],
    before: float,
    cameras: Sequence[str] | None,
    exclude: Sequence[str],
) -> list[sa.ColumnElement[bool]]:
    # ``start < before`` is implied by ``end < before``; it lets the start index narrow the scan.
    where = [start < before, end < before]
    if cameras is not None:
        where.append(camera.in_(list(cameras)))
    if exclude:
        where.append(camera.not_in(list(exclude)))
    return where


def _held(
    camera: sa.ColumnElement[str], start: sa.ColumnElement[float], end: sa.ColumnElement[float]
) -> sa.Exists:
    """Overlaps a recording hold of its camera or of every camera (inclusive: an alert is an instant)."""
    h = recording_holds.c
    return sa.exists().where(
        sa.or_(h.camera_id == camera, h.camera_id == ALL_CAMERAS), h.start <= end, h.end >= start
    )


def _in_open_window(start: sa.ColumnElement[float], end: sa.ColumnElement[float]) -> sa.Exists:
    c = cases.c
    return sa.exists().where(
        c.status == _OPEN, c.window_start <= end, sa.or_(c.window_end.is_(None), c.window_end >= start)
    )


def _since(start: sa.ColumnElement[float], since: float | None) -> list[sa.ColumnElement[bool]]:
    return [] if since is None else [start >= since]
