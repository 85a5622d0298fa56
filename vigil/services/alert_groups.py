"""`AlertGrouper`: similar alerts share a group, so the inbox and the notifications see one incident.

An alert joins the group of an earlier alert of the **same rule and camera** when

1. it is the **same track** and that track's last alert is at most ``group_track_window_s``
   old (a person crossing a line back and forth), or else
2. the rule and camera's last alert is at most ``group_window_s`` old (a crowd tripping a zone
   one person after another), or, for the *end* of a lasting condition (occupancy, person
   down), the group of its start, however long ago that was,

and the group's first alert is at most ``group_max_span_s`` old, so a rule that never stops
firing still opens a new group now and then. Otherwise it starts a group of its own.
``Alert.group_id`` is the group's first alert's id; the first alert itself keeps None.

Groups are decided centrally, on the bus thread, before the alerts are stored (the central
consumer, `vigil.roles.CentralConsumer`): the open groups are looked up in the database, so a
restart of the central process continues them; alerts earlier in the same batch count too,
before they are stored. One camera's alerts reach one central consumer (they are keyed by
camera), so no two processes decide one camera's groups at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Protocol

from config.notify import AlertsConfig
from vigil.core.types import Alert, AlertPhase
from vigil.infra.db.alerts import GroupAnchor


class GroupLookup(Protocol):
    """What the grouper reads from the database (`vigil.infra.db.alerts.AlertGroupLookup`)."""

    def stored_ids(self, ids: Collection[str]) -> set[str]: ...

    def latest(
        self, rule: str, camera_id: str, *, since: float, until: float, tracker_id: int | None = None
    ) -> GroupAnchor | None: ...


def choose_group(
    alert: Alert, same_track: GroupAnchor | None, latest: GroupAnchor | None, config: AlertsConfig
) -> GroupAnchor | None:
    """The alert the new one groups with, or None when it starts a group.

    Args:
        alert: The new alert.
        same_track: The latest earlier alert of its rule, camera and track, if any.
        latest: The latest earlier alert of its rule and camera, if any.
        config: The grouping windows.
    """

    def open_at(anchor: GroupAnchor, gap: float) -> bool:
        return (
            alert.timestamp - anchor.timestamp <= gap
            and alert.timestamp - anchor.group_start <= config.group_max_span_s
        )

    tracked = alert.tracker_id is not None
    if tracked and same_track is not None and open_at(same_track, config.group_track_window_s):
        return same_track
    # A condition's end belongs with its start even when the condition lasted long.
    gap = config.group_max_span_s if alert.phase is AlertPhase.END else config.group_window_s
    if latest is not None and open_at(latest, gap):
        return latest
    return None


class AlertGrouper:
    """Sets ``group_id`` on new alerts before they are stored; drops those already stored.

    Args:
        lookup: The stored alerts (`vigil.infra.db.alerts.AlertGroupLookup.for_store`).
        config: The grouping windows (``alerts:`` in the site config).
    """

    def __init__(self, lookup: GroupLookup, config: AlertsConfig) -> None:
        self.lookup = lookup
        self.config = config

    def assign(self, alerts: Sequence[Alert]) -> list[Alert]:
        """The batch's new alerts, in arrival order, each with its group.

        Alerts already stored (a replay) and repeats within the batch are left out: storing them
        would do nothing, and they must not be notified twice. Within the batch, alerts are
        grouped in timestamp order, an earlier one of the batch counting as stored.
        """
        stored = self.lookup.stored_ids([alert.id for alert in alerts])
        fresh: dict[str, Alert] = {}
        for alert in alerts:
            if alert.id not in stored and alert.id not in fresh:
                fresh[alert.id] = alert
        batch: list[GroupAnchor] = []
        keys: dict[str, tuple[str, str]] = {}  # alert id -> (rule, camera)
        grouped: dict[str, Alert] = {}
        for alert in sorted(fresh.values(), key=lambda a: a.timestamp):
            keys[alert.id] = (alert.rule, alert.camera_id)
            same_track = None
            if alert.tracker_id is not None:
                window = self.config.group_track_window_s
                same_track = self._latest(alert, batch, keys, window, alert.tracker_id)
            latest = self._latest(alert, batch, keys, self._lookback(alert), None)
            anchor = choose_group(alert, same_track, latest, self.config)
            group = alert if anchor is None else dataclasses.replace(alert, group_id=anchor.group_id)
            grouped[alert.id] = group
            batch.append(
                GroupAnchor(
                    alert_id=alert.id,
                    timestamp=alert.timestamp,
                    tracker_id=alert.tracker_id,
                    group_id=group.group_id or alert.id,
                    group_start=alert.timestamp if anchor is None else anchor.group_start,
                )
            )
        return [grouped[alert_id] for alert_id in fresh]

    def _lookback(self, alert: Alert) -> float:
        if alert.phase is AlertPhase.END:
            return self.config.group_max_span_s
        return self.config.group_window_s

    def _latest(
        self,
        alert: Alert,
        batch: list[GroupAnchor],
        keys: dict[str, tuple[str, str]],
        lookback: float,
        tracker_id: int | None,
    ) -> GroupAnchor | None:
        """The latest earlier alert of the rule and camera (and track): stored or earlier in the batch."""
        since, until = alert.timestamp - lookback, alert.timestamp
        best = self.lookup.latest(
            alert.rule, alert.camera_id, since=since, until=until, tracker_id=tracker_id
        )
        for anchor in batch:  # earlier in timestamp order, so never later than the alert
            if keys[anchor.alert_id] != (alert.rule, alert.camera_id) or anchor.timestamp < since:
                continue
            if tracker_id is not None and anchor.tracker_id != tracker_id:
                continue
            if best is None or anchor.timestamp >= best.timestamp:
                best = anchor
        return best
