"""The same load / train / gradient paths on a CUDA device."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from clf_helpers import TinyDataset

from stylex.classifiers import check_classifier, fit_classifier, load_classifier

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_load_on_cuda_matches_cpu(trained: dict[str, Any], suffix: str) -> None:
    path = trained["path"].with_suffix(suffix)
    cpu, gpu = load_classifier(path), load_classifier(path, device="cuda")
    assert all(b.device.type == "cuda" for b in gpu.buffers())
    check_classifier(gpu, 2, 32)
    x = TinyDataset(8, seed=3).tensors[0]
    x_gpu = x.cuda().requires_grad_(True)
    x_cpu = x.clone().requires_grad_(True)
    logits_gpu, logits_cpu = gpu(x_gpu), cpu(x_cpu)
    torch.testing.assert_close(logits_gpu.cpu(), logits_cpu, atol=1e-3, rtol=1e-3)
    logits_gpu[:, 1].sum().backward()
    logits_cpu[:, 1].sum().backward()
    assert x_gpu.grad is not None and x_cpu.grad is not None
    torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad, atol=1e-3, rtol=1e-3)


def test_fit_on_cuda() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, metrics = fit_classifier(
            TinyDataset(256, seed=0),
            TinyDataset(128, seed=1),
            epochs=4,
            batch_size=32,
            device="cuda",
            progress=False,
        )
    assert metrics["val_acc"] > 0.9
    assert next(model.parameters()).device.type == "cuda"
