"""`stylex attfind`: AttFind on a trained run, resumable (`stylex.pipelines.attfind`
holds the job and the layout of its work folder); torch is imported only when it runs."""

from __future__ import annotations

import argparse
import json

from stylex.rundir import RunPaths

NAME = "attfind"
HELP = "find the classifier's attributes in a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="trained run directory")
    p.add_argument("--num-images", type=int, default=250)
    p.add_argument("--num-attributes", type=int, default=10, help="K per class")
    p.add_argument("--shift", type=float, default=1.0, help="1 = move to the extreme")
    p.add_argument(
        "--screen-top",
        type=int,
        default=0,
        help="first-order screen: evaluate only this many coordinates per image exactly",
    )
    p.add_argument(
        "--active-until",
        choices=("flip", "effect"),
        default="flip",
        help="when an image stops counting in the greedy selection: once the picks so far flip "
        "it (default), or once they raised its target logit by 1 (the official rule)",
    )
    p.add_argument("--chunk-images", type=int, default=8, help="images per resumable chunk")
    p.add_argument("--edits-per-batch", type=int, default=128)
    p.add_argument("--data", help="images to use (default: the run's data set, other seed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.pipelines.attfind import AttFindSettings, catalog_summary, run_attfind

    settings = AttFindSettings(
        num_images=args.num_images,
        num_attributes=args.num_attributes,
        shift=args.shift,
        active_until=args.active_until,
        screen_top=args.screen_top,
        chunk_images=args.chunk_images,
        edits_per_batch=args.edits_per_batch,
        data=args.data,
    )
    ctx = load_context(args.run_dir, args.device)
    catalog = run_attfind(ctx, settings, progress=not args.no_progress)
    print(
        json.dumps(
            {
                "catalog": str(RunPaths(args.run_dir).catalog),
                "settings": catalog.settings,
                "top": catalog_summary(catalog),
            },
            indent=2,
        )
    )
    return 0
