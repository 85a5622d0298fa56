"""`vigil user add --groups` and `vigil user groups`: a user limited to camera groups, audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import TEST_PASSWORD
from vigil.cli import main
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.users import UserStore

SITE = """
site: Water street
data_dir: {data}
cameras:
  - {{id: cam1, name: North gate, url: "rtsp://10.0.0.1/main", group: Water street}}
  - {{id: cam2, name: Harbour, url: "rtsp://10.0.0.2/main", group: Harbour}}
"""


def _groups(db: Path, name: str) -> tuple[str, ...] | None:
    with Store.open(db) as store:
        record = UserStore.for_store(store).get(name)
        assert record is not None
        return record.camera_groups


def test_groups_are_set_checked_against_the_config_and_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(data=tmp_path / "data"))
    db = tmp_path / "data" / "vigil.db"
    monkeypatch.setenv("NEW_PASSWORD", TEST_PASSWORD)
    add = [
        "user",
        "add",
        "ben",
        "--role",
        "operator",
        "--password-env",
        "NEW_PASSWORD",
        "--config",
        str(config),
    ]
    assert main([*add, "--groups", "Moon"]) == 2
    assert "no camera is in group(s) ['Moon']" in capsys.readouterr().err
    assert main([*add, "--groups", "Harbour, Water street"]) == 0
    assert "limited to camera groups ['Harbour', 'Water street']" in capsys.readouterr().out
    assert _groups(db, "ben") == ("Harbour", "Water street")
    assert main(["user", "groups", "ben", "--groups", "Harbour", "--config", str(config)]) == 0
    assert _groups(db, "ben") == ("Harbour",)
    assert main(["user", "groups", "ben", "--all", "--config", str(config)]) == 0
    assert capsys.readouterr().out.endswith("user 'ben' now sees every camera\n")
    assert _groups(db, "ben") is None
    assert main(["user", "groups", "nobody", "--all", "--config", str(config)]) == 2
    with Store.open(db) as store:
        trail = [r for r in CaseStore.for_store(store).audit_trail(None) if r.action == "user.camera_groups"]
    assert [r.detail["camera_groups"] for r in trail] == [None, ["Harbour"]]  # newest first
