"""The run directory: what training writes and what AttFind, evaluation, reports, export and
serving read. `RunPaths` names every file of it, here and nowhere else.

RUN/config.json            {"train": TrainConfig, "arch": ArchConfig, "data": {...},
                            "classifier": {...}, "perceptual": "...", "stylex_version": ...,
                            "resumes": [{"step", "changed"}, ...]}  (written by training)
RUN/classifier/            the copy of the classifier the run was trained for
RUN/checkpoints/step-000400/   one checkpoint (written by stylex.training.checkpoint)
    G.safetensors  G_ema.safetensors  E.safetensors  D.safetensors
    optim.safetensors      Adam moments of every optimizer, keyed by optimizer/param
    rng.safetensors        RNG states
    state.json             step, optimizer hyperparameters, data position
RUN/checkpoints/latest     name of the newest complete checkpoint (atomic write)
RUN/log.csv                scalar losses per logged step
RUN/samples/step-*.png     rows: real | reconstruction | random sample
RUN/attfind/               AttFind's resumable work: encoded.safetensors (+ encoded.json, the
                           key it was made for), effects.npy, progress.json
RUN/attributes.json        the attribute catalog (`stylex attfind`, `stylex label`)
RUN/screen.npz             IMAGE mode's screen prior (`stylex attfind`)
RUN/metrics.json           `stylex evaluate` (metrics-reconstruction.json with
                           --reconstruction-only); RUN/probes/ its factor probe
RUN/report.html            `stylex report`
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylex.errors import CheckpointError

if TYPE_CHECKING:  # the readers import torch and the networks when called: RunPaths is light
    import torch
    from torch import nn

    from stylex.models import ArchConfig, Encoder, Generator

CONFIG_NAME = "config.json"
CHECKPOINTS_DIR = "checkpoints"
LATEST_NAME = "latest"
STATE_NAME = "state.json"  # inside each checkpoint
CATALOG_NAME = "attributes.json"  # a run's catalog (a model directory keeps it in its manifest)
SCREEN_FILE = "screen.npz"  # the screen prior, in a run directory and in a model directory


@dataclass(frozen=True)
class RunPaths:
    """Every file and folder of a run directory (see the module docstring)."""

    root: Path

    def __post_init__(self) -> None:  # a str from the command line works too
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def classifier_dir(self) -> Path:
        return self.root / "classifier"

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:06d}"

    @property
    def latest(self) -> Path:
        """The file naming the newest complete checkpoint."""
        return self.checkpoints / LATEST_NAME

    @property
    def log(self) -> Path:
        return self.root / "log.csv"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def sample(self, step: int) -> Path:
        return self.samples / f"step-{step:06d}.png"

    @property
    def attfind_work(self) -> Path:
        return self.root / "attfind"

    @property
    def encoded(self) -> Path:
        """AttFind's encoded images (styles, probabilities) of the run."""
        return self.attfind_work / "encoded.safetensors"

    @property
    def encoded_key(self) -> Path:
        """What the encoded images were made with (a new checkpoint encodes again)."""
        return self.attfind_work / "encoded.json"

    @property
    def effects(self) -> Path:
        """AttFind's effect tensor [N, 2, S, C], memory-mapped."""
        return self.attfind_work / "effects.npy"

    @property
    def attfind_progress(self) -> Path:
        """AttFind's settings key and the image chunks already done."""
        return self.attfind_work / "progress.json"

    @property
    def catalog(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def screen(self) -> Path:
        return self.root / SCREEN_FILE

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def reconstruction_metrics(self) -> Path:
        return self.root / "metrics-reconstruction.json"

    @property
    def probes(self) -> Path:
        return self.root / "probes"

    @property
    def report(self) -> Path:
        return self.root / "report.html"


def load_module_weights(module: nn.Module, path: Path) -> None:
    """Load a safetensors state dict into `module`; any mismatch is a CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise CheckpointError(f"weights file {path} is missing")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc}") from exc
    result = module.load_state_dict(tensors, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"weights {path} do not fit the network: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None if it has none."""
    pointer = RunPaths(Path(run_dir)).latest
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"{pointer} names {path.name}, which does not exist")
    return path


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = RunPaths(Path(run_dir)).config
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a stylex run directory: {CONFIG_NAME} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc


@dataclass
class TrainedRun:
    """The inference part of a trained run: EMA generator, encoder, and where things are."""

    run_dir: Path
    config: dict[str, Any]
    arch: ArchConfig
    G: Generator  # the EMA generator, eval mode
    E: Encoder  # eval mode
    step: int
    classifier_path: Path | None  # the copy inside the run directory
    weights_sha256: str = ""  # of G_ema's and E's weight files: which networks these are


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> TrainedRun:
    """Rebuild G_ema and E of a run's newest checkpoint from config.json and safetensors."""
    from stylex.models import ArchConfig, Encoder, Generator

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise CheckpointError(f"run {run_dir} has no checkpoint yet")
    arch = ArchConfig.from_dict(config["arch"])
    G, E = Generator(arch), Encoder(arch)
    load_module_weights(G, ckpt / "G_ema.safetensors")
    load_module_weights(E, ckpt / "E.safetensors")
    step = json.loads((ckpt / STATE_NAME).read_text())["step"]
    digest = hashlib.sha256()
    for name in ("G_ema.safetensors", "E.safetensors"):
        digest.update((ckpt / name).read_bytes())
    return TrainedRun(
        run_dir=run_dir,
        config=config,
        arch=arch,
        G=G.to(device).eval().requires_grad_(False),
        E=E.to(device).eval().requires_grad_(False),
        step=step,
        classifier_path=_classifier_path(run_dir, config),
        weights_sha256=digest.hexdigest(),
    )


def _classifier_path(run_dir: Path, config: dict[str, Any]) -> Path | None:
    rel = config.get("classifier", {}).get("path")
    return None if rel is None else (run_dir / rel)
