"""``benchmarks/pose.py --pipeline`` on the bundled clip: the three rows measure what they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.pose import default_models_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not (default_models_dir() / "movenet-lightning.json").is_file(),
    reason="MoveNet not fetched: ./vigil.sh setup",
)
def test_pipeline_cost_rows_off_on_and_unbudgeted() -> None:
    from benchmarks.pose import pipeline_cost
    from detectors.ssdlite import SsdliteDetector

    report = pipeline_cost(REPO / "samples" / "one-by-one-person-detection.mp4", SsdliteDetector(), 5.0, 120)
    assert report["frames"] == 120 and report["fps"] == pytest.approx(5.0)
    assert report["off"]["pose_crops_per_frame"] == 0 and report["off"]["pose_ms_per_crop"] is None
    # the person walks through: the stage scores him, and without a budget at least as often
    assert (
        0 < report["on"]["pose_crops_per_frame"] <= report["every_person_every_frame"]["pose_crops_per_frame"]
    )
    assert report["on"]["pose_cpu_ms_per_crop"] > 0
    assert report["ratio_on_vs_off_cpu"] > 0
