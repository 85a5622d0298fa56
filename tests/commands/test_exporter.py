"""Who a command-line export is recorded as: the OS user, or a Vigil user checked by password and role."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from tests.factories import FAST_HASHER
from vigil.commands.exporter import DENIED, ExportDenied, resolve_exporter
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.store import Store
from vigil.infra.db.users import Role, UserStore

PASSWORD = "correct horse battery"


def _never(_: str) -> str:
    raise AssertionError("prompted although VIGIL_PASSWORD was set")


def test_no_user_is_the_os_user(tmp_path: Path) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        who = resolve_exporter(store, None, env={}, case_id=None, reason="r", prompt=_never)
    assert who == f"os:{getpass.getuser()}"


@pytest.mark.parametrize(
    ("name", "role", "password", "disabled", "allowed"),
    [
        ("mia", Role.MEDIATOR, PASSWORD, False, True),  # mediator with her password: allowed
        ("ada", Role.ADMIN, PASSWORD, False, True),  # admin covers mediator
        ("mia", Role.MEDIATOR, "wrong password!", False, False),  # wrong password
        ("olu", Role.OPERATOR, PASSWORD, False, False),  # operator may not export
        ("dis", Role.MEDIATOR, PASSWORD, True, False),  # disabled mediator
        ("nobody", None, PASSWORD, False, False),  # unknown name
    ],
)
def test_named_user_is_checked_and_denials_audited(
    tmp_path: Path, name: str, role: Role | None, password: str, disabled: bool, allowed: bool
) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        users = UserStore.for_store(store, FAST_HASHER)
        if role is not None:
            users.add(name, role, PASSWORD)
            if disabled:
                users.set_disabled(name, True)
        env = {"VIGIL_PASSWORD": password}
        if allowed:
            assert resolve_exporter(store, name, env=env, case_id="c1", reason="r", prompt=_never) == name
        else:
            with pytest.raises(ExportDenied, match=DENIED):
                resolve_exporter(store, name, env=env, case_id="c1", reason="r", prompt=_never)
        denials = [a for a in CaseStore.for_store(store).audit_trail() if a.action == DENIED]
    assert [(a.user, a.case_id) for a in denials] == ([] if allowed else [(name, "c1")])


def test_password_is_prompted_without_env(tmp_path: Path) -> None:
    with Store.open(tmp_path / "vigil.db") as store:
        UserStore.for_store(store, FAST_HASHER).add("mia", Role.MEDIATOR, PASSWORD)
        asked: list[str] = []

        def prompt(text: str) -> str:
            asked.append(text)
            return PASSWORD

        assert resolve_exporter(store, "mia", env={}, case_id=None, reason="r", prompt=prompt) == "mia"
    assert asked == ["Vigil password for mia: "]
