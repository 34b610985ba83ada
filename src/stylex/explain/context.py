"""A trained run ready for explaining: G_ema, E and the classifier on one device, and the
run's data set rebuilt from its recorded description."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylex.classifiers import Classifier, load_classifier
from stylex.data import DATASET_NAMES, ImageDataset, build_dataset, spec_of_description
from stylex.device import pick_device
from stylex.errors import ClassifierError
from stylex.models import Encoder, Generator
from stylex.rundir import TrainedRun, load_run

# Images for AttFind and for evaluation are drawn with seeds offset from the training seed, so
# for procedural data they are images the networks were not trained on.
ATTFIND_SEED_OFFSET = 1000
EVAL_SEED_OFFSET = 2000


@dataclass
class RunContext:
    run: TrainedRun
    C: Classifier
    device: torch.device

    @property
    def G(self) -> Generator:
        return self.run.G

    @property
    def E(self) -> Encoder:
        return self.run.E

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def resolution(self) -> int:
        return self.run.arch.resolution

    @property
    def class_names(self) -> list[str]:
        return list(self.C.class_names)

    @property
    def data_info(self) -> dict[str, Any]:
        return self.run.config.get("data", {})

    def dataset(self, spec: str | None, num_images: int | None, seed_offset: int) -> ImageDataset:
        """The run's data set (or `spec`), at the run's resolution, with a shifted seed."""
        info = self.data_info
        rule = None
        if spec is None:  # the training data, with its label rule
            spec = spec_of_description(info) or "shapes"
            rule = info.get("rule") if spec in DATASET_NAMES else None
        seed = int(self.run.config.get("train", {}).get("seed", 0)) + seed_offset
        return build_dataset(spec, self.resolution, num_images=num_images, seed=seed, rule=rule)


def load_context(run_dir: str | Path, device: str = "auto") -> RunContext:
    """Load a run's G_ema, E and its classifier copy for inference."""
    dev = pick_device(device)
    run = load_run(run_dir, device=dev)
    if run.classifier_path is None:
        raise ClassifierError(f"run {run_dir} records no classifier; it cannot be explained")
    C = load_classifier(run.classifier_path, device=dev)
    if C.num_classes != run.arch.num_classes:
        raise ClassifierError(
            f"classifier {run.classifier_path} has {C.num_classes} classes but the run's "
            f"generator was trained for {run.arch.num_classes}"
        )
    return RunContext(run=run, C=C, device=dev)


def stack_images(dataset: ImageDataset, limit: int | None = None) -> torch.Tensor:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i][0] for i in range(n)])


@torch.no_grad()
def encode_images(
    ctx: RunContext, x: torch.Tensor, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """w, p, styles and the logits of the generated image of each input image."""
    out: dict[str, list[torch.Tensor]] = {"conv": [], "rgb": [], "logits": [], "probs": []}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(ctx.device)
        p = torch.softmax(ctx.C(xb), dim=1)
        styles = ctx.G.styles(ctx.E(xb), p)
        out["conv"].append(styles.conv.cpu())
        out["rgb"].append(styles.rgb.cpu())
        out["probs"].append(p.cpu())
        out["logits"].append(ctx.C(ctx.G.synthesize(styles)).float().cpu())
    return {k: torch.cat(v) for k, v in out.items()}
