"""Two-stage case candidates (`vigil.services.case_index`) against the exact ranking, on a real store."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from alerts.search.colours import COLOURS
from alerts.search.descriptors import APPEARANCE_DIM, STRIPES
from alerts.search.graph import CameraGraph
from benchmarks.search import realistic
from vigil.core.types import PathPoint, Sighting
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseRecord, CaseStore, PhotoRecord, Verdict
from vigil.services import case_index
from vigil.services.case_index import EXACT_WINDOW_ROWS
from vigil.services.cases import CaseService
from vigil.services.sighting_search import SightingSearch

ROWS = EXACT_WINDOW_ROWS + 1_500
CAMERAS = [f"cam{i:02d}" for i in range(12)]
NOW = 1_800_000_000.0
Real = tuple[np.ndarray, np.ndarray, np.ndarray]


def real_people(rng: np.random.Generator, people: int = 24) -> Real:
    """Stripe distributions and colour fractions of `people` made-up people (as benchmarks/search.py)."""
    stripes = rng.dirichlet(np.ones(APPEARANCE_DIM // STRIPES) * 0.2, (people, STRIPES))
    colours = rng.dirichlet(np.ones(len(COLOURS)) * 0.3, (2, people))
    return stripes, colours[0], colours[1]


def flat_descriptors(rng: np.random.Generator, real: Real, m: int) -> list[tuple[float, ...]]:
    """`m` noisy variants, flat as `Descriptor.to_vector` writes them, with jittered sizes."""
    appearance, upper, lower = realistic(rng, real, m)
    height = rng.uniform(60, 200, m)
    foot = rng.uniform(200, 700, m)
    head = np.tile([2.0, float(APPEARANCE_DIM), 0.0], (m, 1))
    tail = np.stack([height, foot, np.full(m, 720.0)], axis=1)
    flat = np.concatenate([head, appearance, upper, lower, tail], axis=1).astype(np.float32)
    return [tuple(row) for row in flat.tolist()]


def sightings(rng: np.random.Generator, real: Real, m: int, start: float, end: float) -> list[Sighting]:
    starts = np.sort(rng.uniform(start, end, m))
    return [
        Sighting(
            id=uuid.uuid4().hex,
            camera_id=CAMERAS[int(rng.integers(0, len(CAMERAS)))],
            tracker_id=i + 1,
            start=float(s),
            end=float(s) + float(rng.uniform(2, 30)),
            best_box=(10.0, 10.0, 50.0, 150.0),
            crop_path=None,
            path=(PathPoint(float(s), 30.0, 150.0),),
            confidence=0.8,
            frames=50,
            descriptor=descriptor,
        )
        for i, (s, descriptor) in enumerate(zip(starts, flat_descriptors(rng, real, m), strict=True))
    ]


@pytest.fixture
def site(tmp_path: Path) -> tuple[Store, Real, list[Sighting]]:
    """A store with ROWS sightings over two hours; the search index holds only the older half."""
    rng = np.random.default_rng(0)
    real = real_people(rng)
    store = Store.open(tmp_path / "vigil.db")
    rows = sightings(rng, real, ROWS, NOW - 7200, NOW - 60)
    store.add_sightings(rows)
    # The newer half reaches the in-memory index through the JSON fallback, not the vectors.
    SightingSearch.for_store(store).index(rows[: ROWS // 2])
    return store, real, rows


def open_case(service: CaseService, cases: CaseStore, real: Real, size: str | None) -> str:
    case = service.open_case(
        CaseRecord(
            reason="lost child at the market",
            opened_by="op",
            window_start=NOW - 7300,
            window_end=NOW,
            upper=(COLOURS[int(np.argmax(real[1][3]))],),
            lower=(COLOURS[int(np.argmax(real[2][3]))],),
            size=size,
        )
    )
    # The photo: another noisy variant of person 3.
    one = (real[0][3:4], real[1][3:4], real[2][3:4])
    photo = flat_descriptors(np.random.default_rng(7), one, 1)[0]
    cases.add_photo(PhotoRecord(case.id, photo, "op", time.time()))
    return case.id


@pytest.mark.parametrize(
    "size",
    [
        None,  # appearance and colours only
        "child",  # the size part, from models fitted on every window row
    ],
)
def test_two_stage_top_60_matches_the_exact_ranking(
    site: tuple[Store, Real, list[Sighting]], size: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, real, _ = site
    graph = CameraGraph(positions={c: (80.0 * i, 0.0) for i, c in enumerate(CAMERAS)})
    cases = CaseStore.for_store(store)
    exact = CaseService(store, cases, graph)  # its index never syncs: every call ranks exactly
    staged = CaseService(store, cases, graph)
    assert not staged.index.sync()  # the newer half is not in the search index: waits one sync
    assert staged.index.sync() and staged.index.current()
    assert len(staged.index) == ROWS
    case_id = open_case(exact, cases, real, size)

    def no_full_read(start: float, end: float) -> list[Sighting]:
        raise AssertionError("the two-stage path read the whole window")

    for confirm in (False, True):
        want = exact.candidates(case_id, "op", limit=60)
        with monkeypatch.context() as patch:
            patch.setattr(staged, "_window", no_full_read)
            got = staged.candidates(case_id, "op", limit=60)
        assert len(got) == len(want) == 60
        overlap = {c.sighting.id for c in got} & {c.sighting.id for c in want}
        assert len(overlap) >= 57, f"top-60 overlap {len(overlap)}/60 (confirmed: {confirm})"
        # The same parts for the same sighting: the size model is not the shortlist's.
        by_id = {c.sighting.id: c for c in want}
        for candidate in got:
            if candidate.sighting.id in by_id:
                assert candidate == by_id[candidate.sighting.id]
        exact.feedback(case_id, want[0].sighting.id, Verdict.CONFIRM, "op")


def test_a_sighting_added_after_start_is_found(
    site: tuple[Store, Real, list[Sighting]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, real, _ = site
    cases = CaseStore.for_store(store)
    service = CaseService(store, cases, CameraGraph(positions={}))
    service.index.sync()
    service.index.sync()
    case_id = open_case(service, cases, real, None)
    one = (real[0][3:4], real[1][3:4], real[2][3:4])
    # She walks by after start, looking exactly like her photo.
    photo = flat_descriptors(np.random.default_rng(7), one, 1)[0]
    arrived = replace(sightings(np.random.default_rng(11), one, 1, NOW - 30, NOW - 29)[0], descriptor=photo)
    store.add_sighting(arrived)
    service.on_sighting(arrived)
    monkeypatch.setattr(service, "_window", lambda start, end: pytest.fail("ranked exactly"))
    found = service.candidates(case_id, "op", limit=60)
    ids = [c.sighting.id for c in found]
    # Ranked with the two-stage path (no full read), so it came through `on_sighting`.
    assert arrived.id in ids


def test_an_index_behind_the_store_ranks_exactly(site: tuple[Store, Real, list[Sighting]]) -> None:
    store, real, rows = site
    cases = CaseStore.for_store(store)
    service = CaseService(store, cases, CameraGraph(positions={}))
    service.index.add(rows[:-3000])  # 3,000 the search index lacks: more JSON than a request reads
    assert not service.index.current()
    case_id = open_case(service, cases, real, None)
    calls: list[tuple[float, float]] = []
    window = service._window

    def spy(start: float, end: float) -> list[Sighting]:
        calls.append((start, end))
        return window(start, end)

    service._window = spy  # type: ignore[method-assign]
    assert len(service.candidates(case_id, "op", limit=60)) == 60
    assert calls, "an index behind the store must not be used"


def test_a_sighting_on_the_bus_before_the_store_is_not_taken_for_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The bus can hand `on_sighting` a sighting before the store commits it: no rebuild churn."""
    rng = np.random.default_rng(3)
    real = real_people(rng)
    store = Store.open(tmp_path / "vigil.db")
    stored = sightings(rng, real, 3, NOW - 600, NOW - 60)
    store.add_sightings(stored)
    service = CaseService(store, CaseStore.for_store(store), CameraGraph(positions={}))
    service.index.add(stored)
    early = sightings(rng, real, 2, NOW - 50, NOW - 40)
    for sighting in early:
        service.on_sighting(sighting)  # on the bus, not yet in the store
    with caplog.at_level("INFO", logger="vigil.services.case_index"):
        service.index.sync()
    assert "rebuilding" not in caplog.text
    assert len(service.index) == 5
    store.add_sightings(early)  # the store catches up: the index is current without a rebuild
    assert service.index.current() and len(service.index) == 5
    # One that never reaches the store counts as deleted once its grace is over.
    lost = sightings(rng, real, 1, NOW - 30, NOW - 20)[0]
    service.on_sighting(lost)
    assert service.index.current()  # it holds every stored sighting; the extra one is pending
    clock = time.monotonic() + case_index.PENDING_GRACE_S + 1
    monkeypatch.setattr(case_index.time, "monotonic", lambda: clock)
    service.index.sync()
    assert service.index.current() and len(service.index) == 6  # 5 stored + 1 known deleted
    assert lost.id in service.index._deleted  # left out of every shortlist
