"""Comparisons, boolean logic and Where."""

from __future__ import annotations

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register, register_plain

register_plain(
    {
        "Equal": torch.eq,
        "Less": torch.lt,
        "LessOrEqual": torch.le,
        "Greater": torch.gt,
        "GreaterOrEqual": torch.ge,
        "And": torch.logical_and,
        "Or": torch.logical_or,
        "Not": torch.logical_not,
    }
)


@register("Where")
def _where(node: Node, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(cond, a, b)
