"""One entry point from a data set spec ("shapes", "digits" or a folder path) to a data set."""

from __future__ import annotations

from pathlib import Path

from stylex.data.base import ImageDataset, check_resolution
from stylex.data.digits import DigitsDataset
from stylex.data.folder import FolderDataset
from stylex.data.shapes import ShapesDataset
from stylex.errors import DataError

DATASET_NAMES = ("shapes", "digits")  # built-in data sets; any other spec is a folder path


def build_dataset(
    spec: str,  # "shapes", "digits", or a path to an image folder
    resolution: int,  # image side in pixels, a power of two in [8, 1024]
    *,
    num_images: int | None = None,  # cap (shapes: the size, default 10_000)
    seed: int = 0,  # fixes shapes images and the digits subset
    rule: str | None = None,  # label rule (shapes, digits); must be None for folders
) -> ImageDataset:
    """Build the data set `spec` names. Built-in names win over folders of the same name."""
    check_resolution(resolution)
    if spec == "shapes":
        return ShapesDataset(resolution, num_images=num_images, seed=seed, rule=rule)
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
