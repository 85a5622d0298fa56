"""AlertTriageStore: the triage state machine, history, audit rows, filters and the 0005 migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from tests.db.test_store import make_alert
from vigil.core.errors import ValidationError
from vigil.core.types import AlertKind
from vigil.infra.db import Store
from vigil.infra.db.alerts import (
    AlertNotFound,
    AlertTriageStore,
    HistoryEntry,
    Triage,
    TriageAction,
    TriageConflict,
    TriageState,
)
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.store import MIGRATIONS_DIR

A, R, K, S, U = (
    TriageAction.ACKNOWLEDGE,
    TriageAction.RESOLVE,
    TriageAction.REOPEN,
    TriageAction.ASSIGN,
    TriageAction.UNASSIGN,
)
NEW, ACK, RES = TriageState.NEW, TriageState.ACKNOWLEDGED, TriageState.RESOLVED


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "vigil.db") as opened:
        opened.add_alert(make_alert("cam1", 100.0, id="a1"))
        yield opened


@pytest.fixture
def triage(store: Store) -> AlertTriageStore:
    return AlertTriageStore.for_store(store)


def test_untouched_alert_is_new_with_no_history(triage: AlertTriageStore) -> None:
    item = triage.get("a1")
    assert item is not None and item.alert.id == "a1"
    assert item.triage == Triage(state=NEW, assignee=None, updated_at=None, updated_by=None)
    assert triage.history("a1") == []
    assert triage.get("nope") is None


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ([A], ACK),
        ([A, A], ACK),  # a second operator acknowledging is recorded, not refused
        ([R], RES),  # straight from new
        ([A, R], RES),
        ([A, R, K], NEW),  # reopened: needs attention again
        ([A, R, K, A], ACK),
        ([S], NEW),  # assigning does not acknowledge
        ([A, R, S], RES),  # assigning works on a resolved alert too
        ([S, U], NEW),
    ],
)
def test_allowed_moves(triage: AlertTriageStore, actions: list[TriageAction], expected: TriageState) -> None:
    for i, action in enumerate(actions):
        item = triage.apply("a1", action, "op", note=f"n{i}", assignee="bob", at=1000.0 + i)
    assert item.triage.state is expected
    assert triage.get("a1") == item  # what apply returns is what is stored
    assert [entry.action for entry in triage.history("a1")] == actions


@pytest.mark.parametrize(
    ("before", "action", "message"),
    [
        ([A, R], A, "cannot acknowledge: the alert is resolved by op; reopen it first"),
        ([R], R, "cannot resolve: the alert is resolved by op; reopen it first"),
        ([], K, "cannot reopen: the alert is new; only a resolved alert reopens"),
        ([A], K, "cannot reopen: the alert is acknowledged by op; only a resolved alert reopens"),
    ],
)
def test_refused_moves_change_nothing(
    triage: AlertTriageStore, before: list[TriageAction], action: TriageAction, message: str
) -> None:
    for step in before:
        triage.apply("a1", step, "op", note="x")
    stored, history = triage.get("a1"), triage.history("a1")
    with pytest.raises(TriageConflict, match=message):
        triage.apply("a1", action, "op2", note="again")
    assert triage.get("a1") == stored
    assert triage.history("a1") == history


def test_assign_keeps_assignee_until_unassigned(triage: AlertTriageStore) -> None:
    assert triage.apply("a1", S, "op", assignee="bob").triage.assignee == "bob"
    assert triage.apply("a1", A, "op").triage.assignee == "bob"
    assert triage.apply("a1", R, "op", note="done").triage.assignee == "bob"
    assert triage.apply("a1", U, "op").triage.assignee is None


def test_each_action_writes_history_and_audit(store: Store, triage: AlertTriageStore) -> None:
    triage.apply("a1", A, "ann", note="looking", at=10.0)
    triage.apply("a1", S, "ann", assignee="bob", at=11.0)
    triage.apply("a1", R, "bob", note="false alarm: a cleaner", at=12.0)
    assert triage.history("a1") == [
        HistoryEntry("a1", 10.0, "ann", A, "looking"),
        HistoryEntry("a1", 11.0, "ann", S, None),
        HistoryEntry("a1", 12.0, "bob", R, "false alarm: a cleaner"),
    ]
    item = triage.get("a1")
    assert item is not None
    assert item.triage == Triage(state=RES, assignee="bob", updated_at=12.0, updated_by="bob")
    audit = CaseStore.for_store(store).audit_trail()  # newest first
    assert [(a.action, a.user, a.reason, a.case_id) for a in audit] == [
        ("alert.resolve", "bob", "false alarm: a cleaner", None),
        ("alert.assign", "ann", "", None),
        ("alert.acknowledge", "ann", "looking", None),
    ]
    assert audit[0].detail["alert_id"] == "a1"
    assert (audit[0].detail["previous_state"], audit[0].detail["state"]) == ("acknowledged", "resolved")


def test_legacy_acknowledged_flag_follows_the_state(store: Store, triage: AlertTriageStore) -> None:
    def flag() -> bool:
        with store._engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT acknowledged FROM alerts WHERE id = 'a1'").scalar())

    assert flag() is False
    triage.apply("a1", A, "op")
    assert flag() is True
    triage.apply("a1", R, "op", note="done")
    triage.apply("a1", K, "op")
    assert flag() is False


@pytest.mark.parametrize(
    ("alert_id", "action", "kwargs", "error"),
    [
        ("nope", A, {}, AlertNotFound),  # unknown alert
        ("a1", S, {}, ValidationError),  # assign needs an assignee
        ("a1", R, {"note": "x" * 2001}, ValidationError),  # note over 2000 characters
    ],
)
def test_bad_actions_raise(
    triage: AlertTriageStore, alert_id: str, action: TriageAction, kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        triage.apply(alert_id, action, "op", **kwargs)
    assert triage.history("a1") == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["c3", "b2", "a1"]),  # newest first
        ({"states": {NEW}}, ["c3"]),  # no triage row counts as new
        ({"states": {ACK, RES}}, ["b2", "a1"]),
        ({"states": {RES}}, ["a1"]),
        ({"assignee": "bob"}, ["b2"]),
        ({"rule": "door"}, ["c3"]),
        ({"camera_id": "cam2", "states": {ACK}}, ["b2"]),
        ({"kind": AlertKind.DWELL}, ["c3"]),
        ({"start": 150.0, "end": 250.0}, ["b2"]),
        ({"limit": 1, "offset": 1}, ["b2"]),
    ],
)
def test_list_filters(
    store: Store, triage: AlertTriageStore, filters: dict[str, object], expected: list[str]
) -> None:
    store.add_alert(make_alert("cam2", 200.0, id="b2"))
    store.add_alert(make_alert("cam1", 300.0, AlertKind.DWELL, rule="door", id="c3"))
    triage.apply("a1", R, "op", note="done")
    triage.apply("b2", A, "op")
    triage.apply("b2", S, "op", assignee="bob")
    items, total = triage.list_alerts(**filters)  # type: ignore[arg-type]
    assert [item.alert.id for item in items] == expected
    assert total == (3 if "limit" in filters else len(expected))


def test_migration_upgrades_a_0004_database_with_alerts(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
        assert "alert_triage" not in sa.inspect(conn).get_table_names()
        conn.exec_driver_sql(
            "INSERT INTO alerts (id, kind, rule, camera_id, timestamp, message, acknowledged, created_at) "
            "VALUES ('old', 'zone_intrusion', 'gate', 'cam1', 5.0, 'before triage', 0, 5.0)"
        )
    engine.dispose()
    with Store.open(db) as store:  # brings it to head
        triage = AlertTriageStore.for_store(store)
        item = triage.get("old")
        assert item is not None and item.triage.state is NEW
        assert triage.apply("old", A, "op").triage.state is ACK
        with store._engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    assert {"alert_triage", "alert_history"} <= tables
