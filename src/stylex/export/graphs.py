"""The four ONNX graphs of a run, each with a dynamic batch axis, and how they are exported."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from stylex.classifiers import Classifier
from stylex.errors import InvalidArgumentError
from stylex.models import Generator, Styles
from stylex.runtime.model_dir import GRAPHS

TWO_GB = 2**31  # protobuf limit of a single-file ONNX model


class StyleGraph(nn.Module):
    """(w, p) -> (conv_styles, rgb_styles): `G.styles` as a graph."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, w: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        styles = self.G.styles(w, p)
        return styles.conv, styles.rgb


class SynthesisGraph(nn.Module):
    """(conv_styles, rgb_styles) -> image: `G.synthesize` with the constant noise baked in."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.G.synthesize(Styles(conv, rgb), noise_mode="const")


def graph_modules(G: Generator, E: nn.Module, C: Classifier) -> dict[str, nn.Module]:
    """Graph name -> the torch module it is exported from."""
    return {
        "encoder": E,
        "style": StyleGraph(G),
        "synthesis": SynthesisGraph(G),
        "classifier": exportable_classifier(C, G.cfg.resolution),
    }


@torch.no_grad()
def example_inputs(
    G: Generator, E: nn.Module, batch: int, seed: int = 0
) -> dict[str, tuple[torch.Tensor, ...]]:
    """Consistent example inputs of every graph at `batch` images (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    r, num_classes = G.cfg.resolution, G.cfg.num_classes
    x = torch.rand(batch, 3, r, r, generator=gen) * 2 - 1
    p = torch.softmax(torch.randn(batch, num_classes, generator=gen), dim=1)
    w = E(x)
    styles = G.styles(w, p)
    return {
        "encoder": (x,),
        "style": (w, p),
        "synthesis": (styles.conv, styles.rgb),
        "classifier": (x,),
    }


def export_graph(
    name: str,  # one of GRAPHS
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    opset: int = 17,
) -> None:
    """Export one graph (TorchScript-based exporter) to a single ONNX file and full-check it."""
    _, input_names, output_names = GRAPHS[name]
    dynamic = {n: {0: "batch"} for n in (*input_names, *output_names)}
    module.eval()
    with warnings.catch_warnings():
        # Shape assertions become constants under tracing; the batch axis stays dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    extra = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f"{path.name}."))
    if extra or path.stat().st_size >= TWO_GB:
        raise InvalidArgumentError(
            f"graph {name} does not fit one ONNX file under 2 GB (external data {extra})"
        )
    onnx.checker.check_model(str(path), full_check=True)


class ScriptedClassifier(nn.Module):
    """The `Classifier` wrapper's preprocessing around a TorchScript network, scriptable.

    The tracer cannot step into a loaded TorchScript network ("not part of the active trace"),
    so such a classifier is exported as a scripted module instead; resizing and layout are
    TorchScript constants fixed for the model's resolution, so the graph has no branches.
    """

    __constants__ = ("log_probs", "nhwc", "resize", "size")  # compile-time constants
    if TYPE_CHECKING:  # for the type checker only: TorchScript reads class annotations
        scale: torch.Tensor  # buffers [1, 3, 1, 1], the `Classifier`'s
        shift: torch.Tensor

    def __init__(self, clf: Classifier, resolution: int) -> None:
        super().__init__()
        self.net = clf.net
        self.size = clf.spec.input_size
        self.resize = resolution != clf.spec.input_size
        self.nhwc = clf.spec.layout == "NHWC"
        self.log_probs = clf.spec.output == "probabilities"
        self.register_buffer("scale", clf.scale.clone())
        self.register_buffer("shift", clf.shift.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize:
            x = F.interpolate(x, size=[self.size, self.size], mode="bilinear", align_corners=False)
        x = x * self.scale + self.shift
        if self.nhwc:
            x = x.permute(0, 2, 3, 1).contiguous()
        out = self.net(x).float()
        if self.log_probs:
            out = torch.log(out.clamp_min(1.1754943508222875e-38))  # float32 tiny
        return out


def exportable_classifier(clf: Classifier, resolution: int) -> nn.Module:
    """What to hand the ONNX exporter for `clf`: itself, or a scripted copy of its
    preprocessing around a TorchScript network."""
    if isinstance(clf.net, torch.jit.ScriptModule):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # still the exporter's input
            return torch.jit.script(ScriptedClassifier(clf, resolution))
    return clf
