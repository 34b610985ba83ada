"""Single-op cases: ConstantOfShape, Range, and Constant (which the graph keeps as a buffer)."""

from __future__ import annotations

from onnx import helper
from onnx_single_op import Const, case, i64, scalar

CASES = [
    case("ConstantOfShape", "default_zero", {"s": i64(2, 3)}),
    case(
        "ConstantOfShape",
        "int64_value",
        {"s": Const(i64(3, 1, 2))},
        value=helper.make_tensor("v", 7, [1], [5]),
    ),
    case(
        "ConstantOfShape",
        "float_value",
        {"s": i64(4)},
        value=helper.make_tensor("v", 1, [1], [0.25]),
    ),
    case(
        "Range",
        "int64",
        {"a": i64(2).reshape(()), "b": i64(11).reshape(()), "d": i64(3).reshape(())},
    ),
    case(
        "Range", "float_negative_delta", {"a": scalar(1.0), "b": scalar(-2.0), "d": scalar(-0.75)}
    ),
    case("Constant", "value_tensor", {}, value=helper.make_tensor("v", 1, [2, 2], [1, 2, 3, 4])),
    case("Constant", "value_float", {}, value_float=2.5),
    case("Constant", "value_floats", {}, value_floats=[1.0, -2.0]),
    case("Constant", "value_int", {}, value_int=7),
    case("Constant", "value_ints", {}, value_ints=[3, -1, 4]),
]
