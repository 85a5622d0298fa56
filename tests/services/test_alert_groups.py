"""Alert grouping on a real SQLite store: the rules, a batch holding one group, a restart, the bus path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from config.notify import AlertsConfig
from tests.db.test_store import make_alert
from vigil.core.events import Topic
from vigil.core.types import Alert, AlertKind, AlertPhase
from vigil.infra.bus import MemoryBus
from vigil.infra.db import Store
from vigil.infra.db.alerts import AlertGroupLookup, AlertTriageStore
from vigil.roles import CentralConsumer
from vigil.services.alert_groups import AlertGrouper

CONFIG = AlertsConfig(group_window_s=60, group_track_window_s=600, group_max_span_s=1800)


def alert(alert_id: str, timestamp: float, **fields: Any) -> Alert:
    return make_alert(id=alert_id, timestamp=timestamp, **fields)


def stored_groups(store: Store) -> dict[str, str | None]:
    items, _ = AlertTriageStore.for_store(store).list_alerts(limit=1000)
    return {item.alert.id: item.alert.group_id for item in items}


def group_and_store(store: Store, alerts: Sequence[Alert], config: AlertsConfig = CONFIG) -> list[Alert]:
    fresh = AlertGrouper(AlertGroupLookup.for_store(store), config).assign(alerts)
    store.add_alerts(fresh)
    return fresh


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        # within 60 s of the group's last alert: one group, chained
        (
            [alert("a", 100), alert("b", 150), alert("c", 200)],
            {"a": None, "b": "a", "c": "a"},
        ),
        # a gap over 60 s starts a new group
        ([alert("a", 100), alert("b", 161)], {"a": None, "b": None}),
        # another rule or another camera never joins
        (
            [alert("a", 100), alert("b", 110, rule="bridge"), alert("c", 120, camera_id="cam2")],
            {"a": None, "b": None, "c": None},
        ),
        # the same track joins its group after the 60 s window, within the 600 s track window
        (
            [alert("a", 100, tracker_id=7), alert("b", 500, tracker_id=7), alert("c", 550, tracker_id=8)],
            {"a": None, "b": "a", "c": "a"},  # c: 50 s after b, in b's group
        ),
        # ... but not past the track window
        ([alert("a", 100, tracker_id=7), alert("b", 701, tracker_id=7)], {"a": None, "b": None}),
        # the track rule wins over the latest alert of another group: the same person's group
        (
            [
                alert("a", 100, tracker_id=7),
                alert("b", 300, tracker_id=9),
                alert("c", 320, tracker_id=7),
            ],
            {"a": None, "b": None, "c": "a"},
        ),
        # no group spans more than 1800 s from its first alert, however close the alerts
        (
            [alert(f"a{i}", 100 + 50 * i) for i in range(38)],
            {**{"a0": None}, **{f"a{i}": "a0" for i in range(1, 37)}, "a37": None},
        ),
        # an occupancy end joins its start's group long after the window
        (
            [
                alert("s", 100, kind=AlertKind.OCCUPANCY, phase=AlertPhase.START),
                alert("e", 1000, kind=AlertKind.OCCUPANCY, phase=AlertPhase.END),
            ],
            {"s": None, "e": "s"},
        ),
        # alerts arriving out of order are grouped by their timestamps
        ([alert("b", 150), alert("a", 100)], {"a": None, "b": "a"}),
    ],
)
def test_grouping_rules_in_one_batch(
    tmp_path: Path, alerts: list[Alert], expected: dict[str, str | None]
) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(store, alerts)
        assert stored_groups(store) == expected


@pytest.mark.parametrize("split", [1, 2, 3], ids=["1+3", "2+2", "3+1"])
def test_a_group_continues_across_batches_and_a_restart(tmp_path: Path, split: int) -> None:
    alerts = [alert("a", 100), alert("b", 130, tracker_id=3), alert("c", 170), alert("d", 600, tracker_id=3)]
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(store, alerts[:split])
    # The central process restarted: nothing in memory, the open group is read from the database.
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(store, alerts[split:])
        assert stored_groups(store) == {"a": None, "b": "a", "c": "a", "d": "a"}


def test_replays_and_repeats_are_left_out_and_keep_their_group(tmp_path: Path) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(store, [alert("a", 100), alert("b", 120)])
        fresh = group_and_store(store, [alert("b", 120), alert("c", 130), alert("c", 130)])
        assert [a.id for a in fresh] == ["c"]
        assert stored_groups(store) == {"a": None, "b": "a", "c": "a"}


def test_grouping_off_by_zero_windows(tmp_path: Path) -> None:
    config = AlertsConfig(group_window_s=0, group_track_window_s=0)
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(store, [alert("a", 100, tracker_id=1), alert("b", 101, tracker_id=1)], config)
        assert stored_groups(store) == {"a": None, "b": None}


def test_the_central_consumer_groups_before_storing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        handed_on: list[list[tuple[str, str | None]]] = []
        bus = MemoryBus()
        grouper = AlertGrouper(AlertGroupLookup.for_store(store), CONFIG)
        CentralConsumer(
            bus,
            store,
            on_alerts=lambda alerts: handed_on.append([(a.id, a.group_id) for a in alerts]),
            group=grouper.assign,
        ).attach()
        bus.start()
        bus.publish(Topic.ALERTS, "cam1", alert("a", 100))
        bus.stop()
        bus.start()
        bus.publish(Topic.ALERTS, "cam1", alert("a", 100))  # a replay: not stored nor handed on again
        bus.publish(Topic.ALERTS, "cam1", alert("b", 110))
        bus.stop()
        assert stored_groups(store) == {"a": None, "b": "a"}
        assert [item for batch in handed_on for item in batch] == [("a", None), ("b", "a")]


def test_list_by_group_and_collapsed(tmp_path: Path) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        group_and_store(
            store,
            [
                alert("a", 100),
                alert("b", 130),
                alert("x", 140, rule="bridge"),
                alert("c", 400),
                alert("d", 420),
            ],
        )
        triage = AlertTriageStore.for_store(store)
        members, total = triage.list_alerts(group_id="a")
        assert ([i.alert.id for i in members], total) == (["b", "a"], 2)
        groups, count = triage.list_groups()
        assert [(g.item.alert.id, g.group_id, g.size) for g in groups] == [
            ("d", "c", 2),  # the newest alert of each group, newest group first
            ("x", "x", 1),
            ("b", "a", 2),
        ]
        assert count == 3
        page, count = triage.list_groups(limit=1, offset=1, rule="gate")
        assert ([(g.item.alert.id, g.size) for g in page], count) == ([("b", 2)], 2)
        # Filters select alerts before they collapse: the size counts those that match.
        narrow, _ = triage.list_groups(end=110)
        assert [(g.item.alert.id, g.size) for g in narrow] == [("a", 1)]
