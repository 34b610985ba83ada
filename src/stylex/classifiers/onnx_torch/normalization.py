"""Normalisation layers: batch (running statistics), instance, group and layer norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    return t.reshape(1, -1, *([1] * (ndim - 2)))


@register("BatchNormalization")
def _batch_norm(
    node: Node, x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor
) -> Tensor:
    if node.attrs.get("training_mode", 0) or any(node.outputs[1:]):
        raise node.fail("training_mode")
    # Inference with running statistics only: the classifier is frozen inside StylEx.
    inv = scale / torch.sqrt(var + node.attrs.get("epsilon", 1e-5))
    return (x - _channel_view(mean, x.ndim)) * _channel_view(inv, x.ndim) + _channel_view(
        bias, x.ndim
    )


@register("InstanceNormalization")
def _instance_norm(node: Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.attrs.get("epsilon", 1e-5))


@register("GroupNormalization")
def _group_norm(node: Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    # Per-channel scale and bias (opset 21); the per-group opset-18 form is deprecated and
    # rejected by the ONNX checker before it gets here.
    y = F.group_norm(x, node.attrs["num_groups"], eps=node.attrs.get("epsilon", 1e-5))
    return y * _channel_view(scale, x.ndim) + _channel_view(bias, x.ndim)


@register("LayerNormalization")
def _layer_norm(
    node: Node, x: Tensor, scale: Tensor, bias: Tensor | None = None
) -> Tensor | tuple[Tensor, ...]:
    axis = node.attrs.get("axis", -1) % x.ndim
    dims = tuple(range(axis, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).square().mean(dim=dims, keepdim=True)
    inv_std = torch.rsqrt(var + node.attrs.get("epsilon", 1e-5))
    y = (x - mean) * inv_std * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv_std
