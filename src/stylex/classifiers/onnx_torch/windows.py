"""Sliding-window padding shared by convolution and pooling: auto_pad, and ONNX -> torch order."""

from __future__ import annotations

from collections.abc import Sequence

from stylex.classifiers.onnx_torch.registry import Node


def spatial_pads(
    node: Node,
    in_sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[int]:
    """ONNX pads [begin_1..begin_n, end_1..end_n], resolving auto_pad."""
    nd = len(in_sizes)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        return list(node.attrs.get("pads", [0] * (2 * nd)))
    if auto_pad == "VALID":
        return [0] * (2 * nd)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.fail(f"auto_pad={auto_pad}")
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations, strict=True):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def torch_pad(pads: Sequence[int]) -> list[int]:
    """ONNX [b1..bn, e1..en] -> torch F.pad order (last dim first)."""
    nd = len(pads) // 2
    return [p for i in reversed(range(nd)) for p in (pads[i], pads[i + nd])]


def native_padding(pads: Sequence[int], kernel: Sequence[int]) -> list[int] | None:
    """The symmetric padding torch pooling can take itself, or None."""
    nd = len(pads) // 2
    begins, ends = list(pads[:nd]), list(pads[nd:])
    if begins == ends and all(p <= k // 2 for p, k in zip(begins, kernel, strict=True)):
        return begins
    return None
