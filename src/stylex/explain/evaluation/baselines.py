"""Baselines AttFind is compared against, in the same (k, d, score) form as its selections.

- `wu_baseline`: Wu et al.'s StyleSpace attribute detection, which looks only at the styles of
  images the classifier is confident about, never at the classifier's response to changes.
- `random_baseline`: random coordinates and directions, the floor any method must beat.
"""

from __future__ import annotations

import math

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.search.attfind import Selection

STD_FLOOR = 1e-8  # keeps constant coordinates from dividing by zero


def wu_baseline(
    conv: torch.Tensor,  # [N, S] conv styles of the images
    probs: torch.Tensor,  # [N, C] classifier probabilities on the same images
    target: int,  # class whose characteristic coordinates are wanted
    *,
    num_attributes: int = 10,
    confidence: float = 0.9,  # images with P(target) above this define the class
    population: torch.Tensor | None = None,  # [M, S] styles for mean/std; default `conv`
) -> list[Selection]:
    """Rank coordinates by how consistently the confident images of `target` deviate on them.

    Styles are normalised by the population's per-coordinate mean and std; over the confident
    images, m = mean and s = std of the normalised values, score = |m| / (s + 1e-8), direction
    1 (toward S_max) if m > 0 else 0, i.e. toward the class's characteristic value. Returns the
    top `num_attributes` as [(k, d, score)], best first (ties: lowest k).

    Fallback: if fewer than 2 images pass `confidence` (a weak or miscalibrated classifier), the
    most confident 10% of the images for `target` are used instead (at least 2, when N allows),
    so the baseline still returns a ranking rather than nothing.
    """
    if conv.ndim != 2 or probs.ndim != 2 or probs.shape[0] != conv.shape[0]:
        raise InvalidArgumentError(
            f"conv [N, S] and probs [N, C] must agree on N, got {list(conv.shape)} and "
            f"{list(probs.shape)}"
        )
    num_images, num_coords = conv.shape
    if num_images == 0:
        raise InvalidArgumentError("wu_baseline needs at least one image, got 0")
    if not 0 <= target < probs.shape[1]:
        raise InvalidArgumentError(f"target class {target} is outside [0, {probs.shape[1]})")
    if population is None:
        population = conv
    if population.ndim != 2 or population.shape[1] != num_coords:
        raise InvalidArgumentError(
            f"population must have shape [M, {num_coords}], got {list(population.shape)}"
        )

    conv = conv.to(torch.float64)
    population = population.to(device=conv.device, dtype=torch.float64)
    p_target = probs[:, target].to(conv.device)

    selected = p_target > confidence
    if int(selected.sum().item()) < 2:
        count = min(num_images, max(2, math.ceil(0.1 * num_images)))
        selected = torch.zeros_like(selected)
        selected[torch.topk(p_target, count).indices] = True

    pop_mean = population.mean(dim=0)
    pop_std = population.std(dim=0, unbiased=False).clamp_min(STD_FLOOR)
    normalised = (conv[selected] - pop_mean) / pop_std  # [n, S]
    m = normalised.mean(dim=0)
    s = normalised.std(dim=0, unbiased=False)
    scores = m.abs() / (s + STD_FLOOR)

    # A stable descending sort keeps the lowest k first among equal scores.
    order = torch.sort(scores, descending=True, stable=True).indices[:num_attributes]
    return [(int(k), int(m[k] > 0), float(scores[k])) for k in order.tolist()]


def random_baseline(
    num_coordinates: int,  # S, the size of the conv StyleSpace
    *,
    num_attributes: int = 10,  # returns min(num_attributes, num_coordinates) entries
    seed: int = 0,
) -> list[Selection]:
    """Distinct random coordinates with random directions and score 0, fixed by `seed`."""
    if num_coordinates < 1:
        raise InvalidArgumentError(f"num_coordinates must be >= 1, got {num_coordinates}")
    gen = torch.Generator().manual_seed(seed)
    count = min(num_attributes, num_coordinates)
    coords = torch.randperm(num_coordinates, generator=gen)[:count]
    directions = torch.randint(0, 2, (count,), generator=gen)
    return [
        (int(k), int(d), 0.0) for k, d in zip(coords.tolist(), directions.tolist(), strict=True)
    ]
