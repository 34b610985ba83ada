"""Activation functions, Clip, and Softmax / LogSoftmax."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register, register_plain

register_plain(
    {
        "Relu": torch.relu,
        "Sigmoid": torch.sigmoid,
        "Tanh": torch.tanh,
        "Softplus": F.softplus,
        "Softsign": F.softsign,
        "Mish": F.mish,
        "HardSwish": F.hardswish,
    }
)


@register("LeakyRelu")
def _leaky_relu(node: Node, x: Tensor) -> Tensor:
    return F.leaky_relu(x, node.attrs.get("alpha", 0.01))


@register("Elu")
def _elu(node: Node, x: Tensor) -> Tensor:
    return F.elu(x, node.attrs.get("alpha", 1.0))


@register("Selu")
def _selu(node: Node, x: Tensor) -> Tensor:
    alpha = node.attrs.get("alpha", 1.67326319217681884765625)
    gamma = node.attrs.get("gamma", 1.05070102214813232421875)
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@register("PRelu")
def _prelu(node: Node, x: Tensor, slope: Tensor) -> Tensor:
    return torch.where(x < 0, x * slope, x)


@register("HardSigmoid")
def _hard_sigmoid(node: Node, x: Tensor) -> Tensor:
    alpha = node.attrs.get("alpha", 0.2)
    beta = node.attrs.get("beta", 0.5)
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


@register("Gelu")
def _gelu(node: Node, x: Tensor) -> Tensor:
    return F.gelu(x, approximate=node.attrs.get("approximate", "none"))


@register("Clip")
def _clip(
    node: Node, x: Tensor, lo: Tensor | float | None = None, hi: Tensor | float | None = None
) -> Tensor:
    if node.opset < 11:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    if lo is None and hi is None:
        return x  # torch.clamp refuses to clamp to nothing
    return torch.clamp(x, lo, hi)  # type: ignore[arg-type]  # numbers are accepted too


@register("Softmax", "LogSoftmax")
def _softmax(node: Node, x: Tensor) -> Tensor:
    fn = torch.softmax if node.op_type == "Softmax" else torch.log_softmax
    if node.opset >= 13:
        return fn(x, dim=node.attrs.get("axis", -1))
    # Before opset 13 the input is coerced to 2-D at `axis` and normalised over the tail.
    axis = node.attrs.get("axis", 1) % max(x.ndim, 1)
    return fn(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)
