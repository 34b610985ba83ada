"""train_classifier: learns the tiny task, writes TorchScript + ONNX with sidecars, reloads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from clf_helpers import TinyDataset

from stylex.classifiers import (
    ClassifierSpec,
    SmallCNN,
    fit_classifier,
    load_classifier,
    train_classifier,
)
from stylex.classifiers.train import save_onnx
from stylex.errors import ClassifierError


def test_trains_and_writes_files(trained: dict[str, Any]) -> None:
    metrics, path = trained["metrics"], trained["path"]
    assert metrics["val_acc"] > 0.9
    assert metrics["train_acc"] > 0.9
    assert metrics["epochs"] == 4
    assert 0 < metrics["num_params"] < 200_000
    assert metrics["val_loss"] < 0.5
    for name in ("model.pt", "model.pt.json", "model.onnx", "model.onnx.json"):
        assert (path.parent / name).is_file()
    assert not list(path.parent.glob(".*.tmp"))  # atomic writes leave no temporaries
    sidecar = json.loads((path.parent / "model.pt.json").read_text())
    assert sidecar["format"] == "torchscript"
    assert sidecar["input_size"] == 16
    assert sidecar["value_range"] == [-1.0, 1.0]
    assert sidecar["class_names"] == ["right_brighter", "left_brighter"]
    assert json.loads((path.parent / "model.onnx.json").read_text())["format"] == "onnx"


def test_saved_file_matches_in_memory_model(trained: dict[str, Any]) -> None:
    # Same seed, same data: fit_classifier reproduces the saved network exactly (CPU).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, metrics = fit_classifier(
            TinyDataset(256, seed=0),
            TinyDataset(128, seed=1),
            epochs=4,
            batch_size=32,
            progress=False,
        )
    assert metrics == trained["metrics"]
    x = TinyDataset(16, seed=2).tensors[0]
    clf = load_classifier(trained["path"])
    with torch.no_grad():
        torch.testing.assert_close(clf(x), model(x), atol=1e-5, rtol=1e-5)
        onnx_clf = load_classifier(trained["path"].with_suffix(".onnx"))
        torch.testing.assert_close(onnx_clf(x), model(x), atol=1e-4, rtol=1e-4)


def test_small_cnn_sizes() -> None:
    for resolution in (4, 16, 28, 64, 256):
        model = SmallCNN(3, resolution)
        assert sum(p.numel() for p in model.parameters()) < 200_000
        assert model(torch.zeros(2, 3, resolution, resolution)).shape == (2, 3)
    with pytest.raises(ClassifierError, match="num_classes"):
        SmallCNN(1, 16)


class _OneClass(TinyDataset):
    def __init__(self) -> None:
        super().__init__(32)
        self.class_names = ["only"]


class _AllSameLabel(TinyDataset):
    def __init__(self) -> None:
        super().__init__(32)
        self.tensors = (self.tensors[0], torch.zeros_like(self.tensors[1]))


class _BadLabel(TinyDataset):
    def __init__(self) -> None:
        super().__init__(32)
        self.tensors = (self.tensors[0], torch.full_like(self.tensors[1], 5))


@pytest.mark.parametrize(
    ("train_set", "match"),
    [
        (TinyDataset(0), "empty"),
        (_OneClass(), "at least 2"),
        (_AllSameLabel(), "at least 2"),
        (_BadLabel(), "label 5"),
        (TinyDataset(32, resolution=8), "does not match"),
    ],
)
def test_bad_data(tmp_path: Path, train_set: TinyDataset, match: str) -> None:
    with pytest.raises(ClassifierError, match=match):
        train_classifier(train_set, TinyDataset(8), tmp_path / "m.pt", epochs=1, progress=False)
    assert not (tmp_path / "m.pt").exists()


def test_bad_output_path(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match=r"\.pt"):
        train_classifier(TinyDataset(8), TinyDataset(8), tmp_path / "m.pth", epochs=1)


@pytest.mark.slow
def test_onnx_export_falls_back_to_dynamo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Newer torch drops the TorchScript-based exporter; save_onnx then uses torch.export.
    real_export = torch.onnx.export

    def export_without_legacy(*args: Any, dynamo: bool = True, **kwargs: Any) -> Any:
        if not dynamo:
            raise TypeError("the legacy exporter is gone")
        return real_export(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", export_without_legacy)
    model = SmallCNN(2, 8).eval()
    path = tmp_path / "m.onnx"
    spec = ClassifierSpec(input_size=8, class_names=["a", "b"], format="onnx")
    save_onnx(model, path, spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(load_classifier(path)(x), model(x), atol=1e-4, rtol=1e-4)
