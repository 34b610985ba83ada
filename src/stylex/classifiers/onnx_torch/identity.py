"""Operators that pass values through: Identity, Dropout at inference, Cast and CastLike."""

from __future__ import annotations

import onnx
import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register
from stylex.classifiers.onnx_torch.tensors import DTYPES


@register("Identity")
def _identity(node: Node, x: Tensor) -> Tensor:
    return x


@register("Dropout")
def _dropout(
    node: Node, x: Tensor, ratio: Tensor | None = None, training_mode: Tensor | None = None
) -> Tensor | tuple[Tensor, ...]:
    # Inference: dropout is the identity, the optional mask keeps everything.
    if training_mode is not None and bool(training_mode.item()):
        raise node.fail("training_mode=1")
    if len(node.outputs) > 1 and node.outputs[1]:
        return x, torch.ones_like(x, dtype=torch.bool)
    return x


@register("Cast")
def _cast(node: Node, x: Tensor) -> Tensor:
    to = node.attrs["to"]
    if to not in DTYPES:
        raise node.fail(f"to={onnx.TensorProto.DataType.Name(to)}")
    return x.to(DTYPES[to])


@register("CastLike")
def _cast_like(node: Node, x: Tensor, like: Tensor) -> Tensor:
    return x.to(like.dtype)
