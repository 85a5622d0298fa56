"""The audit hash chain: tampering found and named, concurrent writers, migration 0009, the CLI."""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from vigil.commands import audit as audit_command
from vigil.infra.db.audit import CHAIN_STARTED, GENESIS_HASH, ChainHead, row_hash
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.store import MIGRATIONS_DIR, Store

ROWS = 30


def fill(db: Path, rows: int = ROWS, who: str = "ann") -> ChainHead:
    """`rows` audit rows of mixed actions through the store; returns the head."""
    with Store.open(db) as store:
        cases = CaseStore.for_store(store)
        head = cases.audit_head()
        for i in range(rows):
            detail = {"camera_id": f"cam{i % 3}", "n": i, "span": [1.5 * i, 2.25 * i], "note": "é"}
            record = AuditRecord(
                1_780_000_000.0 + i, who, ("search", "export_clip")[i % 2], None, f"r{i}", detail
            )
            head = cases.audit(record)
    return head


def verify(db: Path, expect: ChainHead | None = None) -> tuple[str | None, int | None]:
    with Store.open(db) as store:
        report = CaseStore.for_store(store).verify_audit(expect)
    return (None, None) if report.problem is None else (report.problem.kind, report.problem.row_id)


def raw(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX IF EXISTS ux_audit_log_prev_hash")  # an attacker with the file can
    return conn


def _row(conn: sqlite3.Connection, ident: int) -> dict[str, object]:
    cur = conn.execute(
        "SELECT id, at, user, action, case_id, reason, detail, prev_hash FROM audit_log WHERE id=?", (ident,)
    )
    names = [d[0] for d in cur.description]
    values = dict(zip(names, cur.fetchone(), strict=True))
    values["detail"] = json.loads(str(values["detail"]))
    return values


def edit(conn: sqlite3.Connection, k: int) -> None:
    conn.execute("UPDATE audit_log SET reason = reason || ' (changed)' WHERE id=?", (k,))


def edit_and_rehash(conn: sqlite3.Connection, k: int) -> None:
    edit(conn, k)
    row = _row(conn, k)
    conn.execute("UPDATE audit_log SET row_hash=? WHERE id=?", (row_hash(row, str(row["prev_hash"])), k))


def delete(conn: sqlite3.Connection, k: int) -> None:
    conn.execute("DELETE FROM audit_log WHERE id=?", (k,))


def delete_and_renumber(conn: sqlite3.Connection, k: int) -> None:
    delete(conn, k)
    for ident in range(k + 1, ROWS + 1):
        conn.execute("UPDATE audit_log SET id=? WHERE id=?", (ident - 1, ident))


def insert_linked(conn: sqlite3.Connection, k: int) -> None:
    """A forged row at id k, linked to row k-1 with a correct hash; rows from k on move up one."""
    for ident in range(ROWS, k - 1, -1):
        conn.execute("UPDATE audit_log SET id=? WHERE id=?", (ident + 1, ident))
    prev = (
        GENESIS_HASH
        if k == 1
        else conn.execute("SELECT row_hash FROM audit_log WHERE id=?", (k - 1,)).fetchone()[0]
    )
    row = {
        "id": k,
        "at": 1.0,
        "user": "mallory",
        "action": "search",
        "case_id": None,
        "reason": "x",
        "detail": {},
    }
    conn.execute(
        "INSERT INTO audit_log (id, at, user, action, case_id, reason, detail, prev_hash, row_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (k, 1.0, "mallory", "search", None, "x", "{}", prev, row_hash(row, prev)),
    )


def insert_at_end(conn: sqlite3.Connection, k: int) -> None:
    del k
    conn.execute(
        "INSERT INTO audit_log (id, at, user, action, case_id, reason, detail, prev_hash, row_hash)"
        " VALUES (?, 1.0, 'mallory', 'search', NULL, 'x', '{}', ?, ?)",
        (ROWS + 1, "ab" * 32, "cd" * 32),
    )


Tamper = Callable[[sqlite3.Connection, int], None]

TAMPERING: list[tuple[Tamper, set[str], Callable[[int], int]]] = [
    # (what is done to row k, kinds the verifier may name, the row it must name)
    (edit, {"edited"}, lambda k: k),
    (edit_and_rehash, {"edited"}, lambda k: k),  # the next row still holds the original hash
    (delete, {"deleted", "truncated"}, lambda k: k),  # the last row: only the recorded head shows it
    (delete_and_renumber, {"deleted", "truncated"}, lambda k: k),
    (insert_linked, {"inserted"}, lambda k: k),
    (insert_at_end, {"inserted"}, lambda k: ROWS + 1),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChainHead]:
    db = tmp_path_factory.mktemp("audit") / "vigil.db"
    return db, fill(db)


@pytest.mark.parametrize("tamper, kinds, named", TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
def test_random_row_tampering_is_detected_and_named(
    pristine: tuple[Path, ChainHead],
    tmp_path: Path,
    tamper: Tamper,
    kinds: set[str],
    named: Callable[[int], int],
) -> None:
    source, head = pristine
    assert verify(source, head) == (None, None)
    rng = random.Random(f"{tamper.__name__}-17")
    for k in [1, ROWS, *rng.sample(range(2, ROWS), 4)]:  # both ends and random rows between
        db = tmp_path / f"{k}.db"
        with sqlite3.connect(source) as src, sqlite3.connect(db) as dst:
            src.backup(dst)
        with raw(db) as conn:
            tamper(conn, k)
        kind, row = verify(db, head)
        assert (kind in kinds, row) == (True, named(k)), f"{tamper.__name__} row {k}: got {kind} row {row}"


def test_a_chain_recomputed_from_scratch_fails_the_recorded_head(
    pristine: tuple[Path, ChainHead], tmp_path: Path
) -> None:
    source, head = pristine
    db = tmp_path / "rewritten.db"
    with sqlite3.connect(source) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    with raw(db) as conn:
        edit(conn, 5)
        prev = GENESIS_HASH
        for ident in range(1, ROWS + 1):  # every hash recomputed: the chain itself is consistent
            row = _row(conn, ident)
            digest = row_hash(row, prev)
            conn.execute("UPDATE audit_log SET prev_hash=?, row_hash=? WHERE id=?", (prev, digest, ident))
            prev = digest
    assert verify(db) == (None, None)  # which is why the head is printed and put in manifests
    assert verify(db, head) == ("edited", ROWS)


def _append_from_process(db: str, who: str) -> None:
    fill(Path(db), 15, who)


def test_concurrent_writers_never_fork_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    Store.open(db).close()
    # Threads with their own engines (as separate processes would have), then two real processes.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: fill(db, 15, f"thread{n}"), range(4)))
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_append_from_process, args=(str(db), f"proc{n}")) for n in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with Store.open(db) as store:
        report = CaseStore.for_store(store).verify_audit()
    assert (report.ok, report.rows, report.head.id) == (True, 90, 90)


def test_the_database_refuses_a_fork(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    fill(db, 3)
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match="prev_hash"):
        prev = conn.execute("SELECT prev_hash FROM audit_log WHERE id=3").fetchone()[0]
        conn.execute(
            "INSERT INTO audit_log (at, user, action, case_id, reason, detail, prev_hash, row_hash)"
            " VALUES (1.0, 'x', 'search', NULL, 'x', '{}', ?, ?)",
            (prev, "ee" * 32),
        )


def test_migration_0009_chains_the_rows_it_finds(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
        for i in range(5):
            conn.exec_driver_sql(
                "INSERT INTO audit_log (at, user, action, case_id, reason, detail)"
                " VALUES (?, 'old', 'search', ?, ?, ?)",
                (100.0 + i, "case-1" if i % 2 else None, f"before {i}", json.dumps({"i": i})),
            )
    engine.dispose()
    with Store.open(db) as store:
        cases = CaseStore.for_store(store)
        report = cases.verify_audit()
        started = cases.audit_trail(limit=1)[0]
        trail = cases.audit_trail(limit=10)
        cases.audit(AuditRecord(1e9, "ann", "search", None, "after", {}))
        after = cases.verify_audit()
    assert (report.ok, report.rows) == (True, 6)
    assert (started.action, started.detail) == (CHAIN_STARTED, {"rows_chained": 5})
    assert sorted(r.reason for r in trail if r.user == "old") == [
        f"before {i}" for i in range(5)
    ]  # reads unchanged
    assert (after.ok, after.rows) == (True, 7)


def test_vigil_audit_verify_prints_the_head_and_names_a_broken_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("cameras:\n  - id: cam1\n    url: rtsp://127.0.0.1/x\n")
    db = tmp_path / "vigil-data" / "vigil.db"
    head = fill(db, 4)
    assert audit_command.main([str(config)]) == 0
    assert f"4 row(s); head {head}" in capsys.readouterr().out
    assert audit_command.main([str(config), "--expect-head", "nonsense"]) == 2
    assert "expected ID:SHA256" in capsys.readouterr().err
    with raw(db) as conn:
        edit(conn, 2)
    assert audit_command.main([str(config), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["problem"]["row_id"], out["problem"]["kind"]) == (False, 2, "edited")
    with raw(db) as conn:
        conn.execute("UPDATE audit_log SET reason='r1' WHERE id=2")  # put back
        delete(conn, 4)
    assert audit_command.main([str(config), "--expect-head", str(head)]) == 1
    assert "BROKEN at row 4 (truncated)" in capsys.readouterr().out
