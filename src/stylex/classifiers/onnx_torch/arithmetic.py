"""Elementwise arithmetic: unary math, the binary operators, and the variadic Max/Min/Sum/Mean."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register, register_plain

register_plain(
    {
        "Erf": torch.erf,
        "Sqrt": torch.sqrt,
        "Exp": torch.exp,
        "Sin": torch.sin,  # the Fourier synthesis input of stylex's own generators
        "Cos": torch.cos,
        "Log": torch.log,
        "Neg": torch.neg,
        "Abs": torch.abs,
        "Reciprocal": torch.reciprocal,
        "Floor": torch.floor,
        "Ceil": torch.ceil,
        "Sign": torch.sign,
        "Add": torch.add,
        "Sub": torch.sub,
        "Mul": torch.mul,
    }
)


@register("Div")
def _div(node: Node, a: Tensor, b: Tensor) -> Tensor:
    # ONNX integer division truncates; torch.div would promote to float.
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


@register("Pow")
def _pow(node: Node, a: Tensor, b: Tensor) -> Tensor:
    return torch.pow(a, b).to(a.dtype)  # ONNX Pow keeps the base's type


@register("Max", "Min", "Sum", "Mean")
def _variadic(node: Node, *xs: Tensor) -> Tensor:
    fn = {"Max": torch.maximum, "Min": torch.minimum}.get(node.op_type, torch.add)
    y = functools.reduce(fn, xs)
    return y / len(xs) if node.op_type == "Mean" else y
