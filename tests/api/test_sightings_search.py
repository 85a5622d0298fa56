"""``GET /sightings`` by clothing colour and size: filters, roles, reasons, audit, index catch-up."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerts.search.descriptors import describe_crop
from api import Role
from tests.api.test_api import Site, make_site
from tests.db.test_store import make_sighting
from tests.factories import auth_headers
from vigil.core.types import Sighting
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.search import SearchIndex
from vigil.services.sighting_search import SightingSearch

BGR = {
    "red": (30, 30, 200),
    "blue": (200, 60, 30),
    "green": (40, 180, 40),
    "black": (15, 15, 15),
    "white": (235, 235, 235),
}
REASON = "lost child, report 2026-031"


def dressed(
    upper: str,
    lower: str,
    *,
    camera_id: str = "cam1",
    start: float = 1000.0,
    height: float = 100.0,
    foot_y: float = 300.0,
    **overrides: Any,
) -> Sighting:
    """A sighting whose descriptor reads `upper` over `lower` (the crop is two flat colours)."""
    crop = np.zeros((128, 48, 3), np.uint8)
    crop[:64] = BGR[upper]
    crop[64:] = BGR[lower]
    box = (100.0, foot_y - height, 100.0 + height / 2.5, foot_y)
    descriptor = describe_crop(crop, box, image_height=480)
    descriptor = dataclasses.replace(descriptor, height_px=height, foot_y=foot_y)
    return make_sighting(
        camera_id=camera_id,
        start=start,
        end=start + 5,
        best_box=box,
        descriptor=descriptor.to_vector(),
        **overrides,
    )


@dataclasses.dataclass(frozen=True)
class Person:
    """A stored sighting and what it was dressed as."""

    sighting: Sighting
    upper: str
    lower: str
    child: bool


def crowd() -> list[Person]:
    """cam1: 22 adults (heights on a line in the foot row) and 3 half-height children; cam2: 2 people."""
    people = []
    for i in range(22):
        foot = 200.0 + 5 * i
        upper, lower = [("red", "blue"), ("green", "black"), ("white", "black")][i % 3]
        sighting = dressed(upper, lower, start=1000.0 + i, height=60 + 0.2 * foot, foot_y=foot)
        people.append(Person(sighting, upper, lower, child=False))
    for i, (upper, lower) in enumerate([("red", "black"), ("red", "blue"), ("green", "white")]):
        foot = 230.0 + 20 * i
        sighting = dressed(upper, lower, start=1100.0 + i, height=0.5 * (60 + 0.2 * foot), foot_y=foot)
        people.append(Person(sighting, upper, lower, child=True))
    for i, (upper, lower) in enumerate([("red", "blue"), ("blue", "white")]):
        people.append(Person(dressed(upper, lower, camera_id="cam2", start=1200.0 + i), upper, lower, False))
    return people


@pytest.fixture
def searched(tmp_path: Path) -> Iterator[tuple[Site, list[Person]]]:
    """An operator's site holding `crowd()`, stored without the live indexer (the API catches up)."""
    site = make_site(tmp_path, role=Role.OPERATOR)
    people = crowd()
    site.store.add_sightings([p.sighting for p in people])
    yield site, people
    site.store.close()


def newest_first(people: list[Person], keep: Callable[[Person], bool]) -> list[str]:
    return [p.sighting.id for p in sorted(people, key=lambda p: -p.sighting.start) if keep(p)]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        # one upper colour: every red top, both cameras
        ("upper=red", lambda p: p.upper == "red"),
        # a comma list is any of them
        ("upper=red,green", lambda p: p.upper in ("red", "green")),
        # so is a repeated parameter, and case does not matter
        ("upper=RED&upper=green", lambda p: p.upper in ("red", "green")),
        # lower alone
        ("lower=black", lambda p: p.lower == "black"),
        # upper and lower must both match
        ("upper=red&lower=black", lambda p: p.upper == "red" and p.lower == "black"),
        # a colour nobody wears: nothing
        ("upper=purple", lambda p: False),
        # size: the three half-height people on cam1 (cam2 has too few sightings for a size model)
        ("size=child", lambda p: p.child and p.sighting.camera_id == "cam1"),
        ("size=adult", lambda p: not p.child and p.sighting.camera_id == "cam1"),
        # size and colour together
        ("size=child&upper=red", lambda p: p.child and p.sighting.camera_id == "cam1" and p.upper == "red"),
        # the camera filter still applies
        ("upper=red&camera=cam2", lambda p: p.upper == "red" and p.sighting.camera_id == "cam2"),
        # and the time filter (sightings overlapping 1100..1150)
        (
            "upper=red&start=1100&end=1150",
            lambda p: p.upper == "red" and p.sighting.start < 1150 and p.sighting.end > 1100,
        ),
    ],
)
def test_filters_match_named_colours_and_size(
    searched: tuple[Site, list[Person]], query: str, keep: Callable[[Person], bool]
) -> None:
    site, people = searched
    response = site.client.get(f"/sightings?{query}&reason={REASON}&limit=500")
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [item["id"] for item in body["items"]]
    assert ids == newest_first(people, keep)
    assert body["count"] == len(ids) and body["unindexed"] == 0


def test_items_carry_colours_and_size_and_the_record_fields(searched: tuple[Site, list[Person]]) -> None:
    site, people = searched
    child = next(p.sighting for p in people if p.sighting.start == 1101.0)  # red over blue, half height
    body = site.client.get("/sightings", params={"camera": "cam1", "start": 1101, "end": 1101}).json()
    item = next(i for i in body["items"] if i["id"] == child.id)
    assert item["upper_colours"] == ["red"] and item["lower_colours"] == ["blue"]
    assert item["size"] == "child"
    assert item["crop_url"] == f"/sightings/{child.id}/crop.jpg" and item["frames"] == child.frames
    # Too few sightings on cam2 to judge size by: unknown, not a guess.
    cam2 = site.client.get("/sightings", params={"camera": "cam2"}).json()["items"]
    assert {i["size"] for i in cam2} == {None}


def test_a_sighting_without_descriptor_lists_with_empty_colours_and_never_matches(
    searched: tuple[Site, list[Person]],
) -> None:
    site, _ = searched
    bare = make_sighting(start=5000.0, end=5001.0)
    site.store.add_sighting(bare)
    item = site.client.get("/sightings", params={"start": 5000}).json()["items"][0]
    assert item["id"] == bare.id and item["upper_colours"] == [] and item["size"] is None
    red = site.client.get("/sightings", params={"upper": "red", "reason": REASON, "start": 5000}).json()
    assert red["count"] == 0


@pytest.mark.parametrize(
    ("role", "query", "status", "detail"),
    [
        # a colour search without a reason is refused
        (Role.OPERATOR, "upper=red", 422, "reason"),
        # so is a reason that is only blanks
        (Role.OPERATOR, "size=child&reason=%20%20%20%20", 422, "reason"),
        # too short a reason fails validation
        (Role.OPERATOR, "lower=blue&reason=ab", 422, "reason"),
        # an unknown colour names the parameter and the palette
        (Role.OPERATOR, f"upper=red,tartan&reason={REASON}", 422, "upper: expected colours from black"),
        # a size outside child / adult
        (Role.OPERATOR, f"size=toddler&reason={REASON}", 422, "size"),
        # a viewer may list but not search people by how they look
        (Role.VIEWER, f"upper=red&reason={REASON}", 403, "operator"),
        (Role.VIEWER, f"size=adult&reason={REASON}", 403, "operator"),
    ],
)
def test_refused_searches(tmp_path: Path, role: Role, query: str, status: int, detail: str) -> None:
    site = make_site(tmp_path, role=role)
    try:
        response = site.client.get(f"/sightings?{query}")
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"]
        # Nothing refused is audited as a search.
        assert [
            a for a in CaseStore.for_store(site.store).audit_trail() if a.action == "search.sightings"
        ] == []
    finally:
        site.store.close()


def test_a_viewer_lists_without_a_reason_and_nothing_is_audited(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.VIEWER)
    try:
        site.store.add_sightings([p.sighting for p in crowd()])
        response = site.client.get("/sightings", params={"camera": "cam2"})
        assert response.status_code == 200 and response.json()["count"] == 2
        assert [a.action for a in CaseStore.for_store(site.store).audit_trail()] == ["login"]
    finally:
        site.store.close()


def test_a_search_is_audited_with_user_reason_filters_and_results(
    searched: tuple[Site, list[Person]],
) -> None:
    site, _ = searched
    body = site.client.get(
        "/sightings", params={"upper": "red", "size": "child", "camera": "cam1", "reason": f"  {REASON} "}
    ).json()
    audit = [a for a in CaseStore.for_store(site.store).audit_trail() if a.action == "search.sightings"]
    assert len(audit) == 1
    row = audit[0]
    assert row.user == "test-operator" and row.reason == REASON and row.case_id is None
    assert (
        row.detail["upper"] == ["red"] and row.detail["size"] == "child" and row.detail["camera_id"] == "cam1"
    )
    assert row.detail["returned"] == [i["id"] for i in body["items"]] and row.detail["count"] == body["count"]


def test_paging_counts_every_match(searched: tuple[Site, list[Person]]) -> None:
    site, _ = searched
    every = site.client.get("/sightings", params={"lower": "black", "reason": REASON, "limit": 500}).json()
    pages = [
        site.client.get(
            "/sightings", params={"lower": "black", "reason": REASON, "limit": 3, "offset": offset}
        ).json()
        for offset in range(0, every["count"], 3)
    ]
    assert [i["id"] for p in pages for i in p["items"]] == [i["id"] for i in every["items"]]
    assert {p["count"] for p in pages} == {every["count"]} and every["count"] > 3


def test_the_live_indexer_and_the_catch_up_index_each_sighting_once(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=Role.OPERATOR)
    try:
        search = SightingSearch(site.store)
        people = [p.sighting for p in crowd()]
        live, later = people[:10], people[10:]
        site.store.add_sightings(live)
        assert search.index(live) == 10 and search.index(live) == 0  # replayed events are skipped
        site.store.add_sightings(later)
        assert search.unindexed() == len(later)
        assert search.catch_up() == len(later) and search.unindexed() == 0
        rows = SearchIndex.for_store(site.store).get([p.id for p in people])
        assert len(rows) == len(people)
        assert rows[people[0].id].upper == ("red",) and rows[people[0].id].lower == ("blue",)
    finally:
        site.store.close()


def test_operator_headers_are_enough(tmp_path: Path) -> None:
    """A mediator (above operator) searches too."""
    site = make_site(tmp_path, role=None)
    try:
        site.client.headers.update(auth_headers(site.client, site.store, Role.MEDIATOR))
        response = site.client.get("/sightings", params={"upper": "red", "reason": REASON})
        assert response.status_code == 200
    finally:
        site.store.close()


def test_the_runtime_indexes_sightings_from_the_bus_and_catches_up_older_ones(tmp_path: Path) -> None:
    from config.loader import parse_config
    from vigil.core.events import Topic
    from vigil.infra.db import Store
    from vigil.runtime import Runtime

    older = dressed("red", "blue", start=900.0)
    with Store.open(tmp_path / "vigil.db") as store:  # stored before the runtime (and its index) ran
        store.add_sighting(older)
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "cameras": [{"id": "cam1", "url": "rtsp://127.0.0.1:9/x", "enabled": False}],
        }
    )
    runtime = Runtime(config)
    runtime.start()
    try:
        assert runtime.store is not None
        live = dressed("green", "black", start=1000.0)
        runtime.bus.publish(Topic.SIGHTINGS, live.camera_id, live)
        index = SearchIndex.for_store(runtime.store)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(index.get([older.id, live.id])) < 2:
            time.sleep(0.1)
        rows = index.get([older.id, live.id])
        assert rows[live.id].upper == ("green",) and rows[older.id].upper == ("red",)
    finally:
        runtime.stop()
