"""Image files <-> tensors: loading one photo at a fixed resolution, saving a grid of samples."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import torch
from PIL import Image, ImageOps

from stylex.errors import DataError
from stylex.fileio import atomic_path

# Formats the folder data set picks up; anything Pillow opens also loads through load_image.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(path: str | os.PathLike[str], resolution: int) -> torch.Tensor:
    """Read an image file as x [3,R,R] in [-1, 1]: shorter side resized to R, centre cropped.

    Raises DataError naming the file if Pillow cannot read it.
    """
    return _decode(path, os.fspath(path), resolution)


def load_image_bytes(data: bytes, resolution: int, name: str) -> torch.Tensor:
    """`load_image` for a file's bytes already in memory; `name` (a path or URL) is what an
    error names."""
    return _decode(io.BytesIO(data), name, resolution)


def _decode(
    source: str | os.PathLike[str] | io.BytesIO, name: str, resolution: int
) -> torch.Tensor:
    if not isinstance(resolution, int) or resolution < 1:
        raise DataError(f"resolution {resolution!r} is not valid; expected a positive integer")
    try:
        with Image.open(source) as im:
            return image_to_tensor(im, resolution)
    # Pillow signals a bad file with many exception types (truncated data, unknown format,
    # decompression bomb, bad header fields); each means the same thing here.
    except Exception as e:
        raise DataError(
            f"cannot read image {name!r} ({type(e).__name__}: {e}); "
            f"expected an image file Pillow can open ({', '.join(IMAGE_SUFFIXES)})"
        ) from e


def image_to_tensor(im: Image.Image, resolution: int) -> torch.Tensor:
    """An opened Pillow image -> x [3,R,R] in [-1, 1]: EXIF rotation applied, alpha composited
    on white, shorter side resized to R, centre cropped. Files and request bytes share this."""
    pixels = _resize_centre_crop(_to_rgb(im), resolution)
    x = torch.from_numpy(pixels).permute(2, 0, 1)  # [3,R,R] uint8
    return x.to(torch.float32) / 127.5 - 1.0


def _to_rgb(im: Image.Image) -> Image.Image:
    # Phone photos store their rotation in EXIF; without this they come out sideways.
    im = ImageOps.exif_transpose(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if has_alpha:
        # Dropping alpha would expose whatever colour transparent pixels happen to hold;
        # composite onto white, as viewers show them.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _resize_centre_crop(im: Image.Image, resolution: int) -> np.ndarray:
    w, h = im.size
    side = min(w, h)
    # Crop and resize in one resampling pass; the box may sit on fractional pixels.
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    out = im.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box)
    return np.array(out, dtype=np.uint8)  # [R,R,3], a writable copy for torch


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """Convert x [3,H,W] or [N,3,H,W] in [-1, 1] to uint8 [H,W,3] or [N,H,W,3] (clamped)."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3 or not x.is_floating_point():
        raise DataError(
            f"image tensor of shape {tuple(x.shape)} and dtype {x.dtype} cannot be converted; "
            "expected a float tensor [3,H,W] or [N,3,H,W] in [-1, 1]"
        )
    x = ((x.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def save_image_grid(images: torch.Tensor, path: str | os.PathLike[str], nrow: int) -> None:
    """Write images [N,3,H,W] in [-1, 1] as one PNG, `nrow` images per row, atomically.

    Unused cells of the last row are black.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise DataError(
            f"image grid of shape {tuple(images.shape)} cannot be saved; expected [N,3,H,W], N >= 1"
        )
    if not isinstance(nrow, int) or nrow < 1:
        raise DataError(f"nrow {nrow!r} is not valid; expected a positive integer")
    pixels = to_uint8_image(images)  # [N,H,W,3]
    n, h, w, _ = pixels.shape
    num_cols = min(nrow, n)
    num_rows = math.ceil(n / num_cols)
    grid = np.zeros((num_rows * h, num_cols * w, 3), dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, num_cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = pixels[k]
    with atomic_path(path) as tmp:
        # The temporary file ends in .tmp, so Pillow cannot infer the format from its name.
        Image.fromarray(grid).save(tmp, format="PNG")
