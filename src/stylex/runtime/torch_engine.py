"""The PyTorch backend: G_ema, E and the classifier of a run (or given modules)."""

from __future__ import annotations

from pathlib import Path

import torch

from stylex.explain.search.screen import load_run_prior
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.models import Encoder, Generator, Styles
from stylex.runtime.engine import InferenceEngine


class TorchEngine(InferenceEngine):
    """Eager PyTorch on one device; tensors come back on the CPU."""

    def __init__(
        self,
        G: Generator,
        E: Encoder,
        C: torch.nn.Module,  # x in [-1, 1] -> logits
        catalog: AttributeCatalog,
        device: str | torch.device | None = None,  # None: where G's parameters are
    ) -> None:
        self.device = torch.device(device) if device else next(G.parameters()).device
        self.G = G.to(self.device).eval()
        self.E = E.to(self.device).eval()
        self.C = C.to(self.device).eval()
        self.catalog = catalog
        self.resolution = G.cfg.resolution

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> TorchEngine:
        """A run's G_ema, E, classifier copy, its attribute catalog (RUN/attributes.json) and
        IMAGE mode's screen prior where AttFind wrote one (RUN/screen.npz)."""
        from stylex.explain.context import load_context  # loads the classifier too

        catalog = AttributeCatalog.load(run_dir)
        ctx = load_context(run_dir, device)
        engine = cls(ctx.G, ctx.E, ctx.C, catalog, ctx.device)
        engine.screen_prior = load_run_prior(run_dir, catalog)
        return engine

    @property
    def providers(self) -> list[str]:
        return [f"torch:{self.device}"]

    offers_style_gradient = True

    def differentiable_logits(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.C(self.G.synthesize(Styles(self._in(conv), self._in(rgb)), "const"))

    def _in(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device, torch.float32)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.E(self._in(x)).cpu()

    @torch.no_grad()
    def styles(self, w: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.G.styles(self._in(w), self._in(p))
        return s.conv.cpu(), s.rgb.cpu()

    @torch.no_grad()
    def synthesize(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.G.synthesize(Styles(self._in(conv), self._in(rgb)), "const").cpu()

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.C(self._in(x)).float().cpu()

    @torch.no_grad()
    def encode_styles(self, x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.G.styles(self.E(self._in(x)), self._in(p))
        return s.conv.cpu(), s.rgb.cpu()

    @torch.no_grad()
    def synthesize_classify(
        self, conv: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.G.synthesize(Styles(self._in(conv), self._in(rgb)), "const")
        return x.cpu(), self.C(x).float().cpu()
