"""Flip rate of AttFind's attributes against the Wu et al. baseline's, at several edit strengths.

`stylex evaluate` measures flip @k at shift 1 (the coordinate set to its extreme, the paper's
setting). Where both methods flip every image there, the comparison says nothing; a weaker
edit shows which list moves the decision with less. Same held-out images, styles and attribute
lists as `stylex evaluate` (Wu ranked on `--wu-images` images apart from the held-out ones);
prints one table row per shift and the AttFind / Wu ratio at each k.

    python bench/flip_vs_shift.py RUN --num-images 100 --shifts 0.25 0.5 1
"""

from __future__ import annotations

import argparse
import time

import torch

from stylex.explain.context import EVAL_SEED_OFFSET, load_context, stack_images
from stylex.explain.evaluation.metrics import encode, flip_rate_at_k
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.pipelines.evaluation import baseline_lists, catalog_lists, wu_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--num-images", type=int, default=100)
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--wu-images", type=int, default=1000, help="as in stylex evaluate")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    ctx = load_context(args.run_dir, args.device)
    catalog = AttributeCatalog.load(ctx.run_dir)
    x = stack_images(ctx.dataset(None, args.num_images, EVAL_SEED_OFFSET), args.num_images)
    enc = encode(ctx.G, ctx.E, ctx.C, x.to(ctx.device))
    num_classes = len(catalog.class_names)
    conv, probs = wu_reference(ctx, None, args.wu_images, enc)
    wu, rnd = baseline_lists(conv, probs, num_classes, max(args.ks), seed=0)
    methods = {"attfind": catalog_lists(catalog), "wu": wu, "random": rnd}
    print(f"run {args.run_dir}, step {ctx.run.step}, {x.shape[0]} held-out images, "
          f"classes {catalog.class_names}")  # fmt: skip
    head = " | ".join(f"{m} @{k}" for m in methods for k in args.ks)
    ratios = " | ".join(f"AttFind/Wu @{k}" for k in args.ks)
    print(f"| shift | {head} | {ratios} |")
    print("|---" * (1 + len(methods) * len(args.ks) + len(args.ks)) + "|")
    for shift in args.shifts:
        rates = {
            m: flip_rate_at_k(
                ctx.G,
                ctx.C,
                enc.styles,
                catalog.stats,
                lists,
                enc.predicted,
                ks=args.ks,
                shift=shift,
                probs=enc.probs_rec,
            )
            for m, lists in methods.items()
        }
        cells = " | ".join(f"{rates[m][k]:.2f}" for m in methods for k in args.ks)
        ratio = " | ".join(
            f"{rates['attfind'][k] / rates['wu'][k]:.2f}x" if rates["wu"][k] else "-"
            for k in args.ks
        )
        print(f"| {shift:g} | {cells} | {ratio} |", flush=True)
    print(f"seconds: {time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
