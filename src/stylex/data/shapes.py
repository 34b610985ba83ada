"""Procedural shapes: coloured, possibly striped objects on grey, labelled by a rule over factors.

Image i is rendered on demand from factors drawn with the seed (seed, i), so the data set is
deterministic and may be large without being stored. Two poses: `shapes` (aligned: centred,
upright; the default) and `shapes-free` (anywhere, any rotation; the hard case).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylex.data.base import (
    ImageDataset,
    check_index,
    check_num_images,
    check_resolution,
    check_seed,
)
from stylex.data.shape_factors import POSES, SHAPES, sample_factor_table, sample_factors
from stylex.data.shape_render import render_shape
from stylex.data.shape_rules import resolve_rule
from stylex.errors import DataError

DEFAULT_NUM_IMAGES = 10_000
SPEC_OF_POSE = {"aligned": "shapes", "free": "shapes-free"}  # the data set names of the poses

__all__ = ["DEFAULT_NUM_IMAGES", "POSES", "SHAPES", "SPEC_OF_POSE", "ShapesDataset"]


class ShapesDataset(ImageDataset):
    """Rendered shapes whose label is `rule` (a name in RULES or a condition over factors)."""

    def __init__(
        self,
        resolution: int,  # image side in pixels, a power of two in [8, 1024]
        *,
        num_images: int | None = None,  # data set size; None -> DEFAULT_NUM_IMAGES
        seed: int = 0,  # with the index, fixes every image
        rule: str | None = None,  # label rule; None -> DEFAULT_RULE
        pose: str = "aligned",  # "aligned" (centred, upright) or "free" (any position, angle)
    ) -> None:
        if pose not in POSES:
            raise DataError(f"pose {pose!r} is not valid; expected one of {', '.join(POSES)}")
        self.pose = pose
        self.resolution = check_resolution(resolution)
        self.num_images = check_num_images(num_images) or DEFAULT_NUM_IMAGES
        self.seed = check_seed(seed)
        self.rule = resolve_rule(rule)
        self.class_names = list(self.rule.class_names)
        self._factor_table: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        factors = self.factors(i)
        x = torch.from_numpy(render_shape(factors, self.resolution))  # [3,R,R]
        columns = {name: np.array([value]) for name, value in factors.items()}
        return x, int(self.rule.labels(columns)[0])

    def factors(self, i: int) -> dict[str, int | float]:
        """Generating factors of image i (see shape_factors.FACTORS)."""
        return sample_factors(self.seed, check_index(i, self.num_images), self.pose)

    def factor_table(self) -> dict[str, np.ndarray]:
        """Factors of all images as columns [len(self)]; drawn once, then cached."""
        if self._factor_table is None:
            self._factor_table = sample_factor_table(self.seed, self.num_images, self.pose)
        return self._factor_table

    def labels(self) -> np.ndarray:
        return self.rule.labels(self.factor_table())

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "shapes",
            "spec": SPEC_OF_POSE[self.pose],
            "pose": self.pose,
            "resolution": self.resolution,
            "num_images": self.num_images,
            "seed": self.seed,
            "rule": self.rule.name,
            "rule_definition": self.rule.definition,
            "rule_factors": list(self.rule.factors),
            "class_names": list(self.class_names),
            "root": None,
            "shapes": list(SHAPES),
        }
