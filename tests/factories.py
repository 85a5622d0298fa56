"""Small factories for test data: `make_detections(xyxy=[...])` and friends, and API logins."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np
from argon2 import PasswordHasher

from vigil.core.types import Detections, Frame
from vigil.infra.db.store import Store
from vigil.infra.db.users import Role, UserStore

TEST_PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Argon2 at its cheapest: tests log in hundreds of times; production hashes use the defaults."""


def make_detections(
    xyxy: Sequence[Sequence[float]] = (),
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    tracker_id: Sequence[int] | None = None,
) -> Detections:
    n = len(xyxy)
    return Detections(
        xyxy=np.array(xyxy, dtype=np.float32).reshape(n, 4),
        confidence=np.array(confidence if confidence is not None else [0.9] * n, dtype=np.float32),
        class_id=np.array(class_id if class_id is not None else [0] * n, dtype=np.int64),
        tracker_id=None if tracker_id is None else np.array(tracker_id, dtype=np.int64),
    )


def make_frame(
    camera_id: str = "cam1", index: int = 0, timestamp: float = 1_000.0, size: tuple[int, int] = (320, 240)
) -> Frame:
    width, height = size
    return Frame(
        camera_id=camera_id, index=index, timestamp=timestamp, image=np.zeros((height, width, 3), np.uint8)
    )


def make_user(store: Store, role: Role = Role.OPERATOR, name: str | None = None) -> str:
    """A user with `role` and `TEST_PASSWORD` (name: ``test-<role>``), created unless it exists."""
    name = name or f"test-{role.value}"
    users = UserStore.for_store(store, hasher=FAST_HASHER)
    if users.get(name) is None:
        users.add(name, role, TEST_PASSWORD)
    return name


def login_token(
    client: httpx.Client, store: Store, role: Role = Role.OPERATOR, name: str | None = None
) -> str:
    """Create a user with `role` (see `make_user`) and log in through ``POST /auth/login``.

    `client` is a FastAPI ``TestClient`` or an ``httpx.Client`` on a served API.
    """
    name = make_user(store, role, name)
    response = client.post("/auth/login", data={"username": name, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def auth_headers(
    client: httpx.Client, store: Store, role: Role = Role.OPERATOR, name: str | None = None
) -> dict[str, str]:
    """``Authorization: Bearer`` headers of a freshly logged-in user with `role`.

    ``client.headers.update(auth_headers(client, store, Role.VIEWER))`` makes every later
    request of that client this user's.
    """
    return {"Authorization": f"Bearer {login_token(client, store, role, name)}"}
