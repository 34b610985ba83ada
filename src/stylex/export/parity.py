"""Parity of exported graphs: max abs difference between ONNX Runtime (CPU) and the networks.

The reference of each graph is the network's own method (`E`, `G.styles`, `G.synthesize`, the
run's classifier), never the wrapper module that was exported: a wrapper that drops an input or
swaps its outputs would otherwise be compared with itself. A last entry, "generator", runs the
style graph into the synthesis graph and compares the image with `G(w, p)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from stylex.errors import CheckpointError
from stylex.explain.context import load_context
from stylex.export.graphs import example_inputs
from stylex.models import Generator, Styles
from stylex.runtime.model_dir import GRAPHS, read_model_dir

Reference = Callable[..., tuple[torch.Tensor, ...]]
CHAIN = "generator"  # style graph -> synthesis graph against G(w, p)


def network_references(
    G: Generator, E: torch.nn.Module, C: torch.nn.Module
) -> dict[str, Reference]:
    """Graph name -> what it must compute, from the networks' own methods, in output order."""

    def style(w: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        styles = G.styles(w, p)
        return styles.conv, styles.rgb

    return {
        "encoder": lambda x: (E(x),),
        "style": style,
        "synthesis": lambda conv, rgb: (G.synthesize(Styles(conv, rgb), noise_mode="const"),),
        "classifier": lambda x: (C(x),),
    }


def _max_abs(graph: str, got: Sequence[np.ndarray], expected: Sequence[torch.Tensor]) -> float:
    _, _, names = GRAPHS.get(graph, ("", (), ("image",)))
    diffs = []
    for name, a, e in zip(names, got, expected, strict=True):
        if a.shape != tuple(e.shape):
            raise CheckpointError(
                f"exported {graph} graph: output {name!r} has shape {list(a.shape)}, the "
                f"network's {list(e.shape)}; the export does not compute what the network does"
            )
        diffs.append(float(np.abs(a - e.numpy()).max()))
    return max(diffs)


@torch.no_grad()
def graph_parity(
    run_dir: str | Path,
    model_dir: str | Path,
    batch_sizes: Sequence[int] = (1, 3, 8),
    seed: int = 1,
) -> dict[str, dict[int, float]]:
    """{graph or "generator": {batch size: max abs difference over all outputs}} on seeded
    inputs."""
    import onnxruntime as ort

    model = read_model_dir(model_dir)
    ctx = load_context(run_dir, "cpu")
    references = network_references(ctx.G, ctx.E, ctx.C)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {
        g: ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        for g, data in model.graphs.items()
    }
    out: dict[str, dict[int, float]] = {g: {} for g in (*GRAPHS, CHAIN)}
    for n in batch_sizes:
        inputs = example_inputs(ctx.G, ctx.E, n, seed=seed)
        for g, (_, input_names, _) in GRAPHS.items():
            feeds = {k: v.numpy() for k, v in zip(input_names, inputs[g], strict=True)}
            out[g][n] = _max_abs(g, sessions[g].run(None, feeds), references[g](*inputs[g]))
        w, p = inputs["style"]
        conv, rgb = sessions["style"].run(None, {"w": w.numpy(), "p": p.numpy()})
        (image,) = sessions["synthesis"].run(None, {"conv_styles": conv, "rgb_styles": rgb})
        out[CHAIN][n] = _max_abs(CHAIN, [image], [ctx.G(w, p, noise_mode="const")])
    return out
