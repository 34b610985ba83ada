"""Explanations of single images: structures (the computation lives in `explainer.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from stylex.explain.attributes import Attribute


@dataclass
class Counterfactual:
    attribute: Attribute  # direction as applied to this image
    image: torch.Tensor  # [3, R, R] in [-1, 1]: the reconstruction with the attribute applied
    probs: torch.Tensor  # [C] classifier probabilities of `image`
    effect: float  # probs[target] - probs_reconstruction[target]


@dataclass
class Explanation:
    class_names: list[str]
    image: torch.Tensor  # [3, R, R] in [-1, 1]: the input at the model's resolution
    reconstruction: torch.Tensor  # [3, R, R]: G(E(x), C(x))
    probs: torch.Tensor  # [C] classifier probabilities of the input
    probs_reconstruction: torch.Tensor  # [C] of the reconstruction
    target: int  # the class the counterfactuals move toward
    counterfactuals: list[Counterfactual] = field(default_factory=list)  # best first

    @property
    def predicted(self) -> int:
        return int(self.probs.argmax())
