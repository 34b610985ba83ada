"""Tensors made from shapes and bounds rather than from input values: ConstantOfShape, Range."""

from __future__ import annotations

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, ints, register


@register("ConstantOfShape")
def _constant_of_shape(node: Node, shape: Tensor) -> Tensor:
    value = node.attrs.get("value", torch.zeros(1, dtype=torch.float32))
    return torch.full(ints(shape) or [], value.item(), dtype=value.dtype, device=shape.device)


@register("Range")
def _range(node: Node, start: Tensor, limit: Tensor, delta: Tensor) -> Tensor:
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype).to(
        start.device
    )
