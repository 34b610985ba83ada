"""One inference interface: four primitives per backend, explanations built once on top.

encode(x) -> w;  styles(w, p) -> (conv, rgb);  synthesize(conv, rgb) -> x;  classify(x) -> logits.
Tensors cross the interface as CPU float32 torch tensors. `explain_batch` is
`stylex.explain.explainer.explain_batch` over these primitives, so every backend gives the same
explanations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.catalog import AttributeCatalog
from stylex.explain.explainer import ImageSearch, explain_batch
from stylex.explain.explanation import Explanation
from stylex.explain.options import ExplainOptions, explain_options, parse_target


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

    @property
    def image_search(self) -> ImageSearch | None:
        """Searching one image's own coordinates (ExplainOptions.exhaustive); None: not offered."""
        return None

    def options(
        self,
        *,
        top_k: int | str | None = None,
        target: int | str | None = None,
        shift: float | str | None = None,
        exhaustive: bool = False,
    ) -> ExplainOptions:
        """A user's option values (unset: defaults) -> options checked against this model."""
        return explain_options(
            self.class_names, top_k=top_k, target=target, shift=shift, exhaustive=exhaustive
        )

    def explain_batch(
        self,
        images: Sequence[torch.Tensor],  # each x [3, R, R] in [-1, 1]
        options: Sequence[ExplainOptions] | ExplainOptions,  # per image, or one for all
    ) -> list[Explanation | Exception]:
        """Per image, its explanation or the error that is its answer (see `explain_batch`)."""
        return explain_batch(
            self, self.catalog, images, options, resolution=self.resolution,
            search=self.image_search, batch_size=self.batch_size,
        )  # fmt: skip

    def explain(
        self,
        x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
        *,
        top_k: int = 5,
        target: int | str | None = None,  # class name or index; None = the runner-up class
        shift: float = 1.0,  # 1 moves a coordinate all the way to its extreme
        exhaustive: bool = False,  # search all coordinates instead of the catalog's attributes
    ) -> list[Explanation]:
        """Explain N images with the same options; the first failing image's error is raised."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.resolution, self.resolution):
            raise InvalidArgumentError(
                f"images have shape {list(x.shape)}, expected [N, 3, {self.resolution}, "
                f"{self.resolution}]"
            )
        target_rule = parse_target(target, self.class_names)
        opts = ExplainOptions(top_k=top_k, target=target_rule, shift=shift, exhaustive=exhaustive)
        results = self.explain_batch(list(x), opts)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results  # type: ignore[return-value]  # no item failed
