"""`stylex train-classifier`: train the built-in CNN classifier on a data set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "train-classifier"
HELP = "train the built-in CNN classifier on a data set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default="shapes",
        help="shapes (aligned) | shapes-free | digits | PATH to an image folder",
    )
    p.add_argument("--rule", help="label rule of a built-in data set")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-images", type=int, default=None)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--out", default="runs/classifier/classifier.pt", help="output .pt file")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32, help="channels of the first conv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--onnx", action="store_true", help="also write an ONNX copy")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from stylex.classifiers import train_classifier
    from stylex.data import build_dataset, split_dataset

    dataset = build_dataset(
        args.data, args.resolution, num_images=args.num_images, seed=args.seed, rule=args.rule
    )
    train_set, val_set = split_dataset(dataset, val_fraction=args.val_fraction, seed=args.seed)
    metrics = train_classifier(
        train_set,
        val_set,
        Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        width=args.width,
        progress=not args.no_progress,
        export_onnx=args.onnx,
    )
    print(json.dumps({"classifier": str(args.out), **metrics}, indent=2))
    return 0
