"""One inference interface: four primitives per backend, explanations built once on top.

encode(x) -> w;  styles(w, p) -> (conv, rgb);  synthesize(conv, rgb) -> x;  classify(x) -> logits.
Tensors cross the interface as CPU float32 torch tensors. `explain` follows
`stylex.explain.explainer.Explainer` exactly (same target rule, candidates and effect), so every
backend gives the same explanations as the training code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from stylex.explain.catalog import AttributeCatalog
from stylex.explain.explainer import (
    check_images,
    check_shift,
    check_top_k,
    rank_counterfactuals,
    resolve_target,
)
from stylex.explain.explanation import Explanation


class InferenceEngine(ABC):
    """G, E, C and an attribute catalog behind four primitives; subclasses are backends."""

    catalog: AttributeCatalog
    resolution: int  # px
    batch_size: int = 64  # counterfactuals per synthesis + classifier call

    @property
    def class_names(self) -> list[str]:
        return list(self.catalog.class_names)

    @property
    def providers(self) -> list[str]:
        """Where the graphs actually run (backend-specific names)."""
        return []

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, R, R] in [-1, 1] -> w [N, w_dim]."""

    @abstractmethod
    def styles(self, w: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w [N, w_dim], p [N, num_classes] -> (conv [N, S], rgb [N, T])."""

    @abstractmethod
    def synthesize(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """(conv, rgb) -> x [N, 3, R, R] (constant noise)."""

    @abstractmethod
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, R, R] in [-1, 1] -> logits [N, num_classes]."""

    # Two-step compositions: a backend may fuse them to keep tensors on its device.
    def encode_styles(self, x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.styles(self.encode(x), p)

    def synthesize_classify(
        self, conv: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.synthesize(conv, rgb)
        return x, self.classify(x)

    def check_images(self, x: torch.Tensor) -> None:
        check_images(x, self.resolution)

    def resolve_target(self, target: int | str | None, probs: torch.Tensor) -> int:
        return resolve_target(self.catalog, target, probs)

    @torch.no_grad()
    def explain(
        self,
        x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
        *,
        top_k: int = 5,
        target: int | str | None = None,  # class to move toward; None = the runner-up class
        shift: float = 1.0,  # 1 moves a coordinate all the way to its extreme
    ) -> list[Explanation]:
        """Rank the target class's catalog attributes by what they do to each image."""
        self.check_images(x)
        check_top_k(top_k)
        check_shift(shift)
        x = x.detach().float().cpu()
        probs = torch.softmax(self.classify(x).float(), dim=1)
        conv, rgb = self.encode_styles(x, probs)
        rec, logits_rec = self.synthesize_classify(conv, rgb)
        probs_rec = torch.softmax(logits_rec.float(), dim=1)
        targets = [self.resolve_target(target, probs_rec[i]) for i in range(x.shape[0])]
        ranked = rank_counterfactuals(
            self.synthesize_classify, conv, rgb,
            [list(self.catalog.for_class(t)) for t in targets], targets, probs_rec,
            self.catalog.stats, shift, self.batch_size,
        )  # fmt: skip
        return [
            Explanation(
                class_names=self.class_names,
                image=x[i],
                reconstruction=rec[i],
                probs=probs[i],
                probs_reconstruction=probs_rec[i],
                target=targets[i],
                counterfactuals=ranked[i][:top_k],
            )
            for i in range(x.shape[0])
        ]
