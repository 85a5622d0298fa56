"""Tests for `vigil eval detect` on a one-frame MOTChallenge sequence."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from vigil.cli import main

MOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mot17_frames" / "MOT17-02-FRCNN"
pytestmark = pytest.mark.skipif(
    not (MOT / "img1" / "000001.jpg").is_file(), reason=f"MOT17 frames not in {MOT}"
)
MOT_DET_ROW = re.compile(r"^1,-1,(-?\d+\.\d{2},){4}\d\.\d{4},-1,-1,-1$")


@pytest.fixture(scope="module")
def one_frame_sequence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mot")
    sequence = root / "MOT17-02-FRCNN"
    (sequence / "img1").mkdir(parents=True)
    (sequence / "gt").mkdir()
    shutil.copy(MOT / "img1" / "000001.jpg", sequence / "img1" / "000001.jpg")
    rows = [line for line in (MOT / "gt" / "gt.txt").read_text().splitlines() if line.split(",")[0] == "1"]
    (sequence / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return root


def test_json_report_and_mot_det_file(
    one_frame_sequence: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["eval", "detect", "--mot", str(one_frame_sequence), "--out-dir", str(tmp_path), "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    scores = report["scores"]["MOT17-02-FRCNN"]
    assert report["detector"] == "ssdlite"
    assert set(scores) == {"ap50", "recall", "ms_per_frame", "frames", "people"}
    assert 0.0 < scores["ap50"] <= 1.0 and 0.0 < scores["recall"] <= 1.0 and scores["ms_per_frame"] > 0
    assert scores["frames"] == 1 and scores["people"] > 0
    lines = (tmp_path / "MOT17-02-FRCNN.txt").read_text().splitlines()
    assert lines and all(MOT_DET_ROW.match(line) for line in lines), lines[:3]
    widths = np.array([[float(v) for v in line.split(",")[4:6]] for line in lines])
    assert (widths > 0).all()  # w, h, not x2, y2


def test_table_report(one_frame_sequence: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "detect", "--mot", str(one_frame_sequence)]) == 0
    out = capsys.readouterr().out
    assert "AP50" in out and "recall" in out and "ms/frame" in out
    assert re.search(r"MOT17-02-FRCNN\s+\d\.\d{3}\s+\d\.\d{3}\s+\d+\.\d\s+1\s+\d+", out), out


def test_missing_sequences_fail_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "detect", "--mot", str(tmp_path)]) == 1
    assert "expected MOTChallenge sequences" in capsys.readouterr().err
