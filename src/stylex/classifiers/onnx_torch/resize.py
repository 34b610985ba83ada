"""Resize, in the nearest / linear / cubic forms that torch's interpolate computes exactly."""

from __future__ import annotations

from typing import Any

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
    elif scale_list is not None:
        if scale_list[:2] != [1.0, 1.0]:
            raise node.fail(f"scales {scale_list[:2]} on batch or channel dims")
        target = {"scale_factor": scale_list[2:], "recompute_scale_factor": False}
    else:
        raise node.fail("a Resize without scales or sizes")
    mode = node.attrs.get("mode", "nearest")
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    antialias = bool(node.attrs.get("antialias", 0))
    if mode == "nearest":
        nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
        if coord == "asymmetric" and nearest == "floor":
            return F.interpolate(x, mode="nearest", **target)
        if coord in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil":
            return F.interpolate(x, mode="nearest-exact", **target)
        raise node.fail(f"nearest resize with {coord} / {nearest}")
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
        return F.interpolate(
            x,
            mode=torch_mode,
            align_corners=coord == "align_corners",
            antialias=antialias,
            **target,
        )
    raise node.fail(f"mode={mode}")
