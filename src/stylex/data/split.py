"""Train / validation split of a data set, stratified by label and fixed by a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylex.data.base import ImageDataset, check_index, check_seed
from stylex.errors import DataError


class SubsetDataset(ImageDataset):
    """Images `indices` of `parent`, with the parent's resolution and class names."""

    def __init__(
        self,
        parent: ImageDataset,  # the full data set
        indices: np.ndarray,  # parent item indices, int64 [N]
        split: str,  # "train" or "val", recorded by describe()
        split_info: dict[str, Any],  # how the split was made, recorded by describe()
    ) -> None:
        self.parent = parent
        self.indices = np.asarray(indices, dtype=np.int64)
        self.split = split
        self.split_info = split_info
        self.resolution = parent.resolution
        self.class_names = list(parent.class_names)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.parent[int(self.indices[check_index(i, len(self))])]

    def labels(self) -> np.ndarray:
        return self.parent.labels()[self.indices]

    def describe(self) -> dict[str, Any]:
        # The parent's fields (num_images included) rebuild the parent; the split fields then
        # rebuild this side with split_dataset.
        return {
            **self.parent.describe(),
            "split": self.split,
            **self.split_info,
            "split_num_images": len(self),
        }


def split_dataset(
    dataset: ImageDataset,
    *,
    val_fraction: float,  # share of each class that goes to validation, in (0, 1)
    seed: int = 0,  # fixes which images go where
) -> tuple[SubsetDataset, SubsetDataset]:
    """Split into (train, val), taking `val_fraction` of every class for validation.

    Stratifying keeps small classes present on both sides; each side is in parent order.
    """
    if not isinstance(val_fraction, int | float) or not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction {val_fraction!r} is not valid; expected a number in (0, 1)")
    check_seed(seed)
    if len(dataset) < 2:
        raise DataError(f"data set of {len(dataset)} image(s) cannot be split; expected at least 2")
    labels = dataset.labels()
    rng = np.random.default_rng(seed)
    val_parts = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        val_parts.append(members[: round(len(members) * val_fraction)])
    val = np.sort(np.concatenate(val_parts))
    # Rounding per class can leave a side empty on tiny data; move one image across.
    if len(val) == 0:
        val = np.sort(rng.choice(len(labels), size=1))
    elif len(val) == len(labels):
        val = val[1:]
    train = np.setdiff1d(np.arange(len(labels)), val)
    info = {"split_seed": seed, "val_fraction": val_fraction}
    return (
        SubsetDataset(dataset, train, "train", info),
        SubsetDataset(dataset, val, "val", info),
    )
