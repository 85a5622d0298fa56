"""Logins and tokens: who may call the API, how a refusal looks, and what the audit log keeps.

The product rule under test: searches and clip exports need a logged-in user (and a case or
a reason), and leave an audit record with that user's name.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from starlette.websockets import WebSocketDisconnect

from alerts.search.graph import CameraGraph
from api import ApiServices, Role, create_app
from api.auth import CSRF_HEADER, LOGIN_DETAIL, SESSION_COOKIE, Authenticator, load_secret
from config.models import VigilConfig
from ingest.recorder import Segment
from tests.conftest import PERSON_CLIP
from tests.db.test_store import make_sighting
from tests.factories import FAST_HASHER, TEST_PASSWORD, make_user
from vigil.core.errors import ConfigError
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.users import UserStore
from vigil.services.cases import CaseService

SECRET = "test-secret-" + "x" * 40
SHIFT_S = 8 * 3600
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


class Clock:
    """A clock the test moves by hand (lockout windows, expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class AuthSite:
    client: TestClient
    store: Store
    users: UserStore
    audit: CaseStore
    clock: Clock
    case_id: str
    sighting_id: str
    recorded_from: float

    def login(self, name: str, password: str = TEST_PASSWORD) -> str:
        response = self.client.post("/auth/login", data={"username": name, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def attempt(self, name: str, password: str) -> int:
        """The status of one login attempt."""
        return int(self.client.post("/auth/login", data={"username": name, "password": password}).status_code)

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(f'test-{role.value}')}"}

    def actions(self, action: str) -> list[str]:
        """Users of the audit rows with this action, newest first."""
        return [record.user for record in self.audit.audit_trail() if record.action == action]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[AuthSite]:
    """One user per role (``test-<role>``), an open case, a sighting with a crop, a recorded camera."""
    data_dir = tmp_path / "data"
    (data_dir / "crops").mkdir(parents=True)
    (data_dir / "crops" / "a.jpg").write_bytes(JPEG)
    config = VigilConfig.model_validate(
        {"cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/main", "role": "ai"}]}
    )
    store = Store.open(data_dir / "vigil.db")
    clock = Clock()
    users = UserStore.for_store(store, hasher=FAST_HASHER)
    audit = CaseStore.for_store(store)
    cases = CaseService(store, audit, CameraGraph.from_cameras(config.cameras), detector=None)
    auth = Authenticator(users, audit, SECRET, clock=clock)
    app = create_app(config, ApiServices(store=store, health=dict, data_dir=data_dir, auth=auth, cases=cases))
    for role in Role:
        make_user(store, role)
    case = CaseRecord(reason="child missing at the north gate", opened_by="test-operator", window_start=0)
    cases.open_case(case)
    sighting = make_sighting(crop_path="crops/a.jpg")
    store.add_sighting(sighting)
    # The sample clip stands in for one recorded segment of cam1 (139 s).
    segment = data_dir / "recordings" / "cam1.mp4"
    segment.parent.mkdir()
    shutil.copy(PERSON_CLIP, segment)
    recorded_from = clock.now - 600
    RecordingIndex.for_store(store).add_segments(
        [Segment("cam1", segment, recorded_from, recorded_from + 139.0, segment.stat().st_size, 1394)]
    )
    with TestClient(app) as client:
        yield AuthSite(client, store, users, audit, clock, case.id, sighting.id, recorded_from)
    store.close()


def _token(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(site: AuthSite, **changes: object) -> dict[str, object]:
    now = int(site.clock.now)
    claims: dict[str, object] = {"sub": "test-admin", "role": "admin", "ver": 0, "iat": now, "exp": now + 60}
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


# -- logging in ------------------------------------------------------------------------------


def test_login_issues_a_shift_long_token_and_me_answers(site: AuthSite) -> None:
    response = site.client.post("/auth/login", data={"username": "test-operator", "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["user"], body["role"]) == (
        "bearer",
        SHIFT_S,
        "test-operator",
        "operator",
    )
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == (
        "test-operator",
        "operator",
        SHIFT_S,
    )
    me = site.client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "test-operator" and me.json()["role"] == "operator"
    assert me.json()["last_login_at"] == pytest.approx(site.clock.now)
    assert site.actions("login") == ["test-operator"]  # successful logins are audited


@pytest.mark.parametrize(
    ("name", "password", "why"),
    [
        ("nobody", TEST_PASSWORD, "unknown user"),
        ("test-operator", "not the password", "wrong password"),
        ("test-viewer", "x" * 5000, "wrong password"),  # over-long: refused like any other
        ("test-disabled", TEST_PASSWORD, "disabled user"),  # the right password of a disabled user
    ],
)
def test_failed_logins_all_get_the_same_401(site: AuthSite, name: str, password: str, why: str) -> None:
    make_user(site.store, Role.OPERATOR, "test-disabled")
    site.users.set_disabled("test-disabled", True)
    response = site.client.post("/auth/login", data={"username": name, "password": password})
    assert response.status_code == 401
    assert response.json() == {"detail": LOGIN_DETAIL}  # says nothing about which part was wrong
    assert response.headers["www-authenticate"] == "Bearer"
    failed = [r for r in site.audit.audit_trail() if r.action == "login_failed"]
    assert [(r.user, r.detail["why"]) for r in failed] == [(name, why)]  # the audit log does say


@pytest.mark.parametrize("name", ["test-operator", "nobody"])  # unknown names lock the same way
def test_repeated_failures_lock_the_name_for_five_minutes(site: AuthSite, name: str) -> None:
    assert [site.attempt(name, "wrong password") for _ in range(5)] == [401] * 5
    locked = site.client.post("/auth/login", data={"username": name, "password": TEST_PASSWORD})
    assert locked.status_code == 429  # even the right password waits
    assert locked.headers["retry-after"] == "300" and "too many failed logins" in locked.json()["detail"]
    assert site.attempt("test-viewer", TEST_PASSWORD) == 200  # other users are not locked out
    site.clock.now += 301
    assert site.attempt(name, TEST_PASSWORD) == (200 if name == "test-operator" else 401)
    assert len(site.actions("login_failed")) == 5 + (name == "nobody")  # a 429 runs nothing to audit


def test_a_successful_login_clears_the_failure_count(site: AuthSite) -> None:
    statuses = [site.attempt("test-operator", "wrong") for _ in range(4)]
    site.clock.now += 1
    statuses += [site.attempt("test-operator", TEST_PASSWORD)]
    site.clock.now += 1
    statuses += [site.attempt("test-operator", "wrong") for _ in range(4)]
    assert statuses == [401] * 4 + [200] + [401] * 4


# -- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (lambda site: None, "not logged in"),  # no header at all
        (lambda site: "Basic dGVzdC1hZG1pbjp4", "not logged in"),  # another scheme
        (lambda site: "Bearer not-a-jwt", "invalid token"),
        (
            lambda site: f"Bearer {_token(_claims(site), secret='another-secret-' + 'y' * 40)}",
            "invalid token",
        ),
        (
            lambda site: f"Bearer {_token(_claims(site), secret='', algorithm='none')}",
            "invalid token",
        ),  # unsigned
        (lambda site: f"Bearer {_token(_claims(site, exp=int(site.clock.now) - 1))}", "token expired"),
        (lambda site: f"Bearer {_token(_claims(site, exp=None))}", "invalid token"),  # never expires: refused
        (lambda site: f"Bearer {_token(_claims(site, sub='ghost'))}", "invalid token"),  # no such user
        (lambda site: f"Bearer {_token(_claims(site, ver=7))}", "token revoked"),  # from before a passwd
    ],
    ids=["missing", "basic", "garbage", "bad-signature", "alg-none", "expired", "no-exp", "unknown", "old"],
)
def test_bad_tokens_are_401_with_www_authenticate(
    site: AuthSite, authorization: Callable[[AuthSite], str | None], detail: str
) -> None:
    header = authorization(site)
    response = site.client.get("/auth/me", headers={} if header is None else {"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert detail in response.json()["detail"] and "\n" not in response.json()["detail"]


def test_a_token_expires_after_the_shift(site: AuthSite) -> None:
    headers = site.bearer(Role.VIEWER)
    site.clock.now += SHIFT_S - 1
    assert site.client.get("/auth/me", headers=headers).status_code == 200
    site.clock.now += 1
    response = site.client.get("/auth/me", headers=headers)
    assert response.status_code == 401 and "token expired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda users: users.set_disabled("test-operator", True), "user 'test-operator' is disabled"),
        (lambda users: users.set_password("test-operator", "a new password"), "token revoked"),
        (  # re-enabled: a new login is needed, the old token stays dead
            lambda users: (
                users.set_disabled("test-operator", True),
                users.set_disabled("test-operator", False),
            ),
            "token revoked",
        ),
    ],
    ids=["disabled", "password-changed", "disabled-then-enabled"],
)
def test_disabling_or_a_new_password_stops_earlier_tokens(
    site: AuthSite, change: Callable[[UserStore], object], detail: str
) -> None:
    headers = site.bearer(Role.OPERATOR)
    assert site.client.get(f"/cases/{site.case_id}/candidates", headers=headers).status_code == 200
    change(site.users)
    response = site.client.get(f"/cases/{site.case_id}/candidates", headers=headers)
    assert response.status_code == 401 and detail in response.json()["detail"]


def test_the_role_checked_is_the_stored_one_not_the_tokens(site: AuthSite) -> None:
    forged_role = _token(_claims(site, sub="test-viewer", role="admin"))  # signed, but claims too much
    response = site.client.get("/sightings/x/crop.jpg", headers={"Authorization": f"Bearer {forged_role}"})
    assert response.status_code == 403 and "user 'test-viewer' is 'viewer'" in response.json()["detail"]


# -- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "method", "url", "status"),
    [
        (Role.VIEWER, "GET", "/sightings/{sighting}/crop.jpg", 403),  # viewers never see people
        (Role.OPERATOR, "GET", "/sightings/{sighting}/crop.jpg", 200),
        (Role.VIEWER, "GET", "/sightings/{sighting}", 200),  # metadata is fine
        (Role.VIEWER, "GET", "/cases/{case}/candidates", 403),  # nor search for them
        (Role.VIEWER, "POST", "/cases", 403),
        (Role.OPERATOR, "GET", "/cases/{case}/audit", 403),  # the audit log is for mediators
        (Role.MEDIATOR, "GET", "/cases/{case}/audit", 200),
        (Role.OPERATOR, "GET", "/cameras/cam1/clip.mp4?start={t0}&end={t1}&reason=evidence", 403),
        (Role.OPERATOR, "GET", "/cameras/cam1/clip.json?start={t0}&end={t1}", 403),
        (Role.MEDIATOR, "GET", "/cameras/cam1/clip.json?start={t0}&end={t1}", 200),
        (Role.VIEWER, "GET", "/auth/me", 200),
    ],
)
def test_each_route_needs_its_role(site: AuthSite, role: Role, method: str, url: str, status: int) -> None:
    t0 = site.recorded_from + 1
    path = url.format(sighting=site.sighting_id, case=site.case_id, t0=t0, t1=t0 + 2)
    body = {"reason": "child missing at the north gate"} if method == "POST" else None
    response = site.client.request(method, path, json=body, headers=site.bearer(role))
    assert response.status_code == status, response.text
    if status == 403:
        assert f"is '{role.value}'" in response.json()["detail"]


# -- searches and exports: logged in, audited by name ----------------------------------------


@pytest.mark.parametrize(
    ("role", "url", "action"),
    [
        (Role.OPERATOR, "/cases/{case}/candidates", "search"),  # a search, within its case
        (
            Role.MEDIATOR,
            "/cameras/cam1/clip.mp4?start={t0}&end={t1}&reason=mediation%202026-114",
            "export_clip",
        ),
    ],
    ids=["search", "export"],
)
def test_searches_and_exports_need_a_login_and_are_audited_with_the_users_name(
    site: AuthSite, role: Role, url: str, action: str
) -> None:
    t0 = site.recorded_from + 1
    path = url.format(case=site.case_id, t0=t0, t1=t0 + 2)
    anonymous = site.client.get(path)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert site.actions(action) == []  # refused before anything ran
    response = site.client.get(path, headers=site.bearer(role))
    assert response.status_code == 200, response.text
    assert site.actions(action) == [f"test-{role.value}"]
    record = next(r for r in site.audit.audit_trail() if r.action == action)
    assert record.reason in ("child missing at the north gate", "mediation 2026-114")  # and why


# -- the live watch (WebSocket) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda site: None, "not logged in"),
        (lambda site: "not-a-jwt", "invalid token"),
        (lambda site: _token(_claims(site, exp=int(site.clock.now) - 1)), "token expired"),
        (lambda site: site.login("test-viewer"), "needs role 'operator'"),  # viewers do not watch people
    ],
    ids=["missing", "garbage", "expired", "viewer"],
)
def test_case_watch_refuses_without_an_operator_token(
    site: AuthSite, token: Callable[[AuthSite], str | None], reason: str
) -> None:
    value = token(site)
    headers = {} if value is None else {"Authorization": f"Bearer {value}"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        site.client.websocket_connect(f"/cases/{site.case_id}/watch", headers=headers),
    ):
        pass
    assert refused.value.code == 1008 and reason in refused.value.reason


def test_case_watch_accepts_an_operator_bearer_header(site: AuthSite) -> None:
    with site.client.websocket_connect(
        f"/cases/{site.case_id}/watch", headers=site.bearer(Role.OPERATOR)
    ) as socket:
        socket.close()


def test_case_watch_ignores_a_token_in_the_url(site: AuthSite) -> None:
    """Tokens in URLs end up in proxy logs and browser history: the query is not read at all."""
    token = site.login("test-operator")
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        site.client.websocket_connect(f"/cases/{site.case_id}/watch?token={token}"),
    ):
        pass
    assert "not logged in" in refused.value.reason


# -- the console's session cookie ----------------------------------------------------------------


def _open_session(site: AuthSite, name: str = "test-operator") -> Response:
    return site.client.post("/auth/session", data={"username": name, "password": TEST_PASSWORD})


def test_session_sets_an_httponly_strict_cookie_and_no_token_in_the_body(site: AuthSite) -> None:
    response = _open_session(site)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"user", "role", "expires_at"}  # the page never holds the token
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie and "samesite=strict" in cookie
    assert site.client.get("/auth/me").json()["name"] == "test-operator"  # the cookie alone logs in
    assert site.actions("login") == ["test-operator"]  # audited like /auth/login


def test_session_login_failures_count_toward_the_lockout(site: AuthSite) -> None:
    for _ in range(5):
        assert (
            site.client.post("/auth/session", data={"username": "test-operator", "password": "x"}).status_code
            == 401
        )
    assert _open_session(site).status_code == 429


def test_cookie_needs_the_console_header_to_change_anything(site: AuthSite) -> None:
    """A forged cross-site form carries the cookie (where SameSite fails) but cannot set a header."""
    _open_session(site)
    body = {"reason": "child missing at the north gate", "upper": ["red"]}
    refused = site.client.post("/cases", json=body)
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["detail"]
    assert site.client.post("/cases", json=body, headers={CSRF_HEADER: "1"}).status_code == 201


def test_logout_clears_the_cookie(site: AuthSite) -> None:
    _open_session(site)
    assert site.client.delete("/auth/session").status_code == 204
    assert site.client.get("/auth/me").status_code == 401


def test_case_watch_takes_the_cookie_from_the_same_origin_only(site: AuthSite) -> None:
    _open_session(site)
    with site.client.websocket_connect(
        f"/cases/{site.case_id}/watch", headers={"origin": "http://testserver"}
    ) as socket:
        socket.close()
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        site.client.websocket_connect(
            f"/cases/{site.case_id}/watch", headers={"origin": "http://evil.example"}
        ),
    ):
        pass
    assert refused.value.code == 1008 and "another origin" in refused.value.reason


# -- the signing secret ----------------------------------------------------------------------


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "data", {})
    path = tmp_path / "data" / "jwt-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_secret(tmp_path / "data", {}) == first and len(first) >= 32
    assert [p.name for p in path.parent.iterdir()] == ["jwt-secret"]  # no temporary left behind


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("z" * 32, "z" * 32),  # the environment wins over the file
        ("short", ConfigError),  # too weak for HS256: refused at start, not at first login
    ],
)
def test_secret_from_the_environment(tmp_path: Path, value: str, outcome: object) -> None:
    if outcome is ConfigError:
        with pytest.raises(ConfigError, match="VIGIL_JWT_SECRET: expected at least 32 characters"):
            load_secret(tmp_path, {"VIGIL_JWT_SECRET": value})
    else:
        assert load_secret(tmp_path, {"VIGIL_JWT_SECRET": value}) == outcome
        assert not (tmp_path / "jwt-secret").exists()
