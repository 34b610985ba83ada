"""One-node ONNX models for checking single interpreter operators (imported by the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass(frozen=True)
class Const:
    """A node input stored as an initializer (a buffer in the interpreter), not fed at run time."""

    value: np.ndarray


Arg = np.ndarray | Const | None  # a graph input, an initializer, or an omitted optional input


@dataclass(frozen=True)
class OpCase:
    """One operator with one set of inputs and attributes."""

    op: str
    variant: str
    args: dict[str, Arg]  # the node's inputs, in ONNX order
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 17
    outputs: int = 1  # how many outputs the node has
    grad: bool = True  # run the float64 gradient check (if the operator has one)
    atol: float = 1e-5
    rtol: float = 1e-5

    @property
    def id(self) -> str:
        return f"{self.op}-{self.variant}"

    @property
    def feeds(self) -> dict[str, np.ndarray]:
        """The graph inputs, by name, as fed to onnxruntime and (in order) to the interpreter."""
        return {k: v for k, v in self.args.items() if isinstance(v, np.ndarray)}

    def model(self) -> onnx.ModelProto:
        node_inputs = [name if arg is not None else "" for name, arg in self.args.items()]
        outputs = [f"y{i}" for i in range(self.outputs)]
        node = helper.make_node(self.op, node_inputs, outputs, **self.attrs)
        graph = helper.make_graph(
            [node],
            "g",
            [
                helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                for k, v in self.feeds.items()
            ],
            [onnx.ValueInfoProto(name=o) for o in outputs],  # typed by shape inference below
            [
                numpy_helper.from_array(v.value, k)
                for k, v in self.args.items()
                if isinstance(v, Const)
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 10 if self.opset >= 21 else 8  # what onnxruntime accepts for the opset
        model = onnx.shape_inference.infer_shapes(model)
        for out in model.graph.output:
            if not out.type.HasField("tensor_type"):
                # Some function ops (GroupNormalization-21) have no shape inference: they keep
                # their input's type.
                out.type.CopyFrom(model.graph.input[0].type)
        return model


def case(
    op: str,
    variant: str,
    args: dict[str, Arg],
    *,
    opset: int = 17,
    outputs: int = 1,
    grad: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    **attrs: Any,
) -> OpCase:
    """An OpCase with the node's attributes as keyword arguments."""
    return OpCase(op, variant, args, attrs, opset, outputs, grad, atol, rtol)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    """Seeded standard normal float32 values."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def positive(*shape: int, seed: int = 0) -> np.ndarray:
    """Seeded float32 values in [0.5, 2), away from the poles of Log, Sqrt, Reciprocal."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def scalar(value: float, dtype: type = np.float32) -> np.ndarray:
    """A rank-0 array."""
    return np.array(value, dtype=dtype)


IMAGE = rand(2, 3, 9, 9)  # [NCHW] the input most image-shaped cases share
