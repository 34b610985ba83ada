"""How well do IMAGE mode's screens find an image's exact best edits? (docs/image-mode.md)

Applies every one of the 2 * S edits exactly (ONNX Runtime) to --held-out images (seed 9090,
as bench/engine.py) and to --prior-images images of the training distribution (seed 0, which
the priors are measured on), then, per held-out image, asks which candidate lists of M edits
hold the exhaustive top 5 (the strict test of bench/engine.py):
- the gradient screen alone (the first-order rise of log P(target));
- a class-level prior alone: per target class, edits by their mean positive rise of log P over
  the prior images ("mean rise"), or by how often they are among an image's exact top 5
  ("votes");
- half the gradient's best, then a prior's: a class-level one, or the neighbour prior IMAGE
  mode uses (`ScreenPrior`: the best edits of the 10 prior images nearest in StyleSpace,
  "half+near");
- a fusion: gradient prediction + lambda * mean rise; and the sum of the two ranks.
Also prints how saturated the effects are. The target is the runner-up of the reconstruction.

    python docs/scripts/screen_study.py [--model DIR] [--held-out 100] [--prior-images 200]
        [--cache FILE]   # keep the exact effects: a second run only re-ranks
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stylex.data import build_dataset
from stylex.explain.search.effects import first_order_effects, log_prob_gradient
from stylex.explain.search.screen import ScreenPrior, exact_effects
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import default_model_dir


def measure(engine, num_images: int, seed: int) -> dict:
    """Exact log-gains [N, 2S] of every edit, the gradient's prediction [N, 2S], targets."""
    ds = build_dataset("shapes", engine.resolution, num_images=num_images, seed=seed)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    conv, rgb = engine.encode_styles(x, torch.softmax(engine.classify(x), dim=1))
    effects, base = exact_effects(engine.synthesize_classify, conv, rgb, engine.catalog.stats)
    targets = base.argsort(dim=1, descending=True)[:, 1]
    log_p = torch.log_softmax(base[:, None, None, :] + effects, dim=3)
    rows = torch.arange(len(targets))
    gains = log_p[rows, :, :, targets] - torch.log_softmax(base, 1)[rows, targets][:, None, None]
    grad = log_prob_gradient(engine.differentiable_logits, conv, rgb, targets)
    first = first_order_effects(grad, conv, engine.catalog.stats.targets(), 1.0)
    p0 = torch.softmax(base, 1)[rows, targets]
    dp = torch.exp(gains) * p0[:, None, None] - p0[:, None, None]
    return {"gains": gains.flatten(1), "first": first.flatten(1), "targets": targets,
            "dp": dp.flatten(1), "p0": p0, "effects": effects, "base": base,
            "conv": conv}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--prior-images", type=int, default=200)
    parser.add_argument("--cache", help="a .pt file for the measurements (read if it exists)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # torch only glues; ORT's sessions take the cores
    engine = OrtEngine.load(args.model, device="cpu")
    if args.cache and Path(args.cache).is_file():
        train, held = torch.load(args.cache)
    else:
        train = measure(engine, args.prior_images, seed=0)
        held = measure(engine, args.held_out, seed=9090)
        if args.cache:
            torch.save((train, held), args.cache)
    near = ScreenPrior.from_effects(train["effects"], train["base"], train["conv"])
    n, edits = held["gains"].shape
    dp = held["dp"]
    best = dp.topk(6, dim=1).values
    print(f"{n} held-out images, {edits} edits each")
    print(f"  share of edits moving P(target) by < 1e-3: {(dp.abs() < 1e-3).float().mean():.3%}")
    print(f"  exhaustive top-5 edits moving P(target) by >= 0.01, median per image: "
          f"{(best[:, :5] >= 0.01).sum(1).float().median():.0f}")  # fmt: skip
    log_best = held["gains"].topk(6, dim=1).values
    gap_p, gap_log = (best[:, 4] - best[:, 5]).median(), (log_best[:, 4] - log_best[:, 5]).median()
    print(f"  gap between the 5th and 6th best, median: {gap_p:.1e} in P(target), "
          f"{gap_log:.3f} in log P(target)")  # fmt: skip
    print(f"  P(target) of the reconstructions, median: {held['p0'].median():.1e}")
    rank = lambda v: v.argsort(1).argsort(1).double()  # noqa: E731
    a, b = rank(held["gains"]), rank(held["first"])
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    spearman = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    print(f"  Spearman of the gradient's prediction with the exact rise of log P, median over "
          f"images: {spearman.median():.2f}")  # fmt: skip
    big = held["gains"] > 0.3
    print(f"  lowest prediction of an edit whose exact rise of log P is > 0.3: "
          f"{held['first'][big].min():.2f}")  # fmt: skip

    priors = {}
    for name in ("mean rise", "votes"):
        per_class = {}
        for c in held["targets"].unique().tolist():
            g = train["gains"][train["targets"] == c]
            mean = g.clamp_min(0).mean(0)
            if name == "votes":
                votes = torch.zeros(edits).index_add_(
                    0, g.topk(5, 1).indices.flatten(), torch.ones(g.shape[0] * 5)
                )
                mean = votes + 1e-6 * mean / mean.max()  # votes first, then the rise
            per_class[c] = mean
        priors[name] = torch.stack([per_class[int(c)] for c in held["targets"]])
    top5 = held["gains"].topk(5, dim=1).indices

    def strict(lists) -> float:
        return float(np.mean([set(top5[i].tolist()) <= set(lists[i]) for i in range(n)]))

    def ranks(v: torch.Tensor) -> torch.Tensor:
        return (-v).argsort(1).argsort(1)

    first = held["first"]
    fused = priors["mean rise"]  # lambda 1: both are rises of log P(target)
    rank_sum = ranks(first) + ranks(priors["votes"])

    def union_near(m: int) -> list[list[int]]:
        out = []
        for i in range(n):
            voted = near.edits(held["conv"][i], int(held["targets"][i]), m)
            flat = [d * near.num_coords + k for k, d in voted]
            best = first[i].topk(m).indices.tolist()
            out.append(list(dict.fromkeys(best[: (m + 1) // 2] + flat + best))[:m])
        return out

    print("\nshare of images whose exhaustive top 5 lie within the M candidates")
    print(f"{'M':>4} {'gradient':>9} {'mean rise':>10} {'votes':>7} {'half+mean':>10} "
          f"{'half+votes':>11} {'fusion 1':>9} {'rank sum':>9} {'half+near':>10}")  # fmt: skip
    for m in (32, 48, 64, 96):
        half = (m + 1) // 2

        def union(prior: torch.Tensor, half=half, m=m) -> list[list[int]]:
            return [list(dict.fromkeys(first[i].topk(m).indices.tolist()[:half]
                                       + prior[i].topk(m).indices.tolist()))[:m]
                    for i in range(n)]  # fmt: skip

        cols = [
            strict([first[i].topk(m).indices.tolist() for i in range(n)]),
            strict([priors["mean rise"][i].topk(m).indices.tolist() for i in range(n)]),
            strict([priors["votes"][i].topk(m).indices.tolist() for i in range(n)]),
            strict(union(priors["mean rise"])),
            strict(union(priors["votes"])),
            strict([(first[i] + fused[i]).topk(m).indices.tolist() for i in range(n)]),
            strict([(-rank_sum[i]).topk(m).indices.tolist() for i in range(n)]),
            strict(union_near(m)),
        ]
        widths = (9, 10, 7, 10, 11, 9, 9, 10)
        print(f"{m:>4} " + " ".join(f"{c:>{w}.0%}" for c, w in zip(cols, widths, strict=True)))


if __name__ == "__main__":
    main()
