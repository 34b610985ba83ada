"""One inference interface: four primitives per backend, explanations built once on top.

encode(x) -> w;  styles(w, p) -> (conv, rgb);  synthesize(conv, rgb) -> x;  classify(x) -> logits.
Tensors cross the interface as CPU float32 torch tensors. `explain_batch` is
`stylex.explain.single.explainer.explain_batch` over these primitives, so every backend gives
the same explanations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.search.effects import log_prob_gradient
from stylex.explain.search.screen import ScreenPrior
from stylex.explain.single.explainer import StyleGradient, explain_batch
from stylex.explain.single.explanation import Explanation
from stylex.explain.single.options import (
    CATALOG,
    DEFAULT_NUM_CANDIDATES,
    MAX_NUM_CANDIDATES,
    ExplainOptions,
    explain_options,
)
from stylex.explain.vocabulary.catalog import AttributeCatalog


class InferenceEngine(ABC):
    """G, E, C and an attribute catalog behind four primitives; subclasses are backends."""

    catalog: AttributeCatalog
    resolution: int  # px
    batch_size: int = 64  # counterfactuals per synthesis + classifier call
    # What a request that does not say gets, and what it may ask for (a model may set them).
    default_mode: str = CATALOG
    default_candidates: int = DEFAULT_NUM_CANDIDATES  # IMAGE mode: edits evaluated exactly
    max_candidates: int = MAX_NUM_CANDIDATES

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

    offers_style_gradient: bool = False  # a backend with `differentiable_logits` sets it
    screen_prior: ScreenPrior | None = None  # IMAGE mode's prior (a model's or run's screen.npz)

    def differentiable_logits(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """(conv [N, S], rgb [N, T]) -> logits [N, C] in torch ops that autograd follows."""
        raise NotImplementedError(f"{type(self).__name__} offers no style gradient")

    @property
    def style_gradient(self) -> StyleGradient | None:
        """d log P(target) / d styles, the screen of IMAGE mode; None: not offered."""
        return self.log_prob_gradient if self.offers_style_gradient else None

    def log_prob_gradient(
        self, conv: torch.Tensor, rgb: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """d log P(target) / d conv [N, S] (CPU) through `differentiable_logits`."""
        return log_prob_gradient(self.differentiable_logits, conv, rgb, targets).cpu()

    def options(
        self,
        *,
        top_k: int | str | None = None,
        target: int | str | None = None,
        shift: float | str | None = None,
        exhaustive: bool = False,
        mode: str | None = None,
        num_candidates: int | str | None = None,
    ) -> ExplainOptions:
        """A user's option values (unset: defaults) -> options checked against this model."""
        return explain_options(
            self.class_names, top_k=top_k, target=target, shift=shift, exhaustive=exhaustive,
            mode=mode, num_candidates=num_candidates, default_mode=self.default_mode,
            default_candidates=self.default_candidates, max_candidates=self.max_candidates,
        )  # fmt: skip

    def explain_batch(
        self,
        images: Sequence[torch.Tensor],  # each x [3, R, R] in [-1, 1]
        options: Sequence[ExplainOptions] | ExplainOptions,  # per image, or one for all
    ) -> list[Explanation | Exception]:
        """Per image, its explanation or the error that is its answer (see `explain_batch`)."""
        return explain_batch(
            self, self.catalog, images, options, resolution=self.resolution,
            gradient=self.style_gradient, prior=self.screen_prior, batch_size=self.batch_size,
        )  # fmt: skip

    def explain(
        self,
        x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
        *,
        top_k: int = 5,
        target: int | str | None = None,  # class name or index; None = the runner-up class
        shift: float = 1.0,  # 1 moves a coordinate all the way to its extreme
        exhaustive: bool = False,  # evaluate every edit of the image exactly (slow)
        mode: str | None = None,  # "catalog" | "image"; None: the engine's default
        num_candidates: int | None = None,  # IMAGE mode; None: the engine's default
    ) -> list[Explanation]:
        """Explain N images with the same options; the first failing image's error is raised."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.resolution, self.resolution):
            raise InvalidArgumentError(
                f"images have shape {list(x.shape)}, expected [N, 3, {self.resolution}, "
                f"{self.resolution}]"
            )
        # The rules a request meets (the num_candidates cap included) hold here too.
        opts = self.options(
            top_k=top_k, target=target, shift=shift, exhaustive=exhaustive, mode=mode,
            num_candidates=num_candidates,
        )  # fmt: skip
        results = self.explain_batch(list(x), opts)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results  # type: ignore[return-value]  # no item failed
