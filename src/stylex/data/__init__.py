"""Data sets of labelled RGB images, x [3,R,R] float32 in [-1, 1], and image file helpers."""

from stylex.data.base import ImageDataset
from stylex.data.build import DATASET_NAMES, build_dataset, spec_of_description
from stylex.data.decode import IMAGE_SUFFIXES, load_image
from stylex.data.digits import DigitsDataset
from stylex.data.folder import FolderDataset
from stylex.data.images import save_image_grid, to_uint8_image
from stylex.data.shape_factors import FACTORS, SHAPES
from stylex.data.shape_rules import DEFAULT_RULE, RULES, Rule
from stylex.data.shapes import ShapesDataset
from stylex.data.split import SubsetDataset, split_dataset

__all__ = [
    "DATASET_NAMES",
    "DEFAULT_RULE",
    "FACTORS",
    "IMAGE_SUFFIXES",
    "RULES",
    "SHAPES",
    "DigitsDataset",
    "FolderDataset",
    "ImageDataset",
    "Rule",
    "ShapesDataset",
    "SubsetDataset",
    "build_dataset",
    "load_image",
    "save_image_grid",
    "spec_of_description",
    "split_dataset",
    "to_uint8_image",
]
