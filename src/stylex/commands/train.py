"""`stylex train`: train G, E and D for a classifier (or print what would be trained)."""

from __future__ import annotations

import argparse
import json

from stylex.errors import ConfigError

NAME = "train"
HELP = "train G, E and D for a classifier"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset", default="tiny", help="tiny | cpu32 | small32 | small64 | gpu64 | paper256"
    )
    p.add_argument(
        "--data", help="shapes (aligned) | shapes-free | digits | PATH to an image folder"
    )
    p.add_argument("--rule", help="label rule of a built-in data set (or an expression for shapes)")
    p.add_argument("--num-images", type=int, help="use at most this many training images")
    p.add_argument("--classifier", help="classifier file (.pt TorchScript or .onnx) with sidecar")
    p.add_argument("--run-dir", default="runs/train", help="output run directory")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--resolution", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any option, e.g. --set lr_e=1e-4 --set loss.r1_gamma=0.5",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-fast-path",
        action="store_true",
        help="train as the baseline does, for debugging: every loss term on every step, "
        "per-tensor Adam (docs/training-speed.md)",
    )


def run(args: argparse.Namespace) -> int:
    from stylex.training.config import baseline_config, resolve_config

    cfg = resolve_config(args.preset, overrides(args))
    if args.no_fast_path:
        cfg = baseline_config(cfg)
    if args.dry_run:
        from stylex.training.describe import describe

        print(json.dumps(describe(cfg), indent=2))
        return 0
    from stylex.training.trainer import summarize_history, train

    result = train(cfg, args.run_dir, resume=args.resume, progress=not args.no_progress)
    summary = summarize_history(result.history, ["rec_l1", "cls_kl", "G_adv", "D_real", "D_fake"])
    print(
        json.dumps(
            {"run_dir": str(result.run_dir), "step": result.step, "losses": summary}, indent=2
        )
    )
    return 0


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """The configuration keys the flags set, then every --set KEY=VALUE."""
    out = {}
    for flag, key in (
        ("data", "data"),
        ("rule", "data_rule"),
        ("num_images", "num_images"),
        ("classifier", "classifier"),
        ("steps", "steps"),
        ("batch_size", "batch_size"),
        ("resolution", "resolution"),
        ("seed", "seed"),
        ("device", "device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            out[key] = str(value)
    out.update(parse_sets(args.set))
    return out


def parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out
