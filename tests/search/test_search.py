"""Search: colours, descriptors, ranking, camera graph, case service + API, scale index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from alerts.search.colours import COLOURS, colour_distribution, top_colours
from alerts.search.descriptors import HSV_DIM, LAB_DIM, Descriptor, describe_crop
from alerts.search.graph import CameraGraph
from alerts.search.index import SightingIndex
from alerts.search.ranking import Gallery, Query, ReRanking, rerank, score
from api import ApiServices, Role, create_app
from config.models import VigilConfig
from tests.factories import auth_headers
from vigil.core.types import AlertKind, PathPoint, Sighting
from vigil.evaluation.search import Result, score_ranking
from vigil.infra.db import Store
from vigil.infra.db.cases import CaseStore
from vigil.services.cases import CaseService

BGR = {"red": (0, 0, 220), "blue": (200, 40, 0), "green": (0, 180, 0), "black": (10, 10, 10),
       "white": (240, 240, 240), "yellow": (0, 220, 230), "grey": (128, 128, 128)}  # fmt: skip


def make_person(upper: str, lower: str, height: int = 160, width: int = 60) -> np.ndarray:
    """A flat two-colour 'person' crop: torso colour over leg colour, grey head."""
    crop = np.zeros((height, width, 3), np.uint8)
    crop[: height // 6] = BGR["grey"]
    crop[height // 6 : height // 2] = BGR[upper]
    crop[height // 2 :] = BGR[lower]
    return crop


def make_sighting(
    upper: str,
    lower: str,
    camera: str = "cam1",
    start: float = 1000.0,
    height: int = 160,
    foot: float = 400.0,
) -> Sighting:
    box = (100.0, foot - height, 160.0, foot)
    descriptor = describe_crop(make_person(upper, lower, height), box, 720.0)
    return Sighting(
        camera_id=camera, tracker_id=1, start=start, end=start + 5, best_box=box, crop_path=None,
        path=(PathPoint(start, 130.0, foot),), confidence=0.9, frames=10, descriptor=descriptor.to_vector(),
    )  # fmt: skip


@pytest.mark.parametrize(
    "colour",
    ["red", "blue", "green", "black", "white", "yellow", "grey"],  # one row per palette colour drawn
)
def test_flat_colour_is_named(colour: str) -> None:
    crop = np.full((20, 20, 3), BGR[colour], np.uint8)
    assert top_colours(colour_distribution(crop))[0].name == colour


def test_descriptor_round_trips_and_names_body_colours() -> None:
    descriptor = describe_crop(make_person("red", "blue"), (0, 0, 60, 160), 720)
    again = Descriptor.from_vector(descriptor.to_vector())
    np.testing.assert_allclose(again.appearance, descriptor.appearance, atol=1e-6)
    assert again.upper_colours[0].name == "red"
    assert again.lower_colours[0].name == "blue"
    assert len(descriptor.upper) == len(COLOURS)


def test_stripes_tell_swapped_outfits_apart() -> None:
    query = Query(examples=(describe_crop(make_person("red", "blue")),))
    gallery = Gallery.build([describe_crop(make_person("blue", "red")), describe_crop(make_person("red", "blue"))],  # noqa: E501
                            ["c", "c"])  # fmt: skip
    scores = score(query, gallery)
    assert scores.total[1] > scores.total[0]


def test_description_and_child_size_rank_the_child_first() -> None:
    adults = [describe_crop(make_person("red", "blue"), (0, 400 - 160, 60, 400), 720) for _ in range(8)]
    child = describe_crop(make_person("red", "blue", height=90), (0, 400 - 90, 60, 400), 720)
    other = describe_crop(make_person("green", "black"), (0, 400 - 160, 60, 400), 720)
    gallery = Gallery.build([*adults, child, other], ["c"] * 10)
    scores = score(Query(upper=("red",), lower=("blue",), size="child"), gallery)
    assert int(np.argmax(scores.total)) == 8
    assert int(np.argmin(scores.total)) == 9


def test_graph_marks_impossible_jump_implausible() -> None:
    graph = CameraGraph(positions={"a": (0.0, 0.0), "b": (600.0, 0.0), "c": (20.0, 0.0)})
    anchor = make_sighting("red", "blue", camera="a", start=1000)
    far_soon = make_sighting("red", "blue", camera="b", start=1010)
    near_soon = make_sighting("red", "blue", camera="c", start=1030)
    plausible = graph.plausibility([far_soon, near_soon], [anchor])
    assert plausible[0] < 0.1 < 0.99 <= plausible[1]
    assert graph.reachable("a", 60)[0].camera_id == "c"


LINKED_SITE = {
    "cameras": [
        {"id": "cam1", "url": "rtsp://10.0.0.1/a", "role": "ai", "position": {"x": 0, "y": 0}},
        {"id": "cam2", "url": "rtsp://10.0.0.2/a", "position": {"x": 900, "y": 0}},
        {"id": "cam3", "url": "rtsp://10.0.0.3/a", "position": {"x": 30, "y": 0}},  # behind a fence
        {"id": "cam4", "url": "rtsp://10.0.0.4/a"},  # not on the map, but linked
    ],
    "links": [{"from": "cam3", "to": "cam1", "walk_s": 200}, {"from": "cam1", "to": "cam4", "walk_s": 100}],
}


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        ("cam1", "cam3", 200 * 1.3),  # the link's seconds at walking speed, not the 30 m straight line
        ("cam3", "cam1", 200 * 1.3),  # links go both ways
        ("cam1", "cam4", 100 * 1.3),  # a linked camera needs no position
        ("cam1", "cam2", 900 * 1.3),  # no link: straight line times the detour
        ("cam2", "cam4", None),  # cam4 has no position and no link to cam2: unknown
    ],
)
def test_graph_from_config_walks_the_links(a: str, b: str, metres: float | None) -> None:
    graph = CameraGraph.from_config(VigilConfig.model_validate(LINKED_SITE))
    assert graph.distance(a, b) == (None if metres is None else pytest.approx(metres))


def test_suggestions_follow_the_configured_links(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "vigil.db")
    config = VigilConfig.model_validate(LINKED_SITE)
    service = CaseService(store, CaseStore.for_store(store), CameraGraph.from_config(config))
    client = TestClient(
        create_app(config, ApiServices(store=store, health=dict, data_dir=tmp_path, cases=service))
    )
    client.headers.update(auth_headers(client, store, Role.OPERATOR))
    her = make_sighting("red", "blue", camera="cam1", start=1000)
    store.add_sighting(her)
    opened = {"reason": "missing child report 7", "upper": ["red"], "lower": ["blue"], "window_end": 5000}
    case = client.post("/cases", json={**opened, "window_start": 0}).json()
    client.post(f"/cases/{case['id']}/feedback", json={"sighting_id": her.id, "verdict": "confirm"})
    suggested = client.get(f"/cases/{case['id']}/suggestions").json()
    # Without links cam3 (30 m away) would come first at 30 s; the fence makes it 200 s.
    assert [(s["camera_id"], s["walk_s"]) for s in suggested] == [
        ("cam4", 100.0),
        ("cam3", 200.0),
        ("cam2", 900.0),
    ]
    store.close()


def make_client(tmp_path: Path, role: Role = Role.OPERATOR) -> tuple[TestClient, Store, CaseService]:
    store = Store.open(tmp_path / "vigil.db")
    config = VigilConfig.model_validate({"cameras": [
        {"id": "cam1", "url": "rtsp://10.0.0.1/a", "role": "ai", "position": {"x": 0, "y": 0}},
        {"id": "cam2", "url": "rtsp://10.0.0.2/a", "role": "ai", "position": {"x": 900, "y": 0}},
    ]})  # fmt: skip
    service = CaseService(store, CaseStore.for_store(store), CameraGraph.from_config(config))
    services = ApiServices(store=store, health=dict, data_dir=tmp_path, cases=service)
    client = TestClient(create_app(config, services))
    client.headers.update(auth_headers(client, store, role))
    return client, store, service


def test_case_flow_candidates_feedback_trail_and_audit(tmp_path: Path) -> None:
    client, store, _ = make_client(tmp_path, Role.MEDIATOR)
    her = make_sighting("red", "blue", start=1000)
    lookalike = make_sighting("red", "black", start=1100)
    stranger = make_sighting("green", "white", start=1200)
    teleport = make_sighting("red", "blue", camera="cam2", start=1020)  # 900 m in 20 s
    for s in (her, lookalike, stranger, teleport):
        store.add_sighting(s)
    response = client.post("/cases", json={"reason": "missing child report 42", "upper": ["red"],
                                           "lower": ["blue"], "window_start": 0, "window_end": 5000})  # noqa: E501  # fmt: skip
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    ranked = client.get(f"/cases/{case_id}/candidates").json()["items"]
    assert ranked[-1]["sighting"]["id"] == stranger.id
    assert {"appearance", "colours", "size", "place_time"} <= set(ranked[0])
    confirmed = client.post(f"/cases/{case_id}/feedback", json={"sighting_id": her.id, "verdict": "confirm"})
    assert [s["id"] for s in confirmed.json()["trail"]] == [her.id]
    assert confirmed.json()["last_confirmed_camera"] == "cam1"
    after = {c["sighting"]["id"]: c for c in client.get(f"/cases/{case_id}/candidates").json()["items"]}
    assert after[teleport.id]["place_time"] < 0.2
    assert her.id not in after
    actions = [a["action"] for a in client.get(f"/cases/{case_id}/audit").json()]
    assert actions.count("search") == 2 and "confirm" in actions and "open_case" in actions
    assert all(a["reason"] == "missing child report 42" for a in client.get(f"/cases/{case_id}/audit").json())


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.VIEWER, 403), (Role.OPERATOR, 201)],  # viewers may not search for people; operators may
)
def test_opening_a_case_needs_operator(tmp_path: Path, role: Role, status: int) -> None:
    client, _, _ = make_client(tmp_path, role)
    assert client.post("/cases", json={"reason": "lost child"}).status_code == status


def test_case_needs_a_reason(tmp_path: Path) -> None:
    client, _, _ = make_client(tmp_path)
    assert client.post("/cases", json={"upper": ["red"]}).status_code == 422


def test_live_watch_raises_case_alert_and_pushes_it_over_websocket(tmp_path: Path) -> None:
    client, _, service = make_client(tmp_path)
    case_id = client.post("/cases", json={"reason": "lost child", "upper": ["red"], "lower": ["blue"],
                                          "threshold": 0.6}).json()["id"]  # fmt: skip
    bearer = {"Authorization": client.headers["Authorization"]}
    with client.websocket_connect(f"/cases/{case_id}/watch", headers=bearer) as socket:
        assert service.on_sighting(make_sighting("green", "white", start=2000)) == []
        alerts = service.on_sighting(make_sighting("red", "blue", start=2000))
        assert [a.kind for a in alerts] == [AlertKind.CASE_MATCH]
        assert socket.receive_json()["rule"] == f"case:{case_id}"


def test_index_finds_the_matching_row_within_filters() -> None:
    rng = np.random.default_rng(0)
    vectors = np.abs(rng.standard_normal((200, 32))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    colours = np.full((200, len(COLOURS)), 1 / len(COLOURS), np.float32)
    index = SightingIndex(32)
    index.add([f"s{i}" for i in range(200)], vectors, colours, colours, np.arange(200.0),
              ["a" if i % 2 else "b" for i in range(200)])  # fmt: skip
    assert index.search(vectors[51], start=40, end=60, cameras=["a"], k=3)[0].row == 51
    assert index.search(vectors[51], start=60, end=90, k=3)[0].row != 51


def test_appearance_survives_another_cameras_white_balance() -> None:
    person = make_person("red", "blue")
    warmer = np.clip(person.astype(np.float32) * np.array([0.85, 1.0, 1.12]), 0, 255).astype(np.uint8)
    same = float(describe_crop(person).appearance @ describe_crop(warmer).appearance)
    other = float(describe_crop(person).appearance @ describe_crop(make_person("blue", "red")).appearance)
    assert same > 0.95 > other


def test_index_two_stage_search_matches_exhaustive(monkeypatch: pytest.MonkeyPatch) -> None:
    import alerts.search.index as index_module

    # Small thresholds so 3,000 rows take the PCA first pass + shortlist path.
    monkeypatch.setattr(index_module, "FIT_ROWS", 500)
    monkeypatch.setattr(index_module, "EXACT_ROWS", 1_000)
    monkeypatch.setattr(index_module, "SHORTLIST", 300)
    rng = np.random.default_rng(0)
    vectors = np.abs(rng.standard_normal((3000, 48))).astype(np.float32) ** 3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    colours = rng.dirichlet(np.ones(len(COLOURS)), 3000).astype(np.float32)
    index = SightingIndex(48)
    for lo in range(0, 3000, 1000):  # the basis is fitted mid-way, later rows are projected on add
        rows = slice(lo, lo + 1000)
        index.add([f"s{i}" for i in range(lo, lo + 1000)], vectors[rows], colours[rows], colours[rows],
                  np.arange(lo, lo + 1000.0), ["a"] * 1000)  # fmt: skip
    fast = index.search(vectors[2500], upper=("red",), k=10)
    exact = index.search(vectors[2500], upper=("red",), k=10, exhaustive=True)
    assert fast[0].row == exact[0].row
    assert len({h.row for h in fast} & {h.row for h in exact}) >= 8


def test_version_1_descriptor_still_reads_with_its_hsv_half() -> None:
    current = describe_crop(make_person("red", "blue"), (0, 0, 60, 160), 720)
    hsv = current.appearance[:HSV_DIM] * np.sqrt(2.0)  # what version 1 stored: the HSV stripes alone
    old = (1.0, float(HSV_DIM), 0.0, *hsv, *current.upper, *current.lower, 160.0, 160.0, 720.0)
    again = Descriptor.from_vector(old)
    assert len(again.appearance) == HSV_DIM + LAB_DIM
    assert float(again.appearance @ current.appearance) == pytest.approx(0.5, abs=1e-5)


def _unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, np.float32)
    return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), np.float32)


def test_rerank_lifts_a_match_vouched_for_by_the_querys_neighbours() -> None:
    # Rows 0-3: the person, seen four times (mutual neighbours); row 4: a look-alike whose plain
    # cosine with the query is the highest, but whose neighbours are strangers 5-9.
    person = [[1.0, 0.05 * i, 0.0, 0.0] for i in range(4)]
    lookalike = [[0.8, 0.0, 0.6, 0.0]]
    strangers = [[0.55, 0.0, 0.8, 0.05 * i] for i in range(5)]
    appearance = _unit(person + lookalike + strangers)
    cosine = np.array([0.80, 0.79, 0.78, 0.77, 0.82, 0.5, 0.5, 0.5, 0.5, 0.5], np.float32)
    reranked = rerank(cosine, appearance, ReRanking(k1=4, k2=1))
    assert int(np.argmax(cosine)) == 4
    assert int(np.argmax(reranked)) in {0, 1, 2, 3}
    assert reranked[4] < reranked[:4].min()


@pytest.mark.parametrize(
    ("rows", "settings"),
    [
        (5, ReRanking(k1=6)),  # fewer rows than k1 + 2: no neighbourhoods to compare
        (20, ReRanking(lam=1.0)),  # lam 1 is the plain cosine
    ],
)
def test_rerank_leaves_small_galleries_and_lam_1_alone(rows: int, settings: ReRanking) -> None:
    rng = np.random.default_rng(0)
    appearance = _unit(np.abs(rng.standard_normal((rows, 8))).tolist())
    cosine = appearance @ appearance[0]
    np.testing.assert_array_equal(rerank(cosine, appearance, settings), cosine)


@pytest.mark.parametrize(
    ("ranked", "ignore", "ap"),
    [
        (["t1", "x", "t2"], [], (1 + 2 / 3) / 2),  # a stranger between the two targets
        (["t1", "j", "t2"], ["j"], 1.0),  # a junk box (same person, unknown to the truth) is skipped
        (["j", "x", "t1", "t2"], ["j"], (1 / 2 + 2 / 3) / 2),  # junk skipped, the stranger still counts
    ],
)
def test_score_ranking_skips_junk_boxes(ranked: list[str], ignore: list[str], ap: float) -> None:
    box = (0.0, 0.0, 10.0, 20.0)
    results = [Result(frame=name, box=box, score=0.0) for name in ranked]
    scored = score_ranking(results, [("t1", box), ("t2", box)], [(name, box) for name in ignore])
    assert scored.ap == pytest.approx(ap)
    assert scored.detected == 2
