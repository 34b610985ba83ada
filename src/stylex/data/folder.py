"""Image folders: ROOT/<class>/... labelled by subfolder, or a flat folder of unlabelled images."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from stylex.data.base import ImageDataset, check_index, check_num_images, check_resolution
from stylex.data.decode import IMAGE_SUFFIXES, load_image
from stylex.errors import DataError

UNLABELED = "unlabeled"  # the one class of a flat folder
_MAX_LISTED_SKIPS = 20  # skipped files named in the warning; dataset.skipped holds all


class FolderDataset(ImageDataset):
    """Images under `root`, resized (shorter side) and centre-cropped to the resolution.

    If `root` has subfolders, each is a class (sorted names; files inside may be nested) and
    files directly in `root` are ignored; otherwise every image in `root` is class 0,
    "unlabeled". Files are checked at construction: unreadable ones are skipped, listed in
    `skipped` and named in a warning. Pixels load lazily in __getitem__.
    """

    files: list[Path]  # item i is files[i]
    skipped: list[tuple[Path, str]]  # (file, why it could not be read)

    def __init__(
        self,
        root: str | os.PathLike[str],  # the image folder
        resolution: int,  # image side in pixels, a power of two in [8, 1024]
        *,
        num_images: int | None = None,  # keep at most this many readable files, evenly spread
    ) -> None:
        self.resolution = check_resolution(resolution)
        num_images = check_num_images(num_images)
        self.root = Path(root).expanduser().absolute()
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"image folder {str(self.root)!r} {what}; expected a folder of images")

        self.class_names, candidates = _list_images(self.root)
        kept, self.skipped = _split_readable(candidates)
        if self.skipped:
            warnings.warn(_skip_message(self.root, self.skipped), stacklevel=2)
        if not kept:
            raise DataError(
                f"image folder {str(self.root)!r} holds no readable images; expected image files "
                f"({', '.join(IMAGE_SUFFIXES)}) in it or in one subfolder per class"
            )
        present = {label for _, label in kept}
        for k, name in enumerate(self.class_names):
            if k not in present:
                raise DataError(
                    f"class folder {str(self.root / name)!r} holds no readable images; expected "
                    "at least one image per class subfolder"
                )
        if num_images is not None and num_images < len(kept):
            # Every k-th file rather than the first few: sorted order groups files by class,
            # so a prefix could drop whole classes.
            picks = np.linspace(0, len(kept) - 1, num_images).round().astype(np.int64)
            kept = [kept[k] for k in picks]
        self.files = [path for path, _ in kept]
        self._labels = np.array([label for _, label in kept], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        return load_image(self.files[i], self.resolution), int(self._labels[i])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "folder",
            "spec": str(self.root),
            "resolution": self.resolution,
            "num_images": len(self),
            "seed": None,
            "rule": None,
            "rule_factors": [],
            "class_names": list(self.class_names),
            "root": str(self.root),
            "num_skipped": len(self.skipped),
        }


def _list_images(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and (file, label) of every image-named file, in sorted order."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p))
    if not class_dirs:
        return [UNLABELED], [(f, 0) for f in _image_files(root, recursive=False)]
    loose = _image_files(root, recursive=False)
    if loose:
        warnings.warn(
            f"ignored {len(loose)} image file(s) directly in {root}, e.g. {loose[0].name}; "
            "with class subfolders only their images are used",
            stacklevel=3,
        )
    files = [(f, k) for k, d in enumerate(class_dirs) for f in _image_files(d, recursive=True)]
    return [d.name for d in class_dirs], files


def _split_readable(
    candidates: list[tuple[Path, int]],
) -> tuple[list[tuple[Path, int]], list[tuple[Path, str]]]:
    """(file, label) pairs Pillow can verify, and (file, reason) for the rest."""
    kept: list[tuple[Path, int]] = []
    skipped: list[tuple[Path, str]] = []
    for path, label in candidates:
        problem = _verify(path)
        if problem is None:
            kept.append((path, label))
        else:
            skipped.append((path, problem))
    return kept, skipped


def _hidden(path: Path) -> bool:
    # .DS_Store, .ipynb_checkpoints and the like are never data.
    return path.name.startswith(".")


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(_hidden(Path(part)) for part in p.relative_to(folder).parts)
    )


def _verify(path: Path) -> str | None:
    """None if Pillow can open and verify the file, else why not."""
    try:
        with Image.open(path) as im:
            im.verify()  # checks structure and checksums without decoding pixels
    # Pillow reports corrupt files with many exception types; all mean "skip it".
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None


def _skip_message(root: Path, skipped: list[tuple[Path, str]]) -> str:
    listed = "; ".join(f"{p} ({why})" for p, why in skipped[:_MAX_LISTED_SKIPS])
    more = len(skipped) - _MAX_LISTED_SKIPS
    tail = f"; and {more} more (see dataset.skipped)" if more > 0 else ""
    return f"skipped {len(skipped)} unreadable image file(s) under {root}: {listed}{tail}"
