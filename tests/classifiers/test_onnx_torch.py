"""The ONNX interpreter: matches torch and onnxruntime in value, and torch in input gradient."""

from __future__ import annotations

import io
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from stylex.classifiers import (
    ClassifierSpec,
    OnnxModule,
    SmallCNN,
    load_classifier,
    onnx_to_torch,
    sidecar_path,
    unsupported_ops,
)
from stylex.errors import ClassifierError


class _MixedNet(nn.Module):
    """BatchNorm, MaxPool, Concat, Sigmoid, Reshape (dynamic), Flatten + Gemm, BatchNorm1d."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 5, padding=2, bias=False, groups=1)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)
        self.bn1 = nn.BatchNorm1d(10)
        self.out = nn.Linear(10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.a(x), self.b(x)], dim=1)
        h = torch.sigmoid(self.bn(h))
        h = self.pool(self.pool(h))
        h = h.reshape(h.shape[0], -1)
        h = torch.relu(self.bn1(self.fc(h)))
        return self.out(torch.flatten(h, 1))


def _seeded(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
    return model.eval()


def _export(model: nn.Module, path: Path, size: int, class_names: list[str]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(path),
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    ClassifierSpec(input_size=size, class_names=class_names, format="onnx").to_json(
        sidecar_path(path)
    )
    return path


@pytest.mark.parametrize(
    ("make", "expected_ops"),
    [
        (lambda: SmallCNN(2, 16), {"Conv", "InstanceNormalization", "LeakyRelu", "Gemm"}),
        (
            _MixedNet,
            {"BatchNormalization", "MaxPool", "Concat", "Sigmoid", "Reshape", "Flatten", "Gemm"},
        ),
    ],
    ids=["SmallCNN", "MixedNet"],
)
def test_exported_model_matches_torch_and_onnxruntime(
    tmp_path: Path, make: Any, expected_ops: set[str]
) -> None:
    model = _seeded(make())
    num_classes = model(torch.zeros(1, 3, 16, 16)).shape[1]
    path = _export(model, tmp_path / "m.onnx", 16, [f"c{i}" for i in range(num_classes)])
    assert expected_ops <= {n.op_type for n in onnx.load(str(path)).graph.node}
    clf = load_classifier(path)

    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x_torch = x.clone().requires_grad_(True)
    x_onnx = x.clone().requires_grad_(True)
    expected = model(x_torch)
    logits = clf(x_onnx)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ort_logits,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(logits.detach().numpy(), ort_logits, atol=1e-4, rtol=1e-4)

    weights = torch.randn(expected.shape, generator=torch.Generator().manual_seed(2))
    (expected * weights).sum().backward()
    (logits * weights).sum().backward()
    assert x_onnx.grad is not None and x_torch.grad is not None
    assert x_onnx.grad.abs().sum() > 0
    torch.testing.assert_close(x_onnx.grad, x_torch.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_dynamo_exported_model(tmp_path: Path) -> None:
    # torch.export-based export is torch's default now: opset 18+, axes as inputs, Shape ops.
    model = _seeded(SmallCNN(2, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (torch.zeros(2, 3, 16, 16),),
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
        )
    assert program is not None
    module = onnx_to_torch(program.model_proto)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x_onnx = x.clone().requires_grad_(True)
    x_torch = x.clone().requires_grad_(True)
    logits, expected = module(x_onnx), model(x_torch)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)
    logits[:, 0].sum().backward()
    expected[:, 0].sum().backward()
    torch.testing.assert_close(x_onnx.grad, x_torch.grad, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# Single operators against onnxruntime, on graphs built by hand.


def _graph(
    op: str,
    inputs: dict[str, np.ndarray],
    consts: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    num_outputs: int = 1,
    **attrs: Any,
) -> onnx.ModelProto:
    consts = consts or {}
    input_names = [*inputs, *consts]
    # An empty name marks an omitted optional input.
    node_inputs = [n if not n.startswith("_none") else "" for n in input_names]
    outputs = [f"y{i}" for i in range(num_outputs)]
    node = helper.make_node(op, node_inputs, outputs, **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in inputs.items()
        ],
        [onnx.ValueInfoProto(name=o) for o in outputs],  # typed by shape inference below
        [numpy_helper.from_array(v, k) for k, v in consts.items() if not k.startswith("_none")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10 if opset >= 21 else 8  # what onnxruntime accepts for the opset
    model = onnx.shape_inference.infer_shapes(model)
    for out in model.graph.output:
        if not out.type.HasField("tensor_type"):
            # Some function ops (GroupNormalization-21) have no shape inference: they keep
            # their input's type.
            out.type.CopyFrom(model.graph.input[0].type)
    return model


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


_X = _rand(2, 3, 9, 9)
_CASES: dict[str, tuple[Any, ...]] = {
    # name: (op, inputs, consts, opset, attrs)
    "conv_same_upper_groups": (
        "Conv",
        {"x": _X},
        {"w": _rand(6, 1, 3, 3, seed=1), "b": _rand(6, seed=2)},
        17,
        {"auto_pad": "SAME_UPPER", "strides": [2, 2], "group": 3},
    ),
    "conv_asym_pads_dilation": (
        "Conv",
        {"x": _X},
        {"w": _rand(4, 3, 3, 3, seed=1)},
        17,
        {"pads": [0, 1, 2, 0], "dilations": [2, 1]},
    ),
    "conv_transpose": (
        "ConvTranspose",
        {"x": _X},
        {"w": _rand(3, 2, 3, 3, seed=1)},
        17,
        {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 1]},
    ),
    "gemm_trans_alpha_beta": (
        "Gemm",
        {"a": _rand(5, 4)},
        {"b": _rand(3, 5, seed=1), "c": _rand(3, seed=2)},
        17,
        {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
    ),
    "maxpool_pads_ceil": (
        "MaxPool",
        {"x": _X},
        {},
        17,
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
    ),
    "avgpool_asym_exclude_pad": (
        "AveragePool",
        {"x": _X},
        {},
        17,
        {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 2, 0]},
    ),
    "maxpool_asym_pads_dilation": (
        "MaxPool",
        {"x": _X},
        {},
        17,
        {"kernel_shape": [2, 3], "pads": [0, 2, 1, 0], "dilations": [2, 1]},
    ),
    "avgpool_ceil": (
        "AveragePool",
        {"x": _X},
        {},
        17,
        {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    ),
    "conv_same_lower": (
        "Conv",
        {"x": _X},
        {"w": _rand(2, 3, 2, 4, seed=1)},
        17,
        {"auto_pad": "SAME_LOWER", "strides": [1, 2]},
    ),
    "slice_step_two": (
        "Slice",
        {"x": _X},
        {"s": _i64(1), "e": _i64(-1), "a": _i64(2), "t": _i64(2)},
        17,
        {},
    ),
    "resize_nearest_half_pixel": (
        "Resize",
        {"x": _X},
        {"_none_roi": _i64(), "_none_sc": _i64(), "sz": _i64(2, 3, 4, 13)},
        17,
        {"mode": "nearest", "nearest_mode": "round_prefer_ceil"},
    ),
    "resize_cubic": (
        "Resize",
        {"x": _X},
        {"_none_roi": _i64(), "sc": np.array([1, 1, 1.5, 2], np.float32)},
        17,
        {"mode": "cubic"},
    ),
    "softmax_13": ("Softmax", {"x": _rand(2, 3, 4)}, {}, 13, {"axis": 1}),
    "cast_double": ("Cast", {"x": _X}, {}, 17, {"to": TensorProto.DOUBLE}),
    "avgpool_include_pad": (
        "AveragePool",
        {"x": _X},
        {},
        17,
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    ),
    "reshape_zero_minus_one": ("Reshape", {"x": _X}, {"s": _i64(0, -1, 9)}, 17, {}),
    "flatten_axis2": ("Flatten", {"x": _X}, {}, 17, {"axis": 2}),
    "transpose": ("Transpose", {"x": _X}, {}, 17, {"perm": [0, 2, 3, 1]}),
    "squeeze_input_axes": ("Squeeze", {"x": _rand(2, 1, 3, 1)}, {"a": _i64(-1, 1)}, 17, {}),
    "squeeze_attr_axes": ("Squeeze", {"x": _rand(2, 1, 3, 1)}, {}, 11, {"axes": [3]}),
    "unsqueeze_input_axes": ("Unsqueeze", {"x": _rand(2, 3)}, {"a": _i64(-1, 0)}, 17, {}),
    "unsqueeze_attr_axes": ("Unsqueeze", {"x": _rand(2, 3)}, {}, 11, {"axes": [1, 3]}),
    "slice_negative_step": (
        "Slice",
        {"x": _X},
        {"s": _i64(-1, 1), "e": _i64(-(2**62), 8), "a": _i64(3, 1), "t": _i64(-2, 1)},
        17,
        {},
    ),
    "slice_clamped": ("Slice", {"x": _X}, {"s": _i64(2), "e": _i64(100), "a": _i64(-2)}, 17, {}),
    "pad_constant": (
        "Pad",
        {"x": _X},
        {"p": _i64(0, 0, 1, 2, 0, 0, 3, 0), "v": np.array(0.5, np.float32)},
        17,
        {},
    ),
    "pad_reflect": ("Pad", {"x": _X}, {"p": _i64(0, 0, 2, 1, 0, 0, 1, 2)}, 17, {"mode": "reflect"}),
    "pad_edge": ("Pad", {"x": _X}, {"p": _i64(0, 0, 2, 1, 0, 0, 1, 2)}, 17, {"mode": "edge"}),
    "resize_nearest_scales": (
        "Resize",
        {"x": _X},
        {"_none_roi": _i64(), "sc": np.array([1, 1, 2, 2], np.float32)},
        17,
        {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        },
    ),
    "resize_linear_sizes": (
        "Resize",
        {"x": _X},
        {"_none_roi": _i64(), "_none_sc": _i64(), "sz": _i64(2, 3, 5, 14)},
        17,
        {"mode": "linear"},
    ),
    "resize_linear_align_corners": (
        "Resize",
        {"x": _X},
        {"_none_roi": _i64(), "_none_sc": _i64(), "sz": _i64(2, 3, 13, 4)},
        17,
        {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
    ),
    "softmax_opset11_coerced": ("Softmax", {"x": _rand(2, 3, 4)}, {}, 11, {"axis": 1}),
    "log_softmax": ("LogSoftmax", {"x": _rand(2, 3, 4)}, {}, 17, {"axis": 1}),
    "reduce_mean_axes_input": ("ReduceMean", {"x": _X}, {"a": _i64(2, -1)}, 18, {"keepdims": 0}),
    "reduce_mean_axes_attr": ("ReduceMean", {"x": _X}, {}, 17, {"axes": [1]}),
    "reduce_sum_all": ("ReduceSum", {"x": _X}, {}, 17, {}),
    "global_avg_pool": ("GlobalAveragePool", {"x": _X}, {}, 17, {}),
    "batch_norm": (
        "BatchNormalization",
        {"x": _X},
        {
            "s": _rand(3, seed=1),
            "b": _rand(3, seed=2),
            "m": _rand(3, seed=3),
            "v": np.abs(_rand(3, seed=4)) + 0.1,
        },
        17,
        {"epsilon": 1e-3},
    ),
    "instance_norm": (
        "InstanceNormalization",
        {"x": _X},
        {"s": _rand(3, seed=1), "b": _rand(3, seed=2)},
        17,
        {},
    ),
    "layer_norm": (
        "LayerNormalization",
        {"x": _X},
        {"s": _rand(9, 9, seed=1), "b": _rand(9, seed=2)},
        17,
        {"axis": -2},
    ),
    "group_norm_21": (
        "GroupNormalization",
        {"x": _rand(2, 4, 3, 3)},
        {"s": _rand(4, seed=1), "b": _rand(4, seed=2)},
        21,
        {"num_groups": 2},
    ),
    "concat": ("Concat", {"x": _X, "y": _rand(2, 1, 9, 9, seed=1)}, {}, 17, {"axis": 1}),
    "gather_negative": ("Gather", {"x": _X}, {"i": _i64(-1, 0)}, 17, {"axis": 1}),
    "gather_scalar": ("Gather", {"x": _X}, {"i": np.array(2, np.int64)}, 17, {"axis": 3}),
    "matmul_batched": ("MatMul", {"a": _rand(2, 3, 4)}, {"b": _rand(4, 5, seed=1)}, 17, {}),
    "einsum": (
        "Einsum",
        {"a": _rand(2, 3, 4)},
        {"b": _rand(2, 4, 5, seed=1)},
        17,
        {"equation": "bij,bjk->bik"},
    ),
    "clip": (
        "Clip",
        {"x": _X},
        {"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)},
        17,
        {},
    ),
    "clip_only_max": (
        "Clip",
        {"x": _X},
        {"_none_lo": _i64(), "hi": np.array(0.1, np.float32)},
        17,
        {},
    ),
    "leaky_relu": ("LeakyRelu", {"x": _X}, {}, 17, {"alpha": 0.2}),
    "hard_sigmoid": ("HardSigmoid", {"x": _X}, {}, 17, {"alpha": 0.3, "beta": 0.4}),
    "hard_swish": ("HardSwish", {"x": _X}, {}, 17, {}),
    "gelu_tanh": ("Gelu", {"x": _X}, {}, 20, {"approximate": "tanh"}),
    "erf": ("Erf", {"x": _X}, {}, 17, {}),
    "pow": ("Pow", {"x": np.abs(_X) + 0.1}, {"e": np.array(1.5, np.float32)}, 17, {}),
    "sqrt": ("Sqrt", {"x": np.abs(_X)}, {}, 17, {}),
    "div": ("Div", {"x": _X}, {"d": _rand(3, 1, 1, seed=1)}, 17, {}),
    "sub": ("Sub", {"x": _X}, {"d": _rand(9, seed=1)}, 17, {}),
    "prelu": ("PRelu", {"x": _X}, {"s": _rand(3, 1, 1, seed=1)}, 17, {}),
    "expand": ("Expand", {"x": _rand(3, 1)}, {"s": _i64(2, 1, 4)}, 17, {}),
    "tile": ("Tile", {"x": _rand(2, 3)}, {"r": _i64(2, 3)}, 17, {}),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_single_op_matches_onnxruntime(case: str) -> None:
    op, inputs, consts, opset, attrs = _CASES[case]
    model = _graph(op, inputs, consts, opset, **attrs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, inputs)
    module = OnnxModule(model)
    got = module(*(torch.from_numpy(v) for v in inputs.values()))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=1e-5)


def test_split_outputs() -> None:
    x = _rand(2, 7)
    model = _graph("Split", {"x": x}, {"s": _i64(3, 4)}, 17, num_outputs=2, axis=1)
    a, b = OnnxModule(model)(torch.from_numpy(x))
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(a.numpy(), expected[0])
    np.testing.assert_allclose(b.numpy(), expected[1])


def test_buffers_follow_module_dtype_and_device() -> None:
    model = _graph("Conv", {"x": _X}, {"w": _rand(4, 3, 3, 3, seed=1)})
    module = OnnxModule(model).double()
    assert module(torch.from_numpy(_X).double()).dtype == torch.float64
    assert not list(module.parameters())  # initializers are buffers: nothing to train


# ---------------------------------------------------------------------------------------------
# Errors and the onnx2torch fallback.


def _unsupported_model() -> onnx.ModelProto:
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 4])
    out = helper.make_tensor_value_info("idx", TensorProto.INT64, ["num_selected", 3])
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["idx"])
    graph = helper.make_graph([node], "g", [boxes, scores], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_op_named(tmp_path: Path) -> None:
    model = _unsupported_model()
    assert unsupported_ops(model) == ["NonMaxSuppression"]
    path = tmp_path / "nms.onnx"
    onnx.save(model, str(path))
    ClassifierSpec(input_size=4, class_names=["a", "b"], format="onnx").to_json(sidecar_path(path))
    with pytest.raises(ClassifierError, match="NonMaxSuppression") as info:
        load_classifier(path)
    assert "TorchScript" in str(info.value)
    assert "nms.onnx" in str(info.value)


def test_onnx2torch_fallback_only_for_unsupported_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[onnx.ModelProto] = []

    def convert(model: onnx.ModelProto) -> nn.Module:
        calls.append(model)
        return nn.Identity()

    monkeypatch.setitem(sys.modules, "onnx2torch", types.SimpleNamespace(convert=convert))
    assert isinstance(onnx_to_torch(_unsupported_model()), nn.Identity)
    assert isinstance(onnx_to_torch(_graph("Relu", {"x": _X})), OnnxModule)
    assert len(calls) == 1


def test_invalid_model() -> None:
    model = _graph("Relu", {"x": _X})
    model.graph.node[0].input[0] = "does_not_exist"
    with pytest.raises(ClassifierError, match="not a valid model"):
        onnx_to_torch(model, source="bad.onnx")


def test_unsupported_attribute_names_node() -> None:
    model = _graph("Resize", {"x": _X}, {"_none_roi": _i64(), "sc": np.array([1, 1, 2, 2],
                   np.float32)}, 17, mode="nearest", nearest_mode="ceil")  # fmt: skip
    with pytest.raises(ClassifierError, match="Resize"):
        OnnxModule(model)(torch.from_numpy(_X))


def test_onnx_bytes_round_trip_through_memory() -> None:
    # Models can be built from bytes (e.g. received over the wire), no file needed.
    model = _seeded(SmallCNN(3, 8))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, 3, 8, 8),), buf, dynamo=False, opset_version=17)
    module = onnx_to_torch(onnx.load_from_string(buf.getvalue()))
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(module(x), model(x), atol=1e-4, rtol=1e-4)
