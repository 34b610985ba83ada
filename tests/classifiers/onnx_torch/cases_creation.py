"""Single-op cases: ConstantOfShape, Range, and Constant (which the graph keeps as a buffer)."""

from __future__ import annotations

from onnx import TensorProto, helper
from onnx_single_op import Const, case, i64, scalar


def _int(value: int) -> Const:
    return Const(i64(value).reshape(()))


CASES = [
    case("ConstantOfShape", "default_zero", {"s": i64(2, 3)}),
    case(
        "ConstantOfShape",
        "int64_value",
        {"s": Const(i64(3, 1, 2))},
        value=helper.make_tensor("v", TensorProto.INT64, [1], [5]),
    ),
    case(
        "ConstantOfShape",
        "float_value",
        {"s": i64(4)},
        value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25]),
    ),
    case("ConstantOfShape", "scalar", {"s": Const(i64())}),
    case("Range", "int64", {"a": _int(2), "b": _int(11), "d": _int(3)}, grad=False),
    case("Range", "int64_empty", {"a": _int(5), "b": _int(2), "d": _int(1)}, grad=False),
    # Float bounds away from a whole number of steps, so finite differences keep the count.
    case(
        "Range", "float_negative_delta", {"a": scalar(1.0), "b": scalar(-2.2), "d": scalar(-0.75)}
    ),
    case("Range", "float_fractional_count", {"a": scalar(0.5), "b": scalar(2.2), "d": scalar(0.5)}),
    case(
        "Constant",
        "value_tensor",
        {},
        value=helper.make_tensor("v", TensorProto.FLOAT, [2, 2], [1, 2, 3, 4]),
    ),
    case("Constant", "value_float", {}, value_float=2.5),
    case("Constant", "value_floats", {}, value_floats=[1.0, -2.0]),
    case("Constant", "value_int", {}, value_int=7),
    case("Constant", "value_ints", {}, value_ints=[3, -1, 4]),
]
