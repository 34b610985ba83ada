"""Matrix products: MatMul, Gemm (the dense layer) and Einsum."""

from __future__ import annotations

import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import Node, register


@register("MatMul")
def _matmul(node: Node, a: Tensor, b: Tensor) -> Tensor:
    return torch.matmul(a, b)


@register("Gemm")
def _gemm(node: Node, a: Tensor, b: Tensor, c: Tensor | None = None) -> Tensor:
    if node.attrs.get("transA", 0):
        a = a.t()
    if node.attrs.get("transB", 0):
        b = b.t()
    y = a @ b
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


@register("Einsum")
def _einsum(node: Node, *xs: Tensor) -> Tensor:
    return torch.einsum(node.attrs["equation"], *xs)
