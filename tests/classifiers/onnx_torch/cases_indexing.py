"""Single-op cases: Gather, GatherElements, Slice, Concat, Split."""

from __future__ import annotations

from onnx_single_op import IMAGE, Const, case, i64, rand

_S = rand(3, 4, 5)

CASES = [
    case("Gather", "gather_negative", {"x": IMAGE, "i": Const(i64(-1, 0))}, axis=1),
    case("Gather", "gather_scalar", {"x": IMAGE, "i": Const(i64(2).reshape(()))}, axis=3),
    case("Gather", "2d_indices_repeated", {"x": _S, "i": Const(i64(0, 2, 2, -3).reshape(2, 2))}),
    case("Gather", "int64_shape_values", {"x": i64(2, 3, 9, 9), "i": Const(i64(-1))}, grad=False),
    case(
        "GatherElements",
        "axis1_negative",
        {"x": _S, "i": Const(i64(*([0, -1, 3, 1] * 15)).reshape(3, 4, 5))},
        axis=1,
    ),
    case("GatherElements", "axis0", {"x": rand(3, 2), "i": Const(i64(2, 0, 1, 1).reshape(2, 2))}),
    case(
        "Slice",
        "slice_step_two",
        {
            "x": IMAGE,
            "s": Const(i64(1)),
            "e": Const(i64(-1)),
            "a": Const(i64(2)),
            "t": Const(i64(2)),
        },
    ),
    case(
        "Slice",
        "slice_negative_step",
        {
            "x": IMAGE,
            "s": Const(i64(-1, 1)),
            "e": Const(i64(-(2**62), 8)),
            "a": Const(i64(3, 1)),
            "t": Const(i64(-2, 1)),
        },
    ),
    case(
        "Slice",
        "slice_clamped",
        {"x": IMAGE, "s": Const(i64(2)), "e": Const(i64(100)), "a": Const(i64(-2))},
    ),
    case("Slice", "starts_ends_only", {"x": _S, "s": Const(i64(1, 0)), "e": Const(i64(3, -1))}),
    case(
        "Slice",
        "negative_step_inside",
        {
            "x": _S,
            "s": Const(i64(3, 4)),
            "e": Const(i64(0, -6)),
            "a": Const(i64(1, 2)),
            "t": Const(i64(-1, -3)),
        },
    ),
    case(
        "Slice", "opset9_attributes", {"x": _S}, opset=9, starts=[1, -3], ends=[3, 100], axes=[0, 2]
    ),
    case("Concat", "concat", {"x": IMAGE, "y": rand(2, 1, 9, 9, seed=1)}, axis=1),
    case(
        "Concat",
        "three_negative_axis",
        {"a": rand(2, 3), "b": rand(2, 1, seed=1), "c": rand(2, 2, seed=2)},
        axis=-1,
    ),
    case("Concat", "int64_shapes", {"a": i64(2, 3), "b": i64(-1)}, grad=False, axis=0),
    case(
        "Split",
        "split_outputs",
        {"x": rand(2, 7), "s": Const(i64(3, 4))},
        outputs=2,
        atol=0,
        rtol=1e-7,
        axis=1,
    ),
    case("Split", "equal_parts_13", {"x": _S}, opset=13, outputs=3),
    case("Split", "num_outputs_uneven_18", {"x": _S}, opset=18, outputs=2, axis=2, num_outputs=2),
    case("Split", "split_attribute_11", {"x": _S}, opset=11, outputs=2, axis=1, split=[1, 3]),
    case(
        "Split",
        "num_outputs_uneven_three_18",
        {"x": rand(4, 7)},
        opset=18,
        outputs=3,
        axis=1,
        num_outputs=3,
    ),
    case(
        "Slice",
        "negative_step_from_beyond_end",
        {"x": rand(6), "s": Const(i64(100)), "e": Const(i64(1)), "a": None, "t": Const(i64(-2))},
    ),
    case("Slice", "int64_max_end", {"x": rand(6), "s": Const(i64(1)), "e": Const(i64(2**63 - 1))}),
]
