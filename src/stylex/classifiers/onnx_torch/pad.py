"""Pad: constant, reflect, edge and wrap padding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, ints, register


@register("Pad")
def _pad(
    node: Node,
    x: Tensor,
    pads_t: Tensor | None = None,
    value_t: Tensor | None = None,
    axes_t: Tensor | None = None,
) -> Tensor:
    if node.opset >= 11:
        pads = ints(pads_t) or []
        value = 0.0 if value_t is None else value_t.item()
    else:
        pads, value = list(node.attrs["pads"]), node.attrs.get("value", 0.0)
    given = ints(axes_t)
    axes = list(range(x.ndim)) if given is None else given
    axes = [a % x.ndim for a in axes]
    per_dim = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        per_dim[a] = (pads[i], pads[i + len(axes)])
    mode = node.attrs.get("mode", "constant")
    if mode == "constant":
        flat = [p for pair in reversed(per_dim) for p in pair]
        return F.pad(x, flat, value=value)
    torch_mode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    padded = [d for d, p in enumerate(per_dim) if p != (0, 0)]
    if torch_mode is None or not padded or min(padded) < 2 or x.ndim - 2 > 3:
        if not padded:
            return x
        raise node.fail(f"mode={mode} on axes {padded}")
    # torch pads only the trailing (spatial) dims in these modes.
    flat = [p for pair in reversed(per_dim[2:]) for p in pair]
    return F.pad(x, flat, mode=torch_mode)
