"""AttFind effect computation: the plain loop vs this engine, side by side in one run.

The plain loop is what the public AttFind implementations do: one coordinate edit per full
G + C forward at batch 1. The engine batches edits, restarts synthesis at the edited block, and
optionally screens coordinates with one backward pass first. Prints seconds per image for each,
the speed-up ratios, the max difference between the exact tensors, and whether the same
attributes are selected.

    python bench/attfind.py                       # random-weight `tiny` architecture, 32 px
    python bench/attfind.py --run runs/demo/stylex --images 8 --screen-top 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from stylex.classifiers import SmallCNN, load_classifier
from stylex.explain.search.attfind import find_attributes
from stylex.explain.search.effects import EffectEngine, reference_effects
from stylex.explain.vocabulary.attributes import StyleStats
from stylex.models import Generator, Styles
from stylex.rundir import load_run
from stylex.training.config import resolve_config
from stylex.training.trainer import arch_from


def build(args: argparse.Namespace) -> tuple[Generator, torch.nn.Module, Styles, str]:
    torch.manual_seed(0)
    if args.run:
        run = load_run(args.run, device=args.device)
        G = run.G
        C = load_classifier(run.classifier_path, device=args.device)
        what = f"run {args.run}"
    else:
        cfg = resolve_config(args.preset, {"resolution": str(args.resolution)})
        G = Generator(arch_from(cfg, 2)).eval().to(args.device)
        C = SmallCNN(2, cfg.resolution).eval().to(args.device)
        what = f"random-weight {args.preset} architecture"
    with torch.no_grad():
        z = torch.randn(args.images + 32, G.cfg.z_dim).to(args.device)
        w = G.mapping(z)
        p = torch.softmax(C(G(w, torch.full((w.shape[0], 2), 0.5, device=w.device))), dim=1)
        styles = G.styles(w, p)
    return G, C, styles, what


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="trained run directory (default: random weights)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--images", type=int, default=4, help="images for the engine timings")
    parser.add_argument("--loop-images", type=int, default=1, help="images for the plain loop")
    parser.add_argument("--edits-per-batch", type=int, default=128)
    parser.add_argument("--screen-top", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    G, C, styles, what = build(args)
    n = args.images
    mine = Styles(styles.conv[:n], styles.rgb[:n])
    stats = StyleStats.from_styles(styles.conv)
    s = G.layout.num_conv
    dev_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"{what} on {dev_name}: {G.cfg.resolution} px, S = {s}, {2 * s} edits/image, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip

    m = args.loop_images
    loop_styles = Styles(styles.conv[:m], styles.rgb[:m])
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def timed_sync(fn, repeats):
        def run():
            out = fn()
            sync()
            return out

        return timed(run, repeats)

    t_loop, ref = timed_sync(lambda: reference_effects(G, C, loop_styles, stats), 1)
    per_loop = t_loop / m
    engine = EffectEngine(G, C, edits_per_batch=args.edits_per_batch)
    t_exact, exact = timed_sync(lambda: engine.effects(mine, stats), args.repeats)
    per_exact = t_exact / n

    def screened_fn():
        return engine.effects(mine, stats, coords=engine.screen(mine, stats, args.screen_top))

    t_screen, screened = timed_sync(screened_fn, args.repeats)
    per_screen = t_screen / n
    diff = (exact[:m] - ref).abs().max().item()

    def selection(effects: torch.Tensor) -> list:
        predicted = C(G.synthesize(mine)).argmax(dim=1).cpu()
        result = find_attributes(
            effects, predicted, num_classes=effects.shape[-1], num_attributes=10
        )
        return [(k, d) for k, d, _ in result.per_class[0]]

    with torch.no_grad():
        sel_exact, sel_screen = selection(exact), selection(screened)
    same_top10 = len(set(sel_exact) & set(sel_screen))
    print(f"{'method':<34}{'s/image':>10}{'speed-up':>10}")
    print(f"{'plain loop (batch 1, full G+C)':<34}{per_loop:>10.3f}{1.0:>10.1f}")
    print(f"{'engine, exact':<34}{per_exact:>10.3f}{per_loop / per_exact:>10.1f}")
    label = f"engine, screen top {args.screen_top}"
    print(f"{label:<34}{per_screen:>10.3f}{per_loop / per_screen:>10.1f}")
    print(f"max |exact engine - plain loop| over {m} image(s): {diff:.2e}")
    with torch.no_grad():
        sel_loop = selection(torch.cat([ref, exact[m:]]))
    print(f"exact engine selects the same attributes as the loop: {sel_loop == sel_exact}")
    print(f"screened selection keeps {same_top10}/{len(sel_exact)} of the exact top attributes "
          f"(order identical: {sel_exact == sel_screen}) on {n} images")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
