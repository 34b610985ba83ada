"""A deterministic, resumable stream of training batches.

The order of samples is a pure function of (seed, global sample position): epoch e is the
permutation drawn from a generator seeded by (seed, e). Resuming at step s starts at position
s * batch_size, so an interrupted run sees exactly the batches an uninterrupted one would.
Each process of a multi-process run takes its own contiguous slice of every global batch.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

# Cache rendered/decoded images in memory (uint8) when they fit in this budget.
CACHE_LIMIT_BYTES = 2 * 1024**3


class BatchStream:
    def __init__(
        self,
        dataset,  # stylex.data.ImageDataset: dataset[i] -> (x [3,R,R] in [-1,1], label)
        batch_size: int,  # global batch
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        cache: bool = True,
        progress: bool = False,
    ) -> None:
        if len(dataset) == 0:
            from stylex.errors import DataError

            raise DataError("the training data set is empty")
        if batch_size % world_size:
            from stylex.errors import ConfigError

            raise ConfigError(f"batch_size {batch_size} is not divisible by {world_size} processes")
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None
        self._cache: torch.Tensor | None = None
        res = dataset.resolution
        if cache and len(dataset) * 3 * res * res <= CACHE_LIMIT_BYTES:
            self._cache = torch.empty(len(dataset), 3, res, res, dtype=torch.uint8)
            items = range(len(dataset))
            for i in tqdm(items, desc="caching images", disable=not progress, leave=False):
                x, _ = dataset[i]
                self._cache[i] = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.dataset), generator=g)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def indices(self, step: int) -> list[int]:
        """Dataset indices of this process's share of global batch `step`."""
        n = len(self.dataset)
        local = self.batch_size // self.world_size
        start = step * self.batch_size + self.rank * local
        out = []
        for pos in range(start, start + local):
            out.append(int(self._permutation(pos // n)[pos % n]))
        return out

    def batch(self, step: int) -> torch.Tensor:
        """Images [B_local, 3, R, R] in [-1, 1] for global step `step`."""
        idx = self.indices(step)
        if self._cache is not None:
            return self._cache[idx].float() / 127.5 - 1.0
        return torch.stack([self.dataset[i][0] for i in idx])
