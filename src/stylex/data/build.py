"""One entry point from a data set spec ("shapes", "shapes-free", "digits" or a folder path) to a
data set, and the spec back from a recorded description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stylex.data.base import ImageDataset, check_resolution
from stylex.data.digits import DigitsDataset
from stylex.data.folder import FolderDataset
from stylex.data.shapes import ShapesDataset
from stylex.errors import DataError

# Built-in data sets; any other spec is a folder path. `shapes` is aligned (centred, upright),
# `shapes-free` the same objects anywhere at any angle.
DATASET_NAMES = ("shapes", "shapes-free", "digits")
SHAPES_POSE = {"shapes": "aligned", "shapes-free": "free"}


def build_dataset(
    spec: str,  # "shapes", "shapes-free", "digits", or a path to an image folder
    resolution: int,  # image side in pixels, a power of two in [8, 1024]
    *,
    num_images: int | None = None,  # cap (shapes: the size, default 10_000)
    seed: int = 0,  # fixes shapes images and the digits subset
    rule: str | None = None,  # label rule (shapes, digits); must be None for folders
) -> ImageDataset:
    """Build the data set `spec` names. Built-in names win over folders of the same name."""
    check_resolution(resolution)
    if spec in SHAPES_POSE:
        return ShapesDataset(
            resolution, num_images=num_images, seed=seed, rule=rule, pose=SHAPES_POSE[spec]
        )
    if spec == "digits":
        return DigitsDataset(resolution, num_images=num_images, seed=seed, rule=rule)
    if not isinstance(spec, str) or not spec or not Path(spec).expanduser().exists():
        raise DataError(
            f"unknown data set {spec!r}; expected one of {', '.join(DATASET_NAMES)} "
            "or the path of an existing image folder"
        )
    if rule is not None:
        raise DataError(
            f"rule {rule!r} does not apply to image folder {spec!r}; expected no rule "
            "(folder labels come from class subfolders)"
        )
    return FolderDataset(spec, resolution, num_images=num_images)


def spec_of_description(info: dict[str, Any]) -> str | None:
    """The spec that rebuilds the data set a run or model recorded (`ImageDataset.describe`).

    Shapes descriptions written before the aligned pose existed (no "pose" key) are free-pose:
    `shapes` meant what `shapes-free` means now."""
    if info.get("kind") == "shapes" and "pose" not in info:
        return "shapes-free"
    return info.get("root") or info.get("spec")
