"""The Wu et al. StyleSpace baseline and the random baseline."""

import pytest
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.evaluation.baselines import random_baseline, wu_baseline

NUM_IMAGES, NUM_COORDS, NUM_CONFIDENT = 200, 8, 20


def crafted(confident_p: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Images 0..19 are class 1 and have coordinate 3 pinned low and coordinate 1 high."""
    gen = torch.Generator().manual_seed(0)
    conv = torch.randn(NUM_IMAGES, NUM_COORDS, generator=gen)
    noise = torch.randn(NUM_CONFIDENT, 2, generator=gen)
    conv[:NUM_CONFIDENT, 3] = -5.0 + 0.01 * noise[:, 0]
    conv[:NUM_CONFIDENT, 1] = 3.0 + 0.1 * noise[:, 1]
    p1 = torch.full((NUM_IMAGES,), 0.5)
    p1[:NUM_CONFIDENT] = confident_p
    p1[NUM_CONFIDENT:] = torch.linspace(0.1, 0.6, NUM_IMAGES - NUM_CONFIDENT)
    return conv, torch.stack([1 - p1, p1], dim=1)


def test_shifted_coordinates_rank_first_with_their_sign():
    conv, probs = crafted()

    got = wu_baseline(conv, probs, 1, num_attributes=5)

    assert [(k, d) for k, d, _ in got[:2]] == [(3, 0), (1, 1)]
    scores = [s for _, _, s in got]
    assert scores == sorted(scores, reverse=True)
    assert scores[1] > 10 * scores[2]
    assert len(got) == 5


def test_too_few_confident_images_fall_back_to_the_most_confident_tenth():
    conv, probs = crafted(confident_p=0.8)  # nobody passes 0.9; the top 10% are images 0..19

    got = wu_baseline(conv, probs, 1, num_attributes=2)

    assert [(k, d) for k, d, _ in got] == [(3, 0), (1, 1)]

    # Tiny sets still use at least two images, so a spread exists.
    tiny = wu_baseline(conv[:5], probs[:5], 0, num_attributes=3)
    assert len(tiny) == 3


def test_population_sets_the_reference_point():
    conv = torch.tensor([[1.0, 0.0], [1.1, 0.0], [-3.0, 0.0], [-3.1, 0.0]])
    probs = torch.tensor([[0.05, 0.95], [0.05, 0.95], [0.9, 0.1], [0.9, 0.1]])

    # Against the images themselves, coordinate 0 is high for class 1...
    assert wu_baseline(conv, probs, 1, num_attributes=1)[0][:2] == (0, 1)
    # ...but low against a population centred at 2.
    population = torch.tensor([[2.0, 0.0], [3.0, 1.0], [1.0, -1.0]])
    assert wu_baseline(conv, probs, 1, num_attributes=1, population=population)[0][:2] == (0, 0)


def test_wu_rejects_mismatched_shapes():
    with pytest.raises(InvalidArgumentError, match="agree on N"):
        wu_baseline(torch.zeros(4, 3), torch.zeros(5, 2), 0)
    with pytest.raises(InvalidArgumentError, match="target class 2"):
        wu_baseline(torch.zeros(4, 3), torch.zeros(4, 2), 2)


def test_random_baseline_is_distinct_and_deterministic():
    got = random_baseline(50, num_attributes=10, seed=3)

    assert len({k for k, _, _ in got}) == 10
    assert all(0 <= k < 50 and d in (0, 1) and s == 0.0 for k, d, s in got)
    assert random_baseline(50, num_attributes=10, seed=3) == got
    assert random_baseline(50, num_attributes=10, seed=4) != got
    assert sorted(k for k, _, _ in random_baseline(4, num_attributes=10)) == [0, 1, 2, 3]


def test_wu_ranks_by_consistency_not_by_size_of_the_shift():
    """Coordinate 0: the class sits far from the population (normalised mean 4) but spreads
    widely (std 2), score 2. Coordinate 1: a small shift (mean -1) held tightly (std 0.1),
    score 10. |mean| alone would put 0 first; Wu's |mean| / std puts 1 first."""
    population = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # mean 0, std 1 on both coordinates
    conv = torch.tensor([[2.0, -0.9], [6.0, -1.1], [0.0, 0.0], [0.0, 0.0]])
    probs = torch.tensor([[0.05, 0.95], [0.05, 0.95], [0.9, 0.1], [0.9, 0.1]])

    got = wu_baseline(conv, probs, 1, num_attributes=2, population=population)

    assert [(k, d) for k, d, _ in got] == [(1, 0), (0, 1)]
    assert got[0][2] == pytest.approx(1.0 / 0.1, rel=1e-6)
    assert got[1][2] == pytest.approx(4.0 / 2.0, rel=1e-6)
