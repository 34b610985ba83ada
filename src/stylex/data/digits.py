"""scikit-learn's handwritten digits (1797 real 8x8 scans, shipped with the library), upscaled."""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylex.data.base import (
    ImageDataset,
    check_index,
    check_num_images,
    check_resolution,
    check_seed,
)
from stylex.errors import DataError

DEFAULT_RULE = "0_vs_1"
ALL_DIGITS_RULE = "all"
_PAIR = re.compile(r"(\d)_vs_(\d)")


class DigitsDataset(ImageDataset):
    """Digit scans as white strokes on black, labelled by `rule`.

    Rules: "A_vs_B" keeps digits A and B (labels 0 and 1), "all" keeps all ten (label = digit).
    """

    def __init__(
        self,
        resolution: int,  # image side in pixels, a power of two in [8, 1024]
        *,
        num_images: int | None = None,  # keep at most this many, a subset chosen by seed
        seed: int = 0,  # picks the subset when num_images is below what the rule keeps
        rule: str | None = None,  # "A_vs_B" or "all"; None -> DEFAULT_RULE
    ) -> None:
        self.resolution = check_resolution(resolution)
        self.seed = check_seed(seed)
        self.rule = DEFAULT_RULE if rule is None else rule
        digits = _rule_digits(self.rule)
        self.class_names = [str(d) for d in digits]

        pixels, targets = _load_digits()
        keep = np.flatnonzero(np.isin(targets, digits))
        num_images = check_num_images(num_images)
        if num_images is not None and num_images < len(keep):
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(keep, size=num_images, replace=False))
        self.indices = keep  # rows of sklearn's data set, for tracing an image back
        # Scans stay 8x8 in memory; upscaling happens per item, so any resolution costs the same.
        self._pixels = torch.from_numpy(pixels[keep] / np.float32(16.0))  # [N,8,8] in [0, 1]
        label_of_digit = np.full(10, -1, dtype=np.int64)
        label_of_digit[digits] = np.arange(len(digits))  # "3_vs_1": 3 -> 0, 1 -> 1
        self._labels = label_of_digit[targets[keep]]

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        scan = self._pixels[i][None, None]  # [1,1,8,8]
        x = F.interpolate(scan, size=(self.resolution,) * 2, mode="bilinear", align_corners=False)
        x = (x[0] * 2.0 - 1.0).expand(3, -1, -1).contiguous()  # grey -> RGB, [3,R,R]
        return x, int(self._labels[i])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "digits",
            "spec": "digits",
            "resolution": self.resolution,
            "num_images": len(self),
            "seed": self.seed,
            "rule": self.rule,
            "rule_factors": ["digit"],
            "class_names": list(self.class_names),
            "root": None,
        }


def _rule_digits(rule: str) -> list[int]:
    if rule == ALL_DIGITS_RULE:
        return list(range(10))
    match = _PAIR.fullmatch(rule) if isinstance(rule, str) else None
    if match is None or match[1] == match[2]:
        raise DataError(
            f"digits rule {rule!r} is not valid; expected 'all' or 'A_vs_B' with two different "
            "digits A and B, e.g. '3_vs_8'"
        )
    return [int(match[1]), int(match[2])]


@functools.cache
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    # Imported here: scikit-learn takes a second to import and only this data set needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)
