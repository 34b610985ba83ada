"""`stylex export`: a run (with attributes.json) -> ONNX graphs + manifest in a model store."""

from __future__ import annotations

import argparse
import json

NAME = "export"
HELP = "export a run (with attributes.json) to ONNX + manifest"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="trained run directory, after `stylex attfind`")
    p.add_argument("--out", default="model_store", help="model store; writes OUT/NAME/VERSION/")
    p.add_argument("--name", help="model name (default: the run directory's name)")
    p.add_argument("--version", default="1", help="model version; an existing one is kept")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset")
    p.add_argument("--parity", action="store_true", help="print max abs diff vs PyTorch")
    p.add_argument(
        "--fp16", action="store_true",
        help="also write the fp16 variant (GPU), kept only if its top-5 attributes match fp32",
    )  # fmt: skip
    p.add_argument("--fp16-device", default="auto", help="where the fp16 check runs")
    p.add_argument("--fp16-images", type=int, default=32, help="held-out images of the check")


def run(args: argparse.Namespace) -> int:
    from stylex.export import export_model

    result = export_model(
        args.run_dir, args.out, parity=args.parity, name=args.name, version=args.version,
        opset=args.opset, fp16=args.fp16, fp16_device=args.fp16_device,
        fp16_images=args.fp16_images,
    )  # fmt: skip
    print(json.dumps(result, indent=2))
    return 0
