"""The StylEx training loop: G, E and D trained for one frozen classifier C (the step itself is
in `training.step`).

Each step: one D update (plus lazy R1 every `r1_interval` steps), then one G update whose kind
the schedule decides: an encoder step (G and E trained on reconstructions of the real batch) or
a random-z step (G and its mapping trained on samples conditioned on the real batch's
classifier probabilities). The encoder's optimizer steps only on encoder steps.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import stylex
from stylex.classifiers import Classifier, check_classifier, load_classifier, sidecar_path
from stylex.data import ImageDataset, build_dataset, save_image_grid
from stylex.device import pick_device
from stylex.errors import CheckpointError, ClassifierError
from stylex.fileio import atomic_path, write_json
from stylex.models import ArchConfig, Encoder, Generator
from stylex.rundir import RunPaths, latest_checkpoint, read_run_config
from stylex.training import distributed as dist_utils
from stylex.training.checkpoint import load_checkpoint, save_checkpoint
from stylex.training.config import ARCH_KEYS, DATA_KEYS, TrainConfig
from stylex.training.data_stream import BatchStream
from stylex.training.step import TrainState, build_state, train_step

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # steps completed in total
    history: list[dict[str, float]] = field(default_factory=list)  # logged rows of this call
    checkpoint: Path | None = None


def arch_from(cfg: TrainConfig, num_classes: int) -> ArchConfig:
    return ArchConfig(
        resolution=cfg.resolution,
        num_classes=num_classes,
        z_dim=cfg.z_dim,
        w_dim=cfg.w_dim,
        mapping_layers=cfg.mapping_layers,
        channel_base=cfg.channel_base,
        channel_max=cfg.channel_max,
        mbstd_group_size=cfg.mbstd_group_size,
        synthesis_input=cfg.synthesis_input,
        conditioned_styles=cfg.conditioned_styles,
    )


def _check_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> None:
    """Refuse to overwrite another run, or to resume with a different configuration."""
    has_config = RunPaths(run_dir).config.is_file()
    if not resume:
        if has_config or (run_dir.exists() and any(run_dir.iterdir())):
            raise CheckpointError(
                f"run directory {run_dir} is not empty; pass --resume to continue that run "
                "or choose another --run-dir"
            )
        return
    if not has_config:
        raise CheckpointError(f"cannot resume: {run_dir} holds no run (config.json missing)")
    stored = read_run_config(run_dir)["train"]
    defaults = TrainConfig()  # options added later are absent from older runs' configs
    diffs = [
        f"{k}={stored.get(k, getattr(defaults, k))!r} (stored) vs {getattr(cfg, k)!r} (now)"
        for k in (*ARCH_KEYS, *DATA_KEYS, "batch_size", "seed")
        if stored.get(k, getattr(defaults, k)) != getattr(cfg, k)
    ]
    if diffs:
        raise CheckpointError(
            f"run directory {run_dir} was trained with another configuration: " + "; ".join(diffs)
        )


def _record_resume(run_dir: Path, cfg: TrainConfig, step: int) -> None:
    """Options may change on resume (learning rates, loss weights, the warm-up, time limits);
    config.json then describes the newest settings and lists, per resume, what changed from
    which step on, so the run's history stays readable."""
    config = read_run_config(run_dir)
    new, old = json.loads(json.dumps(cfg.to_dict())), config["train"]  # tuples as JSON lists
    changed = {k: {"from": old.get(k), "to": v} for k, v in new.items() if old.get(k) != v}
    if not changed:
        return
    config["train"] = new
    config.setdefault("resumes", []).append({"step": step, "changed": changed})
    write_json(RunPaths(run_dir).config, config)


def _copy_classifier(path: Path, run_dir: Path) -> str:
    """Copy the classifier and its sidecar into the run, so the run explains itself anywhere."""
    dest = RunPaths(run_dir).classifier_dir / path.name
    for src, dst in ((path, dest), (sidecar_path(path), sidecar_path(dest))):
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    return str(dest.relative_to(run_dir))


@torch.no_grad()
def _write_samples(
    path: Path,
    G_ema: Generator,
    E: Encoder,
    C: torch.nn.Module,
    x: torch.Tensor,
    z: torch.Tensor,
) -> None:
    """Grid of three rows: real | reconstruction G_ema(E(x), p) | random G_ema(z, p)."""
    p = torch.softmax(C(x), dim=1)
    rec = G_ema(E(x), p)
    rnd = G_ema.sample(z, p)
    save_image_grid(torch.cat([x, rec, rnd]).float().cpu(), path, nrow=x.shape[0])


def _append_log(path: Path, rows: list[dict[str, float]], keep_until_step: int | None) -> None:
    """Append rows to the CSV log; on resume first drop rows logged after the checkpoint."""
    old: list[dict[str, Any]] = []
    if path.is_file():
        with open(path, newline="") as f:
            old = list(csv.DictReader(f))
        if keep_until_step is not None:
            old = [r for r in old if int(r["step"]) <= keep_until_step]
    all_rows = old + rows
    keys: list[str] = []
    for row in all_rows:
        keys.extend(k for k in row if k not in keys)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(all_rows)


@dataclass
class _Setup:
    """What a run is made of, checked before anything is written."""

    device: torch.device
    info: dist_utils.DistInfo
    dataset: ImageDataset
    C: Classifier
    arch: ArchConfig


def _set_up(cfg: TrainConfig, run_dir: Path, resume: bool) -> _Setup:
    """Device and ranks, the run directory, the data and the classifier: bad input fails here,
    before anything is written."""
    device = pick_device(cfg.device)
    info = dist_utils.init_distributed(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    _check_run_dir(run_dir, cfg, resume)
    if info.enabled:  # every rank checks before rank 0 writes anything
        torch.distributed.barrier()
    dataset = build_dataset(
        cfg.data, cfg.resolution, num_images=cfg.num_images, seed=cfg.seed, rule=cfg.data_rule
    )
    if cfg.classifier is None:
        raise ClassifierError(
            "no classifier given: pass --classifier FILE (TorchScript or ONNX with its .json "
            "sidecar); `stylex train-classifier` trains one for the built-in data"
        )
    C = load_classifier(cfg.classifier, device=device)
    labeled = len(dataset.class_names) > 1
    check_classifier(C, len(dataset.class_names) if labeled else None, cfg.resolution)
    return _Setup(device, info, dataset, C, arch_from(cfg, C.num_classes))


def _start(
    cfg: TrainConfig, run_dir: Path, resume: bool, setup: _Setup, state: TrainState
) -> tuple[int, int | None]:
    """Resume from the newest checkpoint, or write a new run's config.json and classifier
    copy. Returns (first step, the step resumed from or None)."""
    info = setup.info
    if resume and (ckpt := latest_checkpoint(run_dir)) is not None:
        start_step = load_checkpoint(ckpt, state.modules, state.optimizers)["step"]
        if info.is_main:
            _record_resume(run_dir, cfg, start_step)
        if info.enabled:  # RNG states are saved by rank 0 only: give each rank its own stream
            torch.manual_seed(cfg.seed * 7919 + info.rank + 104729 * start_step)
        return start_step, start_step
    if info.is_main:
        assert cfg.classifier is not None  # _set_up refused a run without one
        classifier_rel = _copy_classifier(Path(cfg.classifier), run_dir)
        write_json(
            RunPaths(run_dir).config,
            {
                "stylex_version": stylex.__version__,
                "train": cfg.to_dict(),
                "arch": setup.arch.to_dict(),
                "num_style_coordinates": state.G.layout.num_conv,
                "data": setup.dataset.describe(),
                "classifier": {
                    "path": classifier_rel,  # relative to the run directory: runs move
                    "source": str(Path(cfg.classifier).resolve()),
                    "num_classes": setup.C.num_classes,
                    "class_names": list(setup.C.class_names),
                },
                "perceptual": state.loss.perceptual.name,
                "world_size": info.world_size,
            },
        )
    return 0, None


class _Progress:
    """Loss rows every `log_every` steps (averaged over ranks), images/s, and the bar with the
    time the run stops in when it has a time limit."""

    SHOWN = ("rec_l1", "cls_kl", "G_adv", "D_real")

    def __init__(self, cfg: TrainConfig, setup: _Setup, start: int, end: int, show: bool):
        self.cfg, self.info, self.device = cfg, setup.info, setup.device
        self.history: list[dict[str, float]] = []
        self.pending: dict[str, list[float]] = defaultdict(list)
        self.flushed = 0  # rows of `history` already in log.csv
        self.bar = tqdm(total=end, initial=start, desc="train", unit="step",
                        disable=not show, dynamic_ncols=True)  # fmt: skip
        self.t_last, self.images_since = time.perf_counter(), 0
        limit = cfg.max_minutes * 60
        self.deadline = time.monotonic() + limit if cfg.max_minutes > 0 else math.inf

    def out_of_time(self) -> bool:
        """Each rank reads its own clock: they agree, so no rank waits at a barrier alone."""
        if not math.isfinite(self.deadline):
            return False
        late = float(time.monotonic() > self.deadline)
        return dist_utils.all_reduce_mean(late, self.info, self.device) > 0

    def step_done(self, values: dict[str, list[float]], done: int, end: int) -> None:
        for key, vals in values.items():
            self.pending[key].extend(vals)
        self.images_since += self.cfg.batch_size
        if done % self.cfg.log_every == 0 or done == end:
            self._log_row(done, end)
        self.bar.update(1)

    def _log_row(self, done: int, end: int) -> None:
        elapsed = time.perf_counter() - self.t_last
        row: dict[str, float] = {"step": done, "kimg": done * self.cfg.batch_size / 1000}
        for key, values in sorted(self.pending.items()):
            row[key] = dist_utils.all_reduce_mean(sum(values) / len(values), self.info, self.device)
        row["images_per_s"] = self.images_since / max(elapsed, 1e-9)
        self.history.append(row)
        self.pending.clear()
        self.t_last, self.images_since = time.perf_counter(), 0
        shown = {k: f"{v:.3f}" for k, v in row.items() if k in self.SHOWN}
        if math.isfinite(self.deadline):
            # tqdm's ETA is for the step cap; with a time limit the run ends at whichever
            # comes first.
            left_s = max(self.deadline - time.monotonic(), 0.0)
            steps_left_s = (end - done) * self.cfg.batch_size / max(row["images_per_s"], 1e-9)
            shown["stops_in"] = f"{min(left_s, steps_left_s) / 60:.1f}min"
        self.bar.set_postfix(**shown, img_s=f"{row['images_per_s']:.0f}")

    def close(self) -> None:
        self.bar.close()

    def unflushed(self) -> list[dict[str, float]]:
        rows, self.flushed = self.history[self.flushed :], len(self.history)
        return rows


def _save(
    cfg: TrainConfig, run_dir: Path, state: TrainState, info: dist_utils.DistInfo, done: int,
    rows: list[dict[str, float]], resumed_from: int | None,
) -> Path | None:  # fmt: skip
    """The log rows since the last checkpoint, then a checkpoint (rank 0 writes; all wait)."""
    digests = dist_utils.replica_digests(state.modules, info)
    path = None
    if info.is_main:
        if len(set(digests)) > 1:
            log.warning("step %d: the ranks' weights differ (digests %s)", done, digests)
        _append_log(RunPaths(run_dir).log, rows, resumed_from)
        path = save_checkpoint(
            run_dir,
            done,
            state.modules,
            state.optimizers,
            {
                "kind_counts": state.schedule.counts(0, done),
                "data_position": done * cfg.batch_size,
                "replica_digests": digests,  # one per rank; equal when in sync
            },
            keep=cfg.keep_checkpoints,
        )
    if info.enabled:
        torch.distributed.barrier()
    return path


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_at: int | None = None,  # stop after this step (the schedule still spans cfg.steps)
) -> TrainResult:
    """Train (or continue training) a StylEx run. Returns where it stopped and what it logged."""
    cfg.validate()
    run_dir = Path(run_dir)
    setup = _set_up(cfg, run_dir, resume)
    info, device, dataset = setup.info, setup.device, setup.dataset
    state = build_state(cfg, setup.arch, setup.C, device, info)
    start_step, resumed_from = _start(cfg, run_dir, resume, setup, state)
    stream = BatchStream(dataset, cfg.batch_size, cfg.seed, info.rank, info.world_size,
                         progress=progress and info.is_main)  # fmt: skip
    # Fixed inputs for sample grids: the first images and a seeded z.
    num_samples = min(cfg.num_samples, len(dataset))
    sample_x = torch.stack([dataset[i][0] for i in range(num_samples)]).to(device)
    sample_z = torch.randn(
        num_samples, setup.arch.z_dim, generator=torch.Generator().manual_seed(cfg.seed)
    ).to(device)

    end_step = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    bar = _Progress(cfg, setup, start_step, end_step, progress and info.is_main)
    ckpt_path: Path | None = None
    for step in range(start_step, end_step):
        x_all = stream.batch(step).to(device)
        z_all = torch.randn(x_all.shape[0], setup.arch.z_dim).to(device)
        values = train_step(state, step, x_all, z_all)
        done = step + 1
        out_of_time = bar.out_of_time()
        if out_of_time:
            end_step = done
        bar.step_done(values, done, end_step)
        if info.is_main and (done % cfg.sample_every == 0 or done == end_step):
            path = RunPaths(run_dir).sample(done)
            _write_samples(path, state.G_ema, state.E, setup.C, sample_x, sample_z)
        if done % cfg.checkpoint_every == 0 or done == end_step:
            saved = _save(cfg, run_dir, state, info, done, bar.unflushed(), resumed_from)
            ckpt_path, resumed_from = saved or ckpt_path, None
        if out_of_time:
            break
    bar.close()
    dist_utils.cleanup(info)
    return TrainResult(run_dir=run_dir, step=end_step, history=bar.history, checkpoint=ckpt_path)


def summarize_history(history: list[dict[str, float]], keys: list[str]) -> dict[str, Any]:
    """First and last logged value of each key (None if never logged), for notes and tests."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [row[key] for row in history if key in row and not math.isnan(row[key])]
        out[key] = {
            "first": values[0] if values else None,
            "last": values[-1] if values else None,
        }
    return out
