"""``/users``: list, add, disable, enable, reset passwords (admin); the assign menu (operator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_api import Site, make_site
from tests.factories import TEST_PASSWORD, auth_headers, make_user
from vigil.infra.db.cases import AuditRecord, CaseStore
from vigil.infra.db.users import Role

NEW_PASSWORD = "a much longer passphrase"


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Site]:
    site = make_site(tmp_path, role=Role.ADMIN)
    yield site
    site.store.close()


def _audit(site: Site) -> list[AuditRecord]:
    """User administration's audit rows, oldest first (logins left out)."""
    rows = CaseStore.for_store(site.store).audit_trail()
    return [row for row in reversed(rows) if row.action.startswith("user.")]


def _login(site: Site, name: str, password: str) -> int:
    response = site.client.post("/auth/login", data={"username": name, "password": password})
    return int(response.status_code)


def test_list_users(admin: Site) -> None:
    make_user(admin.store, Role.VIEWER, "wall")
    body = admin.client.get("/users").json()
    assert body["count"] == 2
    assert [(u["name"], u["role"], u["enabled"]) for u in body["items"]] == [
        ("test-admin", "admin", True),
        ("wall", "viewer", True),
    ]
    assert body["items"][0]["last_login_at"] is not None and body["items"][1]["last_login_at"] is None
    assert all(
        set(u) == {"name", "role", "enabled", "created_at", "last_login_at", "camera_groups"}
        for u in body["items"]
    )


def test_add_user_who_can_then_log_in(admin: Site) -> None:
    response = admin.client.post("/users", json={"name": "ana", "role": "operator", "password": NEW_PASSWORD})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ana" and response.json()["role"] == "operator"
    assert _login(admin, "ana", NEW_PASSWORD) == 200
    (row,) = _audit(admin)
    assert (row.action, row.user, row.detail) == (
        "user.add",
        "test-admin",
        {"name": "ana", "role": "operator"},
    )
    assert NEW_PASSWORD not in str(row)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        # the CLI's minimum length
        (
            {"name": "ana", "role": "operator", "password": "short"},
            422,
            "password: String should have at least 8",
        ),
        # the CLI's name rules
        ({"name": "-ana", "role": "operator", "password": NEW_PASSWORD}, 422, "name: String should match"),
        ({"name": "ana", "role": "root", "password": NEW_PASSWORD}, 422, "role: Input should be"),
        # a taken name (disabled users keep theirs)
        ({"name": "test-admin", "role": "viewer", "password": NEW_PASSWORD}, 409, "already exists"),
    ],
)
def test_add_user_refused(admin: Site, body: dict[str, str], status: int, detail: str) -> None:
    response = admin.client.post("/users", json=body)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert not _audit(admin)


def test_disable_ends_the_users_tokens_and_enable_lets_them_log_in_again(admin: Site) -> None:
    headers = auth_headers(admin.client, admin.store, Role.OPERATOR, "ana")
    assert admin.client.get("/alerts", headers=headers).status_code == 200
    response = admin.client.post("/users/ana/disable")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert admin.client.get("/alerts", headers=headers).status_code == 401
    assert _login(admin, "ana", TEST_PASSWORD) == 401
    assert admin.client.post("/users/ana/enable").json()["enabled"] is True
    assert _login(admin, "ana", TEST_PASSWORD) == 200
    assert [(row.action, row.detail) for row in _audit(admin)] == [
        ("user.disable", {"name": "ana"}),
        ("user.enable", {"name": "ana"}),
    ]


def test_admin_cannot_disable_themselves(admin: Site) -> None:
    response = admin.client.post("/users/test-admin/disable")
    assert response.status_code == 409
    assert admin.client.get("/users").status_code == 200  # still logged in
    assert not _audit(admin)


def test_password_reset_ends_earlier_tokens(admin: Site) -> None:
    headers = auth_headers(admin.client, admin.store, Role.OPERATOR, "ana")
    response = admin.client.post("/users/ana/password", json={"password": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert admin.client.get("/alerts", headers=headers).status_code == 401
    assert _login(admin, "ana", TEST_PASSWORD) == 401 and _login(admin, "ana", NEW_PASSWORD) == 200
    (row,) = _audit(admin)
    assert row.action == "user.password" and NEW_PASSWORD not in str(row)
    short = admin.client.post("/users/ana/password", json={"password": "short"})
    assert short.status_code == 422


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/users/nobody/disable", None),
        ("post", "/users/nobody/enable", None),
        ("post", "/users/nobody/password", {"password": NEW_PASSWORD}),
    ],
)
def test_unknown_user_is_404(admin: Site, method: str, url: str, body: dict[str, str] | None) -> None:
    response = admin.client.request(method, url, json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "no user 'nobody'"}


def test_assignable_lists_enabled_users_from_operator_up(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.OPERATOR)
    for role, name in [
        (Role.VIEWER, "wall"),
        (Role.MEDIATOR, "mo"),
        (Role.ADMIN, "ad"),
        (Role.OPERATOR, "gone"),
    ]:
        make_user(site.store, role, name)
    site.client.headers.update(auth_headers(site.client, site.store, Role.ADMIN, "ad"))
    assert site.client.post("/users/gone/disable").status_code == 200
    site.client.headers.update(auth_headers(site.client, site.store, Role.OPERATOR))
    response = site.client.get("/users/assignable")
    assert response.status_code == 200
    assert response.json() == [
        {"name": "ad", "role": "admin"},
        {"name": "mo", "role": "mediator"},
        {"name": "test-operator", "role": "operator"},
    ]
    site.store.close()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.MEDIATOR])
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/users", None),
        ("post", "/users", {"name": "ana", "role": "admin", "password": NEW_PASSWORD}),
        ("post", "/users/test-admin/disable", None),
        ("post", "/users/test-admin/password", {"password": NEW_PASSWORD}),
    ],
)
def test_only_admins_manage_users(tmp_path: Path, role: Role, method: str, url: str, body: object) -> None:
    site = make_site(tmp_path, role=role)
    make_user(site.store, Role.ADMIN)
    assert site.client.request(method, url, json=body).status_code == 403
    site.store.close()


def test_viewer_cannot_list_assignable_users(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.VIEWER)
    assert site.client.get("/users/assignable").status_code == 403
    site.store.close()
