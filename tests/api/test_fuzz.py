"""Schemathesis against the live API: every operation, every role, zero 5xx, zero schema lies.

The API is served the way ``vigil run --role central`` serves it: a real `Runtime` (SQLite
store, case service, back-scan worker, memory bus) and uvicorn on a free loopback port in its
thread (`Runtime.serve_api`). The fuzzer reads ``/openapi.json`` from it and sends real HTTP,
so the body-size limit, the routing, the auth dependencies and the error handlers all run as
in production. ASGI transport would skip the server's own Content-Length and chunked-body
handling, which is exactly where a body-size limit lives.

Each role (viewer, operator, mediator, admin) logs in through ``POST /auth/login`` and fuzzes
every operation with its own token. Bounded: `MAX_EXAMPLES` per operation and phase, a
request timeout, and pytest's timeout per role. ``test_fuzz_totals`` runs last and asserts
that at least `MIN_REQUESTS` requests were answered, so the run can never silently fuzz nothing.

    .venv/bin/python -m pytest tests/api/test_fuzz.py -m fuzz -q
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.loader import parse_config
from ingest.recorder import Segment
from tests.conftest import PERSON_CLIP
from tests.db.test_store import make_alert, make_sighting
from tests.factories import TEST_PASSWORD, make_user
from vigil.infra.bus import MemoryBus
from vigil.infra.db.cases import CaseRecord, CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.users import Role
from vigil.roles import Role as RuntimeRole
from vigil.runtime import Runtime
from vigil.services.site_config import SiteConfigService

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = 25
"""Generated cases per operation in the fuzzing phase (the coverage phase adds its own). 50 sent
~18,000 requests once the console's routes came (4 min unloaded, past the role timeout on a loaded
2-core box); 25 keeps well above `MIN_REQUESTS` at about half the time."""
MIN_REQUESTS = 5000
"""Requests the four roles must have sent between them, or the run fuzzed too little."""
ROLE_TIMEOUT_S = 300
"""Per role; a loaded 2-core CI box needs about twice the unloaded time."""
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
BASE = 1_800_000_000.0
"""Wall time the seeded recordings, sightings and alerts start at."""
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


@dataclass
class Tally:
    """Status codes answered per role and operation (filled by the fuzz test, read by the totals)."""

    statuses: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, role: str, operation: str, status: int) -> None:
        with self.lock:
            self.statuses.setdefault((role, operation), Counter())[status] += 1

    def per_role(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (role, _), statuses in self.statuses.items():
            totals[role] += statuses.total()
        return dict(totals)

    def per_operation(self) -> dict[str, Counter[int]]:
        merged: dict[str, Counter[int]] = {}
        for (_, operation), statuses in self.statuses.items():
            merged.setdefault(operation, Counter()).update(statuses)
        return merged


TALLY = Tally()


@dataclass(frozen=True)
class LiveSite:
    url: str
    tokens: dict[str, str]
    known: dict[str, list[str]]
    """Seeded values by schemathesis binding (``path.case_id``): half the generated values are one."""


def _site_config(data_dir: Path) -> dict[str, object]:
    return {
        "data_dir": str(data_dir),
        # The fuzzer should reach the expensive routes' code, not only their 429s (tested in
        # test_limits.py): a rate no run of this file reaches.
        "api": {"candidates_per_minute": 1e6, "exports_per_minute": 1e6, "backscans_per_minute": 1e6},
        "cameras": [
            {"id": "gate", "url": "rtsp://10.0.0.1/a", "role": "ai", "position": {"x": 0, "y": 0}},
            {"id": "near", "url": "rtsp://10.0.0.2/a", "position": {"x": 30, "y": 0}},
            {"id": "far", "url": "rtsp://10.0.0.3/a", "position": {"x": 300, "y": 0}},
            {"id": "spare", "url": "rtsp://10.0.0.4/a", "enabled": False},
        ],
    }


def _seed(runtime: Runtime, data_dir: Path) -> dict[str, list[str]]:
    """Sightings with crops, alerts, a recorded segment, and an open case on them; returns their ids."""
    store, cases = runtime.store, runtime.cases
    assert store is not None and cases is not None
    (data_dir / "crops").mkdir(parents=True, exist_ok=True)
    (data_dir / "crops" / "a.jpg").write_bytes(JPEG)
    sightings = [
        make_sighting(camera, BASE + 60 * i, BASE + 60 * i + 10, crop_path="crops/a.jpg")
        for i, camera in enumerate(["gate", "near", "gate", "far"])
    ]
    for sighting in sightings:
        store.add_sighting(sighting)
    alerts = [make_alert("gate", BASE + 30 * i) for i in range(3)]
    for alert in alerts:
        store.add_alert(alert)
    segment = data_dir / "recordings" / "near" / "near.mp4"
    segment.parent.mkdir(parents=True)
    shutil.copy(PERSON_CLIP, segment)
    RecordingIndex.for_store(store).add_segments(
        [Segment("near", segment, BASE, BASE + 139.0, segment.stat().st_size, 1394)]
    )
    case = CaseRecord(
        reason="fuzz: child reported missing at the gate",
        opened_by="test-operator",
        window_start=BASE - 600,
        window_end=BASE + 600,
        last_seen_camera="gate",
        last_seen_at=BASE,
    )
    cases.open_case(case)
    return {
        "path.case_id": [case.id],
        "path.alert_id": [a.id for a in alerts],  # triage routes reach their state machine, not only 404s
        "path.sighting_id": [s.id for s in sightings],
        "body.sighting_id": [s.id for s in sightings],  # case feedback and a case's first sighting
        "path.camera_id": ["near", "gate"],  # recorded, and an AI camera with no recording
        # Any start with any end is a span inside the recording of 'near': clips get cut.
        "query.start": [str(BASE), str(BASE + 20)],
        "query.end": [str(BASE + 30), str(BASE + 60)],
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    runtime = Runtime(parse_config(_site_config(data_dir)), role=RuntimeRole.CENTRAL, bus=MemoryBus())
    runtime.start()
    try:
        assert runtime.store is not None
        known = _seed(runtime, data_dir)
        # Camera administration on a real YAML file: the central runtime applies no camera changes.
        config_file = data_dir / "site.yaml"
        config_file.write_text(yaml.safe_dump(_site_config(data_dir)))
        site = SiteConfigService(config_file, runtime.config, runtime, CaseStore.for_store(runtime.store))
        url = runtime.serve_api(host="127.0.0.1", port=0, site=site)
        tokens = {}
        with httpx.Client(base_url=url) as client:
            for role in Role:
                name = make_user(runtime.store, role)
                response = client.post("/auth/login", data={"username": name, "password": TEST_PASSWORD})
                assert response.status_code == 200, response.text
                tokens[role.value] = response.json()["access_token"]
        yield LiveSite(url, tokens, known)
    finally:
        runtime.stop()


@pytest.fixture(params=[role.value for role in Role])
def fuzz_role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fuzz_schema(live: LiveSite, fuzz_role: str, request: pytest.FixtureRequest) -> schemathesis.BaseSchema:
    """The live OpenAPI, with this role's token on every request and the seeded ids at hand."""
    # schemathesis 4.32 reads and renames `Node._nodeid`, which pytest 9.2 no longer has.
    request.node._nodeid = request.node.nodeid
    config = SchemathesisConfig.from_dict(
        {
            "seed": 13,
            "headers": {"Authorization": f"Bearer {live.tokens[fuzz_role]}"},
            # No example database: every run sends the same requests, and the totals stay comparable.
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "request-timeout": 30,
            "dictionaries": {_name(key): {"values": values} for key, values in live.known.items()},
            "parameters": {key: {"dictionary": _name(key), "probability": 0.5} for key in live.known},
        }
    )
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)


def _name(binding: str) -> str:
    return binding.replace(".", "-")


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.mark.timeout(ROLE_TIMEOUT_S)
@schema.parametrize()
def test_api_conforms_to_its_openapi(case: Case[Any], fuzz_role: str) -> None:
    response = case.call_and_validate(checks=CHECKS)
    TALLY.record(fuzz_role, case.operation.label, response.status_code)


def test_fuzz_totals() -> None:
    """Runs last: the fuzz above really sent requests, and none of them was a server error."""
    per_role = TALLY.per_role()
    per_operation = TALLY.per_operation()
    every = sum(per_operation.values(), Counter[int]())
    server_errors = sum(n for code, n in every.items() if code >= 500)
    for operation, statuses in sorted(per_operation.items()):
        print(f"{operation:45} {dict(sorted(statuses.items()))}")
    print(f"fuzz requests per role: {per_role}; statuses: {dict(sorted(every.items()))}")
    assert set(per_role) == {role.value for role in Role}, "every role must have fuzzed"
    assert sum(per_role.values()) >= MIN_REQUESTS, per_role
    assert server_errors == 0
