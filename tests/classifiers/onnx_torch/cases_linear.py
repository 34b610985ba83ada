"""Single-op cases: MatMul, Gemm and Einsum."""

from __future__ import annotations

from onnx_single_op import case, rand

CASES = [
    case("MatMul", "matmul_batched", {"a": rand(2, 3, 4), "b": rand(4, 5, seed=1)}),
    case("MatMul", "vector_matrix", {"a": rand(4), "b": rand(4, 3, seed=1)}),
    case("MatMul", "broadcast_batch", {"a": rand(2, 1, 3, 4), "b": rand(3, 4, 2, seed=1)}),
    case(
        "Gemm",
        "gemm_trans_alpha_beta",
        {"a": rand(5, 4), "b": rand(3, 5, seed=1), "c": rand(3, seed=2)},
        transA=1,
        transB=1,
        alpha=0.5,
        beta=2.0,
    ),
    case("Gemm", "no_c", {"a": rand(2, 4), "b": rand(4, 3, seed=1)}),
    case(
        "Gemm",
        "trans_b_row_c",
        {"a": rand(2, 4), "b": rand(3, 4, seed=1), "c": rand(1, 3)},
        transB=1,
    ),
    case(
        "Gemm",
        "trans_a_full_c",
        {"a": rand(4, 2), "b": rand(4, 3, seed=1), "c": rand(2, 3)},
        transA=1,
        beta=0.5,
    ),
    case(
        "Einsum",
        "einsum",
        {"a": rand(2, 3, 4), "b": rand(2, 4, 5, seed=1)},
        equation="bij,bjk->bik",
    ),
    case("Einsum", "transpose", {"a": rand(2, 3)}, equation="ij->ji"),
    case("Einsum", "row_dot", {"a": rand(3, 4), "b": rand(3, 4, seed=1)}, equation="bi,bi->b"),
    case(
        "Einsum",
        "ellipsis",
        {"a": rand(2, 3, 4), "b": rand(2, 4, 5, seed=1)},
        equation="...ij,...jk->...ik",
    ),
]
