"""How good are a run's reconstructions and attributes? Writes metrics.json (`stylex evaluate`
parses its flags and calls `evaluate_run`).

On held-out images (the run's data set drawn with another seed):
- fidelity: L1 / perceptual distance of reconstructions, classifier agreement (argmax, KL);
- sufficiency: flip rate @k (top-k applied jointly) for AttFind, the Wu et al. StyleSpace
  baseline and random coordinates;
- per-image success: the share of images whose top-1 counterfactual, and whose top-k
  attributes applied jointly, reach P(target) >= 0.5 (explained as the service explains them),
  in CATALOG mode (`per_image_success`) and in IMAGE mode (`per_image_success_image`);
- realism (`stylex.explain.evaluation.realism`): a classifier two-sample test (ROC AUC of a
  small CNN telling held-out real images from reconstructions, top-1 counterfactuals and joint
  counterfactuals, beside the same test between two halves of the real images); the spread of
  each set's background frame beside the real images' (0 on the built-in shapes, whose
  backgrounds are flat); the share of top-1 flips that change the image by less than a visible
  amount;
- on `shapes`, with a factor probe trained on the shapes factors reading the images:
  reconstruction faithfulness (the factors of x' against the true factors of x, beside the
  probe's own score on x), counterfactual minimality (which factors each counterfactual changes
  besides the label rule's), and ground-truth alignment (which factor each attribute changes;
  the share of the top-k attributes that change a factor the rule depends on).

The metrics themselves are `stylex.explain` (metrics, faithfulness, probes, baselines); torch is
imported inside the functions so that building the parser stays light.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylex.errors import ConfigError
from stylex.fileio import atomic_path, write_json
from stylex.rundir import RunPaths

if TYPE_CHECKING:
    import torch

    from stylex.explain.context import RunContext
    from stylex.explain.evaluation.metrics import Encoded
    from stylex.explain.evaluation.probes import FactorProbe
    from stylex.explain.vocabulary.catalog import AttributeCatalog

PROBE_WIDTH = 32  # see EvalSettings.probe_epochs for what it reaches


@dataclass
class EvalSettings:
    num_images: int = 200  # held-out images
    max_k: int = 10  # flip rate @1..max_k
    success_k: int = 5  # per-image success: top-1 and the top-k applied jointly
    shift: float = 1.0
    probe_images: int = 12000  # shapes images the factor probe is trained on
    probe_epochs: int = 12  # 12,000 x 12 at width 32: shape acc 0.995, size R2 0.989 at 32 px
    alignment_images: int = 64  # images each attribute is applied to for the factor probe
    data: str | None = None
    seed: int = 0
    probe_dir: str | None = None  # where the factor probe is cached (default RUN/probes); runs
    # of one resolution and data seed can share one probe
    realism_steps: int = 600  # critic updates per fold of each two-sample test (0: no realism)
    wu_images: int = 1000  # images the Wu et al. ranking is built from: the run's data at
    # AttFind's seed offset, never the held-out images it is scored on; 0 ranks on the held-out
    # images themselves (a noisier and leaky protocol: docs/rules.md, "How Wu is measured")

    def validate(self) -> EvalSettings:
        names = ("num_images", "max_k", "success_k", "probe_images", "probe_epochs",
                 "alignment_images")  # fmt: skip
        for name in names:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.realism_steps < 0:
            raise ConfigError(f"realism_steps must be >= 0 (0: no realism), got "
                              f"{self.realism_steps}")  # fmt: skip
        if self.wu_images < 0:
            raise ConfigError(f"wu_images must be >= 0 (0: the held-out images), got "
                              f"{self.wu_images}")  # fmt: skip
        return self


def catalog_lists(catalog: AttributeCatalog) -> dict[int, list[tuple[int, int]]]:
    """AttFind's attributes as {class: [(coordinate, direction), ...]}, best first."""
    return {c: [a.key for a in catalog.for_class(c)] for c in range(len(catalog.class_names))}


def baseline_lists(
    conv: torch.Tensor, probs: torch.Tensor, num_classes: int, k: int, seed: int
) -> tuple[dict[int, list[tuple[int, int]]], dict[int, list[tuple[int, int]]]]:
    """The Wu et al. and the random baselines' top-k attributes per class, in the layout of
    `catalog_lists`, from the held-out images' conv styles and reconstruction probabilities."""
    from stylex.explain.evaluation.baselines import random_baseline, wu_baseline

    wu = {
        c: [(i, d) for i, d, _ in wu_baseline(conv, probs, c, num_attributes=k)]
        for c in range(num_classes)
    }
    rnd = {
        c: [(i, d) for i, d, _ in random_baseline(conv.shape[1], num_attributes=k, seed=seed + c)]
        for c in range(num_classes)
    }
    return wu, rnd


def wu_reference(
    ctx: RunContext, data: str | None, count: int, held_out: Encoded
) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv styles, reconstruction probabilities) that Wu's ranking is built from: `count`
    images of the held-out images' data set drawn at AttFind's seed offset (the images attribute
    finding may look at), or the held-out encoding itself when `count` is 0."""
    from stylex.explain.context import ATTFIND_SEED_OFFSET, stack_images
    from stylex.explain.evaluation.metrics import encode

    if count == 0:
        return held_out.styles.conv.cpu(), held_out.probs_rec.cpu()
    x = stack_images(ctx.dataset(data, count, ATTFIND_SEED_OFFSET), count)
    pool = encode(ctx.G, ctx.E, ctx.C, x.to(ctx.device), progress=False)
    return pool.styles.conv.cpu(), pool.probs_rec.cpu()


def _load_or_train_probe(ctx: RunContext, settings: EvalSettings, progress: bool):
    from safetensors.torch import load_file, save_file

    from stylex.explain.context import EVAL_SEED_OFFSET
    from stylex.explain.evaluation.probes import FactorProbe, train_factor_probe

    folder = Path(settings.probe_dir) if settings.probe_dir else RunPaths(ctx.run_dir).probes
    weights, info_path = folder / "factor_probe.safetensors", folder / "factor_probe.json"
    data_seed = int(ctx.run.config.get("train", {}).get("seed", 0)) + EVAL_SEED_OFFSET + 1
    wanted = {"epochs": settings.probe_epochs, "images": settings.probe_images,
              "seed": settings.seed, "resolution": ctx.resolution, "data_seed": data_seed,
              "width": PROBE_WIDTH, "pose": "free"}  # fmt: skip
    if weights.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("settings") == wanted:  # a probe trained otherwise is trained again
            probe = FactorProbe(**info["config"])
            probe.load_state_dict(load_file(str(weights)))
            return probe.eval().to(ctx.device), info["scores"]
    # The probe learns from free-pose images whatever the run's pose: it then reads position on
    # aligned images too, and sees a counterfactual that moves the object.
    spec = "shapes-free" if ctx.data_info.get("kind") == "shapes" else None
    dataset = ctx.dataset(spec, settings.probe_images, EVAL_SEED_OFFSET + 1)
    probe, scores = train_factor_probe(
        dataset, epochs=settings.probe_epochs, seed=settings.seed, device=ctx.device,
        progress=progress, width=PROBE_WIDTH,
    )  # fmt: skip
    with atomic_path(weights) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in probe.state_dict().items()}
        save_file(state, str(tmp))
    write_json(info_path, {"config": probe.config, "scores": scores, "settings": wanted})
    return probe.eval().to(ctx.device), scores


def _alignment(
    ctx: RunContext,
    probe: FactorProbe,
    scores: dict[str, Any],  # the probe's held-out scores
    enc_styles,
    catalog: AttributeCatalog,
    wu: dict[int, list[tuple[int, int]]],
    rnd: dict[int, list[tuple[int, int]]],
    rule_factors: list[str],
    settings: EvalSettings,
) -> dict[str, Any]:
    from stylex.explain.evaluation.probes import alignment_share, attribute_factors

    n = min(settings.alignment_images, enc_styles.conv.shape[0])
    styles = type(enc_styles)(enc_styles.conv[:n], enc_styles.rgb[:n])
    ks = [k for k in (1, 3, 5, 10) if k <= settings.max_k]
    out: dict[str, Any] = {"rule_factors": rule_factors, "probe_scores": scores}
    shares: dict[str, dict[int, float]] = {}
    for method, lists in (("attfind", catalog_lists(catalog)), ("wu", wu), ("random", rnd)):
        # Class 0's list; for binary classifiers the other list is the same coordinates reversed.
        attrs = lists[0][: settings.max_k]
        rows = attribute_factors(ctx.G, probe, styles, catalog.stats, attrs, shift=settings.shift)
        shares[method] = alignment_share([r["factor"] for r in rows], rule_factors, ks)
        out[f"{method}_factors"] = [
            {"index": r["index"], "direction": r["direction"], "factor": r["factor"]} for r in rows
        ]
    out["share"] = shares
    out["suggested_names"] = _suggested_names(ctx, probe, styles, catalog, settings)
    return out


def _suggested_names(ctx, probe, styles, catalog: AttributeCatalog, settings: EvalSettings):
    """A name for every catalog attribute (each class's list) from the factor it changes most,
    in the form `stylex label --suggested` reads: [{"index", "direction": "min" | "max",
    "factor", "name"}], one entry per (index, direction)."""
    from stylex.explain.evaluation.probes import attribute_factors
    from stylex.explain.vocabulary.attributes import direction_name

    keys = list(dict.fromkeys(a.key for attrs in catalog.classes.values() for a in attrs))
    rows = attribute_factors(ctx.G, probe, styles, catalog.stats, keys, shift=settings.shift)
    return [{"index": r["index"], "direction": direction_name(r["direction"]),
             "factor": r["factor"], "name": r["name"]} for r in rows]  # fmt: skip


def _shapes_rule_factors(dataset) -> list[str] | None:
    info = dataset.describe()
    if info.get("kind") == "shapes" and info.get("rule_factors"):
        return list(info["rule_factors"])
    return None


def evaluate_run(
    ctx: RunContext,
    settings: EvalSettings | None = None,
    *,
    progress: bool = True,
    reconstruction_only: bool = False,  # fidelity and faithfulness only: no catalog needed
) -> dict[str, Any]:
    """Evaluate a run; writes RUN/metrics.json (RUN/metrics-reconstruction.json with
    `reconstruction_only`) and returns it. Needs the attribute catalog unless
    `reconstruction_only`."""
    from stylex.explain.context import EVAL_SEED_OFFSET, stack_images
    from stylex.explain.evaluation.faithfulness import (
        counterfactual_minimality,
        reconstruction_faithfulness,
    )
    from stylex.explain.evaluation.metrics import encode, reconstruction_fidelity
    from stylex.explain.evaluation.probes import factor_columns
    from stylex.explain.vocabulary.catalog import AttributeCatalog
    from stylex.models.perceptual import build_perceptual

    settings = (settings or EvalSettings()).validate()
    t0 = time.perf_counter()
    catalog = None if reconstruction_only else AttributeCatalog.load(ctx.run_dir)
    dataset = ctx.dataset(settings.data, settings.num_images, EVAL_SEED_OFFSET)
    x = stack_images(dataset, settings.num_images)
    enc = encode(ctx.G, ctx.E, ctx.C, x.to(ctx.device), progress=progress)
    perceptual = build_perceptual("auto").to(ctx.device)
    metrics: dict[str, Any] = {
        "settings": asdict(settings),
        "num_images": int(x.shape[0]),
        "run_step": ctx.run.step,
        "fidelity": reconstruction_fidelity(x.to(ctx.device), enc, perceptual),
    }
    rule_factors = _shapes_rule_factors(dataset)
    probe = None
    if rule_factors:
        probe, scores = _load_or_train_probe(ctx, settings, progress)
        metrics["faithfulness"] = reconstruction_faithfulness(
            probe, x, enc.reconstructions, factor_columns(dataset)
        )
    generated = {"reconstruction": enc.reconstructions}
    flipped = None
    if catalog is not None:
        explained, cf_images, (wu, rnd) = _explanation_metrics(ctx, catalog, x, enc, settings)
        metrics.update(explained)
        generated.update(top1=cf_images["top1"], joint=cf_images["joint"])
        flipped = cf_images["top1_success"]
        if probe is not None and rule_factors:
            metrics["minimality"] = {
                kind: counterfactual_minimality(
                    probe, cf_images["reconstruction"], cf_images[kind], rule_factors
                )
                for kind in ("top1", "joint")
            }
            metrics["alignment"] = _alignment(
                ctx, probe, scores, enc.styles, catalog, wu, rnd, rule_factors, settings
            )
    if settings.realism_steps:
        from stylex.explain.evaluation.realism import realism_report

        metrics["realism"] = realism_report(
            x, generated, top1_flipped=flipped, steps=settings.realism_steps, seed=settings.seed,
        )  # fmt: skip
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    paths = RunPaths(ctx.run_dir)
    write_json(paths.reconstruction_metrics if reconstruction_only else paths.metrics, metrics)
    return metrics


def _explanation_metrics(
    ctx: RunContext, catalog: AttributeCatalog, x: torch.Tensor, enc, settings: EvalSettings
) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[dict, dict]]:
    """Flip rates (AttFind, Wu, random) and per-image success; also the counterfactual images
    (for minimality) and the Wu and random attribute lists (for alignment)."""
    from stylex.explain.evaluation.faithfulness import per_image_success
    from stylex.explain.evaluation.metrics import flip_rate_at_k
    from stylex.explain.single.options import IMAGE

    num_classes = len(catalog.class_names)
    ks = list(range(1, settings.max_k + 1))
    conv, probs = wu_reference(ctx, settings.data, settings.wu_images, enc)
    wu, rnd = baseline_lists(conv, probs, num_classes, settings.max_k, settings.seed)
    flip = {}
    for method, lists in (("attfind", catalog_lists(catalog)), ("wu", wu), ("random", rnd)):
        flip[method] = flip_rate_at_k(
            ctx.G, ctx.C, enc.styles, catalog.stats, lists, enc.predicted, ks=ks,
            shift=settings.shift, probs=enc.probs_rec,
        )  # fmt: skip
    from stylex.runtime import TorchEngine

    engine = TorchEngine(ctx.G, ctx.E, ctx.C, catalog)
    success, cf_images = per_image_success(
        engine, x, top_k=settings.success_k, shift=settings.shift
    )
    success_image, _ = per_image_success(
        engine, x, top_k=settings.success_k, shift=settings.shift, mode=IMAGE
    )
    metrics = {
        "flip_rate": flip,
        "baseline_lists": {"wu": wu, "random": rnd},  # {class: [[coordinate, direction], ...]}
        "per_image_success": success,  # CATALOG mode, as the service explains by default
        "per_image_success_image": success_image,
        "num_attfind_attributes": {c: len(v) for c, v in catalog.classes.items()},
    }
    return metrics, cf_images, (wu, rnd)
