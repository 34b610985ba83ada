"""Single-op cases: elementwise arithmetic."""

from __future__ import annotations

import numpy as np
from onnx_single_op import IMAGE, Const, case, f32, i64, positive, rand, scalar

_A, _B = rand(2, 3, 4, seed=1), rand(3, 1, seed=2)  # broadcasting against each other
_INT_A, _INT_B = i64(-7, 7, -5, 5, 9, -9), i64(2, 2, -3, -3, 4, 4)

CASES = [
    case("Erf", "erf", {"x": IMAGE}),
    case("Sqrt", "sqrt", {"x": np.abs(IMAGE)}, grad=False),  # zeros in |x| make no gradient check
    case("Sqrt", "positive", {"x": positive(2, 3, 4)}),
    case("Exp", "plain", {"x": rand(2, 3, 4)}),
    case("Sin", "plain", {"x": rand(2, 3, 4) * 4}),
    case("Cos", "plain", {"x": rand(2, 3, 4) * 4}),
    case("Log", "positive", {"x": positive(2, 3, 4)}),
    case("Neg", "float", {"x": rand(2, 3, 4)}),
    case("Neg", "int64", {"x": _INT_A}, grad=False),
    case("Abs", "float", {"x": rand(2, 3, 4)}),
    case("Abs", "int64", {"x": _INT_A}, grad=False),
    case("Reciprocal", "positive", {"x": positive(2, 3, 4)}),
    case("Floor", "plain", {"x": rand(2, 3, 4) * 3}),
    case("Ceil", "plain", {"x": rand(2, 3, 4) * 3}),
    case("Sign", "float", {"x": np.concatenate([rand(5), np.zeros(2, np.float32)])}),
    case("Add", "broadcast", {"a": _A, "b": _B}),
    case("Add", "int64", {"a": _INT_A, "b": _INT_B}, grad=False),
    case("Sub", "sub", {"x": IMAGE, "d": Const(rand(9, seed=1))}),
    case("Sub", "broadcast", {"a": _A, "b": _B}),
    case("Mul", "broadcast", {"a": _A, "b": _B}),
    case("Mul", "int64", {"a": _INT_A, "b": _INT_B}, grad=False),
    case("Div", "div", {"x": IMAGE, "d": Const(rand(3, 1, 1, seed=1))}),
    case("Div", "broadcast", {"a": _A, "b": positive(3, 1, seed=2)}),
    case("Div", "int64_truncates", {"a": _INT_A, "b": _INT_B}, grad=False),
    case("Pow", "pow", {"x": np.abs(IMAGE) + 0.1, "e": Const(scalar(1.5))}),
    case("Pow", "both_inputs", {"x": positive(2, 3), "e": rand(3, seed=1)}),
    case("Pow", "int64", {"x": _INT_A, "e": i64(2)}, grad=False),
    case("Max", "three_broadcast", {"a": _A, "b": _B, "c": rand(4, seed=3)}),
    case("Max", "single", {"a": _A}),
    case("Min", "three_broadcast", {"a": _A, "b": _B, "c": rand(4, seed=3)}),
    case("Min", "int64", {"a": _INT_A, "b": _INT_B}, grad=False),
    case("Sum", "three_broadcast", {"a": _A, "b": _B, "c": rand(4, seed=3)}),
    case("Sum", "single", {"a": _A}),
    case("Mean", "three_broadcast", {"a": _A, "b": _B, "c": rand(4, seed=3)}),
    case("Mean", "two", {"a": _A, "b": rand(2, 3, 4, seed=4)}),
    case("Div", "by_zero", {"a": f32(1, -1, 0), "b": f32(0, 0, 1)}, grad=False),  # inf, nan
    case("Pow", "negative_base_integral_exponent", {"a": f32(-2, -3, 2), "b": Const(f32(2, 3, 3))}),
    case("Pow", "int64_exponent", {"a": f32(2, 3, 4), "b": Const(i64(2, 3, 1))}),
    case(
        "Pow", "int64_base_float_exponent", {"a": i64(2, 3, 4), "b": f32(0.5, 1.5, 2)}, grad=False
    ),
]
