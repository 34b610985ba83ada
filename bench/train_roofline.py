"""How fast could a training step be with the same arithmetic? A roofline of the warm-up step.

Counts the floating-point work of one real `train_step` of the recipe's warm-up kind (the
convolutions and matrix products, forward and backward, as `torch.utils.flop_counter` counts
them; elementwise work is not counted), times the step, and measures the best rate this
machine reaches on the same threads: large fp32 matrix products (`torch.mm`, oneDNN/MKL), which
no convolution of the step can beat. It prints

    achieved:  the step's counted work / its median time
    bound:     the counted work / the best rate = the step time if every convolution ran at
               the matrix-product rate and everything else (elementwise, optimizer, Python)
               cost nothing
    ceiling:   step time / bound = the most any change that keeps the arithmetic could gain

and a table of the counted work and the measured time (torch.profiler) of the convolutions
forward and backward, the matrix products and everything else, so what runs far below the best
rate stands out.

    python bench/train_roofline.py                  # cpu32 + the swap term, 2 threads
    python bench/train_roofline.py --threads 1 --set loss.classifier_swap=0
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stylex.training.step import train_step
from train_throughput import (  # the same timed state and options
    WARMUP_STEPS,
    add_recipe_arguments,
    make_state,
    recipe_config,
    time_steps,
)


def matmul_rate(sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 7) -> float:
    """Best fp32 GFLOP/s of square `torch.mm` on the current threads over `sizes` (median of
    `repeats` each)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # first call pays the library's set-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        best = max(best, 2 * n**3 / statistics.median(times) / 1e9)
    return best


# aten operators by the part of the work they do (profiler names without "aten::")
GROUPS = {
    "conv forward": ("convolution", "_convolution", "mkldnn_convolution", "conv2d"),
    "conv backward": ("convolution_backward",),
    "matrix products": ("mm", "addmm", "bmm", "linear", "matmul"),
}


def group_of(op: str) -> str:
    return next((g for g, ops in GROUPS.items() if op in ops), "elementwise and the rest")


def counted_flops(state, step: int, x: torch.Tensor, z: torch.Tensor) -> dict[str, int]:
    """The FLOPs of one step per group of operators."""
    counter = FlopCounterMode(display=False)
    with counter:
        train_step(state, step, x, z)
    out: dict[str, int] = defaultdict(int)
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        out[group_of(str(op).split(".")[-1])] += int(n)
    return dict(out)


def group_times(state, step: int, x: torch.Tensor, z: torch.Tensor, steps: int) -> dict[str, float]:
    """Self CPU seconds per group of operators per step (torch.profiler)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(state, step, x, z)
    out: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            out[group_of(event.key.removeprefix("aten::"))] += event.self_cpu_time_total / 1e6
    return {group: seconds / steps for group, seconds in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_recipe_arguments(parser)
    parser.add_argument("--steps", type=int, default=15, help="timed warm-up steps")
    args = parser.parse_args()
    cfg = recipe_config(args, torch.device("cpu"))
    state = make_state(cfg, torch.device("cpu"))
    batch = cfg.batch_size
    x = torch.rand(batch, 3, cfg.resolution, cfg.resolution) * 2 - 1
    z = torch.randn(batch, cfg.z_dim)
    step = 1  # a warm-up step (make_state warms up for WARMUP_STEPS steps)
    assert step < WARMUP_STEPS
    print(f"torch {torch.__version__}, threads {args.threads}, preset {args.preset}, "
          f"overrides {args.set}, batch {batch}, warm-up step")  # fmt: skip

    time_steps(state, [step] * 3, x, z)  # first steps pay the allocator's and oneDNN's set-up
    step_s = statistics.median(time_steps(state, [step], x, z) for _ in range(args.steps))
    per_group = counted_flops(state, step, x, z)
    flops = sum(per_group.values())
    peak = matmul_rate()
    seconds = group_times(state, step, x, z, steps=5)
    # The profiler's times carry its own overhead and leave out Python: scale them so that
    # the groups add up to the plain step time.
    scale = step_s / max(sum(seconds.values()), 1e-9)

    print(f"\n{'work':<26}{'GFLOP/step':>12}{'ms/step':>10}{'GFLOP/s':>10}{'share':>8}")
    for group in [*GROUPS, "elementwise and the rest"]:
        ms = seconds.get(group, 0.0) * scale * 1e3
        gflop = per_group.get(group, 0) / 1e9
        rate = f"{gflop / ms * 1e3:>10.1f}" if gflop and ms else f"{'-':>10}"
        print(f"{group:<26}{gflop:>12.3f}{ms:>10.1f}{rate}{ms / (step_s * 1e3):>8.1%}")

    bound = flops / (peak * 1e9)
    print(f"\nstep:      {step_s * 1e3:.1f} ms median of {args.steps} ({batch / step_s:.1f} img/s)")
    print(f"counted:   {flops / 1e9:.2f} GFLOP per step (convolutions and matrix products)")
    print(f"achieved:  {flops / step_s / 1e9:.1f} GFLOP/s")
    print(f"best rate: {peak:.1f} GFLOP/s (fp32 torch.mm, {args.threads} threads)")
    print(f"bound:     {bound * 1e3:.1f} ms per step at the best rate, nothing else counted")
    print(f"ceiling:   {step_s / bound:.2f}x (the most a change keeping the arithmetic could gain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
