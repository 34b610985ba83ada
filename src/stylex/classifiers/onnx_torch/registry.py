"""The operator registry: one function per ONNX operator type, filled by the family modules.

An operator function takes the node (its attributes and the model's opset) and the node's input
tensors in ONNX order, None for an omitted optional input, and returns one tensor or a tuple
for several outputs. The functions only use torch ops on what they are given, so the same code
runs in float32, float64 or on any device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from stylex.errors import ClassifierError


@dataclass
class Node:
    """One graph node, as the operator functions see it."""

    op_type: str
    name: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int  # version of the default domain the model was exported for

    def fail(self, what: str) -> ClassifierError:
        return ClassifierError(
            f"ONNX node '{self.name}' ({self.op_type}): {what} is not supported by the stylex "
            f"ONNX interpreter; export the classifier as TorchScript instead"
        )


Op = Callable[..., Tensor | tuple[Tensor, ...]]
OPS: dict[str, Op] = {}


def register(*op_types: str) -> Callable[[Op], Op]:
    """Decorator: `fn` runs the ONNX operators `op_types`."""

    def add(fn: Op) -> Op:
        for op_type in op_types:
            if op_type in OPS:
                raise ValueError(f"ONNX operator {op_type} is registered twice")
            OPS[op_type] = fn
        return fn

    return add


def register_plain(table: dict[str, Callable[..., Tensor]]) -> None:
    """Registers each torch function in `table` as the attribute-free ONNX operator it is
    keyed by, called with the node's inputs."""
    for op_type, fn in table.items():
        register(op_type)(lambda node, *xs, fn=fn: fn(*xs))


def ints(t: Tensor | None) -> list[int] | None:
    """An int64 shape/axes/pads input as a Python list, None if omitted."""
    return None if t is None else [int(v) for v in t.reshape(-1).tolist()]


def axes_of(node: Node, t: Tensor | None, first_input_opset: int) -> list[int] | None:
    """Axes from the input (opset >= `first_input_opset`) or the attribute (older ones)."""
    if node.opset >= first_input_opset:
        return ints(t)
    axes = node.attrs.get("axes")
    return None if axes is None else list(axes)
