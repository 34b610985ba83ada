"""Single-op cases: comparisons, boolean logic and Where."""

from __future__ import annotations

import numpy as np
from onnx_single_op import case, f32, i64, rand

# Equal values in both, so the "or equal" half of each comparison is exercised.
_A = f32(-1.0, 0.5, 2.0, 3.0, -0.25, 7.0)
_B = f32(-1.0, 1.5, 2.0, -3.0, -0.25, 6.0)
_P = np.array([True, True, False, False])
_Q = np.array([True, False, True, False])

CASES = [
    case("Equal", "float", {"a": _A, "b": _B}),
    case("Equal", "int64_broadcast", {"a": i64(1, 2, 3, 2).reshape(2, 2), "b": i64(2)}),
    case("Less", "float", {"a": _A, "b": _B}),
    case("LessOrEqual", "float", {"a": _A, "b": _B}, opset=16),
    case("Greater", "float", {"a": _A, "b": _B}),
    case("Greater", "int64", {"a": i64(1, 5, 3), "b": i64(3, 3, 3)}),
    case("GreaterOrEqual", "float", {"a": _A, "b": _B}, opset=16),
    case("And", "bool", {"p": _P, "q": _Q}),
    case("Or", "bool", {"p": _P, "q": _Q}),
    case("Not", "bool", {"p": _P}),
    case("Where", "broadcast", {"c": _P.reshape(4, 1), "a": rand(4, 3), "b": rand(3, seed=1)}),
    case("Where", "int64", {"c": _P, "a": i64(1, 2, 3, 4), "b": i64(-1)}, grad=False),
]
