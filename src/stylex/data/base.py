"""The interface every data set implements, and the checks their constructors share."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

from stylex.errors import DataError

MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024


class ImageDataset(torch.utils.data.Dataset, abc.ABC):
    """Labelled RGB images: item i is (x [3,R,R] float32 in [-1, 1], label in [0, num_classes))."""

    resolution: int  # image side in pixels
    class_names: list[str]  # label index -> name

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]: ...

    @abc.abstractmethod
    def labels(self) -> np.ndarray:
        """Labels of all images, int64 [len(self)], without loading any image."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description for run configs.

        Always holds: kind, spec, resolution, num_images, seed, rule, rule_factors, class_names,
        root. `build_dataset(spec, resolution, num_images=..., seed=..., rule=...)` rebuilds the
        same data set from it (a folder only while its files stay the same).
        """


def check_resolution(resolution: int) -> int:
    """Return `resolution` if it is a power of two in [8, 1024], else raise DataError."""
    valid = (
        isinstance(resolution, int)
        and not isinstance(resolution, bool)
        and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
        and resolution & (resolution - 1) == 0
    )
    if not valid:
        raise DataError(
            f"resolution {resolution!r} is not supported; expected a power of two in "
            f"[{MIN_RESOLUTION}, {MAX_RESOLUTION}]"
        )
    return resolution


def check_num_images(num_images: int | None) -> int | None:
    """Return `num_images` if it is None or a positive int, else raise DataError."""
    if num_images is None:
        return None
    if not isinstance(num_images, int) or isinstance(num_images, bool) or num_images < 1:
        raise DataError(f"num_images {num_images!r} is not valid; expected a positive integer")
    return num_images


def check_seed(seed: int) -> int:
    """Return `seed` if it is a non-negative int (what numpy's SeedSequence takes)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed {seed!r} is not valid; expected a non-negative integer")
    return seed


def check_index(i: int, length: int) -> int:
    """Normalise a possibly negative index; IndexError (what DataLoader expects) if out of range."""
    if not -length <= i < length:
        raise IndexError(f"image index {i} out of range for a data set of {length} images")
    return i % length
