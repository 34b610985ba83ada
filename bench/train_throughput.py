"""Training throughput (images/s) of whole StylEx steps, per preset, on this machine's device.

Runs the real training loop (`stylex.training.trainer.train`) on the built-in shapes data with
an untrained built-in classifier (throughput does not depend on its weights), logs every few
steps, and prints the median images/s over the logged windows after a warm-up window, with the
preset, resolution, batch and device. Also compares the grouped ("fused") modulated conv with
the scale-conv-scale path, side by side in the same run. A preset with a reconstruction warm-up
(`rec_warmup_steps`) is measured in both phases: warm-up steps (E and G only) and the
alternating StylEx steps that follow.

    python bench/train_throughput.py                     # tiny and small32 on the default device
    python bench/train_throughput.py --presets small64 --steps 60 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from stylex.classifiers import ClassifierSpec, SmallCNN
from stylex.classifiers.train import save_torchscript
from stylex.device import pick_device
from stylex.training.config import resolve_config
from stylex.training.trainer import train


def make_classifier(folder: Path, resolution: int) -> Path:
    path = folder / f"classifier{resolution}.pt"
    spec = ClassifierSpec(
        input_size=resolution, class_names=["a", "b"], format="torchscript", name="bench"
    )
    save_torchscript(SmallCNN(2, resolution).eval(), path, spec)
    return path


def measure(
    preset: str, steps: int, device: str, fused: bool, folder: Path, phase: str = "alternating"
) -> dict:
    cfg = resolve_config(preset, {"device": device, "fused_modconv": str(fused)})
    cfg.rec_warmup_steps = steps if phase == "warmup" else 0
    log_every = max(steps // 6, 1)
    cfg.steps = steps
    cfg.num_images = max(cfg.batch_size * 4, 256)
    cfg.log_every = log_every
    cfg.sample_every = cfg.checkpoint_every = 10**9
    cfg.classifier = str(make_classifier(folder, cfg.resolution))
    t0 = time.perf_counter()
    result = train(cfg, folder / f"{preset}-{fused}-{time.time_ns()}", progress=False)
    wall = time.perf_counter() - t0
    rates = [row["images_per_s"] for row in result.history[1:]]  # first window = warm-up
    return {
        "preset": preset,
        "resolution": cfg.resolution,
        "batch": cfg.batch_size,
        "fused_modconv": fused,
        "phase": phase,
        "median_img_s": statistics.median(rates),
        "min_img_s": min(rates),
        "max_img_s": max(rates),
        "wall_s": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small32"])
    parser.add_argument("--steps", type=int, default=36, help="steps per measurement")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"{'preset':<10}{'phase':>12}{'res':>5}{'batch':>7}{'modconv':>10}"
        f"{'median img/s':>15}{'range':>18}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            phases = ["alternating"]
            if resolve_config(preset).rec_warmup_steps > 0:
                phases.insert(0, "warmup")
            for phase in phases:
                rows = [measure(preset, args.steps, str(device), f, Path(tmp), phase)
                        for f in (True, False)]  # fmt: skip
                for r in rows:
                    span = f"{r['min_img_s']:.1f}-{r['max_img_s']:.1f}"
                    kind = "grouped" if r["fused_modconv"] else "unfused"
                    print(
                        f"{r['preset']:<10}{phase:>12}{r['resolution']:>5}{r['batch']:>7}"
                        f"{kind:>10}{r['median_img_s']:>15.1f}{span:>18}"
                    )
                ratio = rows[0]["median_img_s"] / rows[1]["median_img_s"]
                print(f"{'':<10}grouped / unfused = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
