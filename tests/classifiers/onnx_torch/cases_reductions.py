"""Single-op cases: ReduceMean, ReduceSum, ReduceMax, ReduceMin."""

from __future__ import annotations

from onnx_single_op import IMAGE, Const, case, i64, rand

_S = rand(2, 3, 4)

CASES = [
    case(
        "ReduceMean",
        "reduce_mean_axes_input",
        {"x": IMAGE, "a": Const(i64(2, -1))},
        opset=18,
        keepdims=0,
    ),
    case("ReduceMean", "reduce_mean_axes_attr", {"x": IMAGE}, axes=[1]),
    case("ReduceSum", "reduce_sum_all", {"x": IMAGE}),
    case("ReduceSum", "axes_input_13", {"x": _S, "a": Const(i64(0, 2))}, opset=13, keepdims=0),
    case("ReduceSum", "noop_with_empty_axes", {"x": _S}, opset=13, noop_with_empty_axes=1),
    case(
        "ReduceSum", "int64", {"x": i64(1, 2, 3, 4).reshape(2, 2), "a": Const(i64(1))}, grad=False
    ),
    case("ReduceMax", "axes_input_18", {"x": _S, "a": Const(i64(-1))}, opset=18),
    case("ReduceMax", "axes_attr_17", {"x": _S}, axes=[0, 1], keepdims=0),
    case("ReduceMin", "axes_input_18", {"x": _S, "a": Const(i64(1))}, opset=18, keepdims=0),
    case("ReduceMin", "all_17", {"x": _S}),
    case("ReduceMean", "empty_axes_input_18", {"x": _S, "a": Const(i64())}, opset=18),
    case("ReduceMean", "all_keepdims0", {"x": _S}, keepdims=0),
]
