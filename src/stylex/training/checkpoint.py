"""Writing checkpoints and restoring the training state (optimizers, RNG) from them.

Checkpoints are data: safetensors for every tensor, JSON for everything else, no pickles. The
folder layout, and reading a run's networks back, belong to `stylex.rundir`; a checkpoint is
written to a temporary folder and then renamed, and `latest` is pointed at it atomically.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stylex.errors import CheckpointError
from stylex.fileio import atomic_path
from stylex.rundir import STATE_NAME, RunPaths, load_module_weights

MODULE_NAMES = ("G", "G_ema", "E", "D")


def _state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    for key, value in meta["scalars"].items():
        idx, field = key.split(".", 1)
        state.setdefault(int(idx), {})[field] = value
    # The moments come from the checkpoint; the hyperparameters (lr, betas, ...) stay those the
    # optimizer was built with from the current config, so a resume with a new learning rate
    # or betas uses them (load_state_dict alone would silently restore the old ones).
    configured = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    for group, hyper in zip(opt.param_groups, configured, strict=True):
        group.update(hyper)


def save_checkpoint(
    run_dir: Path,
    step: int,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a complete checkpoint for `step`, then point `latest` at it; prune old ones."""
    paths = RunPaths(run_dir)
    ckpt_root = paths.checkpoints
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = paths.checkpoint(step)
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:06d}.", dir=ckpt_root))
    try:
        for name, module in modules.items():
            save_file(_state_tensors(module), str(tmp / f"{name}.safetensors"))
        optim_tensors, optim_meta = {}, {}
        for name, opt in optimizers.items():
            tensors, meta = _optimizer_tensors(name, opt)
            optim_tensors.update(tensors)
            optim_meta[name] = meta
        save_file(optim_tensors, str(tmp / "optim.safetensors"))
        rng = {"torch_cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"torch_cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        save_file(rng, str(tmp / "rng.safetensors"))
        payload = {"step": step, "optimizers": optim_meta, **state}
        (tmp / STATE_NAME).write_text(json.dumps(payload, indent=2))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    with atomic_path(paths.latest) as latest_tmp:
        latest_tmp.write_text(final.name + "\n")
    complete = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old)
    return final


def load_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, Any]:
    """Restore modules, optimizers and RNG state from a checkpoint folder; return state.json."""
    try:
        state = json.loads((path / STATE_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from exc
    for name, module in modules.items():
        load_module_weights(module, path / f"{name}.safetensors")
    if optimizers:
        optim_tensors = load_file(str(path / "optim.safetensors"))
        for name, opt in optimizers.items():
            _restore_optimizer(name, opt, optim_tensors, state["optimizers"][name])
    rng = load_file(str(path / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    cuda_states = [rng[k] for k in sorted(rng) if k.startswith("torch_cuda")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return state
