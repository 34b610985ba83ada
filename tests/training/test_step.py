"""The fast path against the baseline: the same step gives the same losses and weights, and a
lazy term's step gives the baseline's gradient with that term weighted by its interval."""

from __future__ import annotations

import copy

import pytest
import torch

from stylex.classifiers import SmallCNN
from stylex.training.config import baseline_config, resolve_config
from stylex.training.distributed import DistInfo
from stylex.training.schedule import ENCODER, WARMUP
from stylex.training.step import build_state, train_step
from stylex.training.trainer import arch_from
from tests.conftest import TEST_RESOLUTION

# Measured: foreach and per-tensor Adam differ by at most 1e-9 in a weight after one step.
WEIGHT_ATOL = 1e-6


def config(**overrides):
    base = {"resolution": str(TEST_RESOLUTION), "batch_size": "8", "rec_warmup_steps": "2"}
    base.update(overrides)
    cfg = resolve_config("tiny", base)
    cfg.loss.classifier_swap = 1.0
    return cfg


def state_for(cfg):
    torch.manual_seed(5)
    C = SmallCNN(2, TEST_RESOLUTION).eval()
    for p in C.parameters():
        p.requires_grad_(False)
    return build_state(cfg, arch_from(cfg, 2), C, torch.device("cpu"), DistInfo())


def batch(cfg):
    g = torch.Generator().manual_seed(9)
    x = torch.rand(cfg.batch_size, 3, TEST_RESOLUTION, TEST_RESOLUTION, generator=g) * 2 - 1
    return x, torch.randn(cfg.batch_size, cfg.z_dim, generator=g)


@pytest.mark.parametrize("step", [0, 2, 3], ids=["warmup", "encoder+R1", "random"])
def test_fast_path_without_lazy_terms_trains_the_baseline_step(step):
    fast = config()  # the default: no lazy terms, only the changes that keep the result
    base = baseline_config(fast)
    assert fast.fast_path and not base.fast_path
    x, z = batch(fast)
    results = []
    for cfg in (base, fast):
        state = state_for(cfg)
        torch.manual_seed(11)  # the same noise and random z draws
        losses = train_step(state, step, x, z)
        results.append((losses, {k: m.state_dict() for k, m in state.modules.items()}))
    (base_losses, base_weights), (fast_losses, fast_weights) = results
    assert base_losses.keys() == fast_losses.keys()
    for key in base_losses:
        assert fast_losses[key] == pytest.approx(base_losses[key], rel=1e-6, abs=1e-7), key
    for name, weights in base_weights.items():
        for key, value in weights.items():
            torch.testing.assert_close(
                fast_weights[name][key], value, rtol=0, atol=WEIGHT_ATOL, msg=f"{name}.{key}"
            )


def gradients(loss, kind, rec_index, x, z):
    """G's and E's gradients of one reconstructing step's loss (no optimizer step)."""
    for module in (loss.G, loss.E, loss.D):
        module.zero_grad(set_to_none=True)
    p = torch.softmax(loss.C(x), dim=1)
    torch.manual_seed(11)
    stats = loss.accumulate_gradients("G", kind, x, p, z, 1.0, rec_index)
    grads = {
        f"{n}.{k}": v.grad.clone()
        for n, m in (("G", loss.G), ("E", loss.E))
        for k, v in m.named_parameters()
        if v.grad is not None
    }
    return stats, grads


@pytest.mark.parametrize("kind", [WARMUP, ENCODER])
def test_a_lazy_term_runs_every_nth_reconstructing_step_weighted_by_n(kind):
    lazy = config()
    lazy.loss.rec_w_interval = lazy.loss.swap_interval = 4
    x, z = batch(lazy)
    state = state_for(lazy)
    # The weights the lazy loss must equal on each kind of step, as an every-step loss.
    due = copy.deepcopy(lazy.loss)
    due.rec_w, due.classifier_swap = 4 * lazy.loss.rec_w, 4 * lazy.loss.classifier_swap
    due.rec_w_interval = due.swap_interval = 1
    idle = copy.deepcopy(due)
    idle.rec_w = idle.classifier_swap = 0.0
    for rec_index, weights in ((4, due), (5, idle), (7, idle), (8, due)):
        stats, grads = gradients(state.loss, kind, rec_index, x, z)
        assert ("rec_w" in stats) == ("cls_swap" in stats) == (rec_index % 4 == 0)
        reference = copy.copy(state.loss)
        reference.weights = weights
        ref_stats, ref_grads = gradients(reference, kind, rec_index, x, z)
        assert stats == pytest.approx(ref_stats, rel=1e-6)
        assert grads.keys() == ref_grads.keys()
        for key, value in grads.items():
            torch.testing.assert_close(value, ref_grads[key], rtol=1e-5, atol=1e-7, msg=key)
