"""Single-op cases: Shape, Size, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Expand, Tile."""

from __future__ import annotations

import numpy as np
from onnx_single_op import IMAGE, Const, case, i64, rand

_S = rand(2, 3, 4)

CASES = [
    case("Shape", "plain", {"x": _S}),
    case("Shape", "start_end", {"x": IMAGE}, opset=15, start=1, end=-1),
    case("Size", "plain", {"x": IMAGE}),
    case("Flatten", "flatten_axis2", {"x": IMAGE}, axis=2),
    case("Flatten", "axis0", {"x": _S}, axis=0),
    case("Flatten", "negative_axis", {"x": _S}, axis=-1),
    case("Reshape", "reshape_zero_minus_one", {"x": IMAGE, "s": Const(i64(0, -1, 9))}),
    case("Reshape", "minus_one_first", {"x": _S, "s": Const(i64(-1, 2))}),
    case("Reshape", "shape_input", {"x": _S, "s": i64(4, 0, 2)}),
    case(
        "Reshape",
        "allowzero_empty",
        {"x": np.zeros((2, 0, 3), np.float32), "s": Const(i64(0, 3, 2))},
        opset=14,
        grad=False,  # an empty tensor has no gradient to check
        allowzero=1,
    ),
    case("Transpose", "transpose", {"x": IMAGE}, perm=[0, 2, 3, 1]),
    case("Transpose", "default_reverses", {"x": _S}),
    case("Squeeze", "squeeze_input_axes", {"x": rand(2, 1, 3, 1), "a": Const(i64(-1, 1))}),
    case("Squeeze", "squeeze_attr_axes", {"x": rand(2, 1, 3, 1)}, opset=11, axes=[3]),
    case("Squeeze", "all_ones", {"x": rand(1, 3, 1, 2)}),
    case("Unsqueeze", "unsqueeze_input_axes", {"x": rand(2, 3), "a": Const(i64(-1, 0))}),
    case("Unsqueeze", "unsqueeze_attr_axes", {"x": rand(2, 3)}, opset=11, axes=[1, 3]),
    case("Expand", "expand", {"x": rand(3, 1), "s": Const(i64(2, 1, 4))}),
    case("Expand", "keeps_larger_dims", {"x": rand(2, 1, 3), "s": Const(i64(1, 4, 1))}),
    case("Tile", "tile", {"x": rand(2, 3), "r": Const(i64(2, 3))}),
    case(
        "Tile",
        "int64_3d",
        {"x": np.arange(6).reshape(1, 2, 3), "r": Const(i64(2, 1, 2))},
        grad=False,
    ),
    case("Shape", "negative_start_end_beyond", {"x": IMAGE}, opset=15, start=-3, end=10),
]
