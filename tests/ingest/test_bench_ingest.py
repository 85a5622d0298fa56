"""The ingest benchmark's Vigil run, at a small site: it measures, and what it measures holds."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks.ingest import _videos, run_vigil
from ingest.sim import site_simulator


@pytest.mark.rtsp
def test_small_site_run_reports_cpu_split_frame_rate_and_coverage(tmp_path: Path) -> None:
    sim = site_simulator(_videos(argparse.Namespace(videos=None)), 3, cache_dir=tmp_path / "cache")
    with sim:
        result = run_vigil(sim, 3, 1, warmup=4.0, seconds=6.0, workdir=tmp_path / "data", shards=1)
    assert result["online"] == 3
    assert result["client_cpu_percent"] == pytest.approx(
        result["client_cpu_detect_percent"] + result["client_cpu_record_percent"], abs=0.2
    )
    assert result["client_cpu_record_percent"] > 0 and result["server_cpu_percent"] > 0
    assert result["ai_fps_ratio"] >= 0.9, result  # the AI camera decodes at source rate
    assert 0.8 <= result["ai_detect_ratio"] <= 1.2, result  # and hands over 5 fps
    assert result["record_coverage"] >= 0.95 and result["gaps"] == 0, result
