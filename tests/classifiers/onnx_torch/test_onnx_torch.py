"""The ONNX interpreter on exported models (values and input gradients against torch and
onnxruntime), its buffers, and its errors."""

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
from onnx import TensorProto, helper
from onnx_single_op import IMAGE, Const, case, f32, rand
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
from stylex.classifiers.onnx_torch.registry import OPS, register
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
# The module around the operators (each operator alone: test_single_ops.py).


def _relu() -> onnx.ModelProto:
    return case("Relu", "plain", {"x": IMAGE}).model()


def test_buffers_follow_module_dtype_and_device() -> None:
    model = case("Conv", "plain", {"x": IMAGE, "w": Const(rand(4, 3, 3, 3, seed=1))}).model()
    module = OnnxModule(model).double()
    assert module(torch.from_numpy(IMAGE).double()).dtype == torch.float64
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
    assert isinstance(onnx_to_torch(_relu()), OnnxModule)
    assert len(calls) == 1


def test_invalid_model() -> None:
    model = _relu()
    model.graph.node[0].input[0] = "does_not_exist"
    with pytest.raises(ClassifierError, match="not a valid model"):
        onnx_to_torch(model, source="bad.onnx")


def test_unsupported_attribute_names_node() -> None:
    model = case("Resize", "ceil", {"x": IMAGE, "roi": None, "sc": Const(f32(1, 1, 2, 2))},
                 mode="nearest", nearest_mode="ceil").model()  # fmt: skip
    with pytest.raises(ClassifierError, match="Resize"):
        OnnxModule(model)(torch.from_numpy(IMAGE))


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


def test_an_operator_registers_once() -> None:
    with pytest.raises(ValueError, match="Relu is registered twice"):
        register("Relu")(lambda node, x: x)
    assert OPS["Relu"](None, torch.tensor([-1.0])).item() == 0.0  # the first one stays
