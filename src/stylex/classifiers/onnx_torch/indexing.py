"""Picking and joining pieces of tensors: Gather, GatherElements, Slice, Concat, Split."""

from __future__ import annotations

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, ints, register


@register("Gather")
def _gather(node: Node, x: Tensor, indices: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = indices.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]))


@register("GatherElements")
def _gather_elements(node: Node, x: Tensor, indices: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = indices.long()
    return torch.gather(x, axis, torch.where(idx < 0, idx + x.shape[axis], idx))


@register("Slice")
def _slice(
    node: Node,
    x: Tensor,
    starts_t: Tensor | None = None,
    ends_t: Tensor | None = None,
    axes_t: Tensor | None = None,
    steps_t: Tensor | None = None,
) -> Tensor:
    if node.opset >= 10:
        starts, ends = ints(starts_t) or [], ints(ends_t) or []
        axes, steps = ints(axes_t), ints(steps_t)
    else:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes"), None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        dim = x.shape[axis]
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step == 1:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
            x = x.narrow(axis, start, max(end - start, 0))
            continue
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            # Walking backwards, an end of -1 after clamping means "through index 0".
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        x = x.index_select(axis, torch.arange(start, end, step, device=x.device))
    return x


@register("Concat")
def _concat(node: Node, *xs: Tensor) -> Tensor:
    return torch.cat(xs, dim=node.attrs["axis"])


@register("Split")
def _split(node: Node, x: Tensor, split_t: Tensor | None = None) -> tuple[Tensor, ...]:
    axis = node.attrs.get("axis", 0)
    sizes = ints(split_t) if node.opset >= 13 else node.attrs.get("split")
    if not sizes:
        parts = node.attrs.get("num_outputs", len(node.outputs))
        chunk = -(-x.shape[axis] // parts)  # ceil: the last part may be smaller
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    return tuple(torch.split(x, list(sizes), dim=axis))
