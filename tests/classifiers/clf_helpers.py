"""Test helpers for the classifiers tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.data import TensorDataset


class TinyDataset(TensorDataset):
    """Two classes: 1 when the left half of the image is brighter than the right half."""

    def __init__(self, num_images: int, resolution: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(num_images, 3, resolution, resolution, generator=g) * 1.2 - 0.6
        label = torch.randint(0, 2, (num_images,), generator=g)
        sign = (2 * label - 1).float().view(-1, 1, 1, 1)
        half = resolution // 2
        x[..., :half] += 0.3 * sign
        x[..., half:] -= 0.3 * sign
        super().__init__(x.clamp(-1, 1), label)
        self.resolution = resolution
        self.class_names = ["right_brighter", "left_brighter"]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the setting afterwards.

    These tests run tiny ops; on a 2-core machine that something else also uses, torch's
    thread pool oversubscribes and training gets ~10x slower than on one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
