"""Shared fixtures: a small classifier trained once per session on the built-in shapes data."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import torch

TEST_RESOLUTION = 16

# The test models are tiny: a second intra-op thread gains little, and on a shared 2-core
# machine an oversubscribed OpenMP pool made single tests 50x slower. One thread keeps the
# suite's time predictable.
torch.set_num_threads(1)

# In CI (STYLEX_CI=1) a skipped test fails the run unless it skipped for want of a GPU: a test
# that skips because a tool or package is missing would otherwise pass unnoticed.
ALLOWED_SKIP = "needs a CUDA device"
_unexpected_skips: list[str] = []


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _note_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not reason.startswith(ALLOWED_SKIP):
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


# Test modules whose figures move with the CPU's kernels (oneDNN and MKL pick other code, and
# so other rounding, on AVX2, AVX-512 and AMX hosts): trained fixtures, probes, parity, recall
# and gradient comparisons. `make test` runs them a second time with oneDNN and MKL held to
# another instruction set than the host's (AVX2 on an AVX-512 host, SSE4.1 on an AVX2 one), so
# a threshold that holds on one kind of host only fails on every host.
KERNEL_SENSITIVE = (
    "classifiers/test_classifier_train.py",
    "explain/test_effects.py",
    "explain/test_faithfulness.py",
    "explain/test_probes.py",
    "explain/test_realism.py",
    "explain/test_success_by_mode.py",
    "export/test_export.py",
    "export/test_fp16.py",
    "runtime/test_engines.py",
    "runtime/test_golden.py",
    "runtime/test_image_mode_recall.py",
    "training/test_gradient_averaging.py",
    "training/test_loss_gradients.py",
    "training/test_loss_terms.py",
    "training/test_step.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        if item.path.relative_to(tests_dir).as_posix() in KERNEL_SENSITIVE:
            item.add_marker(pytest.mark.kernels)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_skip(report)  # a module that skips itself at import


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _unexpected_skips:
        terminalreporter.section("skipped for a reason other than a missing GPU")
        for line in _unexpected_skips:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("STYLEX_CI") == "1" and _unexpected_skips and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def shapes_classifier(tmp_path_factory) -> Path:
    """A SmallCNN trained on 16 px shapes with the default rule; returns its .pt path."""
    from stylex.classifiers import train_classifier
    from stylex.data import build_dataset

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("classifier") / "classifier.pt"
    train_set = build_dataset("shapes", TEST_RESOLUTION, num_images=1200, seed=1)
    val_set = build_dataset("shapes", TEST_RESOLUTION, num_images=300, seed=2)
    metrics = train_classifier(
        train_set, val_set, out, epochs=4, batch_size=64, seed=0, width=16, progress=False
    )
    assert metrics["val_acc"] > 0.8, metrics
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, shapes_classifier) -> Path:
    """A tiny StylEx run on 16 px shapes (60 steps): enough to exercise AttFind end to end."""
    from stylex.training.config import resolve_config
    from stylex.training.trainer import train

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    overrides = {
        "resolution": TEST_RESOLUTION,
        "num_images": 256,
        "classifier": str(shapes_classifier),
        "batch_size": 16,
        "steps": 60,
        "channel_max": 32,
        "sample_every": 60,
        "checkpoint_every": 60,
    }
    cfg = resolve_config("tiny", {k: str(v) for k, v in overrides.items()})
    train(cfg, run_dir, progress=False)
    return run_dir


@functools.cache
def _shipped_catalog_size() -> int:
    from stylex.runtime import read_model_dir
    from stylex.runtime.model_dir import shipped_model_dir

    catalog = read_model_dir(shipped_model_dir()).catalog
    return min(len(attrs) for attrs in catalog.classes.values())


def catalog_attributes(top_k: int) -> int:
    """How many attributes a CATALOG-mode answer of the shipped model holds at `top_k`: its
    catalog may hold fewer (v5 holds one per class: one StyleSpace coordinate carries the
    decision)."""
    return min(top_k, _shipped_catalog_size())
