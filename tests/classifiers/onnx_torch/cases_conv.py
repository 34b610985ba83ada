"""Single-op cases: Conv and ConvTranspose."""

from __future__ import annotations

from onnx_single_op import IMAGE, case, rand

_SMALL = rand(1, 4, 5, 5)

CASES = [
    case(
        "Conv",
        "conv_same_upper_groups",
        {"x": IMAGE, "w": rand(6, 1, 3, 3, seed=1), "b": rand(6, seed=2)},
        auto_pad="SAME_UPPER",
        strides=[2, 2],
        group=3,
    ),
    case(
        "Conv",
        "conv_asym_pads_dilation",
        {"x": IMAGE, "w": rand(4, 3, 3, 3, seed=1)},
        pads=[0, 1, 2, 0],
        dilations=[2, 1],
    ),
    case(
        "Conv",
        "conv_same_lower",
        {"x": IMAGE, "w": rand(2, 3, 2, 4, seed=1)},
        auto_pad="SAME_LOWER",
        strides=[1, 2],
    ),
    case(
        "Conv",
        "valid_bias",
        {"x": _SMALL, "w": rand(3, 4, 3, 3, seed=1), "b": rand(3)},
        auto_pad="VALID",
    ),
    case(
        "Conv",
        "pads_strides_groups_dilations",
        {"x": _SMALL, "w": rand(4, 2, 2, 3, seed=1), "b": rand(4)},
        pads=[1, 2, 1, 2],
        strides=[2, 1],
        group=2,
        dilations=[1, 2],
    ),
    case(
        "Conv",
        "depthwise",
        {"x": _SMALL, "w": rand(4, 1, 3, 3, seed=1)},
        group=4,
        pads=[1, 1, 1, 1],
    ),
    case("Conv", "1d", {"x": rand(2, 3, 7), "w": rand(2, 3, 3, seed=1)}, strides=[2], pads=[1, 0]),
    case(
        "Conv",
        "3d",
        {"x": rand(1, 2, 4, 4, 3), "w": rand(2, 2, 2, 3, 2, seed=1)},
        pads=[0, 1, 1, 1, 0, 0],
    ),
    case(
        "ConvTranspose",
        "conv_transpose",
        {"x": IMAGE, "w": rand(3, 2, 3, 3, seed=1)},
        strides=[2, 2],
        pads=[1, 0, 1, 1],
        output_padding=[1, 1],
    ),
    case(
        "ConvTranspose",
        "groups_dilations_bias",
        {"x": _SMALL, "w": rand(4, 1, 2, 3, seed=1), "b": rand(2)},
        group=2,
        dilations=[2, 1],
        strides=[1, 2],
    ),
    case(
        "ConvTranspose",
        "1d",
        {"x": rand(2, 3, 4), "w": rand(3, 2, 3, seed=1)},
        strides=[3],
        pads=[1, 2],
    ),
    case(
        "ConvTranspose",
        "output_padding_dilations",
        {"x": _SMALL, "w": rand(4, 3, 3, 3, seed=1)},
        strides=[2, 3],
        dilations=[2, 1],
        output_padding=[1, 2],
        pads=[1, 1, 0, 2],
    ),
]
