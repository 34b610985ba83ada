"""Parity of exported graphs: max abs difference between ONNX Runtime (CPU) and PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from stylex.explain.context import load_context
from stylex.export.graphs import example_inputs, graph_modules
from stylex.runtime.model_dir import GRAPHS, read_model_dir


@torch.no_grad()
def graph_parity(
    run_dir: str | Path,
    model_dir: str | Path,
    batch_sizes: Sequence[int] = (1, 3, 8),
    seed: int = 1,
) -> dict[str, dict[int, float]]:
    """{graph: {batch size: max abs difference over all outputs}} on seeded inputs."""
    import onnxruntime as ort

    model = read_model_dir(model_dir)
    ctx = load_context(run_dir, "cpu")
    # The classifier's reference is the run's Classifier itself, not its exportable copy.
    modules = {**graph_modules(ctx.G, ctx.E, ctx.C), "classifier": ctx.C}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {
        g: ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        for g, data in model.graphs.items()
    }
    out: dict[str, dict[int, float]] = {g: {} for g in GRAPHS}
    for n in batch_sizes:
        inputs = example_inputs(ctx.G, ctx.E, n, seed=seed)
        for g, (_, input_names, _) in GRAPHS.items():
            expected = modules[g](*inputs[g])
            expected = expected if isinstance(expected, tuple) else (expected,)
            feeds = {k: v.numpy() for k, v in zip(input_names, inputs[g], strict=True)}
            got = sessions[g].run(None, feeds)
            out[g][n] = max(
                float(np.abs(a - e.numpy()).max()) for a, e in zip(got, expected, strict=True)
            )
    return out
