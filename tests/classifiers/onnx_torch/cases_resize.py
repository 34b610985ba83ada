"""Single-op cases: Resize in the modes the interpreter maps onto torch's interpolate."""

from __future__ import annotations

from onnx_single_op import IMAGE, Const, case, f32, i64, rand

_SMALL = rand(1, 2, 4, 5)

CASES = [
    case(
        "Resize",
        "resize_nearest_half_pixel",
        {"x": IMAGE, "roi": None, "sc": None, "sz": Const(i64(2, 3, 4, 13))},
        mode="nearest",
        nearest_mode="round_prefer_ceil",
    ),
    case(
        "Resize",
        "resize_cubic",
        {"x": IMAGE, "roi": None, "sc": Const(f32(1, 1, 1.5, 2))},
        mode="cubic",
    ),
    case(
        "Resize",
        "resize_nearest_scales",
        {"x": IMAGE, "roi": None, "sc": Const(f32(1, 1, 2, 2))},
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    ),
    case(
        "Resize",
        "resize_linear_sizes",
        {"x": IMAGE, "roi": None, "sc": None, "sz": Const(i64(2, 3, 5, 14))},
        mode="linear",
    ),
    case(
        "Resize",
        "resize_linear_align_corners",
        {"x": IMAGE, "roi": None, "sc": None, "sz": Const(i64(2, 3, 13, 4))},
        mode="linear",
        coordinate_transformation_mode="align_corners",
    ),
    case(
        "Resize",
        "linear_scales_pytorch_half_pixel",
        {"x": _SMALL, "roi": None, "sc": Const(f32(1, 1, 2, 1.5))},
        mode="linear",
        coordinate_transformation_mode="pytorch_half_pixel",
    ),
    case(
        "Resize",
        "linear_downscale",
        {"x": rand(1, 2, 8, 9), "roi": None, "sc": Const(f32(1, 1, 0.5, 0.75))},
        mode="linear",
    ),
    case(
        "Resize",
        "linear_1d",
        {"x": rand(2, 3, 5), "roi": None, "sc": Const(f32(1, 1, 2.5))},
        mode="linear",
    ),
    case(
        "Resize",
        "linear_3d",
        {"x": rand(1, 1, 3, 4, 2), "roi": None, "sc": None, "sz": Const(i64(1, 1, 5, 6, 4))},
        mode="linear",
    ),
    case(
        "Resize",
        "nearest_downscale_sizes",
        {"x": rand(1, 2, 8, 9), "roi": None, "sc": None, "sz": Const(i64(1, 2, 3, 4))},
        mode="nearest",
        nearest_mode="round_prefer_ceil",
    ),
    case(
        "Resize",
        "antialias_linear_upscale",
        {"x": _SMALL, "roi": None, "sc": Const(f32(1, 1, 2, 1.5))},
        opset=18,
        mode="linear",
        antialias=1,
    ),
    case(
        "Resize",
        "linear_asymmetric",
        {"x": _SMALL, "roi": None, "sc": None, "sz": Const(i64(1, 2, 7, 3))},
        mode="linear",
        coordinate_transformation_mode="asymmetric",
    ),
    case(
        "Resize",
        "opset10_nearest",
        {"x": _SMALL, "sc": Const(f32(1, 1, 2, 3))},
        opset=10,
        mode="nearest",
    ),
    case(
        "Resize",
        "opset10_linear",
        {"x": _SMALL, "sc": Const(f32(1, 1, 2, 1.5))},
        opset=10,
        mode="linear",
    ),
    case(
        "Resize",
        "opset10_linear_3d",
        {"x": rand(1, 1, 3, 4, 2), "sc": Const(f32(1, 1, 1.5, 0.5, 2))},
        opset=10,
        mode="linear",
    ),
    case(
        "Resize",
        "cubic_align_corners",
        {"x": _SMALL, "roi": None, "sc": None, "sz": Const(i64(1, 2, 9, 5))},
        mode="cubic",
        coordinate_transformation_mode="align_corners",
    ),
    case(
        "Resize",
        "cubic_downscale",
        {"x": rand(1, 2, 8, 9), "roi": None, "sc": Const(f32(1, 1, 0.6, 0.5))},
        mode="cubic",
    ),
    case(
        "Resize",
        "nearest_floor_asymmetric_downscale",
        {"x": rand(1, 2, 8, 9), "roi": None, "sc": Const(f32(1, 1, 0.6, 0.75))},
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    ),
    case(
        "Resize",
        "linear_asymmetric_downscale",
        {"x": rand(1, 2, 8, 9), "roi": None, "sc": Const(f32(1, 1, 0.6, 0.5))},
        mode="linear",
        coordinate_transformation_mode="asymmetric",
    ),
    case(
        "Resize",
        "opset10_linear_downscale",
        {"x": rand(1, 2, 8, 9), "sc": Const(f32(1, 1, 0.6, 0.5))},
        opset=10,
        mode="linear",
    ),
]

# Forms the interpreter refuses: (case, what the error names).
REFUSED = [
    (
        case(
            "Resize",
            "antialias_downscale",
            {"x": rand(1, 2, 8, 9), "roi": None, "sc": Const(f32(1, 1, 0.5, 0.5))},
            opset=18,
            mode="linear",
            antialias=1,
        ),
        "antialias=1 when downscaling",
    ),
    (
        case(
            "Resize",
            "opset10_nearest_downscale",
            {"x": rand(1, 2, 8, 9), "sc": Const(f32(1, 1, 0.75, 0.6))},
            opset=10,
            mode="nearest",
        ),
        "nearest downscaling at opset 10",
    ),
    (
        case(
            "Resize",
            "pytorch_half_pixel_to_size_1",
            {"x": _SMALL, "roi": None, "sc": None, "sz": Const(i64(1, 2, 1, 3))},
            mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel",
        ),
        "pytorch_half_pixel to an output size of 1",
    ),
]
