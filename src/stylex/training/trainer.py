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
from stylex.classifiers import check_classifier, load_classifier, sidecar_path
from stylex.data import build_dataset, save_image_grid
from stylex.device import pick_device
from stylex.errors import CheckpointError, ClassifierError
from stylex.fileio import atomic_path, write_json
from stylex.models import ArchConfig, Encoder, Generator
from stylex.rundir import RunPaths, latest_checkpoint, read_run_config
from stylex.training import distributed as dist_utils
from stylex.training.checkpoint import load_checkpoint, save_checkpoint
from stylex.training.config import ARCH_KEYS, DATA_KEYS, TrainConfig
from stylex.training.data_stream import BatchStream
from stylex.training.step import build_state, train_step

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
    device = pick_device(cfg.device)
    info = dist_utils.init_distributed(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    _check_run_dir(run_dir, cfg, resume)
    if info.enabled:  # every rank checks before rank 0 writes anything
        torch.distributed.barrier()

    # Data and classifier first: bad input must fail before anything is written.
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
    arch = arch_from(cfg, C.num_classes)

    state = build_state(cfg, arch, C, device, info)
    G, E, G_ema, optimizers = state.G, state.E, state.G_ema, state.optimizers
    modules = state.modules
    schedule = state.schedule

    start_step = 0
    resumed_from: int | None = None
    if resume and (ckpt := latest_checkpoint(run_dir)) is not None:
        saved = load_checkpoint(ckpt, modules, optimizers)
        start_step = resumed_from = saved["step"]
        if info.is_main:
            _record_resume(run_dir, cfg, start_step)
        if info.enabled:  # RNG states are saved by rank 0 only: give each rank its own stream
            torch.manual_seed(cfg.seed * 7919 + info.rank + 104729 * start_step)
    elif info.is_main:
        classifier_rel = _copy_classifier(Path(cfg.classifier), run_dir)
        write_json(
            RunPaths(run_dir).config,
            {
                "stylex_version": stylex.__version__,
                "train": cfg.to_dict(),
                "arch": arch.to_dict(),
                "num_style_coordinates": G.layout.num_conv,
                "data": dataset.describe(),
                "classifier": {
                    "path": classifier_rel,  # relative to the run directory: runs move
                    "source": str(Path(cfg.classifier).resolve()),
                    "num_classes": C.num_classes,
                    "class_names": list(C.class_names),
                },
                "perceptual": state.loss.perceptual.name,
                "world_size": info.world_size,
            },
        )

    stream = BatchStream(
        dataset,
        cfg.batch_size,
        cfg.seed,
        info.rank,
        info.world_size,
        progress=progress and info.is_main,
    )
    # Fixed inputs for sample grids: the first images and a seeded z.
    num_samples = min(cfg.num_samples, len(dataset))
    sample_x = torch.stack([dataset[i][0] for i in range(num_samples)]).to(device)
    sample_z = torch.randn(
        num_samples, arch.z_dim, generator=torch.Generator().manual_seed(cfg.seed)
    ).to(device)

    end_step = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    history: list[dict[str, float]] = []
    pending: dict[str, list[float]] = defaultdict(list)
    ckpt_path: Path | None = None
    flushed = 0  # rows of `history` already in log.csv
    bar = tqdm(
        total=end_step,
        initial=start_step,
        desc="train",
        unit="step",
        disable=not (progress and info.is_main),
        dynamic_ncols=True,
    )
    t_last, images_since = time.perf_counter(), 0
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    for step in range(start_step, end_step):
        x_all = stream.batch(step).to(device)
        z_all = torch.randn(x_all.shape[0], arch.z_dim).to(device)
        for key, values in train_step(state, step, x_all, z_all).items():
            pending[key].extend(values)
        images_since += cfg.batch_size
        done = step + 1
        # Each rank reads its own clock: agree on stopping so no rank waits at a barrier alone.
        out_of_time = math.isfinite(deadline) and (
            dist_utils.all_reduce_mean(float(time.monotonic() > deadline), info, device) > 0
        )
        if out_of_time:
            end_step = done

        if done % cfg.log_every == 0 or done == end_step:
            elapsed = time.perf_counter() - t_last
            row: dict[str, float] = {"step": done, "kimg": done * cfg.batch_size / 1000}
            for key, values in sorted(pending.items()):
                row[key] = dist_utils.all_reduce_mean(sum(values) / len(values), info, device)
            row["images_per_s"] = images_since / max(elapsed, 1e-9)
            history.append(row)
            pending.clear()
            t_last, images_since = time.perf_counter(), 0
            shown = {
                k: f"{v:.3f}"
                for k, v in row.items()
                if k in ("rec_l1", "cls_kl", "G_adv", "D_real")
            }
            if math.isfinite(deadline):
                # tqdm's ETA is for the step cap; with a time limit the run ends at whichever
                # comes first.
                left_s = max(deadline - time.monotonic(), 0.0)
                steps_left_s = (end_step - done) * cfg.batch_size / max(row["images_per_s"], 1e-9)
                shown["stops_in"] = f"{min(left_s, steps_left_s) / 60:.1f}min"
            bar.set_postfix(**shown, img_s=f"{row['images_per_s']:.0f}")
        bar.update(1)
        if info.is_main and (done % cfg.sample_every == 0 or done == end_step):
            _write_samples(RunPaths(run_dir).sample(done), G_ema, E, C, sample_x, sample_z)
        if done % cfg.checkpoint_every == 0 or done == end_step:
            digests = dist_utils.replica_digests(modules, info)
            if info.is_main:
                if len(set(digests)) > 1:
                    log.warning("step %d: the ranks' weights differ (digests %s)", done, digests)
                _append_log(RunPaths(run_dir).log, history[flushed:], resumed_from)
                resumed_from, flushed = None, len(history)
                ckpt_path = save_checkpoint(
                    run_dir,
                    done,
                    modules,
                    optimizers,
                    {
                        "kind_counts": schedule.counts(0, done),
                        "data_position": done * cfg.batch_size,
                        "replica_digests": digests,  # one per rank; equal when in sync
                    },
                    keep=cfg.keep_checkpoints,
                )
            if info.enabled:
                torch.distributed.barrier()
        if out_of_time:
            break
    bar.close()
    dist_utils.cleanup(info)
    return TrainResult(run_dir=run_dir, step=end_step, history=history, checkpoint=ckpt_path)


def summarize_history(history: list[dict[str, float]], keys: list[str]) -> dict[str, Any]:
    """First and last logged value of each key (None if never logged), for notes and tests."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [row[key] for row in history if key in row and not math.isnan(row[key])]
        out[key] = {
            "first": values[0] if values else math.nan,
            "last": values[-1] if values else math.nan,
        }
    return out


def describe_run(run_dir: Path) -> str:
    return json.dumps(read_run_config(run_dir), indent=2)
