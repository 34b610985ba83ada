"""Single-op cases: activations, Clip, Softmax and LogSoftmax."""

from __future__ import annotations

from onnx_single_op import IMAGE, Const, case, f32, i64, rand, scalar

_S = rand(2, 3, 4) * 2  # reaches the kinks of the hard activations and Softplus' tails

CASES = [
    case("Relu", "plain", {"x": _S}),
    case("Sigmoid", "plain", {"x": _S}),
    case("Tanh", "plain", {"x": _S}),
    case("Softplus", "plain", {"x": _S}),
    case("Softsign", "plain", {"x": _S}),
    case("Mish", "plain", {"x": _S}, opset=18),
    case("HardSwish", "hard_swish", {"x": IMAGE}),
    case("HardSwish", "wide", {"x": _S * 2}),
    case("LeakyRelu", "leaky_relu", {"x": IMAGE}, alpha=0.2),
    case("LeakyRelu", "default_alpha", {"x": _S}),
    case("Elu", "default_alpha", {"x": _S}),
    case("Elu", "alpha", {"x": _S}, alpha=0.5),
    case("Selu", "default", {"x": _S}),
    case("Selu", "alpha_gamma", {"x": _S}, alpha=1.5, gamma=0.8),
    case("PRelu", "prelu", {"x": IMAGE, "s": Const(rand(3, 1, 1, seed=1))}),
    case("PRelu", "slope_input", {"x": _S, "s": rand(4, seed=1)}),
    case("HardSigmoid", "hard_sigmoid", {"x": IMAGE}, alpha=0.3, beta=0.4),
    case("HardSigmoid", "default", {"x": _S * 2}),
    case("Gelu", "gelu_tanh", {"x": IMAGE}, opset=20, approximate="tanh"),
    case("Gelu", "exact", {"x": _S}, opset=20),
    case(
        "Clip",
        "clip",
        {"x": IMAGE, "lo": Const(scalar(-0.5)), "hi": Const(scalar(0.7))},
    ),
    case("Clip", "clip_only_max", {"x": IMAGE, "lo": None, "hi": Const(scalar(0.1))}),
    case("Clip", "bounds_as_inputs", {"x": _S, "lo": scalar(-0.5), "hi": scalar(0.7)}),
    case("Clip", "no_bounds", {"x": _S}),
    case("Clip", "int64", {"x": i64(-5, 0, 3, 9), "lo": i64(-2), "hi": i64(4)}, grad=False),
    case("Clip", "opset6_attributes", {"x": _S}, opset=6, min=-0.3, max=0.6),
    case("Softmax", "softmax_13", {"x": rand(2, 3, 4)}, opset=13, axis=1),
    case("Softmax", "softmax_opset11_coerced", {"x": rand(2, 3, 4)}, opset=11, axis=1),
    case("Softmax", "default_axis", {"x": _S}),
    case("LogSoftmax", "log_softmax", {"x": rand(2, 3, 4)}, axis=1),
    case("LogSoftmax", "opset11_coerced", {"x": rand(2, 3, 4)}, opset=11),
    case("Softplus", "tails", {"x": f32(-30, -5, 0, 5, 30, 100)}),
    case("Mish", "tails", {"x": f32(-30, -5, 0, 5, 30, 100)}, opset=18),
    case("Softmax", "axis0_opset11_coerced", {"x": rand(2, 3, 4)}, opset=11, axis=0),
]
