"""Training throughput: whole StylEx steps of the baseline and of the fast path, side by side.

For each step kind of the recipe (the reconstruction warm-up step, the encoder step and the
random-z step of the alternation, and the encoder step that also runs lazy R1) this times the
real `stylex.training.step.train_step` on both configurations, interleaved (baseline, fast,
baseline, fast, ...) over several repeats, and prints per kind the median images/s of each and
their ratio. A kind is timed over `--cycle` consecutive steps of that kind, so the lazy terms
(every 4th reconstructing step) are counted at their real share. The last line is

    speed-up: X.XXx

the geometric mean of the per-kind ratios weighted by how often the recipe runs each kind over
`--recipe-steps` steps. The baseline is `training.config.baseline_config` (every loss term on
every step, per-tensor Adam), which `stylex train --no-fast-path` also trains. Cold start
(building networks and optimizers, and the first step) is printed separately.

    python bench/train_throughput.py                          # cpu32 + the swap term, 2 threads
    python bench/train_throughput.py --preset tiny --set loss.classifier_swap=0
    python bench/train_throughput.py --device cuda --preset gpu64
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

from stylex.classifiers import SmallCNN
from stylex.device import pick_device
from stylex.training.config import baseline_config, resolve_config
from stylex.training.distributed import DistInfo
from stylex.training.schedule import ENCODER, RANDOM, WARMUP, AlternatingSchedule
from stylex.training.step import build_state, train_step
from stylex.training.trainer import arch_from

KINDS = ("warmup", "encoder", "encoder+R1", "random")
WARMUP_STEPS = 64  # the timed states' own warm-up: its steps are the warm-up kind's samples


def recipe_weights(cfg, steps: int) -> dict[str, float]:
    """Share of each kind among the recipe's first `steps` steps."""
    schedule = AlternatingSchedule(cfg.encoder_every, min(cfg.rec_warmup_steps, steps))
    counts = dict.fromkeys(KINDS, 0)
    for step in range(steps):
        kind = schedule.kind(step)
        if kind == ENCODER and step % cfg.loss.r1_interval == 0:
            kind = "encoder+R1"
        counts[kind] += 1
    return {k: v / steps for k, v in counts.items()}


def sample_steps(cfg, cycle: int) -> dict[str, list[int]]:
    """`cycle` consecutive step indices of each kind, in a schedule with WARMUP_STEPS warm-up."""
    schedule = AlternatingSchedule(cfg.encoder_every, WARMUP_STEPS)
    out: dict[str, list[int]] = {k: [] for k in KINDS}
    step = 0
    while any(len(v) < cycle for v in out.values()):
        kind = schedule.kind(step)
        if kind == ENCODER and step % cfg.loss.r1_interval == 0:
            kind = "encoder+R1"
        if kind in (WARMUP, RANDOM, ENCODER, "encoder+R1") and len(out[kind]) < cycle:
            out[kind].append(step)
        step += 1
    return out


def make_state(cfg, device: torch.device):
    cfg.rec_warmup_steps = WARMUP_STEPS
    arch = arch_from(cfg, 2)
    torch.manual_seed(123)
    C = SmallCNN(2, cfg.resolution).eval().to(device)  # throughput does not depend on weights
    for p in C.parameters():
        p.requires_grad_(False)
    return build_state(cfg, arch, C, device, DistInfo())


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe under test and the threads it runs on (shared with train_roofline.py)."""
    parser.add_argument("--preset", default="cpu32")
    parser.add_argument(
        "--set",
        action="append",
        default=["loss.classifier_swap=1.0"],
        metavar="KEY=VALUE",
        help="option overrides, as in stylex train (default: the swapped-conditioning term on)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")


def recipe_config(args: argparse.Namespace, device: torch.device):
    """Set the threads and resolve the configuration that `add_recipe_arguments` describes."""
    torch.set_num_threads(args.threads)
    overrides = dict(s.split("=", 1) for s in args.set)
    overrides["device"] = str(device)
    return resolve_config(args.preset, overrides)


def time_steps(state, steps: list[int], x: torch.Tensor, z: torch.Tensor) -> float:
    """Seconds per step over `steps`."""
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in steps:
        train_step(state, step, x, z)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / len(steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_recipe_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per kind")
    parser.add_argument("--cycle", type=int, default=4, help="consecutive steps per timing")
    parser.add_argument("--recipe-steps", type=int, default=24000, help="steps the weights span")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = pick_device(args.device)
    fast_cfg = recipe_config(args, device)
    weights = recipe_weights(fast_cfg, args.recipe_steps)
    configs = {"baseline": baseline_config(fast_cfg), "fast": fast_cfg}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {args.threads}")
    print(f"preset {args.preset}, overrides {args.set}, batch {fast_cfg.batch_size}")

    x = (torch.rand(fast_cfg.batch_size, 3, fast_cfg.resolution, fast_cfg.resolution) * 2 - 1).to(
        device
    )
    z = torch.randn(fast_cfg.batch_size, fast_cfg.z_dim).to(device)
    states = {}
    for label, cfg in configs.items():
        t0 = time.perf_counter()
        states[label] = make_state(cfg, device)
        built = time.perf_counter() - t0
        first = time_steps(states[label], [0], x, z)
        print(f"cold start {label}: build {built:.2f} s, first step {first:.2f} s")

    steps = sample_steps(fast_cfg, args.cycle)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for kind in KINDS:
            for label in configs:  # interleaved: both see the same machine state
                times.setdefault((kind, label), []).append(
                    time_steps(states[label], steps[kind], x, z)
                )

    batch = fast_cfg.batch_size
    print(f"{'kind':<12}{'share':>7}{'baseline img/s':>16}{'fast img/s':>12}{'ratio':>8}")
    log_sum, weight_sum = 0.0, 0.0
    for kind in KINDS:
        base = batch / statistics.median(times[(kind, "baseline")])
        fast = batch / statistics.median(times[(kind, "fast")])
        print(f"{kind:<12}{weights[kind]:>7.3f}{base:>16.1f}{fast:>12.1f}{fast / base:>7.2f}x")
        if weights[kind] > 0:
            log_sum += weights[kind] * math.log(fast / base)
            weight_sum += weights[kind]
    print(f"speed-up: {math.exp(log_sum / weight_sum):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
