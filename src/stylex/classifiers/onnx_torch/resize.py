"""Resize, in the nearest / linear / cubic forms that torch's interpolate computes exactly, and
linear resizing with asymmetric coordinates (opset 10's only kind), computed here."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, ints, register


@register("Resize")
def _resize(
    node: Node,
    x: Tensor,
    roi: Tensor | None = None,
    scales: Tensor | None = None,
    sizes: Tensor | None = None,
) -> Tensor:
    if node.opset < 11:
        scales, sizes = roi, None  # opset 10: Resize(X, scales)
    nd = x.ndim - 2
    if nd not in (1, 2, 3) or "axes" in node.attrs:
        raise node.fail(f"{nd}-D input or the axes attribute")
    size_list = ints(sizes) if sizes is not None and sizes.numel() else None
    scale_list = scales.reshape(-1).tolist() if scales is not None and scales.numel() else None
    if size_list is not None:
        if size_list[:2] != list(x.shape[:2]):
            raise node.fail(f"resizing batch or channel dims to {size_list[:2]}")
        target: dict[str, Any] = {"size": size_list[2:]}
        out_sizes = size_list[2:]
        spatial_scales = [o / i for o, i in zip(out_sizes, x.shape[2:], strict=True)]
    elif scale_list is not None:
        if scale_list[:2] != [1.0, 1.0]:
            raise node.fail(f"scales {scale_list[:2]} on batch or channel dims")
        target = {"scale_factor": scale_list[2:], "recompute_scale_factor": False}
        spatial_scales = scale_list[2:]
        out_sizes = [math.floor(i * s) for i, s in zip(x.shape[2:], spatial_scales, strict=True)]
    else:
        raise node.fail("a Resize without scales or sizes")
    mode = node.attrs.get("mode", "nearest")
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
    shrinks = any(s < 1 for s in spatial_scales)
    if node.opset < 11:
        # Opset 10 has neither attribute: it maps output to input coordinates by dividing by
        # the scale, and when enlarging takes the floor for nearest.
        if mode == "nearest" and shrinks:
            raise node.fail("nearest downscaling at opset 10")
        coord, nearest = "asymmetric", "floor"
    if coord == "pytorch_half_pixel" and 1 in out_sizes:
        raise node.fail("pytorch_half_pixel to an output size of 1")
    if mode == "nearest":
        if coord == "asymmetric" and nearest == "floor":
            return F.interpolate(x, mode="nearest", **target)
        if coord in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil":
            return F.interpolate(x, mode="nearest-exact", **target)
        raise node.fail(f"nearest resize with {coord} / {nearest}")
    if node.attrs.get("antialias", 0) and shrinks:
        # torch's antialiasing filter differs from the ONNX one (by up to 0.1 on standard
        # normal inputs); when enlarging, ONNX antialiasing changes nothing.
        raise node.fail("antialias=1 when downscaling")
    if mode == "linear" and coord == "asymmetric":
        return _linear_asymmetric(x, out_sizes, spatial_scales)
    if mode in ("linear", "cubic"):
        if mode == "cubic" and (
            nd != 2
            or node.attrs.get("cubic_coeff_a", -0.75) != -0.75
            or node.attrs.get("exclude_outside", 0)
        ):
            raise node.fail("cubic resize other than torch's bicubic")
        if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise node.fail(f"coordinate_transformation_mode={coord}")
        torch_mode = "bicubic" if mode == "cubic" else ("linear", "bilinear", "trilinear")[nd - 1]
        return F.interpolate(x, mode=torch_mode, align_corners=coord == "align_corners", **target)
    raise node.fail(f"mode={mode}")


def _linear_asymmetric(x: Tensor, out_sizes: list[int], scales: list[float]) -> Tensor:
    """Linear resize where output index i reads input coordinate i / scale, one axis at a time."""
    for axis, (size_out, scale) in enumerate(zip(out_sizes, scales, strict=True), start=2):
        size_in = x.shape[axis]
        src = torch.arange(size_out, dtype=x.dtype, device=x.device) / scale
        src = src.clamp(0, size_in - 1)
        lo = src.floor().long()
        hi = (lo + 1).clamp(max=size_in - 1)
        w = (src - lo).reshape(-1, *([1] * (x.ndim - 1 - axis)))  # [size_out, 1, ...]
        x = x.index_select(axis, lo) * (1 - w) + x.index_select(axis, hi) * w
    return x
