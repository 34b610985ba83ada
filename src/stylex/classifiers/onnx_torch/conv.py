"""Convolution: Conv and ConvTranspose, 1-D to 3-D."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register
from stylex.classifiers.onnx_torch.windows import spatial_pads, torch_pad


def _conv_fn(node: Node, nd: int, transpose: bool = False) -> Callable[..., Tensor]:
    fns = (
        {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
        if transpose
        else {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    )
    if nd not in fns:
        raise node.fail(f"{nd}-D input")
    return fns[nd]


@register("Conv")
def _conv(node: Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    nd = x.ndim - 2
    kernel = list(w.shape[2:])
    strides = node.attrs.get("strides", [1] * nd)
    dilations = node.attrs.get("dilations", [1] * nd)
    pads = spatial_pads(node, x.shape[2:], kernel, strides, dilations)
    if pads[:nd] == pads[nd:]:
        padding = pads[:nd]
    else:
        x, padding = F.pad(x, torch_pad(pads)), [0] * nd
    return _conv_fn(node, nd)(x, w, b, strides, padding, dilations, node.attrs.get("group", 1))


@register("ConvTranspose")
def _conv_transpose(node: Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    nd = x.ndim - 2
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET" or "output_shape" in node.attrs:
        raise node.fail("auto_pad / output_shape")
    strides = node.attrs.get("strides", [1] * nd)
    dilations = node.attrs.get("dilations", [1] * nd)
    out_pad = node.attrs.get("output_padding", [0] * nd)
    pads = node.attrs.get("pads", [0] * (2 * nd))
    fn = _conv_fn(node, nd, transpose=True)
    y = fn(x, w, b, strides, 0, out_pad, node.attrs.get("group", 1), dilations)
    # ONNX pads crop the full transposed output, possibly asymmetrically.
    for i in range(nd):
        begin, end = pads[i], pads[i + nd]
        y = y.narrow(2 + i, begin, y.shape[2 + i] - begin - end)
    return y
