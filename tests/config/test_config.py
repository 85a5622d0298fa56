from pathlib import Path

import pytest
import yaml

from config.loader import ConfigErrors, load_config, parse_config
from config.models import CameraRole
from vigil.cli import main
from vigil.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def base(**overrides: object) -> dict:
    doc: dict = {
        "cameras": [
            {
                "id": "cam1",
                "url": "rtsp://127.0.0.1:8554/cam1",
                "role": "ai",
                "zones": [{"name": "pier", "polygon": [[0, 0], [1, 0], [1, 1]]}],
            },
            {"id": "cam2", "url": "rtsp://127.0.0.1:8554/cam2"},
        ],
        "rules": [{"name": "r1", "type": "zone_intrusion", "camera": "cam1", "zone": "pier"}],
    }
    doc.update(overrides)
    return doc


def test_site_example_is_the_real_site() -> None:
    config = load_config(EXAMPLES / "site.yaml", environ={})
    assert len(config.cameras) == 141
    assert sum(c.role is CameraRole.AI for c in config.cameras) == 23
    assert sum(c.ptz for c in config.cameras) == 5
    assert all(c.credentials is not None for c in config.cameras)  # logins come from the environment
    assert config.summary().startswith("141 cameras (23 AI, 5 PTZ)")


def test_environment_supplies_urls() -> None:
    config = load_config(EXAMPLES / "site.yaml", environ={"VIGIL_RTSP_BASE": "rtsp://nvr:554"})
    assert config.cameras[0].url == "rtsp://nvr:554/cam1"


def test_demo_example_validates() -> None:
    config = load_config(EXAMPLES / "demo.yaml", environ={})
    assert [c.id for c in config.cameras] == ["cam1", "cam2", "cam3"]
    assert config.data_dir.is_absolute()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # a typo in a key is an error, not silently ignored
        (lambda d: d["cameras"][1].update(rol="ai"), "cameras[1].rol: Extra inputs are not permitted"),
        # polygons need three points
        (
            lambda d: d["cameras"][0]["zones"][0].update(polygon=[[0, 0], [1, 1]]),
            "cameras[0].zones[0].polygon: needs at least 3 points",
        ),
        # a bow tie: its edges cross, so it has no clear inside
        (
            lambda d: d["cameras"][0]["zones"][0].update(polygon=[[0, 0], [1, 1], [1, 0], [0, 1]]),
            "cameras[0].zones[0].polygon: edges 1 and 3 cross",
        ),
        # a concave polygon (an L) is fine, only crossing edges are refused
        (
            lambda d: d["cameras"][0]["zones"][0].update(
                polygon=[[0, 0], [0.5, 0], [0.5, 0.5], [1, 0.5], [1, 1], [0, 1]]
            ),
            None,
        ),
        # coordinates are normalised
        (
            lambda d: d["cameras"][0]["zones"][0].update(polygon=[[0, 0], [2, 0], [1, 1]]),
            "cameras[0].zones[0].polygon[1][0]: Input should be less than or equal to 1",
        ),
        # negative detection rate
        (
            lambda d: d["cameras"][0].update(detect_fps=0),
            "cameras[0].detect_fps: Input should be greater than 0",
        ),
        # duplicate ids
        (lambda d: d["cameras"][1].update(id="cam1"), "cameras[1].id: duplicate camera id 'cam1'"),
        # a rule pointing at a camera that does not exist
        (lambda d: d["rules"][0].update(camera="cam9"), "rules[0].camera: unknown camera 'cam9'"),
        # a rule pointing at a zone that does not exist
        (lambda d: d["rules"][0].update(zone="bridge"), "rules[0].zone: camera 'cam1' has no zone 'bridge'"),
        # rules only run on AI cameras
        (lambda d: d["rules"][0].update(camera="cam2"), "rules[0].zone: camera 'cam2' has no zone"),
        # an unknown rule type
        (lambda d: d["rules"][0].update(type="teleport"), "rules[0]"),
        # an unknown model precision (int8 and fp32 exist)
        (
            lambda d: d.update(detector={"precision": "fp16"}),
            "detector.precision: Input should be 'int8' or 'fp32'",
        ),
        # secrets from env: a missing variable without default
        (
            lambda d: d["cameras"][0].update(url="rtsp://${NVR_HOST}/1"),
            "cameras[0].url: environment variable NVR_HOST",
        ),
    ],
)
def test_errors_name_their_yaml_path(mutate, expected: str | None) -> None:
    doc = base()
    mutate(doc)
    if expected is None:  # a row that must load
        parse_config(doc, environ={})
        return
    with pytest.raises(ConfigErrors) as caught:
        parse_config(doc, environ={})
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_defaults_merge_under_cameras() -> None:
    doc = base(defaults={"detect_fps": 2, "stall_timeout_s": 4})
    doc["cameras"][1]["detect_fps"] = 8
    config = parse_config(doc, environ={})
    assert [c.detect_fps for c in config.cameras] == [2, 8]
    assert all(c.stall_timeout_s == 4 for c in config.cameras)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cameras: [\n", "not valid YAML at line 2"),  # broken syntax
        ("- just\n- a list\n", "top level: expected a mapping"),  # wrong document shape
        ("cameras: []\n", "cameras: List should have at least 1 item"),  # nothing to watch
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLES / "site.yaml")]) == 0
    assert capsys.readouterr().out.strip() == "OK: 141 cameras (23 AI, 5 PTZ), 13 zones, 1 lines, 7 rules"
    bad = tmp_path / "bad.yaml"
    doc = base()
    doc["cameras"][0]["zones"][0]["polygon"] = [[0, 0]]
    bad.write_text(yaml.safe_dump(doc))
    assert main(["check-config", str(bad)]) == 1
    assert "cameras[0].zones[0].polygon: needs at least 3 points" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1


LINK = {"from": "cam1", "to": "cam2", "walk_s": 45}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # a link to a camera that does not exist, named by its place in the list
        (
            lambda d: d.update(links=[LINK, LINK | {"to": "cam98"}, LINK | {"to": "cam99"}]),
            "links[2].to: unknown camera 'cam99'",
        ),
        (lambda d: d.update(links=[LINK | {"from": "cam7"}]), "links[0].from: unknown camera 'cam7'"),
        # a camera linked to itself says nothing about walking
        (
            lambda d: d.update(links=[LINK | {"to": "cam1"}]),
            "links[0].to: a link joins two different cameras",
        ),
        # the same pair twice (either direction) would leave one walking time unused
        (
            lambda d: d.update(links=[LINK, LINK | {"from": "cam2", "to": "cam1"}]),
            "links[1]: 'cam2'-'cam1' is already linked at links[0]",
        ),
        # walking takes time
        (lambda d: d.update(links=[LINK | {"walk_s": 0}]), "links[0].walk_s: Input should be greater than 0"),
        # the YAML key is 'from', a typo fails like any other
        (
            lambda d: d.update(links=[{"form": "cam1", "to": "cam2", "walk_s": 3}]),
            "links[0].form: Extra inputs",
        ),
        # a time zone that is not in the tz database
        (lambda d: d.update(timezone="Mars/Olympus_Mons"), "timezone: unknown IANA time zone"),
        (lambda d: d.update(timezone="Europe"), "timezone: unknown IANA time zone"),  # a folder
        (lambda d: d.update(timezone="../../etc/passwd"), "timezone: unknown IANA time zone"),
        # groups are short labels
        (lambda d: d["cameras"][0].update(group="x" * 65), "cameras[0].group: String should have at most 64"),
    ],
)
def test_link_timezone_and_group_errors_name_their_yaml_path(mutate, expected: str) -> None:
    doc = base()
    mutate(doc)
    with pytest.raises(ConfigErrors) as caught:
        parse_config(doc, environ={})
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_links_groups_and_timezone_load() -> None:
    doc = base(links=[LINK], timezone="Europe/Amsterdam")
    doc["cameras"][1]["group"] = "Harbour"
    config = parse_config(doc, environ={})
    assert [(link.from_, link.to, link.walk_s) for link in config.links] == [("cam1", "cam2", 45.0)]
    assert config.timezone == "Europe/Amsterdam"
    assert [camera.group for camera in config.cameras] == ["", "Harbour"]
    assert parse_config(base(), environ={}).timezone == "UTC"  # the default


@pytest.mark.parametrize(
    ("example", "groups", "links"),
    [
        ("demo.yaml", {"Gallery", "Car park"}, 2),  # the demo's two rooms and their walks
        ("site.yaml", {"Water street", "Canal lanes", "Harbour front", "Eagle-eye"}, 5),  # the real site
    ],
)
def test_examples_group_every_camera_and_link_cameras(example: str, groups: set[str], links: int) -> None:
    config = load_config(EXAMPLES / example, environ={})
    assert {camera.group for camera in config.cameras} == groups  # every camera has one
    assert len(config.links) == links and config.timezone == "UTC"
