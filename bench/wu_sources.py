"""How much does the Wu et al. baseline's flip rate depend on the images its ranking is built from?

`stylex evaluate` ranks Wu's coordinates on `--wu-images` images at AttFind's seed offset (1000);
with `--wu-images 0` on the held-out images it then scores them on. This prints flip @k on one
fixed set of held-out images for AttFind's catalog and for Wu lists built from: the held-out
images themselves, AttFind's images (first N, what `--wu-images N` uses), and several disjoint
draws of N images, with the median and range over the draws.

    python bench/wu_sources.py RUN --num-images 200 --sizes 100 250 1000 --draws 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stylex.explain.context import ATTFIND_SEED_OFFSET, EVAL_SEED_OFFSET, load_context, stack_images
from stylex.explain.evaluation.metrics import encode, flip_rate_at_k
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.pipelines.evaluation import baseline_lists, catalog_lists

DRAW_SEED_OFFSET = 3000  # draw d of size N uses offset 3000 + 100 d + N: apart from AttFind's
# (1000) and the held-out images' (2000), and from each other for the default sizes and draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--num-images", type=int, default=200, help="held-out images measured")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 1000])
    parser.add_argument("--draws", type=int, default=5, help="disjoint draws per size")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    t0 = time.perf_counter()
    ctx = load_context(args.run_dir, args.device)
    catalog = AttributeCatalog.load(ctx.run_dir)
    num_classes = len(catalog.class_names)
    max_k = max(args.ks)

    def encoded(offset: int, count: int):
        x = stack_images(ctx.dataset(None, count, offset), count)
        return encode(ctx.G, ctx.E, ctx.C, x.to(ctx.device), progress=False)

    def wu_lists(enc) -> dict[int, list[tuple[int, int]]]:
        return baseline_lists(enc.styles.conv.cpu(), enc.probs_rec.cpu(), num_classes, max_k, 0)[0]

    held_out = encoded(EVAL_SEED_OFFSET, args.num_images)

    def flips(lists) -> dict[int, float]:
        return flip_rate_at_k(
            ctx.G, ctx.C, held_out.styles, catalog.stats, lists, held_out.predicted,
            ks=args.ks, shift=1.0, probs=held_out.probs_rec,
        )  # fmt: skip

    print(f"run {args.run_dir}, step {ctx.run.step}, {args.num_images} held-out images, "
          f"classes {catalog.class_names}")  # fmt: skip
    print("| lists from | " + " | ".join(f"@{k}" for k in args.ks) + " | Wu first coordinate |")
    print("|---" * (len(args.ks) + 2) + "|")

    def row(name: str, rates: dict[int, float], first: str = "") -> None:
        print(f"| {name} | " + " | ".join(f"{rates[k]:.3f}" for k in args.ks) + f" | {first} |",
              flush=True)  # fmt: skip

    def first_of(lists) -> str:
        return ", ".join(f"{c}: {lists[c][0][0]}/{lists[c][0][1]}" for c in sorted(lists))

    row("AttFind catalog", flips(catalog_lists(catalog)))
    own = wu_lists(held_out)
    row(f"Wu, the {args.num_images} held-out images (--wu-images 0)", flips(own), first_of(own))
    for size in args.sizes:
        lists = wu_lists(encoded(ATTFIND_SEED_OFFSET, size))
        row(f"Wu, AttFind's first {size} images (--wu-images {size})", flips(lists),
            first_of(lists))  # fmt: skip
        per_draw = []
        for d in range(args.draws):
            lists = wu_lists(encoded(DRAW_SEED_OFFSET + 100 * d + size, size))
            per_draw.append(flips(lists))
        for stat, fn in (("median", statistics.median), ("min", min), ("max", max)):
            row(f"Wu, {args.draws} draws of {size}: {stat}",
                {k: fn(r[k] for r in per_draw) for k in args.ks})  # fmt: skip
    print(f"seconds: {time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
