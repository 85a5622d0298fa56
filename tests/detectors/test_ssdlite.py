"""Tests for the embedded SSDLite person detector, its ONNX builder and tiling.

Real-data tests read ``../shared/data`` (relative to the repository root) and skip when it
is absent.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import numpy_helper

from detectors import Detector, SsdliteDetector
from detectors.ssd_anchors import anchor_layers, anchors, box_iou
from detectors.ssdlite import _crop_resized
from detectors.ssdlite_onnx import build_onnx_model, ensure_int8_model, ensure_onnx_model, find_frozen_graph
from detectors.tiling import (
    Cells,
    TileDetections,
    merge_tiles,
    pack_cells,
    packed_inputs,
    tile_regions,
    unpack_mosaic,
)
from vigil.core.errors import ModelError, ValidationError
from vigil.core.types import Detections, Image

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MOT = DATA / "mot17_frames" / "MOT17-02-FRCNN"
CROWD = DATA / "footage" / "overhead_crowd.avi"
needs_mot = pytest.mark.skipif(
    not (MOT / "img1" / "000001.jpg").is_file(), reason=f"MOT17 frames not in {MOT}"
)
needs_crowd = pytest.mark.skipif(not CROWD.is_file(), reason=f"overhead clip not at {CROWD}")
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def detector(cache_dir: Path) -> SsdliteDetector:
    return SsdliteDetector(cache_dir=cache_dir)


def read_image(path: Path) -> Image:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return np.asarray(image, dtype=np.uint8)


def mot_frame_and_gt(frame: int = 1) -> tuple[Image, npt.NDArray[np.float32]]:
    image = read_image(MOT / "img1" / f"{frame:06d}.jpg")
    gt = np.loadtxt(MOT / "gt" / "gt.txt", delimiter=",")
    # Pedestrians (class 1) to evaluate (consider = 1) that are at least a quarter visible.
    rows = gt[(gt[:, 0] == frame) & (gt[:, 6] == 1) & (gt[:, 7] == 1) & (gt[:, 8] >= 0.25)]
    boxes = np.c_[rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]]
    return image, np.asarray(boxes, dtype=np.float32)


def test_onnx_build_is_deterministic_and_cached(tmp_path: Path) -> None:
    graph = find_frozen_graph().read_bytes()
    assert build_onnx_model(graph).SerializeToString() == build_onnx_model(graph).SerializeToString()
    first = ensure_onnx_model(cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    second = ensure_onnx_model(cache_dir=tmp_path)
    assert second == first and second.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert list(tmp_path.iterdir()) == [first]  # no temporary file left behind


def test_int8_without_calibration_videos_warns_and_runs_float32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import detectors.ssdlite as ssdlite

    monkeypatch.setattr(ssdlite, "CALIBRATION_VIDEOS", tmp_path / "no-samples")
    with caplog.at_level("WARNING", logger=ssdlite.__name__):
        model = ssdlite._default_model("int8", tmp_path)
    assert model == ensure_onnx_model(cache_dir=tmp_path)  # the float model, nothing quantized
    assert "no calibration videos" in caplog.text


def test_int8_model_is_quantized_once_and_cached(tmp_path: Path) -> None:
    fp32 = ensure_onnx_model(cache_dir=tmp_path)
    calls: list[int] = []

    def calibration() -> list[npt.NDArray[np.uint8]]:
        calls.append(1)
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (1, 120, 160, 3), dtype=np.uint8) for _ in range(2)]

    first = ensure_int8_model(fp32, calibration, "noise", cache_dir=tmp_path)
    second = ensure_int8_model(fp32, calibration, "noise", cache_dir=tmp_path)
    assert first == second and calls == [1]  # calibrated once, then reused
    assert first.stat().st_size < fp32.stat().st_size / 2  # int8 weights
    assert sorted(tmp_path.iterdir()) == sorted([fp32, first])  # no temporary files left behind


def test_int8_dense_conv_weights_have_seven_bits(detector: SsdliteDetector) -> None:
    # 8-bit weights saturate onnxruntime's int16 pair sums on CPUs without VNNI (recall 0.38 ->
    # 0.12 on an AVX2-only CPU); a VNNI machine would not show it in the recall tests.
    model = onnx.load(str(detector.model_path))
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    largest: dict[bool, int] = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            depthwise = any(attr.name == "group" and attr.i > 1 for attr in node.attribute)
            quantized = weights[producers[node.input[1]].input[0]]
            assert quantized.dtype == np.int8, f"{node.name}: weights {quantized.dtype}"
            largest[depthwise] = max(largest.get(depthwise, 0), int(np.abs(quantized.astype(np.int32)).max()))
    assert largest == {False: 64, True: 127}  # dense: 7 bits; depthwise (no saturation): 8 bits


@needs_mot
@pytest.mark.parametrize(
    ("precision", "min_recall"),
    [
        ("int8", 0.35),  # the default: measured 0.38 on frame 1 (four-frame AP50 0.60)
        ("fp32", 0.35),  # the float model: measured 0.41 (four-frame AP50 0.63)
    ],
)
def test_precisions_find_the_same_people(cache_dir: Path, precision: str, min_recall: float) -> None:
    image, gt = mot_frame_and_gt()
    detector = SsdliteDetector(precision=precision, cache_dir=cache_dir)  # type: ignore[arg-type]
    [dets] = detector.detect([image])
    recall = float((box_iou(dets.xyxy, gt).max(axis=0) >= 0.5).mean())
    assert recall >= min_recall, f"{precision}: recall at IoU 0.5: {recall:.2f} of {len(gt)} people"


@pytest.mark.parametrize(
    ("shape", "region", "size"),
    [
        ((1080, 1920), (0, 0, 1067, 1080), (300, 300)),  # the large-people pass on a 1080p frame
        ((720, 1280), (0, 0, 1280, 720), (300, 300)),  # a whole 720p frame squashed
        ((433, 769), (1, 0, 768, 433), (150, 100)),  # odd sizes, shrink > 4
    ],
)
def test_two_step_shrink_matches_area_averaging(
    shape: tuple[int, int], region: tuple[int, int, int, int], size: tuple[int, int]
) -> None:
    rng = np.random.default_rng(1)
    # Smooth content (blurred noise): what a camera sees, not per-pixel noise that aliases.
    image = np.asarray(
        cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (0, 0), 4), np.uint8
    )
    x1, y1, x2, y2 = region
    fast = _crop_resized(image, np.array(region, np.int64), size)
    exact = cv2.resize(image[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
    assert fast.shape == (size[1], size[0], 3) and fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - exact.astype(int)).mean() < 1.5


def test_anchors_match_the_tf_graph() -> None:
    boxes = anchors(300, 300)
    assert boxes.shape == (1917, 4)  # the graph asserts 1917 anchors
    # Layer 1's interpolated anchor: sqrt(0.35 * 0.5) * 300 pixels square, centred on cell (0, 0).
    np.testing.assert_allclose(boxes[1083 + 5], [15, 15, 125.499, 125.499], rtol=1e-4)


def test_anchor_layers_count_the_tf_layers() -> None:
    counts = np.bincount(anchor_layers(300, 300))
    np.testing.assert_array_equal(counts, [19 * 19 * 3, 10 * 10 * 6, 5 * 5 * 6, 3 * 3 * 6, 2 * 2 * 6, 6])


def sample_frame(name: str, seconds: float) -> Image:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"demo sample not at {path}")
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"cannot decode {path} at {seconds} s"
    return np.asarray(frame, dtype=np.uint8)


# The position-fixed box the coarse layers fired at any input other than 300x300 (0.45-0.55).
COARSE_FALSE_BOX = np.array([[30, 75, 289, 281]], np.float32)


@pytest.mark.parametrize(
    ("name", "seconds", "person"),
    [
        ("one-by-one-person-detection.mp4", 60.0, [395, 3, 567, 389]),  # one woman before a wall
        ("car-detection.mp4", 10.0, None),  # a car park, nobody in it
    ],
)
@pytest.mark.parametrize("auto_input_px", [300, 768, 1024])
def test_demo_frames_have_no_position_fixed_box(
    cache_dir: Path, name: str, seconds: float, person: list[int] | None, auto_input_px: int
) -> None:
    image = sample_frame(name, seconds)
    detector = SsdliteDetector(score_threshold=0.2, auto_input_px=auto_input_px, cache_dir=cache_dir)
    [dets] = detector.detect([image])
    height, width = image.shape[:2]
    frame_sized = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (
        dets.xyxy[:, 3] - dets.xyxy[:, 1]
    ) > 0.5 * width * height
    assert not frame_sized.any(), f"frame-sized box: {dets.xyxy[frame_sized].tolist()}"
    if len(dets):
        assert box_iou(dets.xyxy, COARSE_FALSE_BOX).max() < 0.3, f"boxes: {dets.xyxy.round().tolist()}"
    if person is None:
        assert len(dets) == 0, f"false boxes on an empty scene: {dets.xyxy.round().tolist()}"
    elif auto_input_px > 300:  # squashed to 300x300 she scores only 0.23
        assert box_iou(dets.xyxy, np.array([person], np.float32)).max() >= 0.5


@pytest.mark.parametrize(
    ("large_people", "found"),
    [
        (True, True),  # the 300x300 pass's coarse layers see her
        (False, False),  # at 432 px tall she is beyond the fine layers' anchors
    ],
)
def test_people_taller_than_fine_anchors_need_the_large_pass(
    cache_dir: Path, large_people: bool, found: bool
) -> None:
    close_up = np.ascontiguousarray(sample_frame("one-by-one-person-detection.mp4", 60.0)[:, 250:720])
    detector = SsdliteDetector(large_people=large_people, cache_dir=cache_dir)
    [dets] = detector.detect([close_up])
    person = np.array([[145, 3, 317, 389]], np.float32)
    assert (len(dets) > 0 and box_iou(dets.xyxy, person).max() >= 0.5) == found


def test_satisfies_the_detector_protocol(detector: SsdliteDetector) -> None:
    protocol_user: Detector = detector
    assert protocol_user.name == "ssdlite" and list(protocol_user.class_names) == ["person"]


@needs_mot
def test_output_types_and_boxes_inside_image(detector: SsdliteDetector) -> None:
    image, _ = mot_frame_and_gt()
    [dets] = detector.detect([image])
    assert isinstance(dets, Detections) and len(dets) > 0
    assert dets.xyxy.dtype == np.float32 and dets.xyxy.shape == (len(dets), 4)
    assert dets.confidence.dtype == np.float32 and (dets.confidence >= 0.3).all()
    assert dets.class_id.dtype == np.int64 and (dets.class_id == 0).all()
    height, width = image.shape[:2]
    assert (dets.xyxy >= 0).all()
    assert (dets.xyxy[:, [0, 2]] <= width).all() and (dets.xyxy[:, [1, 3]] <= height).all()
    assert (dets.xyxy[:, 2:] > dets.xyxy[:, :2]).all()


@needs_mot
def test_mot17_frame_recall(detector: SsdliteDetector) -> None:
    image, gt = mot_frame_and_gt()
    [dets] = detector.detect([image])
    recall = float((box_iou(dets.xyxy, gt).max(axis=0) >= 0.5).mean())
    # Measured 0.38 at score 0.3, int8 at 1024 px (AP50 over the four frames 0.60); the
    # model misses the people far in the back.
    assert recall >= 0.35, f"recall at IoU 0.5: {recall:.2f} of {len(gt)} people"


@needs_mot
@pytest.mark.parametrize(
    ("tiles", "input_scale", "precision", "min_recall"),
    [
        ((4, 3), None, "fp32", 0.5),  # twelve tiles squashed to 300x300, as the model was trained
        ((4, 3), None, "int8", 0.35),  # the same in int8: measured 0.38 (its scores run lower)
        ((2, 1), 0.6, "int8", 0.4),  # two square-ish tiles at 0.6x, aspect kept
    ],
)
def test_tiled_configurations_find_people(
    cache_dir: Path, tiles: tuple[int, int], input_scale: float | None, precision: str, min_recall: float
) -> None:
    image, gt = mot_frame_and_gt()
    detector = SsdliteDetector(
        tiles=tiles,
        input_scale=input_scale,
        precision=precision,  # type: ignore[arg-type]
        cache_dir=cache_dir,
    )
    [dets] = detector.detect([image])
    recall = float((box_iou(dets.xyxy, gt).max(axis=0) >= 0.5).mean())
    assert recall >= min_recall, f"tiles {tiles}: recall at IoU 0.5: {recall:.2f}"


@needs_mot
def test_batch_equals_single_images(detector: SsdliteDetector) -> None:
    image, _ = mot_frame_and_gt()
    small = np.asarray(
        cv2.resize(image, (640, 360)), dtype=np.uint8
    )  # another size: another model input in the same call
    batched = detector.detect([image, small])
    for one, alone in zip(batched, [detector.detect([image])[0], detector.detect([small])[0]], strict=True):
        np.testing.assert_allclose(one.xyxy, alone.xyxy, atol=1e-3)


@needs_mot
def test_detect_regions_returns_image_coordinates(detector: SsdliteDetector) -> None:
    image, gt = mot_frame_and_gt()
    person = gt[np.argmax(gt[:, 3] - gt[:, 1])]  # the tallest person
    cx, cy = (person[0] + person[2]) / 2, (person[1] + person[3]) / 2
    side = max(person[2] - person[0], person[3] - person[1]) * 1.3
    region = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
    dets = detector.detect_regions(image, [region])
    assert len(dets) >= 1 and box_iou(dets.xyxy, person[None]).max() >= 0.5


@needs_crowd
@pytest.mark.slow
def test_overhead_crowd_people_per_frame(detector: SsdliteDetector) -> None:
    capture = cv2.VideoCapture(str(CROWD))
    frames: list[Image] = []
    index = 0
    while len(frames) < 20:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 15 == 0:
            frames.append(np.asarray(frame, dtype=np.uint8))
        index += 1
    capture.release()
    assert len(frames) >= 10
    counts = [len(dets) for dets in detector.detect(frames)]
    assert np.mean(counts) >= 18, f"people per frame: {counts}"


@needs_crowd
def test_packed_cells_find_the_people_the_tiles_find(detector: SsdliteDetector) -> None:
    # Narrow cells around single people, at the scale of a 384x288 region in a 300x300 input,
    # packed several to an input, find the people 4x3 tiles find, at the same boxes.
    capture = cv2.VideoCapture(str(CROWD))
    ok, frame = capture.read()
    capture.release()
    assert ok
    image = np.asarray(frame, np.uint8)
    people = SsdliteDetector(tiles=(4, 3), model_path=detector.model_path).detect([image])[0].xyxy
    people = people[(people[:, 3] - people[:, 1] < 200) & (people[:, 1] > 100) & (people[:, 3] < 600)][:6]
    assert len(people) >= 4
    centre_y = (people[:, 1] + people[:, 3]) / 2
    cells = np.stack([people[:, 0] - 40, centre_y - 144, people[:, 2] + 40, centre_y + 144], axis=1)
    scale = (300 / 384, 300 / 288)
    found = detector.detect_packed(image, np.zeros((0, 4)), Cells(cells, scale))
    assert packed_inputs(cells, (300, 300), scale) < len(cells)  # several people per input
    assert len(found) and (box_iou(people, found.xyxy).max(axis=1) >= 0.5).mean() >= 0.8


@pytest.mark.parametrize(
    ("widths", "inputs"),
    [
        ([100, 100, 100, 100], 2),  # 78 input px each, 8 px apart: three fit one input
        ([384], 1),  # a whole region fills an input
        ([200, 200, 200], 3),  # 156 px each: two do not fit one input
        ([200, 100, 100], 2),  # 156 + 8 + 78 px fit; the last 78 px do not
        ([], 0),
    ],
)
def test_pack_cells_fills_inputs_side_by_side(widths: list[int], inputs: int) -> None:
    cells = np.array([[10 * k, 0, 10 * k + w, 288] for k, w in enumerate(widths)], float).reshape(-1, 4)
    index, slots = pack_cells(cells, (300, 300), (300 / 384, 300 / 288))
    assert (int(index.max()) + 1 if len(index) else 0) == inputs
    assert (slots[:, 2] <= 300).all() and (slots[:, 3] <= 300).all()
    for k in range(inputs):  # slots in one input do not overlap
        mine = slots[index == k][np.argsort(slots[index == k, 0])]
        assert (mine[1:, 0] >= mine[:-1, 2]).all()


def test_unpack_mosaic_maps_boxes_to_their_cell() -> None:
    slots = np.array([[0, 0, 100, 300], [108, 0, 208, 300]])
    cells = np.array([[500, 100, 628, 388], [0, 0, 128, 288]])
    boxes = np.array([[10, 30, 50, 130], [150, 30, 230, 130]], np.float32)  # the second crosses the slot edge
    tiles = unpack_mosaic(boxes, np.array([0.9, 0.8], np.float32), slots, cells)
    assert [t.region for t in tiles] == [(500, 100, 628, 388), (0, 0, 128, 288)]
    np.testing.assert_allclose(tiles[0].xyxy, [[512.8, 128.8, 564.0, 224.8]], atol=0.01)
    np.testing.assert_allclose(tiles[1].xyxy[:, [0, 2]], [[53.76, 128.0]], atol=0.01)  # clipped to the cell


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((100, 100, 3), np.float32),  # wrong dtype
        np.zeros((100, 100), np.uint8),  # grey, no channel axis
        np.zeros((100, 100, 4), np.uint8),  # BGRA
        np.zeros((0, 0, 3), np.uint8),  # empty
        [[0, 0, 0]],  # not an array
    ],
)
def test_invalid_images_are_rejected(detector: SsdliteDetector, image: object) -> None:
    with pytest.raises(ValidationError, match=r"expected a \(H, W, 3\) uint8 BGR array"):
        detector.detect([image])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "regions",
    [
        [[0, 0, 10]],  # three coordinates
        [[50, 50, 50, 90]],  # zero width
        [[500, 500, 600, 600]],  # outside the 100x100 image
    ],
)
def test_invalid_regions_are_rejected(detector: SsdliteDetector, regions: list[list[int]]) -> None:
    with pytest.raises(ValidationError, match="regions: expected"):
        detector.detect_regions(np.zeros((100, 100, 3), np.uint8), regions)


def test_invalid_cells_are_rejected(detector: SsdliteDetector) -> None:
    with pytest.raises(ValidationError, match="regions: expected"):
        detector.detect_packed(
            np.zeros((100, 100, 3), np.uint8), [], Cells([[500, 500, 600, 600]], (1.0, 1.0))
        )


def test_empty_inputs(detector: SsdliteDetector) -> None:
    assert detector.detect([]) == []
    assert len(detector.detect_regions(np.zeros((100, 100, 3), np.uint8), np.zeros((0, 4)))) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score_threshold": 1.5},  # not a probability
        {"tiles": (0, 2)},  # no columns
        {"overlap": 0.5},  # tiles would repeat
        {"input_scale": 0.0},  # nothing to see
        {"precision": "fp16"},  # not offered: onnxruntime's CPU provider has no fast fp16 path
    ],
)
def test_invalid_settings_are_rejected(cache_dir: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SsdliteDetector(cache_dir=cache_dir, **kwargs)  # type: ignore[arg-type]


def test_unloadable_model_raises_model_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        SsdliteDetector(model_path=broken)


@pytest.mark.parametrize(
    ("width", "height", "cols", "rows", "overlap"),
    [
        (1280, 720, 3, 2, 0.2),  # the crowd clip's default grid
        (1920, 1080, 4, 3, 0.0),  # no overlap: tiles touch
        (641, 359, 2, 1, 0.3),  # odd sizes
    ],
)
def test_tile_regions_cover_the_frame(width: int, height: int, cols: int, rows: int, overlap: float) -> None:
    regions = tile_regions(width, height, cols, rows, overlap)
    assert regions.shape == (cols * rows, 4)
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in regions:
        covered[y1:y2, x1:x2] = True
    assert covered.all()


def make_tile(region: tuple[int, int, int, int], box: list[float], score: float) -> TileDetections:
    return TileDetections(region, np.array([box], np.float32), np.array([score], np.float32))


def test_merge_prefers_the_whole_box_over_a_cut_one() -> None:
    whole = make_tile((0, 0, 200, 100), [150, 10, 190, 90], 0.5)
    cut = make_tile((180, 0, 400, 100), [180, 10, 190, 90], 0.9)  # cut by its tile's left edge
    xyxy, confidence = merge_tiles([whole, cut], 400, 100, iou_threshold=0.5)
    np.testing.assert_array_equal(xyxy, [[150, 10, 190, 90]])
    np.testing.assert_array_equal(confidence, [0.5])


CLOSE_UP_FRAMES = range(0, 1392, 29)
"""48 frames spread over the demo clip, in which two people pass close to the camera one by one."""


def _tall_person_found(detector: SsdliteDetector, frame: Image) -> bool:
    found = detector.detect([frame])[0]
    return len(found) >= 1 and float((found.xyxy[:, 3] - found.xyxy[:, 1]).max()) > 200


def test_close_up_people_in_the_demo_clip_are_found(cache_dir: Path) -> None:
    """People ~300-390 px tall in a 768x432 frame: the large-people pass must keep their shape.

    A whole 16:9 frame squashed to 300x300 made them too thin for the anchors (found in 19 of
    48 sampled frames). Judged over many frames rather than a few chosen ones, against the
    float model in the same run: someone close is in view in about half of them, and the int8
    default finds them in nearly every frame where the float model does (measured on an AVX2
    CPU: fp32 24 of 48, int8 in all 24 of those and one more).
    """
    clip = Path(__file__).resolve().parents[2] / "samples" / "one-by-one-person-detection.mp4"
    capture = cv2.VideoCapture(str(clip))
    frames = []
    for index in CLOSE_UP_FRAMES:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        assert ok, f"cannot decode frame {index} of {clip}"
        frames.append(np.asarray(frame, np.uint8))
    capture.release()
    int8 = SsdliteDetector(score_threshold=0.3, cache_dir=cache_dir)
    fp32 = SsdliteDetector(score_threshold=0.3, precision="fp32", cache_dir=cache_dir)
    by_fp32 = [_tall_person_found(fp32, frame) for frame in frames]
    by_int8 = [_tall_person_found(int8, frame) for frame in frames]
    both = sum(a and b for a, b in zip(by_fp32, by_int8, strict=True))
    assert sum(by_fp32) >= 20, f"fp32 found her in {sum(by_fp32)} of {len(frames)} frames"
    assert both >= 0.9 * sum(by_fp32), f"int8 found her in {both} of the {sum(by_fp32)} frames fp32 did"
