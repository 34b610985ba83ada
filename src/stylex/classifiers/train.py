"""Train the built-in SmallCNN on a labelled data set and save it as a classifier file."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from stylex.classifiers.cnn import SmallCNN
from stylex.classifiers.spec import ClassifierSpec, sidecar_path
from stylex.errors import ClassifierError
from stylex.fileio import atomic_path

ONNX_OPSET = 17


def fit_classifier(
    train_set: Dataset,
    val_set: Dataset,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    width: int = 32,
    progress: bool = True,
) -> tuple[SmallCNN, dict[str, Any]]:
    """Train a SmallCNN in memory; (model in eval mode, metrics). See `train_classifier`."""
    if epochs < 1:
        raise ClassifierError(f"classifier epochs is {epochs}, expected >= 1")
    if batch_size < 1:
        raise ClassifierError(f"classifier batch_size is {batch_size}, expected >= 1")
    resolution, class_names = _data_info(train_set, val_set)
    num_classes = len(class_names)

    device = torch.device(device)
    # A private RNG stream: seeding must not disturb (or depend on) the caller's global state.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = SmallCNN(num_classes, resolution, width).to(device)
    shuffle_gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffle_gen)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    labels_seen: set[int] = set()
    train_acc = 0.0
    for epoch in range(epochs):
        model.train()
        correct = total = 0
        bar = tqdm(train_loader, desc=f"classifier {epoch + 1}/{epochs}", disable=not progress)
        for x, label in bar:
            x, label = x.to(device).float(), _labels(label, num_classes).to(device)
            if epoch == 0:
                labels_seen.update(label.tolist())
            logits = model(x)
            loss = F.cross_entropy(logits, label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == label).sum())
            total += len(label)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{correct / total:.3f}")
        if epoch == 0 and len(labels_seen) < 2:
            raise ClassifierError(
                f"classifier training set has only label(s) {sorted(labels_seen)}, "
                f"expected at least 2 different classes"
            )
        train_acc = correct / total
    val_loss, val_acc = evaluate(model, val_loader, num_classes, device)
    metrics = {
        "train_acc": train_acc,
        "val_acc": val_acc,
        "val_loss": val_loss,
        "epochs": epochs,
        "num_params": sum(p.numel() for p in model.parameters()),
    }
    return model.eval(), metrics


def train_classifier(
    train_set: Dataset,
    val_set: Dataset,
    out_path: str | os.PathLike[str],
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    width: int = 32,
    progress: bool = True,
    export_onnx: bool = False,
) -> dict[str, Any]:
    """Train a SmallCNN, save it as TorchScript at `out_path` (+ `<out_path>.json` sidecar).

    Datasets yield (x [3, R, R] in [-1, 1], label int) and carry `resolution` and
    `class_names`. Adam, no augmentation, cross-entropy. With `export_onnx`, also writes
    `out_path.with_suffix(".onnx")` and its sidecar. Deterministic on CPU for a given seed.
    Returns {train_acc, val_acc, val_loss, epochs, num_params}: train_acc is the running
    accuracy of the last epoch, val_* are measured after it.
    """
    out_path = Path(out_path)
    if out_path.suffix != ".pt":
        raise ClassifierError(f"classifier output path {out_path} must end in .pt (TorchScript)")
    model, metrics = fit_classifier(
        train_set,
        val_set,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        width=width,
        progress=progress,
    )
    spec = ClassifierSpec(
        input_size=model.resolution,
        class_names=list(train_set.class_names),  # type: ignore[attr-defined]
        format="torchscript",
        value_range=(-1.0, 1.0),
        name=f"SmallCNN(width={width})",
    )
    model = model.cpu()
    save_torchscript(model, out_path, spec)
    if export_onnx:
        save_onnx(model, out_path.with_suffix(".onnx"), dataclasses.replace(spec, format="onnx"))
    return metrics


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, loader: DataLoader, num_classes: int, device: torch.device
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` over `loader`."""
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    for x, label in loader:
        x, label = x.to(device).float(), _labels(label, num_classes).to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, label, reduction="sum"))
        correct += int((logits.argmax(1) == label).sum())
        total += len(label)
    return loss_sum / max(total, 1), correct / max(total, 1)


def save_torchscript(model: torch.nn.Module, path: Path, spec: ClassifierSpec) -> None:
    """Script `model` to `path` and write its sidecar, each atomically."""
    with warnings.catch_warnings():
        # torch.jit.script is deprecated in recent torch but still the portable format here.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    with atomic_path(path) as tmp:
        scripted.save(str(tmp))
    spec.to_json(sidecar_path(path))


def save_onnx(model: torch.nn.Module, path: Path, spec: ClassifierSpec) -> None:
    """Export `model` to ONNX at `path` (dynamic batch) and write its sidecar, atomically."""
    dummy = torch.zeros(1, 3, spec.input_size, spec.input_size)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript-based exporter is fast and needs no extra packages ...
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        except Exception:
            # ... but it is deprecated; newer torch only has the torch.export-based one.
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=["x"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                external_data=False,  # one self-contained file, renamed atomically
            )
    spec.to_json(sidecar_path(path))


def _data_info(train_set: Dataset, val_set: Dataset) -> tuple[int, list[str]]:
    for name, ds in (("training", train_set), ("validation", val_set)):
        if not hasattr(ds, "__len__") or len(ds) == 0:
            raise ClassifierError(f"classifier {name} set is empty, expected labelled images")
        for attr in ("resolution", "class_names"):
            if not hasattr(ds, attr):
                raise ClassifierError(
                    f"classifier {name} set {type(ds).__name__} has no '{attr}' attribute"
                )
    resolution, class_names = train_set.resolution, list(train_set.class_names)  # type: ignore[attr-defined]
    if len(class_names) < 2:
        raise ClassifierError(
            f"classifier training set has classes {class_names}, expected at least 2"
        )
    if val_set.resolution != resolution or list(val_set.class_names) != class_names:  # type: ignore[attr-defined]
        raise ClassifierError(
            f"classifier validation set ({val_set.resolution} px, {val_set.class_names}) does "  # type: ignore[attr-defined]
            f"not match the training set ({resolution} px, {class_names})"
        )
    if not isinstance(resolution, int) or resolution < 4:
        raise ClassifierError(f"classifier data resolution is {resolution}, expected >= 4")
    return resolution, class_names


def _labels(label: Any, num_classes: int) -> torch.Tensor:
    label = torch.as_tensor(label).long().reshape(-1)
    if len(label) and (int(label.min()) < 0 or int(label.max()) >= num_classes):
        bad = int(label.min()) if int(label.min()) < 0 else int(label.max())
        raise ClassifierError(f"classifier label {bad} is out of range [0, {num_classes})")
    return label
