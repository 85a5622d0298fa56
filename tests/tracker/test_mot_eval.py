"""MOTChallenge I/O and one small real-data check: Vigil on TUD-Stadtmitte via `vigil eval track`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_detections
from vigil.evaluation.mot import SequenceInfo, normalise_scores, write_tracks

MOT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mot_public_det"
TUD = MOT_DIR / "TUD-Stadtmitte"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([0.05, 0.5, 1.0], [0.05, 0.5, 1.0]),  # MOT17: already probabilities, kept
        ([-0.7, 50.0, 139.0], [0.0, 0.5, 1.0]),  # MOT15 ACF margins: /100, clipped
    ],
)
def test_normalise_scores(raw: list[float], expected: list[float]) -> None:
    np.testing.assert_allclose(normalise_scores(np.array(raw)), expected, rtol=1e-6)


def test_write_tracks_is_motchallenge(tmp_path: Path) -> None:
    tracked = [
        make_detections(xyxy=[[10, 20, 50, 120]], confidence=[0.5], tracker_id=[3]),
        make_detections(xyxy=[], tracker_id=[]),
    ]
    write_tracks(tmp_path / "seq.txt", tracked)
    assert (tmp_path / "seq.txt").read_text() == "1,3,10.00,20.00,40.00,100.00,0.5000,-1,-1,-1\n"


@pytest.mark.skipif(not TUD.is_dir(), reason="needs ../shared/data/mot_public_det")
def test_eval_track_on_tud_stadtmitte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("trackeval")
    from vigil.commands import eval_track

    mot = tmp_path / "mot"
    mot.mkdir()
    (mot / TUD.name).symlink_to(TUD)
    args = argparse.Namespace(mot=mot, out_dir=tmp_path / "out", tracker="vigil", json=True)
    assert eval_track.run(args) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]["COMBINED"]
    # Measured HOTA 40.3, IDF1 59.4 at the default configuration; the floor catches real regressions.
    assert scores["HOTA"] > 34.0 and scores["IDF1"] > 50.0
    assert (tmp_path / "out" / "TUD-Stadtmitte.txt").is_file()


@pytest.mark.parametrize(
    ("name", "benchmark"),
    [
        ("MOT17-02-FRCNN", "MOT17"),  # TrackEval's MOT17 preprocessing: distractors and zero-marked removed
        ("MOT20-01", "MOT20"),  # MOT20: non_mot_vehicle also counts as a distractor
        ("PETS09-S2L1", "MOT15"),  # MOT15 has no classes: only zero-marked ground truth is dropped
        ("KITTI-13", "MOT15"),
    ],
)
def test_benchmark_conventions_follow_sequence_name(name: str, benchmark: str) -> None:
    info = SequenceInfo(name=name, path=Path(name), frame_rate=30.0, length=1, width=1, height=1)
    assert info.benchmark == benchmark
