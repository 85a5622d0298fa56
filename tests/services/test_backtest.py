"""Backtest: one rule over a camera's recorded segments, as the live pipeline would have run it.

Real components: segments are remuxed from the bundled person clip with the recorder's
`SegmentWriter` and indexed in a real SQLite store, a corrupt segment and a recording gap sit
in the window, and the embedded detector runs on the frames.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import pytest

from config.loader import parse_config
from config.models import VigilConfig
from detectors.registry import LazyDetector
from ingest.recorder import Segment
from tests.conftest import PERSON_CLIP
from tests.search.test_backscan import record
from vigil.core.errors import ValidationError
from vigil.infra.db.cases import CaseStore
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.services.backscan import JobState
from vigil.services.backtest import (
    BacktestBusy,
    BacktestError,
    BacktestNotFound,
    BacktestOptions,
    BacktestReport,
    BacktestService,
    DraftInvalid,
    as_plain,
    configured_rule,
    draft_rule,
    parse_site_time,
)

BASE = 1_800_000_000.0
"""Wall time the recording starts at (2027-01-15 08:00 UTC)."""
GAP_AT = BASE + 40.0
"""The recorder was down from here for 20 s (then one more segment, then a corrupt one)."""


def site(data_dir: Path) -> VigilConfig:
    return parse_config(site_doc(data_dir))


def site_doc(data_dir: Path) -> dict[str, Any]:
    # The clip: two people walk through the lower middle of the frame at ~7-18 s and ~22-35 s.
    return {
        "data_dir": str(data_dir),
        "timezone": "Europe/Amsterdam",
        "cameras": [
            {"id": "gate", "url": "rtsp://10.0.0.1/a", "role": "ai", "detect_fps": 2,
             "zones": [{"name": "walkway", "polygon": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]},
                       {"name": "corner", "polygon": [[0, 0], [0.05, 0], [0.05, 0.05], [0, 0.05]]}],
             "lines": [{"name": "middle", "points": [[0.5, 0], [0.5, 1]]}]},
            {"id": "quay", "url": "rtsp://10.0.0.2/a", "role": "ai"},
            {"id": "shed", "url": "rtsp://10.0.0.3/a"},
        ],
        "rules": [
            {"name": "walkway-intrusion", "type": "zone_intrusion", "camera": "gate", "zone": "walkway",
             "cooldown_s": 5},
            {"name": "middle-count", "type": "line_crossing", "camera": "gate", "line": "middle",
             "count_interval_s": 60},
        ],
    }  # fmt: skip


@dataclass
class Recorded:
    config: VigilConfig
    service: BacktestService
    store: Store
    segments: list[Segment]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """'gate' recorded 0-40 s of the clip, a 20 s gap, 10 s more (the person in black), a corrupt segment."""
    data_dir = tmp_path_factory.mktemp("backtest")
    config = site(data_dir)
    store = Store.open(data_dir / "vigil.db")
    root = data_dir / "recordings"
    segments = record(PERSON_CLIP, "gate", root, 0.0, 40.0, BASE)
    segments += record(PERSON_CLIP, "gate", root / "later", 20.0, 30.0, GAP_AT + 20)
    corrupt = root / "gate" / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    segments.append(Segment("gate", corrupt, GAP_AT + 30, GAP_AT + 40, corrupt.stat().st_size, 100))
    index = RecordingIndex.for_store(store)
    index.add_segments(segments)
    service = BacktestService(
        recordings=index,
        audit=CaseStore.for_store(store),
        detector=LazyDetector(config.detector).get,
        data_dir=data_dir,
        recording_root=root,
    )
    try:
        yield Recorded(config, service, store, segments)
    finally:
        service.stop()
        store.close()


def run(recorded: Recorded, target: Any, start: float, end: float, **options: Any) -> BacktestReport:
    job = recorded.service.submit(
        target,
        start,
        end,
        user="admin-1",
        reason="test: tune before enabling",
        options=BacktestOptions(**options),
    )
    report = recorded.service.wait(job.job_id, timeout=120)
    assert report.state is JobState.DONE, report
    return report


# -- whole jobs -----------------------------------------------------------------------------------


def test_zone_rule_backtest_finds_the_people_with_crops_clips_gaps_and_costs(recorded: Recorded) -> None:
    target = configured_rule(recorded.config, "walkway-intrusion")
    report = run(recorded, target, BASE, GAP_AT + 40)

    # Both passers-by entered the walkway (cooldown 5 s per track): events at their recorded times.
    assert len(report.events) >= 2, report.events
    times = [event.at for event in report.events]
    assert times == sorted(times)
    assert any(BASE + 5 <= t <= BASE + 20 for t in times) and any(BASE + 20 <= t <= BASE + 40 for t in times)
    assert {event.kind for event in report.events} == {"zone_intrusion"}
    assert all(event.track is not None and "walkway" in event.message for event in report.events)
    # Each event has a crop of the person (taller than wide) in the job folder and a clip link.
    folder = recorded.config.data_dir / "backtests" / report.job_id
    for event in report.events:
        assert event.crop is not None
        image = cv2.imread(str(recorded.service.crop(report.job_id, event.id)))
        assert image is not None and image.shape[0] > image.shape[1]
        assert (folder / event.crop).is_file()
        assert event.clip_start == pytest.approx(event.at - 5, abs=1e-3)
    plain = as_plain(report)
    assert plain["events"][0]["clip_url"].startswith("/cameras/gate/clip.mp4?start=")
    # Counts per hour: the whole window is in one clock hour.
    assert [(h.start, h.events) for h in report.hours] == [
        (math.floor(BASE / 3600) * 3600, len(report.events))
    ]
    assert report.crossings_in is None and report.crossings_out is None  # not a line rule
    # The gap in the window and the corrupt segment are reported; the job went on past both.
    assert len(report.gaps) == 1 and report.gaps[0].end == GAP_AT + 20
    assert report.gaps[0].start == pytest.approx(GAP_AT, abs=0.5) and report.gaps[0].reason == "no recording"
    assert [Path(e.path).name for e in report.errors] == ["corrupt.mp4"]
    assert (report.segments_done, report.segments_total) == (6, 6)
    assert report.video_seconds == pytest.approx(50.0, abs=0.6)  # 40 s + 10 s; the corrupt one is not
    assert report.frames == pytest.approx(100, abs=3)  # 50 s at the camera's 2 fps
    # Where the time went adds up to (nearly) the whole job, detection first.
    split = report.split
    assert split.detect > 0 and split.decode > 0 and split.track > 0 and split.rule > 0
    assert split.decode + split.detect + split.track + split.rule <= report.elapsed_s
    assert report.speed > 1.0  # faster than real time even on a loaded test box
    # Audited with who and why; nothing went to the live alert crops or the database.
    audit = CaseStore.for_store(recorded.store).audit_page("backtest_end")[0]
    assert any(
        a.detail["job_id"] == report.job_id and a.reason == "test: tune before enabling" for a in audit
    )
    assert not (recorded.config.data_dir / "alert-crops").exists()
    assert not (recorded.config.data_dir / "crops").exists()


def test_draft_line_rule_with_its_own_line_counts_crossings_per_direction(recorded: Recorded) -> None:
    draft = {
        "rule": {"name": "draft-count", "type": "line_crossing", "line": "mid2", "alert_on": ["in", "out"],
                 "cooldown_s": 0},
        "line": {"name": "mid2", "points": [[0.6, 0.0], [0.6, 1.0]], "in_side": "right"},
    }  # fmt: skip
    target = draft_rule(recorded.config, draft, "gate")
    assert target.draft and "mid2" in {line.name for line in target.camera.lines}
    report = run(recorded, target, BASE, BASE + 40, detect_fps=5.0)

    assert report.draft and report.rule == "draft-count" and report.detect_fps == 5.0
    assert report.crossings_in is not None and report.crossings_out is not None
    # The person in grey steps in from the left across x = 0.6 at ~7 s (and back); at 5 fps the
    # tracker follows her steps (at 2 fps the line sees nobody: the speed lever has a cost).
    assert report.crossings_in + report.crossings_out >= 1
    # Each crossing alerts (alert_on both ways): events match the counts, direction by direction.
    directions = [event.direction for event in report.events]
    assert directions.count("in") == report.crossings_in and directions.count("out") == report.crossings_out
    assert sum(h.count_in for h in report.hours) == report.crossings_in
    assert report.gaps == () and report.errors == ()


def test_cancel_stops_the_job_and_a_second_one_waits_its_turn(recorded: Recorded) -> None:
    service = recorded.service
    target = configured_rule(recorded.config, "walkway-intrusion")
    job = service.submit(target, BASE, BASE + 40, user="admin-1", reason="test: cancel me")
    with pytest.raises(BacktestBusy, match="one backtest runs at a time"):
        service.submit(target, BASE, BASE + 40, user="admin-2", reason="test: too early")
    deadline = time.monotonic() + 60
    while service.progress(job.job_id).frames < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    service.cancel(job.job_id, "admin-2")
    final = service.wait(job.job_id, timeout=30)
    assert final.state is JobState.CANCELLED and final.segments_done < final.segments_total
    actions = [
        (a.action, a.user) for a in CaseStore.for_store(recorded.store).audit_page("backtest_cancel")[0]
    ]
    assert ("backtest_cancel", "admin-2") in actions
    with pytest.raises(BacktestNotFound):
        service.progress("nope")


@pytest.mark.parametrize(
    ("which", "code"),
    [
        (["--rule", "walkway-intrusion"], 0),  # a configured rule, window in site time
        (["--draft", "DRAFT", "--camera", "gate"], 0),  # a draft from a YAML file
        (["--rule", "walkway-intrusion", "--camera", "quay"], 2),  # the rule watches another camera
        (["--draft", "BAD", "--camera", "gate"], 2),  # a draft that fails validation
    ],
)
def test_cli_prints_one_json_object(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str], which: list[str], code: int
) -> None:
    import argparse
    import json

    import yaml

    from vigil.commands import backtest

    config_file = tmp_path / "site.yaml"
    config_file.write_text(yaml.safe_dump(site_doc(recorded.config.data_dir)))
    (tmp_path / "draft.yaml").write_text("rule: {name: d, type: dwell, zone: walkway, min_seconds: 3}\n")
    (tmp_path / "bad.yaml").write_text("rule: {name: d, type: dwell, zone: pier}\n")
    paths = {"DRAFT": str(tmp_path / "draft.yaml"), "BAD": str(tmp_path / "bad.yaml")}
    parser = argparse.ArgumentParser()
    backtest.add_arguments(parser)
    argv = [str(config_file), *(paths.get(a, a) for a in which), "--start", "2027-01-15T09:00:00",
            "--end", str(BASE + 20), "--json", "--user", "admin-cli"]  # fmt: skip
    assert backtest.run(parser.parse_args(argv)) == code
    out, err = capsys.readouterr()
    if code:
        assert "vigil backtest: " in err and (
            "quay" in err or "rule.zone: camera 'gate' has no zone 'pier'" in err
        )
        return
    report = json.loads(out)
    assert report["state"] == "done" and report["requested_by"] == "admin-cli"
    assert report["window_start"] == BASE and report["video_seconds"] == pytest.approx(20, abs=0.6)
    assert report["events"] and report["events"][0]["clip_url"].startswith("/cameras/gate/clip.mp4")
    assert set(report["split"]) == {"decode", "detect", "track", "rule"} and report["speed"] > 0


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "problem"),
    [
        # unknown zone on the camera: the YAML path of the rule's key
        ({"rule": {"name": "d", "type": "dwell", "zone": "pier"}},
         "rule.zone: camera 'gate' has no zone 'pier'"),
        # a field of the rule type out of range
        ({"rule": {"name": "d", "type": "dwell", "zone": "walkway", "min_seconds": -1}}, "rule.min_seconds"),
        # a typo in a key: strict like the config file
        ({"rule": {"name": "d", "type": "dwell", "zone": "walkway", "min_secs": 5}}, "rule.min_secs"),
        # an unknown rule type
        ({"rule": {"name": "d", "type": "loitering", "zone": "walkway"}}, "rule"),
        # the draft's own zone with too few points
        ({"rule": {"name": "d", "type": "dwell", "zone": "z"},
          "zone": {"name": "z", "polygon": [[0, 0], [1, 1]]}},
         "zone.polygon: needs at least 3 points"),
        # a line of fewer than 2 points
        ({"rule": {"name": "d", "type": "line_crossing", "line": "l"},
          "line": {"name": "l", "points": [[0, 0]]}},
         "line.points"),
        # a draft zone named like a camera line: alerts would be ambiguous
        ({"rule": {"name": "d", "type": "dwell", "zone": "middle"},
          "zone": {"name": "middle", "polygon": [[0, 0], [1, 0], [1, 1]]}}, "zone: "),
        # the draft names another camera than the one asked for
        ({"rule": {"name": "d", "type": "dwell", "zone": "walkway", "camera": "quay"}}, "rule.camera"),
        # metres without calibration
        ({"rule": {"name": "d", "type": "dwell", "zone": "walkway", "max_speed_mps": 1}},
         "rule.max_speed_mps"),
        # not a mapping at all
        (["rule"], "expected a mapping"),
    ],
)  # fmt: skip
def test_a_draft_that_fails_validation_names_the_yaml_path(
    recorded: Recorded, draft: object, problem: str
) -> None:
    with pytest.raises(DraftInvalid) as caught:
        draft_rule(recorded.config, draft, "gate")
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_a_record_only_camera_and_unknown_names_are_refused(recorded: Recorded) -> None:
    with pytest.raises(DraftInvalid, match="record-only"):
        draft = {"rule": {"name": "d", "type": "occupancy", "zone": "x", "max_people": 2},
                 "zone": {"name": "x", "polygon": [[0, 0], [1, 0], [1, 1]]}}  # fmt: skip
        draft_rule(recorded.config, draft, "shed")
    with pytest.raises(BacktestNotFound, match="unknown camera 'nope'"):
        draft_rule(recorded.config, {"rule": {"name": "d", "type": "dwell", "zone": "x"}}, "nope")
    with pytest.raises(BacktestNotFound, match="not configured"):
        configured_rule(recorded.config, "nope")


@pytest.mark.parametrize(
    ("camera", "start", "end", "problem"),
    [
        ("gate", BASE + 10, BASE, "expected start < end"),  # end before start
        ("gate", BASE, BASE + 2 * 86400, "at most 86400 s"),  # longer than the maximum
        # nothing recorded in the window: names the camera, the window (site time) and what is recorded
        (
            "gate",
            BASE - 7200,
            BASE - 3600,
            "camera 'gate' has no recording between 2027-01-15T07:00:00+01:00",
        ),
        ("quay", BASE, BASE + 60, "recorded: nothing"),
    ],
)
def test_bad_windows_are_refused_with_what_is_recorded(
    recorded: Recorded, camera: str, start: float, end: float, problem: str
) -> None:
    # 'quay' has no zone of its own: the draft brings one.
    draft = {"rule": {"name": "d", "type": "occupancy", "zone": "q", "max_people": 0},
             "zone": {"name": "q", "polygon": [[0, 0], [1, 0], [1, 1]]}}  # fmt: skip
    target = draft_rule(recorded.config, draft, camera)
    with pytest.raises(BacktestError) as caught:
        recorded.service.submit(target, start, end, user="admin-1", reason="test: bad window")
    assert problem in str(caught.value)
    if camera == "gate" and "no recording" in problem:
        assert "recorded: 2027-01-15T09:00:00+01:00 .. 2027-01-15T09:01:20+01:00" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1800000000", BASE),  # epoch seconds
        ("2027-01-15T09:00:00", BASE),  # no offset: the site's time zone (Amsterdam, UTC+1 in January)
        ("2027-01-15T08:00:00Z", BASE),  # an explicit offset wins
    ],
)
def test_times_are_epoch_or_iso_in_the_site_time_zone(text: str, expected: float) -> None:
    assert parse_site_time(text, "Europe/Amsterdam") == expected


@pytest.mark.parametrize(
    "options",
    [
        {"detect_fps": 0},  # no frames at all
        {"detect_fps": float("nan")},  # not a number
        {"decode_width": 10},  # too small to see anyone
        {"max_window_s": -1},  # no window fits
    ],
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        BacktestOptions(**options)  # type: ignore[arg-type]
