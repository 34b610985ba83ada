"""`stylex prior`: give an exported model IMAGE mode's screen prior, as a new model version
(`stylex screen`, its name before, still works).

AttFind writes the prior beside a run's catalog (RUN/screen.npz) from the exact effects it
measures anyway, and `stylex export` carries it into the model; a model exported without one
(or from someone else's run) gets it here: every edit of `--num-images` images is applied and
classified exactly with the model's own ONNX graphs, each image's best edits toward every class
are kept with its styles (`stylex.explain.search.screen`), and a new version is written beside
the old one, which is never touched. `--names` adds attribute names to the same new version (as
`stylex label` would).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stylex.errors import InvalidArgumentError

NAME = "prior"
ALIASES = ("screen",)  # the name it had; "screen" is the gradient ranking it feeds
HELP = "measure IMAGE mode's screen prior on an exported model (writes a new version)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="exported model directory (manifest.json)")
    p.add_argument(
        "--data", help="images to measure on (default: the model's training data set, with "
        "AttFind's seed offset, as its manifest records it)",
    )  # fmt: skip
    p.add_argument("--num-images", type=int, default=250, help="AttFind's default: 250")
    p.add_argument("--seed", type=int, help="data seed (default: training seed + 1000)")
    p.add_argument("--names", metavar="FILE", help="JSON attribute names to add as well")
    p.add_argument("--version", help="the new version (default: the next number)")
    p.add_argument("--out", help="the new version's folder (default: beside the old)")
    p.add_argument("--batch-size", type=int, default=128, help="edits per graph call")
    p.add_argument("--no-progress", action="store_true")


def _dataset(model, args: argparse.Namespace):
    from stylex.data import DATASET_NAMES, build_dataset, spec_of_description
    from stylex.explain.context import ATTFIND_SEED_OFFSET

    info = (model.manifest.get("provenance") or {}).get("data") or {}
    spec, rule = args.data, None
    if spec is None:
        spec = spec_of_description(info)
        rule = info.get("rule") if spec in DATASET_NAMES else None
        if not spec or (spec not in DATASET_NAMES and not Path(spec).exists()):
            raise InvalidArgumentError(
                f"{model.path}: its manifest names no data set here ({spec!r}); pass --data"
            )
    seed = args.seed if args.seed is not None else int(info.get("seed") or 0) + ATTFIND_SEED_OFFSET
    dataset = build_dataset(
        spec, model.resolution, num_images=args.num_images, seed=seed, rule=rule
    )
    return dataset, {"data": spec, "rule": rule, "seed": seed}


def run(args: argparse.Namespace) -> int:
    import torch

    from stylex.explain.search.screen import ScreenPrior, exact_effects
    from stylex.explain.vocabulary.labels import read_labels
    from stylex.export.relabel import prior_model
    from stylex.runtime import OrtEngine

    if args.num_images < 1 or args.batch_size < 1:
        raise InvalidArgumentError("--num-images and --batch-size must be >= 1")
    labels = read_labels(args.names) if args.names else None
    engine = OrtEngine.load(args.model_dir, device="cpu")
    dataset, measured_on = _dataset(engine.model, args)
    x = torch.stack([dataset[i][0] for i in range(min(args.num_images, len(dataset)))])
    t0 = time.perf_counter()
    probs = torch.softmax(engine.classify(x).float(), dim=1)
    conv, rgb = engine.encode_styles(x, probs)

    def progress(done: int) -> None:
        if not args.no_progress and (done % 10 == 0 or done == x.shape[0]):
            rate = done / (time.perf_counter() - t0)
            print(f"screen: {done}/{x.shape[0]} images ({rate:.2f}/s)", file=sys.stderr)

    effects, base = exact_effects(
        engine.synthesize_classify, conv, rgb, engine.catalog.stats,
        batch_size=args.batch_size, progress=progress,
    )  # fmt: skip
    prior = ScreenPrior.from_effects(effects, base, conv)
    measured_on.update(shift=1.0)
    written = prior_model(
        args.model_dir, prior, labels=labels, measured_on=measured_on, version=args.version,
        out=args.out,
    )  # fmt: skip
    print(json.dumps({
        "written": str(written), **prior.describe(),
        "labelled": len(labels or {}), "seconds": round(time.perf_counter() - t0, 1),
    }, indent=2))  # fmt: skip
    return 0
