"""`vigil bench site` (benchmarks/site.py): the site's config cut, the cores arithmetic, bad input, and one
small real run of the whole pipeline against the camera simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import site
from benchmarks.site_report import PER_FRAME, SPLIT_ORDER, Target, cores_needed, quantiles, unit_costs
from vigil.commands.bench_site import main

SITE_YAML = yaml.safe_load(site.SITE_CONFIG.read_text())


def _urls(n: int) -> tuple[list[str], list[str]]:
    urls = [f"rtsp://sim/cam{k + 1}" for k in range(n)]
    return urls, [f"{url}/sub" for url in urls]


@pytest.mark.parametrize(
    ("cameras", "ai"),
    [
        (141, 23),  # the real site: every camera of site.yaml, none copied
        (4, 2),  # a small cut: two checkpoints, two record-only cameras
        (30, 30),  # more AI cameras than the file has (23): copies with new ids
    ],
)
def test_site_document_cuts_the_site_and_points_it_at_the_simulator(
    cameras: int, ai: int, tmp_path: Path
) -> None:
    from config.loader import parse_config

    urls, subs = _urls(cameras)
    document = site.site_document(SITE_YAML, urls, subs, ai, tmp_path)
    chosen = document["cameras"]
    assert len(chosen) == cameras and len({c["id"] for c in chosen}) == cameras
    assert [c["role"] for c in chosen] == ["ai"] * ai + ["record"] * (cameras - ai)
    assert [c["url"] for c in chosen] == urls
    assert [c.get("detect_url") for c in chosen] == subs[:ai] + [None] * (cameras - ai)
    kept = {c["id"] for c in chosen}
    assert all(rule["camera"] in kept for rule in document["rules"])
    config = parse_config(document)  # rules and links that name a dropped camera are gone: it validates
    assert len(config.cameras) == cameras and Path(config.data_dir) == tmp_path


def test_the_full_cut_keeps_every_rule_and_zone() -> None:
    urls, subs = _urls(141)
    document = site.site_document(SITE_YAML, urls, subs, 23, Path("/tmp/x"))
    assert len(document["rules"]) == len(SITE_YAML["rules"])
    assert document["cameras"][0]["zones"] == SITE_YAML["cameras"][0]["zones"]


def _split(**cores: float) -> dict[str, float]:
    return {part: cores.get(part, 0.0) for part in SPLIT_ORDER}


def test_cores_needed_scales_each_part_by_what_it_serves() -> None:
    # 10 s, 10 cameras (2 AI), 100 frames analysed: decode 0.2 cores, record 0.5, detection 1.0, fixed 0.1.
    split = _split(ingest_decode=0.2, record_shards=0.5, detection=1.0, store_bus=0.1, other=0.1)
    costs = unit_costs(split, wall_s=10.0, cameras=10, ai=2, analysed=100)
    assert costs["ingest_decode_per_ai_stream"] == pytest.approx(0.1)
    assert costs["record_per_camera"] == pytest.approx(0.05)
    assert costs["detection_per_frame"] == pytest.approx(0.1)  # 10 CPU-s over 100 frames
    cores = cores_needed(costs, Target(cameras=100, ai_cameras=20, detect_fps=5.0))
    # 20 x 0.1 decode + 100 x 0.05 record + 100 frames/s x (0.1 + 0.01) + 0.1 fixed
    assert cores["parts"]["ingest_decode"] == pytest.approx(2.0)
    assert cores["parts"]["record_shards"] == pytest.approx(5.0)
    assert cores["parts"]["detection"] == pytest.approx(10.0)
    assert cores["total"] == pytest.approx(2.0 + 5.0 + 10.0 + 1.0 + 0.1)
    cheaper = cores_needed(costs, Target(100, 20, 5.0), detection_per_frame=0.05)
    assert cheaper["total"] == pytest.approx(cores["total"] - 5.0)


def test_quantiles_are_ordered_and_empty_is_none() -> None:
    assert quantiles([]) == {"p50": None, "p95": None, "n": 0}
    q = quantiles([0.1, 0.2, 0.3, 0.4, 1.0], scale=1000.0, digits=1)
    p50, p95 = q["p50"], q["p95"]
    assert q["n"] == 5 and p50 is not None and p95 is not None
    assert p50 == pytest.approx(300.0) and p50 <= p95 <= 1000.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cameras", "2", "--ai-cameras", "3"], "cannot exceed --cameras"),  # more AI cameras than cameras
        (["--cameras", "0", "--ai-cameras", "0"], "must be >= 1"),  # an empty site
        (
            ["--cameras", "2", "--ai-cameras", "1", "--seconds", "0"],
            "--seconds must be > 0",
        ),  # nothing to measure
        (["--target-cameras", "10", "--target-ai", "11"], "--target-ai (11) must be between"),  # bad target
    ],
)
def test_bad_arguments_say_what_is_wrong(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert message in str(raised.value.code)


def test_a_simulator_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-video.mp4"
    garbage.write_bytes(b"this is not H.264")
    with pytest.raises(SystemExit) as raised:
        main(["--cameras", "2", "--ai-cameras", "1", "--videos", str(garbage), "--cache-dir", str(tmp_path)])
    assert "the camera simulator (vigil sim) did not start" in str(raised.value.code)


def _sim_available() -> None:
    from ingest.sim import check_dependencies
    from vigil.core.errors import DependencyError

    try:
        check_dependencies()
    except DependencyError as error:
        pytest.skip(f"GStreamer RTSP server unavailable: {error}")


@pytest.mark.rtsp
def test_a_detector_without_its_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    _sim_available()
    argv = ["--cameras", "1", "--ai-cameras", "1", "--seconds", "1", "--detector", "onnx"]
    assert main(argv) == 2
    assert "detector.model_path: type 'onnx' needs" in capsys.readouterr().err


def _check_latencies(q: dict[str, Any], low: float = 0.0) -> None:
    assert q["n"] > 0 and low < q["p50"] <= q["p95"]


@pytest.mark.rtsp
@pytest.mark.slow
def test_a_small_site_reports_real_measurements(capsys: pytest.CaptureFixture[str]) -> None:
    """4 cameras (2 AI) for 20 s through the whole pipeline: about 50 s on a loaded 2-core box.

    20 s, not less: a stored sighting needs a track that ends inside the window and its wait
    after that; 12 s held none once on a box busy with other jobs.
    """
    _sim_available()
    argv = ["--cameras", "4", "--ai-cameras", "2", "--seconds", "20", "--warmup", "2"]
    assert main([*argv, "--baseline-seconds", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run"]["cameras"] == 4 and len(result["per_camera"]) == 2
    for camera in result["per_camera"]:
        assert camera["analysed_frames"] > 0
        assert 0.0 < camera["analysed_fraction"] <= 1.0 and 0.0 <= camera["inferred_fraction"] <= 1.0
        _check_latencies(camera["frame_latency_ms"])
        assert camera["cpu_percent"]["ingest_decode"] > 0 and camera["cpu_percent"]["pipeline"] > 0
    # A finished sighting is stored only after its lost track's wait (track_buffer_s + 1 s).
    _check_latencies(result["sighting_latency_s"], low=result["sighting_wait_s"])
    split = result["cpu_split_cores"]
    assert split["ingest_decode"] > 0 and split["record_shards"] > 0 and split["detection"] > 0
    # The parts account for the process's (and its record shards') CPU, nothing counted twice.
    assert sum(split.values()) == pytest.approx(result["run"]["client_cpu_cores"], rel=0.15, abs=0.03)
    cores = result["site_cores_needed"]
    assert cores["total"] == pytest.approx(sum(cores["parts"].values()), abs=0.02) and cores["total"] > 0
    assert all(result["unit_costs"][f"{part}_per_frame"] >= 0 for part in PER_FRAME)
    baseline = result["baseline"]
    assert baseline["frames"] > 0 and baseline["ratio"] > 1.0  # every frame detected costs more than Vigil


def _window(fraction: float, per_frame: float) -> dict[str, Any]:
    return {
        "analysed_fraction": fraction,
        "unit_costs": {
            "record_per_camera": 0.002,
            "detection_per_frame": per_frame,
            "tracking_per_frame": per_frame,
        },
    }


@pytest.mark.parametrize(
    ("keep_up", "detection", "source"),
    [
        (None, 0.09, "site"),  # no keep-up window: the site window's costs
        (_window(0.99, 0.03), 0.03, "keep_up"),  # it kept up: its per-frame costs replace the site's
        (_window(0.50, 0.03), 0.09, "site"),  # it fell behind too: nothing better to use
    ],
)
def test_per_frame_costs_come_from_a_window_that_kept_up(
    keep_up: dict[str, Any] | None, detection: float, source: str
) -> None:
    site_window = _window(0.01, 0.09)
    site_window["unit_costs"]["record_per_camera"] = 0.004
    costs, used = site.site_costs(site_window, keep_up)
    assert used == source and costs["detection_per_frame"] == detection
    assert costs["record_per_camera"] == 0.004  # per-stream costs are always the site window's
