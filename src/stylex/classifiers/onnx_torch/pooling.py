"""Pooling: MaxPool, AveragePool and their global forms."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register
from stylex.classifiers.onnx_torch.windows import native_padding, spatial_pads, torch_pad


def _pool_args(node: Node, x: Tensor) -> tuple[int, list[int], list[int], list[int], list[int]]:
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise node.fail(f"{nd}-D input")
    kernel = list(node.attrs["kernel_shape"])
    strides = list(node.attrs.get("strides", [1] * nd))
    dilations = list(node.attrs.get("dilations", [1] * nd))
    pads = spatial_pads(node, x.shape[2:], kernel, strides, dilations)
    return nd, kernel, strides, dilations, pads


@register("MaxPool")
def _max_pool(node: Node, x: Tensor) -> Tensor:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise node.fail("the Indices output")
    nd, kernel, strides, dilations, pads = _pool_args(node, x)
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    padding = native_padding(pads, kernel)
    if padding is None:
        x, padding = F.pad(x, torch_pad(pads), value=-math.inf), [0] * nd
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    return fn(x, kernel, strides, padding, dilations, ceil_mode)


@register("AveragePool")
def _avg_pool(node: Node, x: Tensor) -> Tensor:
    nd, kernel, strides, dilations, pads = _pool_args(node, x)
    if any(d != 1 for d in dilations):
        raise node.fail(f"dilations={dilations}")
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    include_pad = bool(node.attrs.get("count_include_pad", 0))
    fn: Callable[..., Tensor] = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    padding = native_padding(pads, kernel)
    if padding is not None:
        return fn(x, kernel, strides, padding, ceil_mode, include_pad)
    if include_pad:
        return fn(F.pad(x, torch_pad(pads)), kernel, strides, 0, ceil_mode, True)
    if nd == 1:
        raise node.fail("asymmetric pads with count_include_pad=0 on 1-D input")
    # Asymmetric pads that must not count: window sums divided by the real pixels in each.
    ones = torch.ones_like(x[:1, :1])
    total = fn(F.pad(x, torch_pad(pads)), kernel, strides, 0, ceil_mode, True, 1)
    count = fn(F.pad(ones, torch_pad(pads)), kernel, strides, 0, ceil_mode, True, 1)
    return total / count


@register("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node, x: Tensor) -> Tensor:
    dims = tuple(range(2, x.ndim))
    if node.op_type == "GlobalAveragePool":
        return x.mean(dim=dims, keepdim=True)
    return x.amax(dim=dims, keepdim=True)
