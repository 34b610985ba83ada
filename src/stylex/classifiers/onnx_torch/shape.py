"""Shapes and layout: Shape, Size, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Expand, Tile.

Shape arithmetic runs eagerly on int64 tensors, so the shape inputs of later nodes are plain
values by the time they are read.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, axes_of, ints, register


@register("Shape")
def _shape(node: Node, x: Tensor) -> Tensor:
    dims = list(x.shape)[node.attrs.get("start", 0) : node.attrs.get("end", x.ndim)]
    return torch.tensor(dims, dtype=torch.int64, device=x.device)


@register("Size")
def _size(node: Node, x: Tensor) -> Tensor:
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@register("Flatten")
def _flatten(node: Node, x: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@register("Reshape")
def _reshape(node: Node, x: Tensor, shape: Tensor) -> Tensor:
    dims = ints(shape) or []
    if not node.attrs.get("allowzero", 0):
        # 0 copies the input's size at that position (unless allowzero asks for a real 0).
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@register("Transpose")
def _transpose(node: Node, x: Tensor) -> Tensor:
    perm = node.attrs.get("perm", list(reversed(range(x.ndim))))
    return x.permute(*perm)


@register("Squeeze")
def _squeeze(node: Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    axes = axes_of(node, axes_t, 13)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.ndim for a in axes)) if axes else x


@register("Unsqueeze")
def _unsqueeze(node: Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    axes = axes_of(node, axes_t, 13) or []
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return x


@register("Expand")
def _expand(node: Node, x: Tensor, shape: Tensor) -> Tensor:
    # ONNX Expand broadcasts both ways: a 1 in `shape` keeps the input's size.
    return x.expand(torch.broadcast_shapes(x.shape, tuple(ints(shape) or [])))


@register("Tile")
def _tile(node: Node, x: Tensor, repeats: Tensor) -> Tensor:
    return x.repeat(*(ints(repeats) or []))
