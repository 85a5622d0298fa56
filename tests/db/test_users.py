"""Users in the database, the first admin on start, and the `vigil user` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import FAST_HASHER, TEST_PASSWORD
from vigil.cli import main
from vigil.core.errors import ConfigError, ValidationError
from vigil.infra.db import Store
from vigil.infra.db.users import Role, UserExists, UserNotFound, UserStore, ensure_first_admin


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    store = Store.open(tmp_path / "vigil.db")
    yield UserStore.for_store(store, hasher=FAST_HASHER)
    store.close()


def test_password_is_stored_only_as_an_argon2id_hash(users: UserStore) -> None:
    users.add("ana", Role.OPERATOR, TEST_PASSWORD, now=100.0)
    record = users.get("ana")
    assert record is not None and record.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in record.password_hash
    assert (record.role, record.disabled, record.created_at, record.last_login_at) == (
        Role.OPERATOR,
        False,
        100.0,
        None,
    )
    assert users.verify_password(record, TEST_PASSWORD) and not users.verify_password(record, "wrong pass")
    assert not users.verify_password(None, TEST_PASSWORD)  # an unknown name never verifies


@pytest.mark.parametrize(
    ("name", "password", "error"),
    [
        ("ana", "short", "password: expected 8 to 1024 characters, got 5"),
        ("", TEST_PASSWORD, "user name: expected 1-64 letters"),
        ("ana smith", TEST_PASSWORD, "user name"),  # no spaces
        ("-ana", TEST_PASSWORD, "user name"),  # would read as a flag
        ("a" * 65, TEST_PASSWORD, "user name"),
    ],
)
def test_add_checks_name_and_password(users: UserStore, name: str, password: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        users.add(name, Role.VIEWER, password)
    assert users.count() == 0


def test_names_are_unique_and_changes_bump_the_token_version(users: UserStore) -> None:
    users.add("ana", Role.OPERATOR, TEST_PASSWORD)
    with pytest.raises(UserExists, match="already exists"):
        users.add("ana", Role.ADMIN, TEST_PASSWORD)
    users.set_password("ana", "another password")
    users.set_disabled("ana", True)
    record = users.get("ana")
    assert record is not None and record.disabled and record.token_version == 2
    assert users.verify_password(record, "another password")
    with pytest.raises(UserNotFound):
        users.set_disabled("bob", True)


@pytest.mark.parametrize(
    ("existing", "env", "generate", "expected"),
    [
        (False, {"VIGIL_ADMIN_PASSWORD": "from the env"}, False, "from the env"),  # vigil run, first start
        (False, {}, True, "generated"),  # vigil demo: a random password, printed once
        (False, {}, False, ConfigError),  # vigil run with nobody to log in: refuse, say what to do
        (True, {"VIGIL_ADMIN_PASSWORD": "from the env"}, False, None),  # never resets a password
    ],
)
def test_first_admin(
    users: UserStore, existing: bool, env: dict[str, str], generate: bool, expected: object
) -> None:
    if existing:
        users.add("ana", Role.ADMIN, TEST_PASSWORD)
    if expected is ConfigError:
        with pytest.raises(ConfigError, match="vigil user add admin --role admin"):
            ensure_first_admin(users, env, generate=generate)
        assert users.count() == 0
        return
    created = ensure_first_admin(users, env, generate=generate)
    if expected is None:
        assert created is None and users.get("admin") is None
        return
    assert created is not None and created.name == "admin"
    password = created.password if expected == "generated" else str(expected)
    assert (created.password is None) == (expected != "generated")  # only a generated one is shown
    admin = users.get("admin")
    assert admin is not None and admin.role is Role.ADMIN and password is not None
    assert users.verify_password(admin, password)


# -- the command line ------------------------------------------------------------------------


def test_vigil_user_add_list_disable_enable_passwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ["--db", str(tmp_path / "vigil.db")]
    monkeypatch.setenv("NEW_PASSWORD", TEST_PASSWORD)
    assert main(["user", "add", "ana", "--role", "operator", "--password-env", "NEW_PASSWORD", *db]) == 0
    assert main(["user", "add", "ana", "--role", "admin", "--password-env", "NEW_PASSWORD", *db]) == 2
    assert "user 'ana' already exists" in capsys.readouterr().err
    assert main(["user", "disable", "ana", *db]) == 0
    assert capsys.readouterr().out == "user 'ana' disabled\n"
    assert main(["user", "list", *db]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["NAME", "ROLE", "STATE", "CREATED", "LAST", "LOGIN"]
    assert listing[1].split()[:3] == ["ana", "operator", "disabled"] and listing[1].endswith("never")
    assert main(["user", "enable", "ana", *db]) == 0
    monkeypatch.setenv("NEW_PASSWORD", "a brand new password")
    assert main(["user", "passwd", "ana", "--password-env", "NEW_PASSWORD", *db]) == 0
    with Store.open(tmp_path / "vigil.db") as store:
        users = UserStore.for_store(store)
        record = users.get("ana")
        assert record is not None and not record.disabled and record.token_version == 3
        assert users.verify_password(record, "a brand new password")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["user", "add", "bob", "--role", "viewer", "--password-env", "UNSET_VAR"], "UNSET_VAR is not set"),
        (["user", "add", "bob", "--role", "viewer"], "no terminal to ask on; use --password-env"),  # CI
        (["user", "passwd", "nobody", "--password-env", "NEW_PASSWORD"], "no user 'nobody'"),
        (["user", "disable", "nobody"], "no user 'nobody'"),
        (["user", "add", "bad name", "--role", "viewer", "--password-env", "NEW_PASSWORD"], "user name"),
    ],
)
def test_vigil_user_errors_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    error: str,
) -> None:
    monkeypatch.setenv("NEW_PASSWORD", TEST_PASSWORD)
    monkeypatch.delenv("UNSET_VAR", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main([*argv, "--db", str(tmp_path / "vigil.db")]) == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1


def test_vigil_run_refuses_to_serve_an_api_nobody_can_log_in_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIGIL_ADMIN_PASSWORD", raising=False)
    config = tmp_path / "site.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ncameras: [{{id: cam1, url: 'rtsp://127.0.0.1:1/x'}}]\n"
    )
    assert main(["run", str(config), "--duration", "0"]) == 2
    assert "vigil user add admin --role admin" in capsys.readouterr().err
