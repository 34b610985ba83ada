"""Single-op cases: Identity, Dropout at inference, Cast and CastLike."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from onnx_single_op import IMAGE, Const, case, f32, rand, scalar

_S = rand(2, 3, 4)

CASES = [
    case("Identity", "plain", {"x": _S}),
    case("Dropout", "plain", {"x": _S}),
    case("Dropout", "ratio_and_mask", {"x": _S, "r": Const(scalar(0.3))}, outputs=2),
    case("Cast", "cast_double", {"x": IMAGE}, to=TensorProto.DOUBLE),
    case("Cast", "float_to_int64", {"x": _S * 4}, grad=False, to=TensorProto.INT64),
    case("Cast", "int64_to_float", {"x": np.arange(-3, 3)}, grad=False, to=TensorProto.FLOAT),
    case("Cast", "float_to_bool", {"x": f32(0, 1.5, -2, 0)}, grad=False, to=TensorProto.BOOL),
    case("CastLike", "float_to_double", {"x": _S, "like": Const(np.zeros(1, np.float64))}),
    case("CastLike", "int64_to_float", {"x": np.arange(4), "like": Const(f32(0))}, grad=False),
    case("Cast", "to_float16", {"x": _S}, grad=False, to=TensorProto.FLOAT16),
    case("Cast", "bool_to_float", {"x": np.array([True, False])}, grad=False, to=TensorProto.FLOAT),
    case(
        "Dropout",
        "training_mode_false",
        {"x": _S, "r": Const(scalar(0.5)), "t": Const(np.array(False))},
        outputs=2,
    ),
]

# Forms the interpreter refuses: (case, what the error names).
REFUSED = [
    (
        case(
            "Dropout",
            "training_mode_true",
            {"x": _S, "r": Const(scalar(0.5)), "t": Const(np.array(True))},
        ),
        "training_mode=1",
    ),
]
