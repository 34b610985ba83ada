"""Shared fixture: a SmallCNN trained once on the tiny synthetic data set."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clf_helpers import TinyDataset, one_torch_thread

from stylex.classifiers import train_classifier


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A SmallCNN trained for a few epochs, saved as .pt and .onnx (with sidecars)."""
    out = tmp_path_factory.mktemp("clf") / "model.pt"
    with warnings.catch_warnings(), one_torch_thread():
        warnings.simplefilter("ignore")
        metrics = train_classifier(
            TinyDataset(256, seed=0),
            TinyDataset(128, seed=1),
            out,
            epochs=4,
            batch_size=32,
            progress=False,
            export_onnx=True,
        )
    return {"path": Path(out), "metrics": metrics}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield
