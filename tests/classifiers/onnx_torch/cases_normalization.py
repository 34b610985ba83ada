"""Single-op cases: batch, instance, group and layer normalisation."""

from __future__ import annotations

import numpy as np
from onnx_single_op import IMAGE, Const, case, positive, rand

_SMALL = rand(2, 3, 4, 4)

CASES = [
    case(
        "BatchNormalization",
        "batch_norm",
        {
            "x": IMAGE,
            "s": Const(rand(3, seed=1)),
            "b": Const(rand(3, seed=2)),
            "m": Const(rand(3, seed=3)),
            "v": Const(np.abs(rand(3, seed=4)) + 0.1),
        },
        epsilon=1e-3,
    ),
    case(
        "BatchNormalization",
        "all_inputs_1d",
        {
            "x": rand(4, 3),
            "s": rand(3, seed=1),
            "b": rand(3, seed=2),
            "m": rand(3, seed=3),
            "v": positive(3, seed=4),
        },
        opset=15,
    ),
    case(
        "InstanceNormalization",
        "instance_norm",
        {"x": IMAGE, "s": Const(rand(3, seed=1)), "b": Const(rand(3, seed=2))},
    ),
    case(
        "InstanceNormalization",
        "scale_bias_inputs",
        {"x": _SMALL, "s": rand(3, seed=1), "b": rand(3, seed=2)},
        epsilon=1e-2,
    ),
    case(
        "GroupNormalization",
        "group_norm_21",
        {"x": rand(2, 4, 3, 3), "s": Const(rand(4, seed=1)), "b": Const(rand(4, seed=2))},
        opset=21,
        num_groups=2,
    ),
    case(
        "GroupNormalization",
        "scale_bias_inputs",
        {"x": rand(2, 6, 2, 3), "s": rand(6, seed=1), "b": rand(6, seed=2)},
        opset=21,
        num_groups=3,
        epsilon=1e-3,
    ),
    case(
        "LayerNormalization",
        "layer_norm",
        {"x": IMAGE, "s": Const(rand(9, 9, seed=1)), "b": Const(rand(9, seed=2))},
        axis=-2,
    ),
    case(
        "LayerNormalization",
        "mean_and_inv_std_outputs",
        {"x": _SMALL, "s": rand(4, seed=1), "b": rand(4, seed=2)},
        outputs=3,
    ),
    case(
        "LayerNormalization",
        "no_bias_axis1",
        {"x": rand(2, 3, 4), "s": rand(3, 4, seed=1)},
        axis=1,
        epsilon=1e-3,
    ),
    case("LayerNormalization", "axis0", {"x": rand(2, 3), "s": rand(2, 3, seed=1)}, axis=0),
    case(
        "InstanceNormalization",
        "1d",
        {"x": rand(2, 3, 5), "s": rand(3, seed=1), "b": rand(3, seed=2)},
    ),
    case(
        "BatchNormalization",
        "3d",
        {
            "x": rand(1, 2, 2, 3, 2),
            "s": rand(2, seed=1),
            "b": rand(2, seed=2),
            "m": rand(2, seed=3),
            "v": positive(2, seed=4),
        },
    ),
]
