"""`stylex demo`: serve the shipped model and explain sample images."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "serve the shipped model and explain sample images"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--model", help="model folder (default: the shipped model_store/shapes32/7)")
    p.add_argument("--num-images", type=int, default=6)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument(
        "--mode", choices=("image", "catalog"), default="image",
        help="search each image's own StyleSpace (default) or rank the catalog's attributes",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from stylex.demo import run_demo, summary_lines, write_contact_sheet

    out = Path(args.out)
    model = Path(args.model) if args.model else None
    results = run_demo(
        out, model_dir=model, num_images=args.num_images, top_k=args.top_k, mode=args.mode
    )
    print("\n".join(summary_lines(results)))
    print(f"demo: explanations (JSON + counterfactual PNGs) in {out / 'explanations'}")
    sheet = write_contact_sheet(results, out / "contact-sheet.png")
    print(f"demo: contact sheet (input | reconstruction | counterfactuals) in {sheet}")
    return 0
