"""Single-op cases: Pad in its modes and forms."""

from __future__ import annotations

from onnx_single_op import IMAGE, Const, case, i64, rand, scalar

_SMALL = rand(1, 2, 4, 5)

# The padding value is a constant input: the interpreter reads it as a number, so no gradient
# flows to it.
CASES = [
    case(
        "Pad",
        "pad_constant",
        {"x": IMAGE, "p": Const(i64(0, 0, 1, 2, 0, 0, 3, 0)), "v": Const(scalar(0.5))},
    ),
    case(
        "Pad", "pad_reflect", {"x": IMAGE, "p": Const(i64(0, 0, 2, 1, 0, 0, 1, 2))}, mode="reflect"
    ),
    case("Pad", "pad_edge", {"x": IMAGE, "p": Const(i64(0, 0, 2, 1, 0, 0, 1, 2))}, mode="edge"),
    case(
        "Pad", "wrap", {"x": _SMALL, "p": Const(i64(0, 0, 1, 2, 0, 0, 2, 1))}, opset=19, mode="wrap"
    ),
    case("Pad", "negative_crops", {"x": _SMALL, "p": Const(i64(0, 1, -1, 0, 0, 0, 1, -2))}),
    case(
        "Pad",
        "axes_input_18",
        {
            "x": _SMALL,
            "p": Const(i64(1, 0, 2, 3)),
            "v": Const(scalar(-1.0)),
            "a": Const(i64(-1, 1)),
        },
        opset=18,
    ),
    case(
        "Pad",
        "reflect_3d",
        {"x": rand(1, 2, 3, 4, 4), "p": Const(i64(0, 0, 1, 1, 0, 0, 0, 1, 2, 1))},
        mode="reflect",
    ),
    case(
        "Pad",
        "opset2_attributes",
        {"x": _SMALL},
        opset=2,
        pads=[0, 0, 1, 0, 0, 1, 0, 2],
        value=0.25,
    ),
    case(
        "Pad", "reflect_1d", {"x": rand(2, 3, 6), "p": Const(i64(0, 0, 2, 0, 0, 3))}, mode="reflect"
    ),
    case(
        "Pad",
        "edge_3d",
        {"x": rand(1, 1, 2, 3, 4), "p": Const(i64(0, 0, 1, 2, 0, 0, 0, 1, 0, 3))},
        mode="edge",
    ),
    case(
        "Pad",
        "int64_value",
        {
            "x": i64(1, 2, 3).reshape(1, 3),
            "p": Const(i64(1, 0, 0, 2)),
            "v": Const(i64(7).reshape(())),
        },
        grad=False,
    ),
]
