"""The conditioning term: swapped probabilities, and a loss that asks the generator to follow
them."""

from __future__ import annotations

import torch

from stylex.training.losses import swap_probabilities


def test_swapped_probabilities_give_another_decision():
    p2 = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    torch.testing.assert_close(swap_probabilities(p2), torch.tensor([[0.1, 0.9], [0.7, 0.3]]))
    p3 = torch.softmax(torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    swapped = swap_probabilities(p3)
    torch.testing.assert_close(swapped.sum(dim=1), torch.ones(64))
    assert (swapped.argmax(dim=1) != p3.argmax(dim=1)).all()
    assert (swapped.argmax(dim=1) == (p3.argmax(dim=1) + 1) % 3).all()
