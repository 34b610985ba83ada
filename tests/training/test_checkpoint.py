"""Checkpoints on disk: the `latest` pointer follows each complete write, old ones are pruned,
and the files restore the exact weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylex.errors import CheckpointError
from stylex.rundir import CHECKPOINTS_DIR, LATEST_NAME, latest_checkpoint
from stylex.training.checkpoint import load_checkpoint, save_checkpoint


def _modules(seed: int) -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer]]:
    torch.manual_seed(seed)
    net = nn.Linear(4, 3)
    return {"G": net}, {"G": torch.optim.Adam(net.parameters(), lr=1e-3)}


def test_latest_names_each_new_checkpoint_and_old_ones_are_pruned(tmp_path):
    root = tmp_path / CHECKPOINTS_DIR
    assert latest_checkpoint(tmp_path) is None
    for step in (2, 4, 6, 8):
        modules, optimizers = _modules(step)
        path = save_checkpoint(tmp_path, step, modules, optimizers, {"note": step}, keep=2)
        assert path == root / f"step-{step:06d}"
        assert (root / LATEST_NAME).read_text() == f"step-{step:06d}\n"
        assert latest_checkpoint(tmp_path) == path
    assert sorted(p.name for p in root.iterdir()) == [LATEST_NAME, "step-000006", "step-000008"]

    # The newest one restores exactly what was saved.
    saved, _ = _modules(8)
    restored, optimizers = _modules(0)
    state = load_checkpoint(latest_checkpoint(tmp_path), restored, optimizers)
    assert (state["step"], state["note"]) == (8, 8)
    for a, b in zip(saved["G"].parameters(), restored["G"].parameters(), strict=True):
        assert torch.equal(a, b)


def test_keep_zero_keeps_everything(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, *_modules(step), {}, keep=0)
    names = sorted(p.name for p in (tmp_path / CHECKPOINTS_DIR).glob("step-*"))
    assert names == ["step-000001", "step-000002", "step-000003"]


def test_pointer_to_a_missing_checkpoint_is_named(tmp_path):
    save_checkpoint(tmp_path, 1, *_modules(1), {})
    (tmp_path / CHECKPOINTS_DIR / LATEST_NAME).write_text("step-000009\n")
    with pytest.raises(CheckpointError, match="step-000009, which does not exist"):
        latest_checkpoint(tmp_path)
