"""`stylex evaluate`: how good are a run's reconstructions and attributes? Writes metrics.json;
the job and what each figure means are `stylex.pipelines.evaluation`."""

from __future__ import annotations

import argparse
import json

NAME = "evaluate"
HELP = "fidelity, faithfulness, flip rates, success, minimality -> metrics.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--num-images", type=int, default=200, help="held-out images")
    p.add_argument("--max-k", type=int, default=10)
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument("--probe-epochs", type=int, help="factor probe training epochs (shapes)")
    p.add_argument("--probe-images", type=int, help="images the factor probe trains on (shapes)")
    p.add_argument(
        "--wu-images",
        type=int,
        default=1000,
        help="images the Wu et al. baseline ranks coordinates on, drawn apart from the held-out "
        "ones (0: rank on the held-out images themselves)",
    )
    p.add_argument(
        "--realism-steps",
        type=int,
        help="critic updates per fold of each real-vs-generated two-sample test (default 600; "
        "0: no realism figures)",
    )
    p.add_argument("--probe-dir", help="cache folder of the factor probe (default RUN/probes)")
    p.add_argument(
        "--reconstruction-only",
        action="store_true",
        help="only fidelity and faithfulness (no attribute catalog needed) -> "
        "metrics-reconstruction.json; for comparing checkpoints and recipes quickly",
    )
    p.add_argument("--data", help="held-out images (default: the run's data set, other seed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.pipelines.evaluation import EvalSettings, evaluate_run

    probe = {k: v for k, v in (("probe_epochs", args.probe_epochs),
                               ("probe_images", args.probe_images),
                               ("realism_steps", args.realism_steps)) if v is not None}  # fmt: skip
    settings = EvalSettings(num_images=args.num_images, max_k=args.max_k, shift=args.shift,
                            data=args.data, probe_dir=args.probe_dir,
                            wu_images=args.wu_images, **probe)  # fmt: skip
    metrics = evaluate_run(
        load_context(args.run_dir, args.device), settings, progress=not args.no_progress,
        reconstruction_only=args.reconstruction_only,
    )  # fmt: skip
    print(json.dumps(metrics, indent=2))
    return 0
