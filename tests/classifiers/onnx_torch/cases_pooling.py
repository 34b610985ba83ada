"""Single-op cases: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

from onnx_single_op import IMAGE, case, rand

_SMALL = rand(1, 2, 5, 6)

CASES = [
    case(
        "MaxPool",
        "maxpool_pads_ceil",
        {"x": IMAGE},
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        ceil_mode=1,
    ),
    case(
        "MaxPool",
        "maxpool_asym_pads_dilation",
        {"x": IMAGE},
        kernel_shape=[2, 3],
        pads=[0, 2, 1, 0],
        dilations=[2, 1],
    ),
    case(
        "MaxPool",
        "same_upper",
        {"x": _SMALL},
        kernel_shape=[3, 2],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
    case("MaxPool", "1d", {"x": rand(2, 3, 8)}, kernel_shape=[3], strides=[2]),
    case(
        "MaxPool", "3d", {"x": rand(1, 2, 4, 4, 3)}, kernel_shape=[2, 2, 2], pads=[1, 0, 1, 1, 0, 1]
    ),
    case(
        "AveragePool",
        "avgpool_asym_exclude_pad",
        {"x": IMAGE},
        kernel_shape=[3, 2],
        strides=[2, 2],
        pads=[0, 1, 2, 0],
    ),
    case(
        "AveragePool",
        "avgpool_ceil",
        {"x": IMAGE},
        kernel_shape=[2, 2],
        strides=[2, 2],
        ceil_mode=1,
    ),
    case(
        "AveragePool",
        "avgpool_include_pad",
        {"x": IMAGE},
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
        count_include_pad=1,
    ),
    case(
        "AveragePool",
        "asym_include_pad",
        {"x": _SMALL},
        kernel_shape=[2, 3],
        pads=[1, 0, 0, 2],
        count_include_pad=1,
    ),
    case("AveragePool", "1d", {"x": rand(2, 3, 8)}, kernel_shape=[3], strides=[2], pads=[1, 1]),
    case("AveragePool", "3d", {"x": rand(1, 2, 4, 4, 3)}, kernel_shape=[2, 2, 2]),
    case("GlobalAveragePool", "global_avg_pool", {"x": IMAGE}),
    case("GlobalAveragePool", "1d", {"x": rand(2, 3, 5)}),
    case("GlobalMaxPool", "2d", {"x": _SMALL}),
    case("GlobalMaxPool", "3d", {"x": rand(1, 2, 3, 2, 4)}),
    case(
        "MaxPool",
        "ceil_asym_pads",
        {"x": _SMALL},
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[0, 1, 2, 0],
        ceil_mode=1,
    ),
    case(
        "AveragePool",
        "ceil_include_pad",
        {"x": _SMALL},
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        ceil_mode=1,
        count_include_pad=1,
    ),
    case(
        "AveragePool",
        "ceil_exclude_pad",
        {"x": _SMALL},
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        ceil_mode=1,
    ),
    case(
        "AveragePool",
        "same_upper",
        {"x": _SMALL},
        kernel_shape=[3, 2],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
]
