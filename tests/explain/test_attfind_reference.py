"""AttFind against a plain, literal reading of the method (stylex-method.md section 4), on random
effect tensors at the default thresholds.

The reference below is written from the algorithm's text with Python loops and lists, on purpose
unlike the vectorised code under test, so that a shared mistake is unlikely.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylex.explain.search.attfind import find_attributes

K = 8  # official number of attributes per class
EFFECT_THRESHOLD = 0.2
MAX_IMAGE_EFFECT = 5 * EFFECT_THRESHOLD  # 1.0
UNSTABLE_ABS = 2.0
UNSTABLE_COUNT = 750


def literal_unstable(effects: np.ndarray) -> list[bool]:
    """Step 2: an image with more than 750 entries |effect| > 2 is unstable."""
    flags = []
    for i in range(effects.shape[0]):
        large = 0
        for value in effects[i].ravel():
            if abs(value) > UNSTABLE_ABS:
                large += 1
        flags.append(large > UNSTABLE_COUNT)
    return flags


def literal_greedy(effects: np.ndarray, c: int, images: list[int]) -> list[tuple[int, int]]:
    """Step 3 for target class c over `images`; returns [(k, d)] in pick order."""
    num_coords = effects.shape[2]
    pairs = [(d, k) for d in (0, 1) for k in range(num_coords)]
    gain = {i: {(d, k): max(0.0, float(effects[i, d, k, c])) for d, k in pairs} for i in images}
    acc = dict.fromkeys(images, 0.0)
    chosen = []
    for _ in range(K):
        active = [i for i in images if acc[i] < MAX_IMAGE_EFFECT]
        if not active:
            break  # the official code would take an argmax of NaN here
        best, best_mean = None, -1.0
        for pair in pairs:
            mean = sum(gain[i][pair] for i in active) / len(active)
            if mean > best_mean:
                best, best_mean = pair, mean
        d, k = best
        chosen.append((k, d))
        for i in images:
            acc[i] += gain[i][best]
            gain[i][best] = 0.0
    return chosen


def literal_attfind(effects: np.ndarray, predicted: list[int]) -> list[tuple[int, int, float]]:
    """Steps 2-4 for a binary classifier: the "class 1 -> class 0" list, [(k, d, score)]."""
    effects = effects.astype(np.float64).copy()
    for i, unstable in enumerate(literal_unstable(effects)):
        if unstable:
            effects[i] = 0.0
    everyone = range(effects.shape[0])
    list_c0 = literal_greedy(effects, 0, [i for i in everyone if predicted[i] != 0])
    list_c1 = literal_greedy(effects, 1, [i for i in everyone if predicted[i] != 1])
    merged = list(list_c0)
    coords_c0 = [k for k, _ in list_c0]
    for k, d in list_c1:
        if k not in coords_c0:
            merged.append((k, 1 - d))

    def mean(d: int, k: int, c: int) -> float:
        return sum(float(effects[i, d, k, c]) for i in everyone) / effects.shape[0]

    scored = [(k, d, mean(d, k, 0) + mean(1 - d, k, 1)) for k, d in merged]
    scored.sort(key=lambda entry: -entry[2])
    return scored[:K]


def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Effects of 40 images on 200 coordinates: mostly small (a typical logit change is a few
    tenths, so images saturate at max_image_effect after a few picks), a sparse set of strong
    coordinates, and two unstable images with more than 750 large entries."""
    gen = torch.Generator().manual_seed(seed)
    num_images, num_coords = 40, 200
    effects = 0.15 * torch.randn(num_images, 2, num_coords, 2, generator=gen)
    strong = torch.rand(num_images, 2, num_coords, 2, generator=gen) < 0.02
    effects[strong] += 1.5 * torch.randn(int(strong.sum()), generator=gen)
    effects[:2] = 3.0 * torch.randn(2, 2, num_coords, 2, generator=gen).sign()  # 800 large each
    predicted = (torch.rand(num_images, generator=gen) < 0.5).long()
    return effects, predicted


@pytest.mark.parametrize("seed", range(6))
def test_selection_equals_the_literal_algorithm(seed: int) -> None:
    effects, predicted = random_case(seed)
    result = find_attributes(effects, predicted, num_classes=2)  # default thresholds
    want = literal_attfind(effects.numpy(), predicted.tolist())
    assert result.unstable.tolist() == [True, True] + [False] * (effects.shape[0] - 2)
    assert len(want) == K  # the case exercises the full K picks, not an early stop
    got = result.per_class[0]
    assert [(k, d) for k, d, _ in got] == [(k, d) for k, d, _ in want]
    np.testing.assert_allclose([s for *_, s in got], [s for *_, s in want], rtol=1e-9)
    # Class 1: the same coordinates in the same order, the other direction.
    assert [(k, d) for k, d, _ in result.per_class[1]] == [(k, 1 - d) for k, d, _ in want]


def test_random_cases_saturate_images_and_reuse_coordinates() -> None:
    """The random cases reach the parts of the algorithm hand-made cases tend to miss: images
    leaving the active set, and the class 1 list bringing coordinates of its own."""
    saturated = merged_from_c1 = 0
    for seed in range(6):
        effects, predicted = random_case(seed)
        e = effects.numpy().astype(np.float64)
        e[:2] = 0.0
        images = [i for i in range(e.shape[0]) if predicted[i] != 0]
        picks = literal_greedy(e, 0, images)
        acc = [sum(max(0.0, e[i, d, k, 0]) for k, d in picks) for i in images]
        saturated += sum(a >= MAX_IMAGE_EFFECT for a in acc)
        c1 = literal_greedy(e, 1, [i for i in range(e.shape[0]) if predicted[i] != 1])
        merged_from_c1 += sum(k not in {k0 for k0, _ in picks} for k, _ in c1)
    assert saturated > 0
    assert merged_from_c1 > 0
