"""Tensors made from shapes and bounds rather than from input values: ConstantOfShape, Range."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, ints, register


@register("ConstantOfShape")
def _constant_of_shape(node: Node, shape: Tensor) -> Tensor:
    value = node.attrs.get("value", torch.zeros(1, dtype=torch.float32))
    return torch.full(ints(shape) or [], value.item(), dtype=value.dtype, device=shape.device)


@register("Range")
def _range(node: Node, start: Tensor, limit: Tensor, delta: Tensor) -> Tensor:
    # The ONNX definition, which (unlike torch.arange) gives an empty range for bounds that
    # the step walks away from, and keeps the gradient to start and delta.
    count = max(math.ceil((limit.item() - start.item()) / delta.item()), 0)
    return start + delta * torch.arange(count, dtype=start.dtype, device=start.device)
