"""Reductions over axes: ReduceMean, ReduceSum, ReduceMax, ReduceMin."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, axes_of, register

_REDUCE: dict[str, tuple[Callable[..., Tensor], int]] = {
    # op -> (torch reduction, first opset taking axes as an input)
    "ReduceMean": (torch.mean, 18),
    "ReduceSum": (torch.sum, 13),
    "ReduceMax": (torch.amax, 18),
    "ReduceMin": (torch.amin, 18),
}


@register(*_REDUCE)
def _reduce(node: Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    fn, axes_input_opset = _REDUCE[node.op_type]
    axes = axes_of(node, axes_t, axes_input_opset)
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    return fn(x, dim=tuple(axes), keepdim=bool(node.attrs.get("keepdims", 1)))
