"""A tiny exported model for export and runtime tests: the session's trained run, copied,
AttFind run on it, and exported once per test module."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from stylex.explain.context import load_context, stack_images
from stylex.export import export_run
from stylex.pipelines.attfind import AttFindSettings, run_attfind

MODEL_NAME = "tiny"


def attfind_run(trained_run: Path, tmp: Path) -> Path:
    """A copy of `trained_run` with attributes.json."""
    run_dir = tmp / "run"
    shutil.copytree(trained_run, run_dir)
    run_attfind(load_context(run_dir, "cpu"), AttFindSettings(num_images=8), progress=False)
    return run_dir


def exported_model(run_dir: Path, tmp: Path) -> Path:
    return export_run(run_dir, tmp / "model_store", name=MODEL_NAME, version=1)


def held_out_images(run_dir: Path, num_images: int = 6) -> torch.Tensor:
    """Held-out images of the run's data set (a seed AttFind did not use)."""
    ctx = load_context(run_dir, "cpu")
    return stack_images(ctx.dataset(None, num_images, seed_offset=3000))


def absolute_paths(value, where: str = "") -> list[str]:
    """'where: value' for every string in a JSON value that is an absolute path of some machine
    (POSIX '/...', a Windows drive 'C:\\...' or 'C:/...', or a UNC '\\\\host\\...')."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in absolute_paths(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in absolute_paths(v, f"{where}[{i}]")]
    if isinstance(value, str) and (
        value.startswith(("/", "\\\\"))
        or (len(value) > 2 and value[1] == ":" and value[2] in "/\\")
    ):
        return [f"{where}: {value}"]
    return []
